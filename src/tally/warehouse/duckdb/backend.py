"""DuckDB backend: one file, one writing process at a time.

Several processes share the file with short-lived connections: each call (or each
``session()`` block) opens the file, does its work and closes it, so the lock is held only
while work is being done. A process that finds the file locked waits, retrying with a
short backoff, up to ``lock_wait_seconds``; past that it raises ``WarehouseBusyError``.
Long jobs (a backfill, the demo) are made of many short partition transactions, so a
reader waits at most for one partition, never for the whole job.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from tally.errors import WarehouseBusyError
from tally.warehouse.base import (
    Capabilities,
    InformationSchema,
    split_statements,
    split_table,
)
from tally.warehouse.migrations import migration_files

CAPABILITIES = Capabilities(
    name="duckdb",
    sqlglot_dialect="duckdb",
    max_identifier_length=255,
    single_writer_process=True,
    param_style="?",
    reads_local_files=True,
)


# DuckDB shares one database instance among a process's connections to a file, creating it
# on the first connect and destroying it on the last close. A connect racing a close in
# another thread can get an instance without the Python scans registered ("Table Function
# with name python_arrow_scan does not exist"), so connects and closes take turns. Seen
# once the server opened connections from several threads (reports, logins, the loader).
_OPEN_CLOSE = threading.Lock()


def _is_lock_error(error: Exception) -> bool:
    text = str(error).lower()
    return "lock" in text and ("could not set lock" in text or "conflicting lock" in text)


def _to_arrow(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    # duckdb 2.0 renamed the relation's arrow() to to_arrow_table(); accept both releases
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()


class DuckDBWarehouse(InformationSchema):
    """A DuckDB file (or ``:memory:``) behind the Warehouse protocol."""

    capabilities = CAPABILITIES

    def __init__(self, url: str, lock_wait_seconds: float = 60.0) -> None:
        self.url = url
        self.path = (
            url.removeprefix("duckdb://").removeprefix("/")
            if url.startswith("duckdb:///")
            else url.removeprefix("duckdb://")
        )
        if url.startswith("duckdb:///"):
            # duckdb:///./x.duckdb → ./x.duckdb ; duckdb:////abs/x.duckdb → /abs/x.duckdb
            self.path = url[len("duckdb:///") :]
        self.lock_wait_seconds = lock_wait_seconds
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._depth = 0
        self._in_transaction = 0
        self._lock = threading.RLock()
        if self.path not in (":memory:", ""):
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)

    # -- connections -------------------------------------------------------------------

    def _open(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.lock_wait_seconds
        delay = 0.01
        while True:
            try:
                with _OPEN_CLOSE:
                    return duckdb.connect(self.path or ":memory:")
            except duckdb.IOException as error:
                if not _is_lock_error(error):
                    raise
                if time.monotonic() >= deadline:
                    raise WarehouseBusyError(
                        f"{self.path} stayed locked by another process for "
                        f"{self.lock_wait_seconds:.0f} s (setting lock_wait_seconds)"
                    ) from error
                time.sleep(delay)
                # a short ceiling: a writer releases the lock between steps only briefly
                delay = min(delay * 2, 0.05)

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            if self._connection is None:
                self._connection = self._open()
            self._depth += 1
            try:
                yield self._connection
            finally:
                self._depth -= 1
                if self._depth == 0 and self.path != ":memory:":
                    with _OPEN_CLOSE:
                        self._connection.close()
                    self._connection = None

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing; a nested call joins the outer transaction."""
        with self.session() as con:
            if self._in_transaction:
                self._in_transaction += 1
                try:
                    yield
                finally:
                    self._in_transaction -= 1
                return
            con.execute("BEGIN TRANSACTION")
            self._in_transaction = 1
            try:
                yield
            except BaseException:
                con.execute("ROLLBACK")
                raise
            else:
                con.execute("COMMIT")
            finally:
                self._in_transaction = 0

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                with _OPEN_CLOSE:
                    self._connection.close()
                self._connection = None
                self._depth = 0

    # -- statements --------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> None:
        with self.session() as con:
            con.execute(sql, params) if params is not None else con.execute(sql)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        with self.session() as con:
            relation = con.sql(sql, params=params) if params is not None else con.sql(sql)
            return _to_arrow(relation)

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.session() as con:
            cursor = con.execute(sql, params) if params is not None else con.execute(sql)
            return cursor.fetchall()

    def run_model(self, sql: str) -> None:
        with self.session() as con:
            for statement in split_statements(sql):
                con.execute(statement)

    def run_sql_file(self, path: Path) -> None:
        self.run_model(Path(path).read_text(encoding="utf-8"))

    # -- tables ------------------------------------------------------------------------

    def _ensure_table(self, con: duckdb.DuckDBPyConnection, table: str, view: str) -> None:
        schema, _ = split_table(table)
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM {view} LIMIT 0")
        existing = {
            row[0]
            for row in con.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                list(split_table(table)),
            ).fetchall()
        }
        described = con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
        for column, column_type, *_ in described:
            if column not in existing:
                con.execute(f'ALTER TABLE {table} ADD COLUMN "{column}" {column_type}')

    def replace_partition(self, table: str, data: pa.Table, partition: Mapping[str, Any]) -> int:
        view = f"_incoming_{uuid.uuid4().hex}"
        with self.transaction(), self.session() as con:
            con.register(view, data)
            try:
                return self._replace(con, table, view, partition)
            finally:
                con.unregister(view)

    def replace_partition_from(
        self, table: str, select_sql: str, partition: Mapping[str, Any]
    ) -> int:
        """``replace_partition`` with the rows of a SELECT run here (no copy through Python).

        Only backends whose capabilities say ``reads_local_files`` offer it: the SELECT
        may read the lake's files or temporary tables of the current session.
        """
        view = f"_incoming_{uuid.uuid4().hex}"
        with self.transaction(), self.session() as con:
            con.execute(f"CREATE TEMP VIEW {view} AS {select_sql}")
            try:
                return self._replace(con, table, view, partition)
            finally:
                con.execute(f"DROP VIEW IF EXISTS {view}")

    def _replace(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        view: str,
        partition: Mapping[str, Any],
    ) -> int:
        self._ensure_table(con, table, view)
        if partition:
            where = " AND ".join(f'"{column}" = ?' for column in partition)
            con.execute(f"DELETE FROM {table} WHERE {where}", list(partition.values()))
        inserted = con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {view}").fetchone()
        return int(inserted[0]) if inserted else 0

    def append(self, table: str, data: pa.Table) -> int:
        return self.replace_partition(table, data, {})

    def materialize(self, table: str, select_sql: str) -> None:
        """(Re)create ``table`` from a DuckDB-dialect SELECT, atomically."""
        schema, _ = split_table(table)
        with self.session() as con:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            con.execute(f"CREATE OR REPLACE TABLE {table} AS {select_sql}")

    # -- migrations --------------------------------------------------------------------

    def migrate(self) -> list[str]:
        applied: list[str] = []
        with self.session() as con:
            con.execute("CREATE SCHEMA IF NOT EXISTS tally_meta")
            con.execute(
                "CREATE TABLE IF NOT EXISTS tally_meta.migrations "
                "(name VARCHAR PRIMARY KEY, applied_at TIMESTAMP)"
            )
            done = {
                row[0] for row in con.execute("SELECT name FROM tally_meta.migrations").fetchall()
            }
            for name, sql in migration_files():
                if name in done:
                    continue
                with self.transaction():
                    for statement in split_statements(sql):
                        con.execute(statement)
                    con.execute(
                        "INSERT INTO tally_meta.migrations VALUES (?, now()::TIMESTAMP)", [name]
                    )
                applied.append(name)
        return applied
