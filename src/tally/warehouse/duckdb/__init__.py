"""The embedded default backend (registered in ``tally.warehouse.registry`` as ``duckdb``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tally.warehouse.duckdb.backend import CAPABILITIES, DuckDBWarehouse
from tally.warehouse.registry import ConnectOptions

__all__ = ["CAPABILITIES", "DuckDBWarehouse", "open_warehouse", "scratch_url"]


def open_warehouse(url: str, options: ConnectOptions) -> DuckDBWarehouse:
    """The registry's factory for ``duckdb://`` URLs."""
    return DuckDBWarehouse(url, options.lock_wait_seconds, options.interactive_timeout_seconds)


@contextmanager
def scratch_url(folder: Path, _service_url: str = "") -> Iterator[str]:
    """A new, empty database file in ``folder`` (the shared test suite's)."""
    yield f"duckdb:///{folder}/warehouse.duckdb"
