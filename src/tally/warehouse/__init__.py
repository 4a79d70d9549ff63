"""The warehouse: one protocol, backends registered by URL scheme.

``connect("duckdb:///./tally-data/warehouse.duckdb")``, ``connect("postgresql://user@host/db")``
or ``connect("redshift://user@cluster:5439/db")``: ``tally.warehouse.registry`` maps each
scheme to its backend's folder, imported only when used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tally.warehouse.base import Capabilities, FileReadError, SchemaChangeError, Warehouse
from tally.warehouse.registry import ConnectOptions, backend_for, check_options

if TYPE_CHECKING:
    from tally.config import Settings

__all__ = [
    "Capabilities",
    "ConnectOptions",
    "FileReadError",
    "SchemaChangeError",
    "Warehouse",
    "connect",
    "from_settings",
    "options_from",
]


def connect(
    url: str, lock_wait_seconds: float = 60.0, *, options: ConnectOptions | None = None
) -> Warehouse:
    """Open the warehouse a URL names (ConfigError listing the registered schemes if none)."""
    backend = backend_for(url)
    options = options or ConnectOptions(lock_wait_seconds=lock_wait_seconds)
    check_options(url, options.options)
    warehouse: Warehouse = backend.open(url, options)
    return warehouse


def options_from(settings: Settings) -> ConnectOptions:
    """What the settings say about opening the warehouse."""
    return ConnectOptions(
        lock_wait_seconds=settings.lock_wait_seconds,
        pool_size=settings.warehouse.pool_size,
        interactive_timeout_seconds=settings.warehouse.interactive_timeout_seconds,
        options=dict(settings.warehouse.options),
        lake_url=settings.lake_url,
        s3_endpoint_url=settings.s3_endpoint_url,
    )


def from_settings(settings: Settings, *, migrate: bool = True) -> Warehouse:
    """The configured warehouse, migrated to tally's current schema (unless told not to)."""
    warehouse = connect(settings.warehouse_url, options=options_from(settings))
    if migrate:
        warehouse.migrate()
    return warehouse
