"""Amazon Redshift over the PostgreSQL driver, with Redshift's own SQL and limits."""

from __future__ import annotations

from tally.warehouse.base import Capabilities
from tally.warehouse.postgres.backend import PostgresWarehouse
from tally.warehouse.registry import ConnectOptions

CAPABILITIES = Capabilities(
    sqlglot_dialect="redshift",
    max_identifier_length=127,
    single_writer_process=False,
    param_style="%s",
    copies_from_client=False,
    nested_columns=False,
    max_text_bytes=65535,
)


class RedshiftWarehouse(PostgresWarehouse):
    """A Redshift cluster (or Serverless workgroup) behind the Warehouse protocol."""

    capabilities = CAPABILITIES


def open_warehouse(url: str, options: ConnectOptions) -> RedshiftWarehouse:
    """The registry's factory for ``redshift://`` and ``postgresql+redshift://`` URLs."""
    plain = "postgresql://" + url.split("://", 1)[1]
    return RedshiftWarehouse(
        url,
        conninfo=plain,
        pool_size=options.pool_size,
        wait_seconds=options.lock_wait_seconds,
        interactive_seconds=options.interactive_timeout_seconds,
    )
