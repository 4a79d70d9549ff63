"""Amazon Redshift over the PostgreSQL driver, with Redshift's own SQL, loads and limits.

Redshift has no ``COPY … FROM STDIN``: a load writes the partition as one Parquet file
under the staging prefix in S3 and runs, in one transaction, ``DELETE`` of the partition
and ``COPY table FROM 's3://…' IAM_ROLE '…' FORMAT AS PARQUET``; the file is removed
afterwards. A Parquet COPY fills the table's columns by position, so the staged file holds
every column of the table in the table's order (the ones the rows lack as nulls). Exports
go the other way with ``UNLOAD``.

Types are mapped on purpose (``redshift_type``): text is ``VARCHAR(65535)``, Redshift's
longest (its ``TEXT`` would be ``VARCHAR(256)``), and a longer value fails the load naming
its column; Redshift has no arrays, so nested values are stored as JSON text; decimals
keep their precision up to Redshift's 38. Credentials come from ``[warehouse.options]``
(``iam_role``, or ``access_key_id`` and ``secret_access_key``) and never reach a log or an
error message: ``describe`` shows a statement with them masked.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tally.errors import BadInputError, ConfigError
from tally.warehouse.base import Capabilities, NamedLocks, split_table
from tally.warehouse.postgres.backend import PostgresWarehouse
from tally.warehouse.registry import ConnectOptions

MAX_VARCHAR = 65535  # bytes: Redshift's longest character column
MAX_DECIMAL_PRECISION = 38

CAPABILITIES = Capabilities(
    sqlglot_dialect="redshift",
    max_identifier_length=127,
    single_writer_process=False,
    param_style="%s",
    copies_from_client=False,
    nested_columns=False,
    max_text_bytes=MAX_VARCHAR,
    hash_function="redshift fnv_hash",
)


@dataclass(frozen=True)
class RedshiftOptions:
    """``[warehouse.options]`` for Redshift."""

    staging_url: str  # s3://bucket/prefix where loads stage their Parquet files
    iam_role: str = ""
    access_key_id: str = ""
    secret_access_key: str = ""
    region: str = ""
    s3_endpoint_url: str = ""  # another S3 API (tests: moto)

    @classmethod
    def read(cls, options: ConnectOptions) -> RedshiftOptions:
        given = dict(options.options)
        known = {"staging_url", "iam_role", "access_key_id", "secret_access_key", "region"}
        unknown = sorted(set(given) - known)
        if unknown:
            raise ConfigError(
                f"warehouse.options: unknown key(s) {unknown} for Redshift "
                f"(known: {', '.join(sorted(known))})"
            )
        staging = given.get("staging_url") or (
            f"{options.lake_url.rstrip('/')}/_staging"
            if options.lake_url.startswith("s3://")
            else ""
        )
        return cls(
            staging_url=staging,
            iam_role=given.get("iam_role", ""),
            access_key_id=given.get("access_key_id", ""),
            secret_access_key=given.get("secret_access_key", ""),
            region=given.get("region", ""),
            s3_endpoint_url=options.s3_endpoint_url,
        )

    def authorization(self) -> str:
        """The COPY/UNLOAD authorization clause (secret: never log it, see ``describe``)."""
        if self.iam_role:
            return f"IAM_ROLE {_literal(self.iam_role)}"
        if self.access_key_id and self.secret_access_key:
            return (
                f"ACCESS_KEY_ID {_literal(self.access_key_id)} "
                f"SECRET_ACCESS_KEY {_literal(self.secret_access_key)}"
            )
        raise ConfigError(
            "Redshift loads need warehouse.options.iam_role (env "
            "TALLY_WAREHOUSE__OPTIONS__IAM_ROLE) or access_key_id and secret_access_key"
        )


def redshift_type(field: pa.Field) -> str:
    """The Redshift column type for an Arrow field, chosen on purpose for each kind."""
    kind = field.type
    if pa.types.is_boolean(kind):
        return "BOOLEAN"
    if pa.types.is_int8(kind) or pa.types.is_int16(kind) or pa.types.is_uint8(kind):
        return "SMALLINT"
    if pa.types.is_int32(kind) or pa.types.is_uint16(kind):
        return "INTEGER"
    if pa.types.is_integer(kind):
        return "BIGINT"  # uint64 above 2^63 does not fit: the Parquet write refuses it
    if pa.types.is_float32(kind) or pa.types.is_float16(kind):
        return "REAL"
    if pa.types.is_floating(kind):
        return "DOUBLE PRECISION"
    if pa.types.is_decimal(kind):
        if kind.precision > MAX_DECIMAL_PRECISION:
            raise ConfigError(
                f"column {field.name!r}: DECIMAL({kind.precision}, {kind.scale}) is wider than "
                f"Redshift's {MAX_DECIMAL_PRECISION} digits"
            )
        return f"DECIMAL({kind.precision}, {kind.scale})"
    if pa.types.is_date(kind):
        return "DATE"
    if pa.types.is_timestamp(kind):
        return "TIMESTAMPTZ" if kind.tz else "TIMESTAMP"
    if pa.types.is_time(kind):
        return "TIME"
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return f"VARBYTE({MAX_VARCHAR})"
    # strings, and nested values (no arrays in Redshift) stored as their JSON text
    return f"VARCHAR({MAX_VARCHAR})"


def create_table_sql(table: str, schema: pa.Schema) -> str:
    columns = ", ".join(f"{_quote(f.name)} {redshift_type(f)}" for f in schema)
    return f"CREATE TABLE IF NOT EXISTS {table} ({columns})"


def add_column_sql(table: str, field: pa.Field) -> str:
    return f"ALTER TABLE {table} ADD COLUMN {_quote(field.name)} {redshift_type(field)}"


def delete_partition_sql(table: str, partition: Mapping[str, Any]) -> str:
    where = " AND ".join(f"{_quote(column)} = %s" for column in partition)
    return f"DELETE FROM {table} WHERE {where}"


def copy_sql(table: str, s3_url: str, authorization: str) -> str:
    # no column list and no REGION: a Parquet COPY maps columns by position and refuses both
    return f"COPY {table} FROM {_literal(s3_url)} {authorization} FORMAT AS PARQUET"


def unload_sql(select_sql: str, s3_prefix: str, authorization: str) -> str:
    return (
        f"UNLOAD ({_literal(select_sql)}) TO {_literal(s3_prefix)} {authorization} "
        "FORMAT AS PARQUET ALLOWOVERWRITE"
    )


@lru_cache(maxsize=512)
def to_redshift(sql: str) -> str:
    """A DuckDB-dialect statement in Redshift's SQL, with every text type of no stated
    length made VARCHAR(65535): Redshift's own TEXT and VARCHAR mean VARCHAR(256)."""
    import sqlglot
    from sqlglot import exp

    def widened(node: exp.Expression) -> exp.Expression:
        text = (exp.DataType.Type.TEXT, exp.DataType.Type.VARCHAR)
        if isinstance(node, exp.DataType) and node.this in text and not node.expressions:
            return exp.DataType.build(f"VARCHAR({MAX_VARCHAR})", dialect="redshift")
        # DuckDB's hash(value) (a model's hash of a key, ``@probe``): Redshift's own 64-bit
        # one; hash(a, b, ...) (segment_id) chains it, each value's hash the next one's seed
        if isinstance(node, exp.Anonymous) and str(node.this).lower() == "hash":
            values = list(node.expressions)
            hashed = exp.Anonymous(this="fnv_hash", expressions=values[:1])
            for value in values[1:]:
                hashed = exp.Anonymous(this="fnv_hash", expressions=[value, hashed])
            return hashed
        return node

    statements = sqlglot.parse(sql, read="duckdb")
    return ";\n".join(
        s.transform(widened).sql(dialect="redshift") for s in statements if s is not None
    )


ARROW_OF = {  # information_schema.columns.data_type → the Arrow type of a null column
    "bigint": pa.int64(),
    "integer": pa.int32(),
    "smallint": pa.int16(),
    "double precision": pa.float64(),
    "real": pa.float32(),
    "boolean": pa.bool_(),
    "date": pa.date32(),
    "timestamp without time zone": pa.timestamp("us"),
    "timestamp with time zone": pa.timestamp("us", tz="UTC"),
}


def describe(statement: str) -> str:
    """A statement as it may be shown or logged: credentials replaced by ********."""
    return re.sub(
        r"\b(IAM_ROLE|ACCESS_KEY_ID|SECRET_ACCESS_KEY|SESSION_TOKEN)\s+'(?:[^']|'')*'",
        r"\1 '********'",
        statement,
    )


def staged_rows(data: pa.Table, table_columns: Sequence[tuple[str, pa.DataType]]) -> pa.Table:
    """The rows as the staged Parquet file holds them: every table column in table order
    (nulls where the rows have none), nested values as JSON text, text checked against
    VARCHAR(65535)."""
    arrays = []
    for name, kind in table_columns:
        if name not in data.column_names:
            arrays.append(pa.nulls(data.num_rows, kind))
            continue
        column = data[name]
        if pa.types.is_nested(column.type):
            texts = [None if v is None else json.dumps(v, default=str) for v in column.to_pylist()]
            column = pa.chunked_array([pa.array(texts, pa.string())])
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            _check_length(name, column)
        arrays.append(column)
    return pa.Table.from_arrays(arrays, names=[name for name, _ in table_columns])


def _check_length(name: str, column: pa.ChunkedArray) -> None:
    lengths = pc.binary_length(column)
    longest = pc.max(lengths).as_py()
    if longest is not None and longest > MAX_VARCHAR:
        row = pc.index(pc.greater(lengths, MAX_VARCHAR), True).as_py()
        raise BadInputError(
            f"{longest:,} bytes is longer than Redshift's VARCHAR({MAX_VARCHAR}) (row {row + 1})",
            field=name,
        )


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class RedshiftWarehouse(PostgresWarehouse):
    """A Redshift cluster (or Serverless workgroup) behind the Warehouse protocol."""

    capabilities = CAPABILITIES
    # Redshift has neither JIT nor enable_nestloop: a SET of either is an error there
    batch_planning = ()

    def __init__(self, url: str, conninfo: str, options: ConnectOptions) -> None:
        super().__init__(
            url,
            pool_size=options.pool_size,
            wait_seconds=options.lock_wait_seconds,
            interactive_seconds=options.interactive_timeout_seconds,
            conninfo=conninfo,
        )
        self.options = RedshiftOptions.read(options)
        self._named = NamedLocks()

    # -- loads -------------------------------------------------------------------------

    def _filesystem(self) -> Any:
        import fsspec

        storage: dict[str, Any] = {}
        if self.options.s3_endpoint_url:
            storage["client_kwargs"] = {"endpoint_url": self.options.s3_endpoint_url}
        if self.options.access_key_id:
            storage |= {"key": self.options.access_key_id, "secret": self.options.secret_access_key}
        return fsspec.filesystem("s3", **storage)

    def _stage(self, table: str, rows: pa.Table) -> str:
        """Write the rows as one Parquet file under the staging prefix; its s3:// URL."""
        if not self.options.staging_url.startswith("s3://"):
            raise ConfigError(
                "Redshift loads stage Parquet files in S3: set warehouse.options.staging_url "
                "(s3://bucket/prefix) or an s3:// lake_url"
            )
        name = f"{table.replace('.', '/')}/{uuid.uuid4().hex}.parquet"
        url = f"{self.options.staging_url.rstrip('/')}/{name}"
        with self._filesystem().open(url, "wb") as target:
            pq.write_table(rows, target)
        return url

    def _table_columns(self, con: psycopg.Connection, table: str) -> list[tuple[str, str]]:
        schema, name = split_table(table)
        return con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position",
            [schema, name],
        ).fetchall()

    def replace_partition(self, table: str, data: pa.Table, partition: Mapping[str, Any]) -> int:
        """Stage the rows as Parquet in S3, then delete the partition and COPY it in, in
        one transaction; the staged file is removed afterwards."""
        arrow_types = {f.name: f.type for f in data.schema}
        authorization = self.options.authorization()
        staged = ""
        try:
            with self.transaction(), self.session() as con:
                schema_name, _ = split_table(table)
                self._send(con, f'CREATE SCHEMA IF NOT EXISTS "{schema_name}"')
                self._send(con, create_table_sql(table, data.schema))
                found = self._table_columns(con, table)
                existing = [column for column, _ in found]
                stored = {column: ARROW_OF.get(kind, pa.string()) for column, kind in found}
                for field in data.schema:
                    if field.name not in existing:
                        self._send(con, add_column_sql(table, field))
                        existing.append(field.name)
                if partition:
                    self._send(
                        con, delete_partition_sql(table, partition), list(partition.values())
                    )
                columns = [(name, arrow_types.get(name) or stored[name]) for name in existing]
                staged = self._stage(table, staged_rows(data, columns))
                self._send(con, copy_sql(table, staged, authorization))
                self._wrote(table, data.num_rows)
        finally:
            if staged:
                self._filesystem().rm(staged)
        return int(data.num_rows)

    def append(self, table: str, data: pa.Table) -> int:
        return self.replace_partition(table, data, {})

    def unload(self, select_sql: str, s3_prefix: str) -> None:
        """Export a DuckDB-dialect SELECT's rows as Parquet files under ``s3_prefix``."""
        with self.session() as con:
            self._send(
                con, unload_sql(self._sql(select_sql), s3_prefix, self.options.authorization())
            )

    def _send(
        self, con: psycopg.Connection, statement: str, params: Sequence[Any] | None = None
    ) -> Any:
        """One statement in Redshift's own SQL, as written (not transpiled). An error names
        the statement with its credentials masked, never the secret."""
        try:
            return con.execute(statement, params)
        except psycopg.Error as error:
            raise type(error)(f"{error} (in: {describe(statement)})") from None

    # -- what Redshift lacks -------------------------------------------------------------

    @contextmanager
    def exclusive(self, key: int) -> Iterator[None]:
        # no advisory locks in Redshift: one process loads (locks_across_processes is off)
        with self._named.hold(key):
            yield

    @staticmethod
    def _reset_connection(connection: psycopg.Connection) -> None:
        # Redshift has no DISCARD: the one setting tally changes is put back
        connection.execute("RESET statement_timeout")

    def _sql(self, sql: str) -> str:
        return to_redshift(sql)

    def _analyze_changed(self, con: psycopg.Connection, written: Mapping[str, int]) -> None:
        # Redshift's ANALYZE itself skips a table changed by less than
        # analyze_threshold_percent (10 %), so every changed table is named
        for table in written:
            self._send(con, f"ANALYZE {table}")


def open_warehouse(url: str, options: ConnectOptions) -> RedshiftWarehouse:
    """The registry's factory for ``redshift://`` and ``postgresql+redshift://`` URLs."""
    plain = "postgresql://" + url.split("://", 1)[1]
    return RedshiftWarehouse(url, plain, options)
