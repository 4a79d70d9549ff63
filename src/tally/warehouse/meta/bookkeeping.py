"""A backend's own bookkeeping in ``tally_meta``: the migrations it applied (every migration
runner) and Spark's table list. State of the backend, not tally's data: each backend runs
these statements on its own connection, inside its own transaction, with its own
parameter marker (``?`` for DuckDB, ``%s`` for psycopg)."""

from __future__ import annotations

MIGRATIONS = "tally_meta.migrations"
SPARK_TABLES = "tally_meta.spark_tables"


def migrations_table(text: str = "VARCHAR") -> str:
    """The statement that creates the migrations table (``text``: the backend's string type)."""
    return (
        f"CREATE TABLE IF NOT EXISTS {MIGRATIONS} (name {text} PRIMARY KEY, applied_at TIMESTAMP)"
    )


APPLIED_MIGRATIONS = f"SELECT name FROM {MIGRATIONS}"


def record_migration(marker: str = "?", now: str = "now()") -> str:
    """The statement that records one applied migration, its name as parameter ``marker``
    (``now``: the backend's current timestamp, without time zone)."""
    return f"INSERT INTO {MIGRATIONS} VALUES ({marker}, {now})"


SPARK_TABLES_TABLE = (
    f"CREATE TABLE IF NOT EXISTS {SPARK_TABLES} (name VARCHAR PRIMARY KEY, path VARCHAR, "
    "partition_by VARCHAR, schema_json VARCHAR, updated_at TIMESTAMP)"
)
SPARK_TABLES_LISTED = f"SELECT name, path, partition_by, schema_json FROM {SPARK_TABLES}"
# parameters: name, path, partition columns (JSON), schema (JSON)
SPARK_TABLE_RECORDED = f"INSERT OR REPLACE INTO {SPARK_TABLES} VALUES (?, ?, ?, ?, now())"
SPARK_TABLE_FORGOTTEN = f"DELETE FROM {SPARK_TABLES} WHERE name = ?"
