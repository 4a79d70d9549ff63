"""PostgreSQL backend over psycopg 3 and its connection pool.

SQL reaches it in DuckDB's dialect (the models, tally's own statements with ``?``
parameters) and is transpiled by sqlglot. Loads go through ``COPY ... FROM STDIN``.

Each thread borrows its own connection from a pool (``warehouse.pool_size``) for the
length of its session, so the server's request handlers, the hit loader and the scheduler
never wait on each other's connection. A connection goes back with its temporary tables
dropped and its settings reset. At the end of a session, every table its statements
changed by more than autovacuum's default threshold (50 rows + 10 %) is ANALYZEd, so the
planner never plans a load's or a build's tables from empty statistics (a server may run
without autovacuum, and CREATE TABLE AS leaves none).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any

import psycopg
import psycopg_pool
import pyarrow as pa
import sqlglot
from sqlglot import exp

from tally.errors import QueryTimeoutError, WarehouseBusyError, WarehouseUnreachableError
from tally.warehouse.base import (
    Capabilities,
    InformationSchema,
    SchemaChangeError,
    ThreadState,
    WriterLock,
    split_statements,
    split_table,
    written_table,
)
from tally.warehouse.meta import bookkeeping
from tally.warehouse.migrations import migration_files
from tally.warehouse.sqlfiles import sql_file

CAPABILITIES = Capabilities(
    sqlglot_dialect="postgres",
    max_identifier_length=63,
    single_writer_process=False,
    param_style="%s",
    locks_across_processes=True,
    # rows of different partitions: two transactions' DELETE and COPY never wait on each
    # other (a table's creation or new column is done alone: _ensure_table)
    parallel_partition_writes=True,
    hash_function="postgres hashtextextended",  # _hashed
)
# autovacuum's defaults: analyze a table once this many rows plus this share changed
ANALYZE_ROWS, ANALYZE_SHARE = 50, 0.1


@lru_cache(maxsize=512)
def to_postgres(sql: str, dialect: str = "postgres") -> str:
    """One DuckDB-dialect statement in PostgreSQL's (or Redshift's) dialect."""
    statements = sqlglot.parse(sql, read="duckdb")
    return ";\n".join(
        s.transform(_hashed).sql(dialect=dialect) for s in statements if s is not None
    )


def _hashed(node: exp.Expr) -> exp.Expr:
    """DuckDB's ``hash(value)`` (a model's hash of a key, see ``@probe`` in
    docs/ARCHITECTURE.md) as PostgreSQL's 64-bit hash of the value's text, which sqlglot
    leaves as an unknown ``HASH``: any hash will do, the same one on both sides of a match.
    ``hash(a, b, ...)`` (several values: ``subscription_mrr.segment_id``) hashes their texts
    joined by chr(31), the unit separator, which none of them holds."""
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "hash":
        texts = [exp.cast(value, "TEXT") for value in node.expressions]
        if not texts:
            return node
        joined: exp.Expr = texts[0]
        for text in texts[1:]:
            separated = exp.DPipe(this=joined, expression=exp.func("chr", exp.Literal.number(31)))
            joined = exp.DPipe(this=separated, expression=text)
        return exp.func("hashtextextended", joined, exp.Literal.number(0))
    return node


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


# Planner settings for models (batch transforms over whole days), not for interactive reads.
# PostgreSQL keeps no statistics for a CTE: after the date and range joins of the web models
# it estimates one row where there are thousands, and then joins CTE to CTE by nested loops,
# row by row (web/models/actions.sql on 2,818 hits: 10 s; with hash joins 0.2 s). Nested
# loops still run where no other join can (conditions without an equality), but the penalty
# the planner then adds to the cost passes jit_above_cost, and compiling a model's many
# expressions with LLVM took about 1 s per statement here, more than running it.
_BATCH_PLANNING = ("enable_nestloop", "jit")


class PostgresWarehouse(InformationSchema):
    """A PostgreSQL database behind the Warehouse protocol."""

    capabilities = CAPABILITIES

    def __init__(
        self,
        url: str,
        pool_size: int = 8,
        wait_seconds: float = 60.0,
        interactive_seconds: float = 30.0,
        conninfo: str = "",
    ) -> None:
        self.url = url  # as configured (its scheme names the backend again)
        self.conninfo = conninfo or url  # what the driver connects with
        self.pool_size = pool_size
        self.wait_seconds = wait_seconds
        self.interactive_seconds = interactive_seconds
        self._pool: psycopg_pool.ConnectionPool | None = None
        self._state = ThreadState()
        # taken only inside shared_writes() blocks (other transactions run as before): the
        # loads side by side share it, a day that must change its table's schema holds it
        # alone, so two threads never create or widen one table at once
        self._writer = WriterLock()

    @property
    def dialect(self) -> str:
        return self.capabilities.sqlglot_dialect

    # -- connections -------------------------------------------------------------------

    def _connect_once(self) -> None:
        """One direct connection first, so an unreachable server is named at once (the pool
        would keep retrying in the background until its timeout)."""
        try:
            psycopg.connect(self.conninfo, connect_timeout=10).close()
        except psycopg.OperationalError as error:
            raise WarehouseUnreachableError(
                f"cannot connect to the warehouse at {self.address()}: "
                f"{str(error).strip().splitlines()[-1]}"
            ) from None

    def _opened_pool(self) -> psycopg_pool.ConnectionPool:
        if self._pool is None:
            self._connect_once()
            self._pool = psycopg_pool.ConnectionPool(
                self.conninfo,
                min_size=0,
                max_size=self.pool_size,
                kwargs={"autocommit": True},
                reset=type(self)._reset_connection,
                max_idle=60.0,
                open=True,
                name="tally-warehouse",
            )
        return self._pool

    def address(self) -> str:
        """host:port/database of the URL, without user or password (for messages)."""
        info = psycopg.conninfo.conninfo_to_dict(self.conninfo)
        host = info.get("host") or "localhost"
        return f"{host}:{info.get('port') or 5432}/{info.get('dbname') or ''}"

    @contextmanager
    def session(self) -> Iterator[psycopg.Connection]:
        state = self._state
        if state.depth == 0:
            pool = self._opened_pool()
            try:
                state.connection = pool.getconn(timeout=self.wait_seconds)
            except psycopg_pool.PoolTimeout as error:
                raise WarehouseBusyError(
                    f"all {self.pool_size} warehouse connections stayed busy for "
                    f"{self.wait_seconds:.0f} s (setting warehouse.pool_size)"
                ) from error
            state.written = {}
        state.depth += 1
        failed = False
        try:
            yield state.connection
        except BaseException:
            failed = True
            raise
        finally:
            state.depth -= 1
            if state.depth == 0:
                connection, state.connection = state.connection, None
                try:
                    if not failed and state.written:
                        self._analyze_changed(connection, state.written)
                finally:
                    state.written = {}
                    self._opened_pool().putconn(connection)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.session() as con, self._write_turn(), con.transaction():
            yield

    def _write_turn(self) -> AbstractContextManager[None]:
        shared = self._state.shared
        if shared is None:
            return nullcontext()
        return self._writer.shared() if shared else self._writer

    @contextmanager
    def interactive(self, seconds: float | None = None) -> Iterator[None]:
        state = self._state
        before = state.timeout
        limit = self.interactive_seconds if seconds is None else seconds
        with self.session() as con:
            state.timeout = limit
            con.execute(f"SET statement_timeout = {max(1, round(limit * 1000))}")
            try:
                yield
            finally:
                state.timeout = before
                if before is None:
                    con.execute("SET statement_timeout = 0")
                else:
                    con.execute(f"SET statement_timeout = {max(1, round(before * 1000))}")

    @contextmanager
    def exclusive(self, key: int) -> Iterator[None]:
        """A session advisory lock: every process on this database waits for the holder."""
        with self.session() as con:
            con.execute("SELECT pg_advisory_lock(%s)", [key])
            try:
                yield
            finally:
                con.execute("SELECT pg_advisory_unlock(%s)", [key])

    @contextmanager
    def unordered(self, streams: int | None = None) -> Iterator[int]:
        """PostgreSQL keeps no insertion order worth giving up. The block's statements are
        batch transforms (the daily build, loads), so they are planned without JIT, as a
        model is (``_BATCH_PLANNING``): on the daily build's temporary tables, which have no
        statistics, and on ``generate_series``' guess of 1,000 rows, the planner's costs
        passed jit_above_cost and compiling took 4-5 s a statement to run one in milliseconds
        (the property test's ``subscriber_total`` and ``mrr_daily`` days)."""
        with self.session() as con:
            before = self._batch_jit(con)
            try:
                yield 1
            finally:
                if before and con.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
                    con.execute(f"SET jit = {before}")

    # the planner settings a batch statement turns off (``_BATCH_PLANNING``); a subclass
    # whose server has no such settings (Redshift) names none
    batch_planning: tuple[str, ...] = _BATCH_PLANNING

    def _batch_jit(self, con: psycopg.Connection, local: bool = False) -> str | None:
        """Turn JIT off for the session (``local``: the transaction); returns what it was."""
        if "jit" not in self.batch_planning:
            return None
        before = str(con.execute("SELECT current_setting('jit')").fetchone()[0])  # type: ignore[index]
        con.execute(f"SET {'LOCAL ' if local else ''}jit = off")
        return before

    def shared_writes(self, shared: bool = True) -> AbstractContextManager[None]:
        return self._state.sharing(shared, self.capabilities.parallel_partition_writes)

    def direct_commits(self) -> AbstractContextManager[None]:
        """Nothing to change: PostgreSQL's log is its durability, and a commit writes only
        the log."""
        return nullcontext()

    def console(self, sql: str, *, write: bool = False, external_access: bool = False) -> pa.Table:
        """A READ ONLY transaction, rolled back, unless ``write``. File access on the server
        is the role's (``pg_read_server_files``), which tally's role should not hold."""
        with self.session() as con:
            if write:
                return self._console_result(sql)
            con.execute("BEGIN READ ONLY")
            try:
                return self._console_result(sql)
            finally:
                con.execute("ROLLBACK")

    def _console_result(self, sql: str) -> pa.Table:
        try:
            return self.query(sql)
        except psycopg.ProgrammingError as error:
            if "didn't produce records" in str(error):  # the statement ran, no rows
                return pa.table({})
            raise

    def analyze(self, tables: Sequence[str]) -> None:
        with self.session() as con:
            for table in dict.fromkeys(tables):
                con.execute(f"ANALYZE {table}")

    def _analyze_changed(self, con: psycopg.Connection, written: Mapping[str, int]) -> None:
        """ANALYZE each table changed by more than 50 rows + 10 % of its size (a table
        never analyzed counts as empty)."""
        names = list(written)
        found = con.execute(
            sql_file("tally.warehouse.postgres", "queries/table_sizes.sql"), [names]
        ).fetchall()
        for table, tuples in found:
            if written[table] >= ANALYZE_ROWS + ANALYZE_SHARE * max(tuples, 0):
                con.execute(f"ANALYZE {table}")

    @staticmethod
    def _reset_connection(connection: psycopg.Connection) -> None:
        """A connection goes back to the pool as a new one would be: no temporary tables,
        no settings left from its last borrower (an interactive time limit, a search path)."""
        connection.execute("DISCARD TEMP")
        connection.execute("RESET ALL")

    def _wrote(self, table: str | None, rows: int) -> None:
        if table is not None:
            self._state.written[table] = self._state.written.get(table, 0) + max(rows, 0)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    # -- statements --------------------------------------------------------------------

    def _sql(self, sql: str) -> str:
        return to_postgres(sql, self.dialect)

    def _run(
        self,
        con: psycopg.Connection,
        sql: str,
        params: Sequence[Any] | Mapping[str, Any] | None = None,
    ) -> psycopg.Cursor:
        """One DuckDB-dialect statement: transpiled, run, its written table counted."""
        try:
            cursor = con.execute(self._sql(sql), params)
        except psycopg.errors.QueryCanceled as error:
            seconds = self._state.timeout
            if seconds is None:
                raise
            raise QueryTimeoutError(
                f"the query ran past the interactive limit of {seconds:g} s and was stopped "
                "(setting warehouse.interactive_timeout_seconds)",
                seconds,
            ) from error
        self._wrote(written_table(sql), cursor.rowcount)
        return cursor

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> None:
        with self.session() as con:
            self._run(con, sql, params)

    def rows(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        with self.session() as con:
            cursor = self._run(con, sql, params)
            return cursor.fetchall() if cursor.description else []

    def query(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        with self.session() as con:
            cursor = self._run(con, sql, params)
            names = [column.name for column in cursor.description or []]
            records = cursor.fetchall()
        columns: list[tuple[Any, ...]] = (
            list(zip(*records, strict=True)) if records else [() for _ in names]
        )
        arrays = [pa.array([_arrow_value(v) for v in column]) for column in columns]
        return pa.Table.from_arrays(arrays, names=names)

    def run_model(self, sql: str) -> None:
        with self.session() as con:
            for setting in self.batch_planning:
                con.execute(f"SET {setting} = off")
            try:
                for statement in split_statements(sql):
                    self._run(con, statement)
            finally:
                # After an error inside a transaction its rollback undoes the SETs too (and
                # nothing else may run on the connection until then).
                if con.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
                    for setting in self.batch_planning:
                        con.execute(f"RESET {setting}")

    def run_sql_file(self, path: Path) -> None:
        self.run_model(Path(path).read_text(encoding="utf-8"))

    def _ensure_table(self, con: psycopg.Connection, table: str, schema: pa.Schema) -> None:
        existing = set(self.columns(table))
        missing = [field for field in schema if field.name not in existing]
        if (missing or not existing) and self._state.shared:
            # two transactions creating one table at once fail (a unique violation in
            # pg_type); widening it beside other writers could deadlock them
            raise SchemaChangeError(f"{table} must be created or altered by a writer alone")
        if not existing:
            schema_name, _ = split_table(table)
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema_name}"')
            definition = ", ".join(f'"{f.name}" {_postgres_type(f.type)}' for f in schema)
            con.execute(f"CREATE TABLE IF NOT EXISTS {table} ({definition})")
            return
        for field in missing:
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
            csv = _as_csv(data)
            if csv is not None:  # written by Arrow in C: about 10 times faster than rows
                statement = f"COPY {table} ({names}) FROM STDIN (FORMAT csv)"
                with con.cursor().copy(statement) as copy:
                    for batch in csv:
                        copy.write(batch)
            else:
                with con.cursor().copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for batch in data.to_batches(max_chunksize=10_000):
                        for row in zip(*(c.to_pylist() for c in batch.columns), strict=True):
                            copy.write_row([_plain(v) for v in row])
            self._wrote(_qualified(table), data.num_rows)
        return int(data.num_rows)

    def append(self, table: str, data: pa.Table) -> int:
        return self.replace_partition(table, data, {})

    def materialize(self, table: str, select_sql: str, uncompressed: Sequence[str] = ()) -> None:
        """(Re)create ``table`` from a DuckDB-dialect SELECT in one transaction
        (``uncompressed``: PostgreSQL compresses a value, not a column's blocks; no
        effect)."""
        schema, _ = split_table(table)
        with self.transaction(), self.session() as con:
            self._batch_jit(con, local=True)  # a batch transform (``unordered``)
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            con.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
            created = con.execute(f"CREATE TABLE {table} AS {self._sql(select_sql)}")
            # a new table has no statistics at all, however few rows it has
            self._wrote(_qualified(table), created.rowcount + ANALYZE_ROWS)

    def migrate(self) -> list[str]:
        applied: list[str] = []
        with self.session() as con:
            con.execute("CREATE SCHEMA IF NOT EXISTS tally_meta")
            con.execute(bookkeeping.migrations_table("TEXT"))
            done = {r[0] for r in con.execute(bookkeeping.APPLIED_MIGRATIONS).fetchall()}
            for name, sql in migration_files():
                if name in done:
                    continue
                with con.transaction():
                    for statement in split_statements(sql):
                        con.execute(self._sql(statement))
                    con.execute(bookkeeping.record_migration("%s"), [name])
                applied.append(name)
        return applied


def _as_csv(data: pa.Table) -> Iterator[bytes] | None:
    """The rows as CSV chunks for ``COPY … (FORMAT csv)``, or None when a column is of a
    kind Arrow's CSV writer cannot render as PostgreSQL reads it (binary, durations).

    In PostgreSQL's CSV, an unquoted empty field is NULL and a quoted one ("") the empty
    string; Arrow writes nulls empty and quotes every string, so both survive. Nested
    values go as their JSON text, as the row-by-row path sends them.
    """
    import pyarrow.csv as pacsv

    columns = []
    for column in data.columns:
        kind = column.type
        if pa.types.is_nested(kind):
            texts = [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
            column = pa.chunked_array([pa.array(texts, pa.string())])
        elif not (
            pa.types.is_boolean(kind)
            or pa.types.is_integer(kind)
            or pa.types.is_floating(kind)
            or pa.types.is_decimal(kind)
            or pa.types.is_date(kind)
            or pa.types.is_timestamp(kind)
            or pa.types.is_string(kind)
            or pa.types.is_large_string(kind)
            or pa.types.is_null(kind)
        ):
            return None
        columns.append(column)
    table = pa.Table.from_arrays(columns, names=data.column_names)
    options = pacsv.WriteOptions(include_header=False)

    def chunks() -> Iterator[bytes]:
        for batch in table.to_batches(max_chunksize=50_000):
            buffer = pa.BufferOutputStream()
            pacsv.write_csv(pa.Table.from_batches([batch]), buffer, options)
            yield buffer.getvalue().to_pybytes()

    return chunks()


def _qualified(table: str) -> str:
    schema, name = split_table(table)
    return f"{schema}.{name}".replace('"', "")


def _arrow_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    return value
