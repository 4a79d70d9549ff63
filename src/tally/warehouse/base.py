"""The warehouse protocol every backend implements, and what a backend declares about itself.

The core reads ``Capabilities`` flags instead of asking which backend it has
(``if backend == "postgres"`` is the smell this avoids).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tally.errors import TallyError

if TYPE_CHECKING:  # only in annotations: a caller of rows() never loads pyarrow
    import pyarrow as pa


@dataclass(frozen=True)
class Capabilities:
    """What a backend allows, each flag named for what it lets the core do.

    There is deliberately no backend name here: code outside ``warehouse/<backend>/``
    decides by these flags (tests/test_layers.py fails when it asks for a name).
    """

    sqlglot_dialect: str  # dialect the models (DuckDB SQL) are transpiled to
    max_identifier_length: int
    single_writer_process: bool  # a second process must wait for the file lock
    param_style: str  # "?" or "%s": how parameters are written in raw SQL
    # the warehouse opens local files itself (read_csv) and offers replace_partition_from,
    # stage_file and arrow_view
    reads_local_files: bool = False
    # a ``rowid`` pseudo-column picks a table's rows without decompressing every column
    row_ids: bool = False
    # query() hands millions of rows to Python column-wise at little cost per row
    columnar_results: bool = False
    # exclusive() holds a lock other processes see; without it a single writer process
    # (the file lock) is what keeps other processes out
    locks_across_processes: bool = False
    # loads stream rows over the connection (COPY FROM STDIN); without it they are staged
    # as files in the lake and copied from there (Redshift's COPY FROM S3)
    copies_from_client: bool = True
    # columns may hold arrays, structs and maps (else nested values are stored as JSON text)
    nested_columns: bool = True
    # the longest text a column holds, in bytes (None: no limit worth stating)
    max_text_bytes: int | None = None
    # DELETE and UPDATE may change some rows of a staging or mart table in place (else those
    # tables are only replaced by partition or whole, and the daily build is the full build)
    rewrites_rows: bool = True
    # a cluster (Spark) reads the lake's files itself: loads of plain delimited layouts run
    # there (``cluster_url``, ``frame_of``, ``replace_partition_frame``)
    cluster_reads_lake: bool = False
    # threads of one process may each replace a different partition of one table at the
    # same time, each in its own transaction (``shared_writes``); else loads of several days
    # run one after another
    parallel_partition_writes: bool = False
    # a cluster (Spark) runs DELETE/INSERT/UPDATE statements over copies of chosen rows of
    # the serving tables and hands the rows back (``run_on_cluster``): the web models do
    cluster_runs_statements: bool = False
    # ``CREATE OR REPLACE TEMPORARY TABLE ... AS`` makes or replaces a session's temporary
    # table in one statement (else a DROP comes first: one more statement each time)
    replaces_temporary_tables: bool = False
    # another thread's connection of this process reads committed tables while this
    # thread's transaction writes, on its own cores (the driver lets go of the GIL), and the
    # rows it hands back as Arrow can be read by name in a session (``arrow_view``): the
    # daily build reads a snapshot's change beside its first models
    reads_aside: bool = False
    # what a model's ``hash(...)`` runs as, with the engine's version where an upgrade may
    # change its values: a stored hash (``subscription_mrr.segment_id``) is only comparable
    # with one made by the same function, so a change rebuilds the models calling it fully
    hash_function: str = ""


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

    def materialize(self, table: str, select_sql: str, uncompressed: Sequence[str] = ()) -> None:
        """(Re)create ``table`` from a DuckDB-dialect SELECT, atomically; the columns
        ``uncompressed`` names stored without compression where the warehouse chooses a
        compression per column (DuckDB; elsewhere a hint with no effect)."""

    def table_exists(self, table: str) -> bool: ...

    def columns(self, table: str) -> list[str]: ...

    def migrate(self) -> list[str]:
        """Apply tally's own schema migrations; returns the names applied now."""

    def transaction(self) -> AbstractContextManager[None]:
        """Group several calls into one all-or-nothing transaction."""

    def interactive(self, seconds: float | None = None) -> AbstractContextManager[None]:
        """Bound every statement this thread runs inside the block to ``seconds`` (default
        the ``warehouse.interactive_timeout_seconds`` setting); one past it is stopped and
        raises ``QueryTimeoutError``. For reads a person waits for (dashboards, Reporting
        API); batch steps run without it."""

    def exclusive(self, key: int) -> AbstractContextManager[None]:
        """Hold a named lock (an integer key) for the block, across every process using
        this warehouse: only one holder at a time, the others wait."""

    def unordered(self, streams: int | None = None) -> AbstractContextManager[int]:
        """Let the statements of the block write rows in any order, on no more threads than
        ``streams`` (how many inputs they read each on its own, e.g. files) where given;
        yields how many parts a scan may be split into to use every core (1 where it does
        not matter)."""

    def shared_writes(self, shared: bool = True) -> AbstractContextManager[None]:
        """Let this thread's writes in the block run at the same time as those of other
        threads inside such a block (``shared``), each writing rows no other one touches
        (its own partition); one that must change a table's schema then raises
        ``SchemaChangeError``, to be run again with ``shared=False``: alone, once the
        others are done. Where ``capabilities.parallel_partition_writes`` is off, a block
        that changes nothing."""

    def direct_commits(self) -> AbstractContextManager[None]:
        """Let the commits inside the block write their changes to the warehouse's own
        storage at once where the backend would log them first and write them again later
        (DuckDB: each commit checkpoints, and a large one writes no WAL): for a large
        transaction whose warehouse is closed right after anyway. Elsewhere a block that
        changes nothing."""

    def console(self, sql: str, *, write: bool = False, external_access: bool = False) -> pa.Table:
        """A person's statement (``tally query``): on a connection that can change nothing
        unless ``write`` and reach no file or network unless ``external_access``; a
        statement without rows gives an empty table."""

    def analyze(self, tables: Sequence[str]) -> None:
        """Refresh the planner's statistics of these tables (where the backend keeps any
        that a write does not already update)."""

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
        return int(found[0][0]) > 0

    def columns(self, table: str) -> list[str]:
        schema, name = split_table(table)
        found = self.rows(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, name],
        )
        return [row[0] for row in found]


class ThreadState(threading.local):
    """One thread's hold on a warehouse: its connection, how deeply it nests sessions and
    transactions, and the time limit of its interactive block. Each thread has its own, so
    a slow statement in one thread never holds up another's."""

    connection: Any = None
    depth: int = 0
    in_transaction: int = 0
    timeout: float | None = None
    # inside shared_writes(): True, writes share the writer lock; False, a write is alone
    shared: bool | None = None
    written: dict[str, int]

    def __init__(self) -> None:
        self.written = {}

    @contextmanager
    def sharing(self, shared: bool, allowed: bool) -> Iterator[None]:
        """A backend's ``shared_writes`` block: ``shared`` for its length where the backend
        allows parallel partition writes, else no say (``None``)."""
        before = self.shared
        self.shared = shared if allowed else None
        try:
            yield
        finally:
            self.shared = before


class NamedLocks:
    """In-process locks by integer key, for backends whose writer is a single process."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[int, threading.Lock] = {}

    @contextmanager
    def hold(self, key: int) -> Iterator[None]:
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            yield


def split_table(table: str) -> tuple[str, str]:
    """``'staging.x'`` → ``('staging', 'x')``; an unqualified name goes to ``main``."""
    schema, _, name = table.rpartition(".")
    return (schema or "main", name)


class SchemaChangeError(TallyError):
    """A write inside ``shared_writes()`` would create or alter a table, which two
    transactions cannot do side by side; nothing was written, run it again alone."""


class WriterLock:
    """Who may write to one database in this process: one writer alone (``with lock:``,
    re-entrant in its thread), or any number of shared writers together (``shared()``),
    never both. A writer waiting to be alone holds back new shared ones, so it is not
    starved. Written here because the standard library has no shared/exclusive lock and
    none of the small packages that offer one is re-entrant for the lone writer, which
    nested transactions need."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._owner: int | None = None  # the thread writing alone
        self._depth = 0  # how deeply it holds the lock
        self._shared = 0  # shared holds, every thread
        self._waiting = 0  # threads waiting to write alone
        self._mine = threading.local()  # this thread's shared holds

    def __enter__(self) -> None:
        me = threading.get_ident()
        with self._condition:
            if self._owner == me:
                self._depth += 1
                return
            if getattr(self._mine, "count", 0):
                raise RuntimeError("a shared writer cannot write alone: it would wait on itself")
            self._waiting += 1
            try:
                self._condition.wait_for(lambda: self._owner is None and self._shared == 0)
            finally:
                self._waiting -= 1
            self._owner, self._depth = me, 1

    def __exit__(self, *_: object) -> None:
        with self._condition:
            self._depth -= 1
            if self._depth == 0:
                self._owner = None
                self._condition.notify_all()

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the lock together with other shared writers (inside the lone writer's
        own hold: that hold)."""
        if self._owner == threading.get_ident():
            with self:
                yield
            return
        with self._condition:
            if not getattr(self._mine, "count", 0):  # a nested hold never waits
                self._condition.wait_for(lambda: self._owner is None and self._waiting == 0)
            self._shared += 1
            self._mine.count = getattr(self._mine, "count", 0) + 1
        try:
            yield
        finally:
            with self._condition:
                self._shared -= 1
                self._mine.count -= 1
                self._condition.notify_all()


class FileReadError(TallyError):
    """The warehouse could not read a local file itself (invalid UTF-8, a NUL byte, a
    broken gzip stream); the caller reads it another way, whose message names the fault."""


@lru_cache(maxsize=2048)
def written_table(sql: str) -> str | None:
    """The schema-qualified table a DuckDB-dialect statement writes (INSERT, UPDATE,
    DELETE, CREATE TABLE … AS), or None: what a backend re-analyzes after a step."""
    import sqlglot
    from sqlglot import exp

    try:
        statement = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return None
    if not isinstance(statement, (exp.Insert, exp.Update, exp.Delete, exp.Create)):
        return None
    if isinstance(statement, exp.Create) and statement.kind != "TABLE":
        return None
    target = statement.this
    table = target if isinstance(target, exp.Table) else target.find(exp.Table)
    if table is None or not table.db:
        return None  # temporary tables are unqualified and gone at the session's end
    return f"{table.db}.{table.name}"


@lru_cache(maxsize=512)
def split_statements(sql: str) -> tuple[str, ...]:
    """Statements of a SQL script, split by sqlglot so semicolons in strings are safe.

    Kept per script text: a model file runs again and again in one process (sessionize
    each load, the daily build), and parsing and writing back its statements is pure
    Python, ~0.1 CPU s for sessionize's four files (a third of a day's run at 1.2M hits),
    whose objects also set off the collector's full passes over the whole process."""
    import sqlglot

    return tuple(
        expression.sql(dialect="duckdb")
        for expression in sqlglot.parse(sql, read="duckdb")
        if expression is not None
    )
