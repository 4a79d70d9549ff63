"""The warehouse: one protocol, backends registered by URL scheme.

``connect("duckdb:///./tally-data/warehouse.duckdb")`` or
``connect("postgresql://user@host/db")``; ``postgresql+redshift://`` selects Redshift's
SQL dialect on the same driver.
"""

from __future__ import annotations

from tally.config import Settings
from tally.errors import ConfigError
from tally.warehouse.base import Capabilities, Warehouse

__all__ = ["Capabilities", "Warehouse", "connect", "from_settings"]


def connect(url: str, lock_wait_seconds: float = 60.0) -> Warehouse:
    """Open the warehouse a URL names (backends are imported only when used)."""
    if url.startswith("duckdb://"):
        from tally.warehouse.duckdb import DuckDBWarehouse

        return DuckDBWarehouse(url, lock_wait_seconds=lock_wait_seconds)
    if url.startswith(("postgresql+redshift://", "redshift://")):
        from tally.warehouse.postgres import PostgresWarehouse

        plain = "postgresql://" + url.split("://", 1)[1]
        return PostgresWarehouse(plain, dialect="redshift")
    if url.startswith(("postgresql://", "postgres://")):
        from tally.warehouse.postgres import PostgresWarehouse

        return PostgresWarehouse(url)
    raise ConfigError(
        f"warehouse_url {url!r}: expected duckdb:///PATH, postgresql://... "
        "or postgresql+redshift://..."
    )


def from_settings(settings: Settings) -> Warehouse:
    """The configured warehouse, migrated to tally's current schema."""
    warehouse = connect(settings.warehouse_url, settings.lock_wait_seconds)
    warehouse.migrate()
    return warehouse
