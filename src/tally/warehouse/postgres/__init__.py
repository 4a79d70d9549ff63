"""The PostgreSQL backend (registered in ``tally.warehouse.registry`` as ``postgres``)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from tally.warehouse.postgres.backend import CAPABILITIES, PostgresWarehouse, to_postgres
from tally.warehouse.registry import ConnectOptions

__all__ = ["CAPABILITIES", "PostgresWarehouse", "open_warehouse", "scratch_url", "to_postgres"]


def open_warehouse(url: str, options: ConnectOptions) -> PostgresWarehouse:
    """The registry's factory for ``postgresql://`` URLs."""
    return PostgresWarehouse(
        url.replace("postgres://", "postgresql://", 1),
        pool_size=options.pool_size,
        wait_seconds=options.lock_wait_seconds,
        interactive_seconds=options.interactive_timeout_seconds,
    )


@contextmanager
def scratch_url(_folder: Path, service_url: str) -> Iterator[str]:
    """A throwaway database on the server at ``service_url``, dropped afterwards."""
    import psycopg

    name = f"tally_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(service_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlparse(service_url)._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(service_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
