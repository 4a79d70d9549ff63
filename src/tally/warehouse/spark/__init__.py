"""The Apache Spark backend (registered in ``tally.warehouse.registry`` as ``spark``)."""

from __future__ import annotations

from tally.warehouse.registry import ConnectOptions
from tally.warehouse.spark.backend import CAPABILITIES, SparkOptions, SparkWarehouse

__all__ = ["CAPABILITIES", "SparkOptions", "SparkWarehouse", "open_warehouse"]


def open_warehouse(url: str, options: ConnectOptions) -> SparkWarehouse:
    """The registry's factory for ``spark://`` URLs."""
    return SparkWarehouse(url, options)
