"""The warehouse protocol every backend implements, and what a backend declares about itself.

The core reads ``Capabilities`` flags instead of asking which backend it has
(``if backend == "postgres"`` is the smell this avoids).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa


@dataclass(frozen=True)
class Capabilities:
    name: str  # "duckdb", "postgres"
    sqlglot_dialect: str  # dialect the models are transpiled to
    max_identifier_length: int
    single_writer_process: bool  # a second process must wait for the file lock
    param_style: str  # "?" or "%s": how parameters are written in raw SQL
    # the warehouse opens local files itself (read_csv) and offers replace_partition_from
    reads_local_files: bool = False


@runtime_checkable
class Warehouse(Protocol):
    """Where staged data, marts and tally's own metadata live."""

    url: str
    capabilities: Capabilities

    def session(self) -> AbstractContextManager[Any]:
        """Hold one connection (and the write lock) across several calls."""

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> None:
        """Run one statement written in this backend's dialect, with ``?`` parameters."""

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        """Run a query (``?`` parameters) and return its rows as Arrow."""

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Run a query and return plain tuples (small results)."""

    def run_model(self, sql: str) -> None:
        """Run SQL written in DuckDB's dialect (a model file): transpiled where needed."""

    def run_sql_file(self, path: Path) -> None:
        """Run every statement of a DuckDB-dialect SQL file."""

    def replace_partition(self, table: str, data: pa.Table, partition: Mapping[str, Any]) -> int:
        """Delete the rows matching ``partition`` and insert ``data`` in one transaction.

        Creates the table from the Arrow schema when missing and adds new columns.
        Returns the number of rows inserted.
        """

    def append(self, table: str, data: pa.Table) -> int:
        """Insert rows (creating the table when missing); returns the count."""

    def materialize(self, table: str, select_sql: str) -> None:
        """(Re)create ``table`` from a DuckDB-dialect SELECT, atomically."""

    def table_exists(self, table: str) -> bool: ...

    def columns(self, table: str) -> list[str]: ...

    def migrate(self) -> list[str]:
        """Apply tally's own schema migrations; returns the names applied now."""

    def transaction(self) -> AbstractContextManager[None]:
        """Group several calls into one all-or-nothing transaction."""

    def close(self) -> None: ...


class InformationSchema:
    """``table_exists`` and ``columns`` from the SQL-standard catalogue, for any backend
    whose ``rows`` takes ``?`` parameters."""

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def table_exists(self, table: str) -> bool:
        schema, name = split_table(table)
        found = self.rows(
            "SELECT count(*) FROM information_schema.tables "
            "WHERE table_schema = ? AND table_name = ?",
            [schema, name],
        )
        return found[0][0] > 0

    def columns(self, table: str) -> list[str]:
        schema, name = split_table(table)
        found = self.rows(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, name],
        )
        return [row[0] for row in found]


def split_table(table: str) -> tuple[str, str]:
    """``'staging.x'`` → ``('staging', 'x')``; an unqualified name goes to ``main``."""
    schema, _, name = table.rpartition(".")
    return (schema or "main", name)


def split_statements(sql: str) -> Iterator[str]:
    """Statements of a SQL script, split by sqlglot so semicolons in strings are safe."""
    import sqlglot

    for expression in sqlglot.parse(sql, read="duckdb"):
        if expression is not None:
            yield expression.sql(dialect="duckdb")
