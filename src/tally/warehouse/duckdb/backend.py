"""DuckDB backend: one file, one writing process at a time.

Several processes share the file with short-lived connections: each call (or each
``session()`` block) opens the file, does its work and closes it, so the lock is held only
while work is being done. A process that finds the file locked waits, retrying with a
short backoff, up to ``lock_wait_seconds``; past that it raises ``WarehouseBusyError``.
Long jobs (a backfill, the demo) are made of many short partition transactions, so a
reader waits at most for one partition, never for the whole job.

Inside one process, each thread works on its own connection to the one open database
(``cursor()``), so a slow dashboard query never holds up a tracking request or the hit
loader; the file stays open while any thread holds a session. Writes still go one at a
time (a transaction, or a writing statement outside one, holds the process's writer lock):
DuckDB would fail, not wait, when two transactions touch the same rows. An interactive block
(``interactive()``) stops a statement past its time limit with ``interrupt()`` from a timer.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from tally.errors import ConfigError, QueryTimeoutError, WarehouseBusyError
from tally.warehouse.base import (
    Capabilities,
    FileReadError,
    InformationSchema,
    NamedLocks,
    SchemaChangeError,
    ThreadState,
    WriterLock,
    split_statements,
    split_table,
)
from tally.warehouse.meta import bookkeeping
from tally.warehouse.migrations import migration_files

if TYPE_CHECKING:  # Arrow is loaded by DuckDB when a result is fetched as Arrow
    import pyarrow as pa

CAPABILITIES = Capabilities(
    sqlglot_dialect="duckdb",
    max_identifier_length=255,
    single_writer_process=True,
    param_style="?",
    reads_local_files=True,
    row_ids=True,
    columnar_results=True,
    parallel_partition_writes=True,
    reads_aside=True,
    replaces_temporary_tables=True,
    hash_function=f"duckdb {duckdb.__version__} hash",
)
# One writer at a time per database file in this process. DuckDB lets several connections
# of one process write, but two transactions touching the same rows fail ("Conflict on
# tuple deletion") instead of waiting; readers never conflict and are not held up. Threads
# inside ``shared_writes()`` write together (each its own partition: no row of theirs is
# the same, measured to commit without conflict), never alongside a writer alone.
_WRITERS: dict[str, WriterLock] = {}
_WRITERS_GUARD = threading.Lock()


def _writer_lock(path: str) -> WriterLock:
    key = str(Path(path).resolve()) if path not in (":memory:", "") else f":memory:{id(path)}"
    with _WRITERS_GUARD:
        return _WRITERS.setdefault(key, WriterLock())


_PLAIN_SELECT = re.compile(r"\s*SELECT\b", re.IGNORECASE)
# a statement that opens with one of these writes, whatever follows
_PLAIN_WRITE = re.compile(
    r"\s*(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|TRUNCATE|COPY|MERGE)\b", re.IGNORECASE
)


@lru_cache(maxsize=4096)
def _reads_only(sql: str) -> bool:
    """Whether a statement only reads (a query, SHOW, DESCRIBE, SET): those run at once."""
    if _PLAIN_SELECT.match(sql) and ";" not in sql:
        return True  # one SELECT: known without parsing (sqlglot's import alone is ~0.3 s)
    if _PLAIN_WRITE.match(sql):
        return False  # a write (the run ledger's INSERT and UPDATE): known without parsing
    import sqlglot
    from sqlglot import exp

    try:
        statement = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return False  # unknown: treated as a write, which is only ever slower
    return isinstance(statement, (exp.Query, exp.Describe, exp.Show, exp.Set))


# what DuckDB raises when a file it reads itself is not readable text: invalid UTF-8, a NUL
# byte, mixed line ends, a damaged gzip stream... (each under its own class)
_FILE_ERRORS = (duckdb.Error,)


# DuckDB shares one database instance among a process's connections to a file, creating it
# on the first connect and destroying it on the last close. A connect racing a close in
# another thread can get an instance without the Python scans registered ("Table Function
# with name python_arrow_scan does not exist"), so connects and closes take turns. Seen
# once the server opened the file from several warehouse objects (reports, logins, loader).
_OPEN_CLOSE = threading.Lock()
# ``threads`` and ``preserve_insertion_order`` are settings of the whole database, not of
# one connection: the first ``unordered()`` block of a database changes them, the last one
# out puts them back (a block entered meanwhile runs with the first one's thread count).
_SETTINGS = threading.Lock()
_HELD: dict[str, list[Any]] = {}  # database → [blocks inside, threads, insertion order, used]
# database → [direct_commits() blocks inside, checkpoint_threshold before the first]
_DIRECT: dict[str, list[Any]] = {}


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

    def __init__(
        self, url: str, lock_wait_seconds: float = 60.0, interactive_seconds: float = 30.0
    ) -> None:
        self.url = url
        # duckdb:///./x.duckdb → ./x.duckdb ; duckdb:////abs/x.duckdb → /abs/x.duckdb
        self.path = url[len("duckdb:///") :] if url.startswith("duckdb:///") else url[9:]
        self.lock_wait_seconds = lock_wait_seconds
        self.interactive_seconds = interactive_seconds
        self._database: duckdb.DuckDBPyConnection | None = None  # the open file
        self._holders = 0  # threads in a session on it
        self._lock = threading.Lock()
        self._state = ThreadState()
        self._named = NamedLocks()
        self._writer = WriterLock() if self.path in (":memory:", "") else _writer_lock(self.path)
        self._settings_key = (
            f":memory:{id(self)}" if self._memory else str(Path(self.path).resolve())
        )
        if self.path not in (":memory:", ""):
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)

    @property
    def _memory(self) -> bool:
        return self.path in (":memory:", "")

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

    def _attach(self) -> duckdb.DuckDBPyConnection:
        """This thread's own connection to the database, opening the file if need be."""
        with self._lock:
            if self._database is None:
                self._database = self._open()
            self._holders += 1
            return self._database.cursor()

    def _detach(self, connection: duckdb.DuckDBPyConnection) -> None:
        connection.close()
        with self._lock:
            self._holders -= 1
            if self._holders == 0 and not self._memory and self._database is not None:
                with _OPEN_CLOSE:
                    self._database.close()
                self._database = None

    @contextmanager
    def session(self) -> Iterator[duckdb.DuckDBPyConnection]:
        state = self._state
        if state.depth == 0:
            state.connection = self._attach()
        state.depth += 1
        try:
            yield state.connection
        finally:
            state.depth -= 1
            if state.depth == 0:
                connection, state.connection = state.connection, None
                self._detach(connection)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """All-or-nothing; a nested call joins the outer transaction."""
        state = self._state
        with self.session() as con:
            if state.in_transaction:
                state.in_transaction += 1
                try:
                    yield
                finally:
                    state.in_transaction -= 1
                return
            with self._hold_writer():  # a transaction is assumed to write
                con.execute("BEGIN TRANSACTION")
                state.in_transaction = 1
                try:
                    yield
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                else:
                    con.execute("COMMIT")
                finally:
                    state.in_transaction = 0

    def _hold_writer(self) -> AbstractContextManager[None]:
        """The writer lock as this thread writes: shared inside ``shared_writes()``,
        else alone."""
        return self._writer.shared() if self._state.shared else self._writer

    def shared_writes(self, shared: bool = True) -> AbstractContextManager[None]:
        return self._state.sharing(shared, self.capabilities.parallel_partition_writes)

    @contextmanager
    def interactive(self, seconds: float | None = None) -> Iterator[None]:
        state = self._state
        before = state.timeout
        state.timeout = self.interactive_seconds if seconds is None else seconds
        try:
            with self.session():
                yield
        finally:
            state.timeout = before

    @contextmanager
    def _bounded(self, con: duckdb.DuckDBPyConnection) -> Iterator[None]:
        """Interrupt the statement run in the block when this thread's time limit passes."""
        seconds = self._state.timeout
        if seconds is None:
            yield
            return
        timer = threading.Timer(seconds, con.interrupt)
        timer.daemon = True
        timer.start()
        try:
            yield
        except duckdb.InterruptException as error:
            raise QueryTimeoutError(
                f"the query ran past the interactive limit of {seconds:g} s and was stopped "
                "(setting warehouse.interactive_timeout_seconds)",
                seconds,
            ) from error
        finally:
            timer.cancel()

    @contextmanager
    def exclusive(self, key: int) -> Iterator[None]:
        # the file lock keeps every other process out while this one writes, so a lock
        # inside this process is enough
        with self._named.hold(key):
            yield

    @contextmanager
    def unordered(self, streams: int | None = None) -> Iterator[int]:
        """Let DuckDB write a statement's rows in any order; with ``streams`` (how many
        inputs the block reads each on its own: files, row groups), on no more threads than
        that. Both settings are the database's, put back afterwards; yields how many parts
        a scan may be split into.

        Keeping the order of the rows read makes DuckDB finish each CREATE TABLE AS and
        INSERT on one thread; a UNION ALL of parts runs on every core only when the result's
        order need not follow the input's. A thread with no input of its own does not make
        a statement faster: a one-file INSERT … SELECT with a second thread idle cost about
        20 % more CPU (issue 17, measured), hence ``streams``.
        """
        with self.session() as con:
            with _SETTINGS:
                held = _HELD.get(self._settings_key)
                if held is None:  # the first block in: note the settings, then change them
                    threads = int(con.execute("SELECT current_setting('threads')").fetchall()[0][0])
                    setting = "SELECT current_setting('preserve_insertion_order')"
                    order = bool(con.execute(setting).fetchall()[0][0])
                    used = max(1, min(threads, streams or threads, 8))
                    con.execute("SET preserve_insertion_order = false")
                    if used != threads:
                        con.execute(f"SET threads = {used}")
                    held = _HELD[self._settings_key] = [0, threads, order, used]
                held[0] += 1
            try:
                yield held[3]
            finally:
                with _SETTINGS:
                    held[0] -= 1
                    if held[0] == 0:  # the last block out puts them back
                        del _HELD[self._settings_key]
                        settings = [f"SET preserve_insertion_order = {held[2]}"]
                        if held[3] != held[1]:
                            settings.append(f"SET threads = {held[1]}")
                        self._set_globally(con, settings)

    @contextmanager
    def direct_commits(self) -> Iterator[None]:
        """``checkpoint_threshold`` 0 for the block: each commit checkpoints, and one whose
        log would be large writes no WAL (DuckDB's ``auto_checkpoint_skip_wal_threshold``).
        A session closing after a large commit otherwise wrote its rows twice: to the WAL at
        the commit, then to the file by the checkpoint on close (the daily build at 1M
        subscriptions, an 11 MB WAL: commit and close 0.18 -> 0.15 CPU s, busy). Durable
        as before: a checkpoint writes the new blocks, then the header that points at them,
        so a crash inside it leaves the file as it was before the commit. A setting of the
        database, so every connection of this process to the file has it during the block;
        the last block out puts it back."""
        with self.session() as con:
            with _SETTINGS:
                held = _DIRECT.get(self._settings_key)
                if held is None:
                    found = con.execute("SELECT current_setting('checkpoint_threshold')")
                    held = _DIRECT[self._settings_key] = [0, found.fetchall()[0][0]]
                    con.execute("SET checkpoint_threshold = '0 B'")
                held[0] += 1
            try:
                yield
            finally:
                with _SETTINGS:
                    held[0] -= 1
                    if held[0] == 0:
                        del _DIRECT[self._settings_key]
                        self._set_globally(con, [f"SET checkpoint_threshold = '{held[1]}'"])

    def _set_globally(self, con: duckdb.DuckDBPyConnection, statements: list[str]) -> None:
        """Run SETs of database-wide settings; on another connection of the database when
        this one's transaction has failed (a SET is refused until it is rolled back)."""
        try:
            for statement in statements:
                con.execute(statement)
        except duckdb.TransactionException:
            assert self._database is not None  # the session that holds ``con`` keeps it open
            other = self._database.cursor()
            try:
                for statement in statements:
                    other.execute(statement)
            finally:
                other.close()

    def console(self, sql: str, *, write: bool = False, external_access: bool = False) -> pa.Table:
        """A read-only connection with ``enable_external_access`` off unless asked (read_csv,
        COPY TO, ATTACH of a file and extension installs are then refused)."""
        if not write and not self._memory and not Path(self.path).exists():
            raise FileNotFoundError(
                f"no warehouse at {self.path} yet (tally demo or tally load make it)"
            )
        config: dict[str, str | bool | int | float | list[str]] = (
            {} if external_access else {"enable_external_access": False}
        )
        deadline = time.monotonic() + self.lock_wait_seconds
        while True:
            try:
                connection = duckdb.connect(self.path, read_only=not write, config=config)
                break
            except duckdb.IOException as error:  # another process writes: wait as _open does
                if not _is_lock_error(error):
                    raise
                if time.monotonic() >= deadline:
                    raise WarehouseBusyError(f"{self.path} stayed locked: {error}") from error
                time.sleep(0.05)
        try:
            relation = connection.sql(sql)
            if relation is None:
                import pyarrow as pa

                return pa.table({})
            return _to_arrow(relation)
        finally:
            connection.close()

    def columns(self, table: str) -> list[str]:
        """The table's columns in order, from ``duckdb_columns()``: what the standard
        ``information_schema.columns`` view selects from, without the view's other columns
        (0.6 against 2 ms of CPU a call; the daily build asks ~20 times)."""
        schema, name = split_table(table)
        found = self.rows(
            "SELECT column_name FROM duckdb_columns() "
            "WHERE schema_name = ? AND table_name = ? ORDER BY column_index",
            [schema, name],
        )
        return [row[0] for row in found]

    def analyze(self, tables: Sequence[str]) -> None:
        """Nothing to do: DuckDB updates a table's statistics with every write."""

    def close(self) -> None:
        with self._lock:
            if self._database is not None and self._holders == 0:
                with _OPEN_CLOSE:
                    self._database.close()
                self._database = None

    # -- statements --------------------------------------------------------------------

    def _writing(self, sql: str) -> Any:
        """The writer lock for a statement that writes outside a transaction (a transaction
        already holds it); nothing for a read."""
        if self._state.in_transaction or _reads_only(sql):
            return nullcontext()
        return self._hold_writer()

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> None:
        with self.session() as con, self._writing(sql), self._bounded(con):
            con.execute(sql, params) if params is not None else con.execute(sql)

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        with self.session() as con, self._writing(sql), self._bounded(con):
            relation = con.sql(sql, params=params) if params is not None else con.sql(sql)
            return _to_arrow(relation)

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.session() as con, self._writing(sql), self._bounded(con):
            cursor = con.execute(sql, params) if params is not None else con.execute(sql)
            return cursor.fetchall()

    def run_model(self, sql: str) -> None:
        with self.session() as con:
            for statement in split_statements(sql):
                with self._writing(statement), self._bounded(con):
                    con.execute(statement)

    def read_into(self, table: str, select_sql: str) -> int:
        """``CREATE TEMP TABLE table AS select_sql`` for a SELECT that reads local files;
        returns how many rows it holds. ``FileReadError`` (nothing left behind) when DuckDB
        cannot read one."""
        with self.session() as con:
            try:
                created = con.execute(f"CREATE TEMP TABLE {table} AS {select_sql}").fetchone()
            except _FILE_ERRORS as error:
                con.execute(f"DROP TABLE IF EXISTS {table}")
                raise FileReadError(str(error).splitlines()[0]) from error
            return int(created[0]) if created else 0

    @contextmanager
    def arrow_view(self, data: pa.Table) -> Iterator[str]:
        """An Arrow table readable by name in this thread's session, for the block."""
        view = f"_arrow_{uuid.uuid4().hex}"
        with self.session() as con:
            con.register(view, data)
            try:
                yield view
            finally:
                con.unregister(view)

    def run_sql_file(self, path: Path) -> None:
        self.run_model(Path(path).read_text(encoding="utf-8"))

    # -- tables ------------------------------------------------------------------------

    def _ensure_table(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        view: str,
        columns: Sequence[str] | None = None,
    ) -> None:
        schema, name = split_table(table)
        existing = {
            row[0]
            for row in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ?",
                [schema, name],
            ).fetchall()
        }
        if not existing:  # (each look at the view plans its SELECT again: only what is needed)
            self._refuse_schema_change(table)
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM {view} LIMIT 0")
            return
        if columns is not None and existing.issuperset(columns):
            return  # the caller knows the SELECT's columns: all there, nothing to plan
        described = con.execute(f"DESCRIBE SELECT * FROM {view}").fetchall()
        for column, column_type, *_ in described:
            if column not in existing:
                self._refuse_schema_change(table)
                con.execute(f'ALTER TABLE {table} ADD COLUMN "{column}" {column_type}')

    def _refuse_schema_change(self, table: str) -> None:
        # two transactions side by side cannot both change the catalogue (DuckDB: "Catalog
        # write-write conflict"), nor one alter a table the other inserts into
        if self._state.shared:
            raise SchemaChangeError(f"{table} must be created or altered by a writer alone")

    def replace_partition(self, table: str, data: pa.Table, partition: Mapping[str, Any]) -> int:
        view = f"_incoming_{uuid.uuid4().hex}"
        with self.transaction(), self.session() as con:
            con.register(view, data)
            try:
                # the Arrow table's names are the SELECT's: no DESCRIBE of the view (a
                # statement planned, and a wait for the GIL in a loader's writer thread)
                return self._replace(con, table, view, partition, data.schema.names)
            finally:
                con.unregister(view)

    def replace_partition_from(
        self,
        table: str,
        select_sql: str,
        partition: Mapping[str, Any],
        *,
        reads_files: bool = False,
        columns: Sequence[str] | None = None,
    ) -> int:
        """``replace_partition`` with the rows of a SELECT run here (no copy through Python).

        Only backends whose capabilities say ``reads_local_files`` offer it: the SELECT
        may read the lake's files or temporary tables of the current session. With
        ``reads_files``, an error of the statement is raised as ``FileReadError`` (a file
        DuckDB cannot read; the caller reads it another way). ``columns``, the names the
        SELECT yields where the caller knows them, spares planning it to compare.
        """
        # the SELECT is written into each statement rather than kept as a view: planning
        # a load's SELECT (one CASE per column) costs as much each time either way
        with self.transaction(), self.session() as con:
            if not reads_files:
                return self._replace(con, table, f"({select_sql})", partition, columns)
            try:
                return self._replace(con, table, f"({select_sql})", partition, columns)
            except _FILE_ERRORS as error:
                raise FileReadError(str(error).splitlines()[0]) from error

    def _replace(
        self,
        con: duckdb.DuckDBPyConnection,
        table: str,
        view: str,  # a view's name, or a parenthesised SELECT
        partition: Mapping[str, Any],
        columns: Sequence[str] | None = None,
    ) -> int:
        self._ensure_table(con, table, view, columns)
        if partition:
            where = " AND ".join(f'"{column}" = ?' for column in partition)
            con.execute(f"DELETE FROM {table} WHERE {where}", list(partition.values()))
        inserted = con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {view}").fetchone()
        return int(inserted[0]) if inserted else 0

    def append(self, table: str, data: pa.Table) -> int:
        return self.replace_partition(table, data, {})

    def materialize(self, table: str, select_sql: str, uncompressed: Sequence[str] = ()) -> None:
        """(Re)create ``table`` from a DuckDB-dialect SELECT, atomically; the columns
        ``uncompressed`` names declared ``USING COMPRESSION uncompressed`` (DuckDB picks a
        column's compression as it writes its blocks, this one and every later one)."""
        schema, _ = split_table(table)
        with self.session() as con, self._writer:
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            if not uncompressed:
                con.execute(f"CREATE OR REPLACE TABLE {table} AS {select_sql}")
                return
        # a column's compression is declared with its type: the SELECT's types first
        with self.transaction(), self.session() as con:
            described = con.execute(f"DESCRIBE SELECT * FROM ({select_sql})").fetchall()
            unknown = set(uncompressed) - {column for column, *_ in described}
            if unknown:
                raise ConfigError(f"{table}: @uncompressed {sorted(unknown)[0]}: no such column")
            columns = ", ".join(
                f'"{column}" {column_type}'
                + (" USING COMPRESSION uncompressed" if column in uncompressed else "")
                for column, column_type, *_ in described
            )
            con.execute(f"CREATE OR REPLACE TABLE {table} ({columns})")
            con.execute(f"INSERT INTO {table} {select_sql}")

    # -- migrations --------------------------------------------------------------------

    def migrate(self) -> list[str]:
        applied: list[str] = []
        with self.session() as con, self._writer:
            con.execute("CREATE SCHEMA IF NOT EXISTS tally_meta")
            con.execute(bookkeeping.migrations_table())
            done = {row[0] for row in con.execute(bookkeeping.APPLIED_MIGRATIONS).fetchall()}
            for name, sql in migration_files("duckdb"):
                if name in done:
                    continue
                with self.transaction():
                    for statement in split_statements(sql):
                        con.execute(statement)
                    con.execute(bookkeeping.record_migration(now="now()::TIMESTAMP"), [name])
                applied.append(name)
        return applied
