"""The embedded default backend."""

from tally.warehouse.duckdb.backend import CAPABILITIES, DuckDBWarehouse

__all__ = ["CAPABILITIES", "DuckDBWarehouse"]
