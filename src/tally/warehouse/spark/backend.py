"""Apache Spark backend: staging and mart tables as Parquet on a cluster, served by DuckDB.

``spark://HOST:PORT`` (a standalone master; ``[warehouse.options] master`` may name
another, e.g. ``yarn`` on EMR or Dataproc) runs the batch on the cluster:

- the tables of the ``staging`` and ``marts`` schemas are Parquet tables under
  ``location`` (``<location>/<schema>/<table>/``), registered in Spark's catalog (one
  Spark database per schema); a staging table is partitioned by the partition column a
  load replaces (``_partition_date``), and a replace is a dynamic partition overwrite
  (Spark writes the new files aside and swaps the partition's folder in at commit);
- a model (DuckDB's dialect) is transpiled with sqlglot to Spark SQL and written by the
  cluster into a new folder of the table (``v<time>``); the table is then pointed at it,
  so a reader sees the old rows or the new ones, never half of them;
- everything else (tally's own tables: runs, lake files, users, the web tables) and every
  read lives in a DuckDB file, ``serving``: there each Spark table has a copy, a DuckDB
  table refreshed from its Parquet files in the transaction that records each write, so
  dashboards, the Reporting API and ``tally query`` answer at DuckDB's speed while the
  cluster works, and Spark is only started by a write;
- the web models (sessionizing) run on the cluster over Parquet copies of the rows they
  need, their results handed back to the serving file (``run_on_cluster``).

Spark's Parquet tables have no DELETE or UPDATE of rows (``rewrites_rows`` is off): the
daily build runs the full build, and a ``DELETE`` without a condition (emptying a table
before it is written again) is the only delete accepted. Writes inside ``transaction()``
wait for its end: a failed step leaves the tables as they were.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, cast
from urllib.parse import parse_qs, urlparse

import pyarrow as pa
import sqlglot
from sqlglot import exp

from tally.errors import ConfigError, TallyError
from tally.warehouse.base import Capabilities, split_statements, split_table
from tally.warehouse.duckdb.backend import DuckDBWarehouse
from tally.warehouse.meta import bookkeeping
from tally.warehouse.registry import ConnectOptions
from tally.warehouse.spark.statements import rewrite, table_written
from tally.warehouse.sqlfiles import sql_file

CAPABILITIES = Capabilities(
    sqlglot_dialect="spark",
    max_identifier_length=255,
    single_writer_process=True,  # the serving DuckDB file has one writer at a time
    param_style="?",
    columnar_results=True,
    rewrites_rows=False,
    cluster_reads_lake=True,
    cluster_runs_statements=True,
    hash_function="spark hash of one value, xxhash64 of several",  # _several_hashed
)
SPARK_SCHEMAS = ("staging", "marts")
KNOWN_OPTIONS = {"master", "location", "serving", "prefix", "conf"}
# what every session sets: timestamps without a zone stay without one in the Parquet files
# (DuckDB reads them back as TIMESTAMP), partitions are replaced one by one
SESSION_CONF = {
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.hive.manageFilesourcePartitions": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.ansi.enabled": "false",  # DuckDB's NULL on a failed cast, not an error
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",  # to_date: NULL on 2/30, no warning
    "spark.sql.shuffle.partitions": "8",
    # the commit moves each task's files once, not twice
    "spark.hadoop.mapreduce.fileoutputcommitter.algorithm.version": "2",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "512m",
    "spark.executor.memory": "512m",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}


class SparkWriteError(TallyError):
    """A statement asks Spark's Parquet tables for what they cannot do (DELETE of rows)."""


@dataclass(frozen=True)
class SparkOptions:
    """Where the cluster, the tables' files and the serving copy are."""

    master: str  # spark://host:port, yarn, local[2]...
    location: str  # folder (or s3a:// prefix) holding <schema>/<table>/
    serving: str  # the DuckDB file: tally's own tables and the views over the Parquet files
    prefix: str = ""  # put before each Spark database name (several warehouses, one catalog)
    conf: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def read(cls, url: str, options: ConnectOptions) -> SparkOptions:
        parsed = urlparse(url)
        given: dict[str, Any] = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        given.update(options.options)
        unknown = sorted(set(given) - KNOWN_OPTIONS)
        if unknown:
            raise ConfigError(
                f"warehouse.options: unknown key(s) {unknown} for Spark "
                f"(known: {', '.join(sorted(KNOWN_OPTIONS))})"
            )
        master = given.get("master") or f"spark://{parsed.netloc}"
        lake = options.lake_url.removeprefix("file://")
        local_lake = bool(lake) and "://" not in lake
        beside = Path(lake).parent if local_lake else Path("./tally-data")
        location = given.get("location") or (
            str(beside / "spark-tables") if local_lake or not lake else f"{lake}/_tables"
        )
        serving = given.get("serving") or str(beside / "serving.duckdb")
        conf = given.get("conf") or {}
        if not isinstance(conf, Mapping):
            raise ConfigError("warehouse.options.conf: a table of spark.* settings")
        return cls(master, location, serving, str(given.get("prefix", "")), dict(conf))


@dataclass
class TableInfo:
    """What the serving file records about one Spark table."""

    name: str  # schema.table, as tally names it
    path: str  # the folder Spark reads: the table's, or its current version's
    partition_by: list[str]
    schema: Any  # pyspark StructType

    def ddl(self) -> str:
        return ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in self.schema.fields)


_SESSION_LOCK = threading.Lock()


def spark_session(options: SparkOptions) -> Any:
    """The process's SparkSession (one per process: a second master is not started)."""
    from pyspark.sql import SparkSession

    with _SESSION_LOCK:
        builder = SparkSession.builder.master(options.master).appName("tally")
        for key, value in {**SESSION_CONF, **options.conf}.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("OFF")  # errors reach tally as exceptions
        return session


class SparkWarehouse(DuckDBWarehouse):
    """Spark for the staging and mart tables, DuckDB (``serving``) for everything else."""

    capabilities = CAPABILITIES

    def __init__(self, url: str, options: ConnectOptions) -> None:
        self.spark_options = SparkOptions.read(url, options)
        super().__init__(
            f"duckdb:///{self.spark_options.serving}",
            options.lock_wait_seconds,
            options.interactive_timeout_seconds,
        )
        self.url = url
        self._spark: Any = None
        self._registered: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        self._spark_lock = threading.RLock()
        self._pending = threading.local()
        if "://" not in self.spark_options.location:
            Path(self.spark_options.location).mkdir(parents=True, exist_ok=True)

    # -- the cluster -------------------------------------------------------------------

    @property
    def spark(self) -> Any:
        """The SparkSession, started on first use with every known table in its catalog."""
        if self._spark is None:
            with self._spark_lock:
                if self._spark is None:
                    session = spark_session(self.spark_options)
                    for info in self._tables().values():
                        self._register(session, info)
                    self._spark = session
        return self._spark

    def database(self, schema: str) -> str:
        return f"{self.spark_options.prefix}{schema}"

    def spark_name(self, table: str) -> str:
        schema, name = split_table(table)
        return f"`{self.database(schema)}`.`{name}`"

    def is_spark_table(self, table: str) -> bool:
        return split_table(table)[0] in SPARK_SCHEMAS

    def to_spark_sql(self, sql: str) -> str:
        """A DuckDB-dialect statement as Spark SQL, its tables in this warehouse's databases."""
        return _transpiled(sql, self.spark_options.prefix)

    def spark_query(self, sql: str) -> pa.Table:
        """Run a DuckDB-dialect query on the cluster; the rows as Arrow."""
        return self.spark_frame(sql).toArrow()

    def spark_frame(self, select_sql: str) -> Any:
        """A DuckDB-dialect SELECT as a Spark DataFrame. A table it reads that lives in the
        serving file (a web table, say) is handed to Spark as a temporary view of its rows:
        the only rows of the batch that pass through the driver."""
        borrowed = {}
        for table in _tables_read(select_sql):
            if self.is_spark_table(table) or not DuckDBWarehouse.table_exists(self, table):
                continue
            view = f"_serving_{table.replace('.', '_')}_{uuid.uuid4().hex[:8]}"
            rows = DuckDBWarehouse.query(self, f"SELECT * FROM {table}")
            self.spark.createDataFrame(_spark_ready(rows)).createOrReplaceTempView(view)
            borrowed[table] = view
        known = self._tables()
        types = tuple(
            (table, tuple((f.name, f.dataType.simpleString()) for f in known[table].schema.fields))
            for table in sorted(_tables_read(select_sql))
            if table in known
        )
        sql = _transpiled(select_sql, self.spark_options.prefix, tuple(borrowed.items()), types)
        return self.spark.sql(sql)

    def _register(self, session: Any, info: TableInfo) -> None:
        """Put the table in Spark's catalog as ``info`` says (nothing if it already is)."""
        known = (info.path, info.ddl(), tuple(info.partition_by))
        if self._registered.get(info.name) == known:
            return
        schema, name = split_table(info.name)
        session.sql(f"CREATE DATABASE IF NOT EXISTS `{self.database(schema)}`")
        session.sql(f"DROP TABLE IF EXISTS {self.spark_name(info.name)}")
        partitioned = (
            f" PARTITIONED BY ({', '.join(f'`{c}`' for c in info.partition_by)})"
            if info.partition_by
            else ""
        )
        session.sql(
            f"CREATE TABLE {self.spark_name(info.name)} ({info.ddl()}) USING parquet"
            f"{partitioned} LOCATION '{info.path}'"
        )
        self._registered[info.name] = known

    # -- the table list (in the serving file) ------------------------------------------

    def migrate(self) -> list[str]:
        applied = super().migrate()
        with self.session() as con, self._writer:
            con.execute(bookkeeping.SPARK_TABLES_TABLE)
        return applied

    def _tables(self) -> dict[str, TableInfo]:
        from pyspark.sql.types import StructType

        if not DuckDBWarehouse.table_exists(self, bookkeeping.SPARK_TABLES):
            return {}
        found = DuckDBWarehouse.rows(self, bookkeeping.SPARK_TABLES_LISTED)
        return {
            name: TableInfo(name, path, json.loads(parts), StructType.fromJson(json.loads(text)))
            for name, path, parts, text in found
        }

    def _table(self, table: str) -> TableInfo | None:
        return self._tables().get(table)

    def _record(self, info: TableInfo) -> None:
        """Point the catalog, the table list and the serving view at ``info``."""
        self._register(self.spark, info)
        self._publish(info)

    def _publish(
        self, info: TableInfo, partitions: Sequence[Mapping[str, Any]] | None = None
    ) -> None:
        """The table list and the serving copy, in one DuckDB transaction: a reader sees the
        rows from before the write or after it. ``partitions``: only these were rewritten
        (their rows are copied again); None: the whole table is copied again."""
        with self.transaction(), self.session() as con:
            con.execute(
                bookkeeping.SPARK_TABLE_RECORDED,
                [info.name, info.path, json.dumps(info.partition_by), info.schema.json()],
            )
            schema, _ = split_table(info.name)
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            _refresh_copy(con, info, partitions)

    def _forget(self, table: str) -> None:
        info = self._table(table)
        if info is None:
            return
        self.spark.sql(f"DROP TABLE IF EXISTS {self.spark_name(table)}")
        self._registered.pop(table, None)
        with self.transaction(), self.session() as con:
            con.execute(bookkeeping.SPARK_TABLE_FORGOTTEN, [table])
            kind = _serving_kind(con, table)
            if kind is not None:
                con.execute(f"DROP {kind} {table}")
        _remove(self._folder(table))

    def _folder(self, table: str) -> str:
        schema, name = split_table(table)
        return f"{self.spark_options.location.rstrip('/')}/{schema}/{name}"

    # -- writes: deferred to the end of a transaction ----------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """DuckDB's transaction; the Spark writes asked for inside it run at its end, before
        DuckDB commits (a failure there rolls DuckDB back), and not at all on a failure."""
        outer = getattr(self._pending, "writes", None) is None
        if outer:
            self._pending.writes = []
        try:
            with super().transaction():
                yield
                if outer:
                    writes, self._pending.writes = self._pending.writes, None
                    for write in writes:
                        write()
        finally:
            if outer:
                self._pending.writes = None

    def _write(self, action: Callable[[], None]) -> None:
        writes = getattr(self._pending, "writes", None)
        if writes is None:
            with self._spark_lock:
                action()
        else:
            writes.append(action)

    def replace_partition(self, table: str, data: pa.Table, partition: Mapping[str, Any]) -> int:
        if not self.is_spark_table(table):
            return int(super().replace_partition(table, data, partition))
        self._write(lambda: self._replace_on_spark(table, data, dict(partition)))
        return int(data.num_rows)

    def cluster_url(self, uri: str) -> str:
        """A lake object's URL (``Lake.uri``) as the cluster opens it: a local path as
        ``file://``, ``s3://`` as Hadoop's ``s3a://``."""
        if uri.startswith("s3://"):
            return "s3a://" + uri.removeprefix("s3://")
        return uri if "://" in uri else f"file://{Path(uri).absolute()}"

    def frame_of(self, data: pa.Table) -> Any:
        """Arrow rows (parsed in the driver) as a Spark DataFrame."""
        return self.spark.createDataFrame(_spark_ready(data))

    def replace_partition_frame(
        self, table: str, frame: Any, partition: Mapping[str, Any], *, empty: bool = False
    ) -> None:
        """``replace_partition`` with a Spark DataFrame's rows (written by the cluster, at
        the end of the transaction); ``empty``: the frame has no rows."""
        self._write(lambda: self.replace_partition_with(table, frame, dict(partition), empty=empty))

    def append(self, table: str, data: pa.Table) -> int:
        return self.replace_partition(table, data, {})

    def _replace_on_spark(self, table: str, data: pa.Table, partition: dict[str, Any]) -> None:
        frame = self.spark.createDataFrame(_spark_ready(data)) if data.num_columns else None
        for column, value in partition.items():
            if frame is not None and column not in frame.columns:
                from pyspark.sql import functions

                frame = frame.withColumn(column, functions.lit(value))
        self.replace_partition_with(table, frame, partition, empty=data.num_rows == 0)

    def replace_partition_with(
        self, table: str, frame: Any, partition: dict[str, Any], *, empty: bool = False
    ) -> None:
        """Replace ``partition`` of ``table`` (``{}``: append) with a Spark DataFrame's rows
        (``empty``: it has none); creates the table, partitioned by the partition's
        columns, or widens it."""
        info = self._table(table)
        if info is None:
            if frame is None:
                return
            info = TableInfo(table, self._folder(table), list(partition), None)
        info.schema = _widened(info.schema, frame.schema if frame is not None else None)
        info.schema = _partition_last(info.schema, info.partition_by)
        self._register(self.spark, info)
        if frame is None:
            frame = self.spark.createDataFrame([], info.schema)
        static = bool(partition) and empty
        selected = ", ".join(
            f"`{f.name}`"
            if f.name in frame.columns
            else f"CAST(NULL AS {f.dataType.simpleString()})"
            for f in info.schema.fields
            if not (static and f.name in partition)
        )
        view = f"_incoming_{uuid.uuid4().hex}"
        frame.createOrReplaceTempView(view)
        target = self.spark_name(table)
        try:
            if not partition:
                self.spark.sql(f"INSERT INTO {target} SELECT {selected} FROM `{view}`")
            elif static:
                # no row carries the partition: a static overwrite empties its folder
                spec = ", ".join(f"`{c}` = {_spark_literal(v)}" for c, v in partition.items())
                self.spark.sql(
                    f"INSERT OVERWRITE TABLE {target} PARTITION ({spec}) "
                    f"SELECT {selected} FROM `{view}`"
                )
            else:  # dynamic: only the partitions the rows hold are replaced
                self.spark.sql(f"INSERT OVERWRITE TABLE {target} SELECT {selected} FROM `{view}`")
        finally:
            self.spark.catalog.dropTempView(view)
        # the rows are the named partition's (as with DuckDB's replace): only it is copied
        self._publish(info, [partition] if partition else None)

    def materialize(self, table: str, select_sql: str, uncompressed: Sequence[str] = ()) -> None:
        """A Spark table's rows as Parquet (``uncompressed``: no effect; Parquet's
        encodings are chosen per file), any other table DuckDB's way."""
        if not self.is_spark_table(table):
            super().materialize(table, select_sql, uncompressed)
            return
        self._write(lambda: self._materialize(table, self.spark_frame(select_sql)))

    def _materialize(self, table: str, frame: Any) -> None:
        """Write the rows into a new version folder, then point the table at it."""
        folder = f"{self._folder(table)}/v{time.time_ns()}"
        frame.write.mode("error").parquet(folder)
        before = self._table(table)
        self._record(TableInfo(table, folder, [], frame.schema))
        if before is not None and before.path != folder and not before.partition_by:
            # the version before stays one write longer: a reader may still be in it
            for old in _versions(self._folder(table)):
                if old not in (folder, before.path):
                    _remove(old)

    # -- serving tables rewritten by the cluster (the web models) ----------------------

    def run_on_cluster(self, sql: Sequence[str], scopes: Mapping[str, str]) -> None:
        """Run DuckDB-dialect DELETE/INSERT/UPDATE statements (``sql``: texts of one or more
        statements, in order) on the cluster, over working copies of serving tables.

        ``scopes`` names every serving table the statements read or change, each with a
        condition on its rows (written against the alias ``t``): DuckDB writes those rows to
        Parquet (no row passes through Python), the cluster reads them, runs each statement
        as the query giving the rows it leaves (``statements.rewrite``), and the rows a
        changed table ends with replace its rows of the scope in the serving file, in the
        caller's transaction. A statement may only need, and change, rows of the scopes."""
        run = f"run{time.time_ns()}"
        folder = f"{self.spark_options.location.rstrip('/')}/_runs/{run}"
        views: dict[str, str] = {}
        try:
            self._hand_over(scopes, folder, views)
            changed: dict[str, str] = {}
            texts = [statement for text in sql for statement in split_statements(text)]
            for step, statement in enumerate(texts):
                table = table_written(statement)
                if table not in views:
                    raise SparkWriteError(f"{table} is written but not in the cluster's scopes")
                current = self.spark.table(views[table])
                change = rewrite(statement, list(current.columns))
                frame = self.spark.sql(self._over_views(change.select, views))
                if change.kind == "add":
                    added = _aligned(frame, change.columns or tuple(current.columns), current)
                    frame = current.unionByName(added)
                # each step's rows are written out: the next reads files, not a plan that
                # grows with every statement (and a lost executor redoes one step only)
                changed[table] = f"{folder}/steps/{step}"
                frame.write.parquet(self.cluster_url(changed[table]))
                self._as_view(changed[table], table, views)
            self._take_back(changed, scopes)
        finally:
            for view in views.values():
                self.spark.catalog.dropTempView(view)
            _remove(folder)

    def _as_view(self, path: str, table: str, views: dict[str, str]) -> None:
        """The Parquet rows at ``path`` as the run's view of ``table`` (its old view dropped)."""
        if table in views:
            self.spark.catalog.dropTempView(views[table])
        views[table] = f"_run_{uuid.uuid4().hex[:12]}_{table.replace('.', '_')}"
        self.spark.read.parquet(self.cluster_url(path)).createOrReplaceTempView(views[table])

    def _hand_over(self, scopes: Mapping[str, str], folder: str, views: dict[str, str]) -> None:
        """Each table's rows of its scope, written to Parquet by DuckDB (in the caller's
        transaction: rows it wrote are seen) and read by the cluster as a temporary view."""
        with self.session() as con:
            for table, condition in scopes.items():
                path = f"{folder}/in/{table}.parquet"
                if "://" not in path:
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
                copy = sql_file(
                    "tally.warehouse.spark",
                    "queries/scope_to_parquet.sql",
                    table=table,
                    condition=condition,
                    file=f"'{path.replace('s3a://', 's3://', 1)}'",
                )
                con.execute(copy)
                self._as_view(path, table, views)

    def _over_views(self, select_sql: str, views: Mapping[str, str]) -> str:
        """Spark SQL for a DuckDB-dialect query reading the run's views, with their column
        types known (a date minus a date needs them)."""
        read = _tables_read(select_sql)
        types = tuple(
            (
                table,
                tuple(
                    (f.name, f.dataType.simpleString())
                    for f in self.spark.table(views[table]).schema.fields
                ),
            )
            for table in sorted(read)
            if table in views
        )
        missing = sorted(t for t in read if t not in views and not self.is_spark_table(t))
        if missing:
            raise SparkWriteError(f"read but not in the cluster's scopes: {missing}")
        return _transpiled(
            select_sql, self.spark_options.prefix, tuple(sorted(views.items())), types
        )

    def _take_back(self, changed: Mapping[str, str], scopes: Mapping[str, str]) -> None:
        """Each changed table's rows of its scope replaced by those the cluster left."""
        with self.transaction(), self.session() as con:
            for table, output in changed.items():
                con.execute(f"DELETE FROM {table} AS t WHERE {scopes[table]}")
                glob = f"{output.replace('s3a://', 's3://', 1)}/*.parquet"
                if _has_files(glob):
                    con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet('{glob}')")

    # -- statements: each goes to Spark or to DuckDB -----------------------------------

    def execute(self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None) -> None:
        if not self._run_on_spark(sql, params):
            super().execute(sql, params)

    def run_model(self, sql: str) -> None:
        for statement in split_statements(sql):
            self.execute(statement)

    def _run_on_spark(self, sql: str, params: Any) -> bool:
        """Run a statement that writes a Spark table; False when DuckDB should run it."""
        kind, table = _spark_write(sql)
        if table is None or not self.is_spark_table(table):
            return False
        statement = sqlglot.parse_one(sql, read="duckdb")
        if kind == "create":
            if statement.expression is None:
                return False  # CREATE TABLE with columns only: nothing to write yet
            select = statement.expression.sql(dialect="duckdb")
            self.materialize(table, select)
        elif kind == "insert":
            spark_sql = self.to_spark_sql(statement.expression.sql(dialect="duckdb"))
            self._write(lambda: self._insert(table, spark_sql, params))
        elif kind == "drop":
            self._write(lambda: self._forget(table))
        elif kind == "delete" and statement.args.get("where") is None:
            self._write(lambda: self._empty(table))
        else:
            raise SparkWriteError(
                f"{table} is a Parquet table on Spark: its rows are replaced by partition or "
                f"whole, never deleted or updated one by one (capability rewrites_rows)"
            )
        return True

    def _insert(self, table: str, spark_sql: str, params: Any) -> None:
        frame = self.spark.sql(spark_sql, args=list(params) if params else None)
        self.replace_partition_with(table, frame, {})

    def _empty(self, table: str) -> None:
        info = self._table(table)
        if info is None:
            return
        if info.partition_by:
            self._forget(table)
        else:
            self._materialize(table, self.spark.createDataFrame([], info.schema))

    def close(self) -> None:
        super().close()


# -- helpers ---------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _spark_write(sql: str) -> tuple[str, str | None]:
    """("create" | "insert" | "drop" | "delete" | "update" | "", the table written)."""
    try:
        statement = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError:
        return "", None
    kinds = {exp.Create: "create", exp.Insert: "insert", exp.Drop: "drop"}
    kinds |= {exp.Delete: "delete", exp.Update: "update"}
    kind = next((k for cls, k in kinds.items() if isinstance(statement, cls)), "")
    if not kind:
        return "", None
    if kind in ("create", "drop") and str(statement.args.get("kind", "")).upper() != "TABLE":
        return "", None
    target = statement.this
    table = target if isinstance(target, exp.Table) else target.find(exp.Table)
    if table is None or not table.db:
        return kind, None
    return kind, f"{table.db}.{table.name}"


@lru_cache(maxsize=1024)
def _tables_read(sql: str) -> frozenset[str]:
    tree = sqlglot.parse_one(sql, read="duckdb")
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return frozenset(
        f"{t.db}.{t.name}" for t in tree.find_all(exp.Table) if t.db and t.name not in ctes
    )


@lru_cache(maxsize=1024)
def _transpiled(
    sql: str,
    prefix: str,
    views: tuple[tuple[str, str], ...] = (),
    types: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (),
) -> str:
    """Spark SQL for a DuckDB-dialect statement: Spark schemas get the prefix, each table
    named in ``views`` (schema.table → view) is read from that temporary view, and a date
    minus a date (days in DuckDB, an interval in Spark) becomes ``DATEDIFF`` where the
    column types (``types``: table → (column, Spark type)) show both sides are dates."""
    parsed = cast(exp.Expression, sqlglot.parse_one(sql, read="duckdb"))
    tree = _dates_subtracted(parsed, types)
    for select in tree.find_all(exp.Select):
        _series_as_lateral_view(select)
    _numbered_in_some_order(tree)
    tree = tree.transform(_several_hashed)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    renamed = dict(views)
    for table in tree.find_all(exp.Table):
        if not table.db or table.name in ctes:
            continue
        view = renamed.get(f"{table.db}.{table.name}")
        if view is not None:
            name = table.name
            table.set("db", None)
            table.set("this", exp.to_identifier(view))
            if not table.alias:  # columns written visits.x still find it
                table.set("alias", exp.TableAlias(this=exp.to_identifier(name)))
        elif prefix and table.db in SPARK_SCHEMAS:
            table.set("db", exp.to_identifier(f"{prefix}{table.db}"))
    return tree.sql(dialect="spark")


def _dates_subtracted(
    tree: exp.Expression, types: tuple[tuple[str, tuple[tuple[str, str], ...]], ...]
) -> exp.Expression:
    """The statement with each ``date - date`` as ``date_diff('day', …)``; the statement as
    it was when there is none, or its columns' types cannot be worked out."""
    from sqlglot.optimizer.annotate_types import annotate_types
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.schema import MappingSchema

    if not types or not tree.find(exp.Sub):
        return tree
    nested: dict[str, Any] = {}
    for table, columns in types:
        schema, name = split_table(table)
        nested.setdefault(schema, {})[name] = dict(columns)
    try:
        mapping = MappingSchema(nested, dialect="spark")
        typed = annotate_types(
            qualify(tree.copy(), schema=mapping, dialect="duckdb", validate_qualify_columns=False),
            schema=mapping,
        )
    except Exception:  # noqa: BLE001 (any failure: keep the statement as written)
        return tree
    date = exp.DataType.Type.DATE
    found = [
        sub
        for sub in typed.find_all(exp.Sub)
        if sub.left.type is not None
        and sub.right.type is not None
        and sub.left.type.this == date
        and sub.right.type.this == date
    ]
    if not found:
        return tree
    for sub in found:
        sub.replace(
            exp.DateDiff(this=sub.left.copy(), expression=sub.right.copy(), unit=exp.var("DAY"))
        )
    return typed


def _several_hashed(node: exp.Expression) -> exp.Expression:
    """DuckDB's ``hash(a, b, ...)`` of several values (``subscription_mrr.segment_id``, a
    number that names a segment) as Spark's 64-bit ``xxhash64``: Spark's own ``hash`` has
    32 bits. ``hash(value)`` of one (a probe's, where a shared hash costs a second look,
    never a wrong row) stays Spark's ``hash``, as the tables built so far hold it."""
    if isinstance(node, exp.Anonymous) and str(node.this).lower() == "hash":
        if len(node.expressions) > 1:
            return exp.Anonymous(this="xxhash64", expressions=list(node.expressions))
    return node


def _numbered_in_some_order(tree: exp.Expression) -> None:
    """``row_number() OVER ()`` (DuckDB numbers rows in any order) with an ORDER BY of a
    constant: Spark refuses a row number without one."""
    for window in tree.find_all(exp.Window):
        if isinstance(window.this, exp.RowNumber) and not window.args.get("order"):
            window.set("order", exp.Order(expressions=[exp.Ordered(this=exp.Literal.number(0))]))


def _series_as_lateral_view(select: exp.Select) -> None:
    """``FROM t, generate_series(a, b, step) AS days(d)`` (DuckDB) as Spark's
    ``FROM t LATERAL VIEW explode(sequence(a, b, step)) days AS d``: sqlglot would write a
    call Spark does not have."""
    for join in list(select.args.get("joins") or []):
        table = join.this
        if not (isinstance(table, exp.Table) and isinstance(table.this, exp.GenerateSeries)):
            continue
        if join.args.get("on") is not None:
            # JOIN generate_series(0, 120) AS a(age) ON …: a series of constants, read from
            # a subquery that explodes it
            alias = table.args.get("alias")
            column = alias.columns[0].name if alias is not None and alias.columns else "value"
            series = exp.select(exp.alias_(exp.Explode(this=table.this.copy()), column)).subquery(
                alias.name if alias is not None else "series"
            )
            table.replace(series)
            continue
        join.pop()
        lateral = exp.Lateral(
            this=exp.Explode(this=table.this.copy()), view=True, alias=table.args.get("alias")
        )
        select.append("laterals", lateral)


def _refresh_copy(con: Any, info: TableInfo, partitions: Any) -> None:
    """Copy the table's Parquet rows into the serving file's table of the same name (the
    rewritten partitions only, when the copy has the same columns already). Reads then
    never open the Parquet files: a DuckDB view over them opened every file of every
    partition at each query (seconds during a build, benchmarks/README.md)."""
    kind = _serving_kind(con, info.name)
    if kind == "VIEW":  # a serving file from before the copies
        con.execute(f"DROP VIEW {info.name}")
        kind = None
    names = [f.name for f in info.schema.fields]
    plain = partitions is not None and all(map(_plain_partition, partitions))
    if plain and kind == "TABLE" and _serving_columns(con, info.name) == names:
        for partition in partitions:
            where = " AND ".join(f'"{column}" = ?' for column in partition)
            con.execute(f"DELETE FROM {info.name} WHERE {where}", list(partition.values()))
            con.execute(f"INSERT INTO {info.name} {_serving_select(info, partition)}")
        return
    con.execute(f"CREATE OR REPLACE TABLE {info.name} AS {_serving_select(info)}")


def _serving_kind(con: Any, table: str) -> str | None:
    """ "TABLE" or "VIEW" for what the serving file holds under that name, or None."""
    schema, name = split_table(table)
    found = con.execute(
        sql_file("tally.warehouse.spark", "queries/serving_kind.sql"), [schema, name, schema, name]
    ).fetchall()
    return str(found[0][0]) if found else None


def _serving_columns(con: Any, table: str) -> list[str]:
    schema, name = split_table(table)
    found = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE schema_name = ? AND table_name = ? "
        "ORDER BY column_index",
        [schema, name],
    ).fetchall()
    return [str(row[0]) for row in found]


def _serving_select(info: TableInfo, partition: Mapping[str, Any] | None = None) -> str:
    """DuckDB's SELECT over the table's Parquet files, or one partition's (an empty typed
    row set if there are none)."""
    columns = [(f.name, _duckdb_type(f.dataType)) for f in info.schema.fields]
    folder = info.path.rstrip("/")
    if info.partition_by:
        inside = "/".join(
            f"{c}={_partition_folder(partition[c])}" if partition and c in partition else f"{c}=*"
            for c in info.partition_by
        )
        glob = f"{folder}/{inside}/*.parquet"
        types = ", ".join(f"'{c}': '{t}'" for c, t in columns if c in info.partition_by)
        reader = f"hive_partitioning = true, hive_types = {{{types}}}, "
    else:
        glob, reader = f"{folder}/*.parquet", "hive_partitioning = false, "
    listed = ", ".join(f'"{name}"' for name, _ in columns)
    if not _has_files(glob):
        nulls = ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in columns)
        return f"SELECT {nulls} WHERE false"
    return f"SELECT {listed} FROM read_parquet('{glob}', {reader}union_by_name = true)"


def _plain_partition(partition: Mapping[str, Any]) -> bool:
    """Whether each value names its folder as written (a date, a number, a plain word):
    Spark escapes other characters in folder names, and those are copied whole."""
    return all(
        (isinstance(value, dt.date) and not isinstance(value, dt.datetime))
        or (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, str) and re.fullmatch(r"[A-Za-z0-9_.-]+", value) is not None)
        for value in partition.values()
    )


def _partition_folder(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _has_files(glob: str) -> bool:
    import fsspec

    filesystem, _, paths = fsspec.get_fs_token_paths(glob.replace("s3a://", "s3://", 1))
    return bool(paths)


def _versions(folder: str) -> list[str]:
    import fsspec

    filesystem, _, (path,) = fsspec.get_fs_token_paths(folder.replace("s3a://", "s3://", 1))
    if not filesystem.exists(path):
        return []
    return [
        f"{folder}/{Path(entry).name}"
        for entry in filesystem.ls(path, detail=False)
        if Path(entry).name.startswith("v")
    ]


def _remove(folder: str) -> None:
    import fsspec

    filesystem, _, (path,) = fsspec.get_fs_token_paths(folder.replace("s3a://", "s3://", 1))
    if filesystem.exists(path):
        filesystem.rm(path, recursive=True)


def _duckdb_type(kind: Any) -> str:
    from pyspark.sql import types

    simple = {
        types.StringType: "VARCHAR",
        types.LongType: "BIGINT",
        types.IntegerType: "INTEGER",
        types.ShortType: "SMALLINT",
        types.ByteType: "TINYINT",
        types.DoubleType: "DOUBLE",
        types.FloatType: "FLOAT",
        types.BooleanType: "BOOLEAN",
        types.DateType: "DATE",
        types.TimestampType: "TIMESTAMPTZ",
        types.TimestampNTZType: "TIMESTAMP",
        types.BinaryType: "BLOB",
    }
    for spark_type, name in simple.items():
        if isinstance(kind, spark_type):
            return name
    if isinstance(kind, types.DecimalType):
        return f"DECIMAL({kind.precision}, {kind.scale})"
    if isinstance(kind, types.ArrayType):
        return f"{_duckdb_type(kind.elementType)}[]"
    return "VARCHAR"


def _type_of(schema: Any, name: str) -> str:
    return str(next(f.dataType.simpleString() for f in schema.fields if f.name == name))


def _widened(known: Any, incoming: Any) -> Any:
    """The table's columns then the new ones the rows bring (their types kept)."""
    from pyspark.sql.types import StructType

    if known is None:
        return incoming
    if incoming is None:
        return known
    have = {f.name for f in known.fields}
    return StructType(list(known.fields) + [f for f in incoming.fields if f.name not in have])


def _partition_last(schema: Any, partition_by: list[str]) -> Any:
    """Spark keeps a partitioned table's partition columns last; so does the table list."""
    from pyspark.sql.types import StructType

    rest = [f for f in schema.fields if f.name not in partition_by]
    last = [f for name in partition_by for f in schema.fields if f.name == name]
    return StructType(rest + last)


def _spark_literal(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP_NTZ '{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _aligned(frame: Any, columns: Sequence[str], table: Any) -> Any:
    """An INSERT's rows (``frame``, its columns in the order of ``columns``) as rows of
    ``table``: named and typed as its columns, NULL in those the INSERT does not give."""
    from pyspark.sql import functions

    named = frame.toDF(*columns)
    return named.select(
        *[
            (named[f.name] if f.name in columns else functions.lit(None))
            .cast(f.dataType)
            .alias(f.name)
            for f in table.schema.fields
        ]
    )


def _spark_ready(data: pa.Table) -> pa.Table:
    """Arrow types Spark takes: unsigned integers widened, zoned timestamps as UTC."""
    fields = []
    for column in data.schema:
        kind = column.type
        if pa.types.is_unsigned_integer(kind):
            kind = pa.int64()
        elif pa.types.is_large_string(kind):
            kind = pa.string()
        elif pa.types.is_timestamp(kind) and kind.unit != "us":
            kind = pa.timestamp("us", kind.tz)
        fields.append(pa.field(column.name, kind))
    return data.cast(pa.schema(fields)) if fields else data
