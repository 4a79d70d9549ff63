"""PostgreSQL backend over psycopg 3.

SQL reaches it in DuckDB's dialect (the models, tally's own statements with ``?``
parameters) and is transpiled by sqlglot. Loads go through ``COPY ... FROM STDIN``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import sqlglot

from tally.errors import ConfigError
from tally.warehouse.base import (
    Capabilities,
    InformationSchema,
    split_statements,
    split_table,
)
from tally.warehouse.migrations import migration_files

CAPABILITIES = Capabilities(
    name="postgres",
    sqlglot_dialect="postgres",
    max_identifier_length=63,
    single_writer_process=False,
    param_style="%s",
)


@lru_cache(maxsize=512)
def to_postgres(sql: str, dialect: str = "postgres") -> str:
    """One DuckDB-dialect statement in PostgreSQL's (or Redshift's) dialect."""
    return ";\n".join(sqlglot.transpile(sql, read="duckdb", write=dialect))


def _postgres_type(arrow_type: pa.DataType) -> str:
    if pa.types.is_boolean(arrow_type):
        return "BOOLEAN"
    if pa.types.is_integer(arrow_type):
        return "BIGINT"
    if pa.types.is_floating(arrow_type):
        return "DOUBLE PRECISION"
    if pa.types.is_decimal(arrow_type):
        return f"NUMERIC({arrow_type.precision}, {arrow_type.scale})"
    if pa.types.is_date(arrow_type):
        return "DATE"
    if pa.types.is_timestamp(arrow_type):
        return "TIMESTAMPTZ" if arrow_type.tz else "TIMESTAMP"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "TEXT"
    return "JSONB" if pa.types.is_nested(arrow_type) else "TEXT"


def _plain(value: Any) -> Any:
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return value


class PostgresWarehouse(InformationSchema):
    """A PostgreSQL database (or Redshift) behind the Warehouse protocol."""

    def __init__(self, url: str, dialect: str = "postgres") -> None:
        self.url = url
        self.dialect = dialect
        self.capabilities = (
            CAPABILITIES
            if dialect == "postgres"
            else Capabilities(
                name=dialect,
                sqlglot_dialect=dialect,
                max_identifier_length=127,
                single_writer_process=False,
                param_style="%s",
            )
        )
        self._connection: psycopg.Connection | None = None
        self._depth = 0
        self._in_transaction = 0
        self._lock = threading.RLock()

    @contextmanager
    def session(self) -> Iterator[psycopg.Connection]:
        with self._lock:
            if self._connection is None:
                try:
                    self._connection = psycopg.connect(self.url, autocommit=True)
                except psycopg.OperationalError as error:
                    raise ConfigError(f"cannot connect to {self._safe_url()}: {error}") from error
            self._depth += 1
            try:
                yield self._connection
            finally:
                self._depth -= 1
                if self._depth == 0:
                    self._connection.close()
                    self._connection = None

    def _safe_url(self) -> str:
        info = psycopg.conninfo.conninfo_to_dict(self.url)
        info.pop("password", None)
        return " ".join(f"{k}={v}" for k, v in info.items())

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.session() as con, con.transaction():
            yield

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
                self._depth = 0

    def _sql(self, sql: str) -> str:
        return to_postgres(sql, self.dialect)

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> None:
        with self.session() as con:
            con.execute(self._sql(sql), params)

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.session() as con:
            cursor = con.execute(self._sql(sql), params)
            return cursor.fetchall() if cursor.description else []

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        with self.session() as con:
            cursor = con.execute(self._sql(sql), params)
            names = [column.name for column in cursor.description or []]
            records = cursor.fetchall()
        columns = list(zip(*records, strict=True)) if records else [[] for _ in names]
        arrays = [pa.array([_arrow_value(v) for v in column]) for column in columns]
        return pa.Table.from_arrays(arrays, names=names)

    def run_model(self, sql: str) -> None:
        with self.session() as con:
            for statement in split_statements(sql):
                con.execute(self._sql(statement))

    def run_sql_file(self, path: Path) -> None:
        self.run_model(Path(path).read_text(encoding="utf-8"))

    def _ensure_table(self, con: psycopg.Connection, table: str, schema: pa.Schema) -> None:
        schema_name, _ = split_table(table)
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema_name}"')
        definition = ", ".join(f'"{f.name}" {_postgres_type(f.type)}' for f in schema)
        con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({definition})")
        existing = set(self.columns(table))
        for field in schema:
            if field.name not in existing:
                con.execute(
                    f'ALTER TABLE {table} ADD COLUMN "{field.name}" {_postgres_type(field.type)}'
                )

    def replace_partition(self, table: str, data: pa.Table, partition: Mapping[str, Any]) -> int:
        names = ", ".join(f'"{name}"' for name in data.column_names)
        with self.transaction(), self.session() as con:
            self._ensure_table(con, table, data.schema)
            if partition:
                where = " AND ".join(f'"{column}" = %s' for column in partition)
                con.execute(f"DELETE FROM {table} WHERE {where}", list(partition.values()))
            with con.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                for batch in data.to_batches(max_chunksize=10_000):
                    for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                        copy.write_row([_plain(v) for v in row])
        return data.num_rows

    def append(self, table: str, data: pa.Table) -> int:
        return self.replace_partition(table, data, {})

    def materialize(self, table: str, select_sql: str) -> None:
        """(Re)create ``table`` from a DuckDB-dialect SELECT in one transaction."""
        schema, _ = split_table(table)
        with self.transaction(), self.session() as con:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            con.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
            con.execute(f"CREATE TABLE {table} AS {self._sql(select_sql)}")

    def migrate(self) -> list[str]:
        applied: list[str] = []
        with self.session() as con:
            con.execute("CREATE SCHEMA IF NOT EXISTS tally_meta")
            con.execute(
                "CREATE TABLE IF NOT EXISTS tally_meta.migrations "
                "(name TEXT PRIMARY KEY, applied_at TIMESTAMP)"
            )
            done = {r[0] for r in con.execute("SELECT name FROM tally_meta.migrations").fetchall()}
            for name, sql in migration_files():
                if name in done:
                    continue
                with con.transaction():
                    for statement in split_statements(sql):
                        con.execute(self._sql(statement))
                    con.execute("INSERT INTO tally_meta.migrations VALUES (%s, now())", [name])
                applied.append(name)
        return applied


def _arrow_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value
