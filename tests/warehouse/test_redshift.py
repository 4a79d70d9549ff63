"""The Redshift backend: the exact statements it sends, the Parquet it stages in S3, and
each of Redshift's documented limits.

No Redshift cluster is reachable here, so ``RedshiftOnPostgres`` runs the backend's own
statements on the local PostgreSQL (Redshift speaks its protocol and, for these
statements, its grammar) and records them; the one statement PostgreSQL lacks, ``COPY …
FROM 's3://…' FORMAT AS PARQUET``, it carries out itself from the Parquet file the load
staged in moto's S3, by position as Redshift does. The recorded statements are compared
with tests/fixtures/warehouse/redshift_*.sql, which were checked against Redshift's
documented grammar (docs/scale-out.md says which).
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tally.errors import BadInputError, ConfigError
from tally.warehouse import ConnectOptions, registry
from tally.warehouse.redshift.backend import (
    MAX_VARCHAR,
    RedshiftWarehouse,
    describe,
    redshift_type,
    to_redshift,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "warehouse"
ROLE = "arn:aws:iam::123456789012:role/tally-copy"
DAY = dt.date(2016, 10, 23)


class RedshiftOnPostgres(RedshiftWarehouse):
    """Redshift's backend with its statements recorded and run on PostgreSQL."""

    def __init__(self, conninfo: str, options: ConnectOptions) -> None:
        super().__init__("redshift://tally@cluster.example:5439/dev", conninfo, options)
        self.sent: list[str] = []
        self.staged: list[pa.Table] = []

    def _send(self, con, statement, params=None):
        self.sent.append(statement)
        if not statement.startswith("COPY "):
            return super()._send(con, statement, params)
        url = re.search(r"FROM '([^']+)'", statement).group(1)
        with self._filesystem().open(url, "rb") as staged:
            rows = pq.read_table(staged)
        self.staged.append(rows)
        table = statement.split()[1]
        with con.cursor().copy(f"COPY {table} FROM STDIN") as copy:  # by position, as Redshift
            for row in rows.to_pylist():
                copy.write_row(list(row.values()))
        return None


@pytest.fixture
def redshift(postgres_url: str, s3_bucket: str, s3_endpoint: str, tmp_path) -> Iterator:
    with registry.backend_for(postgres_url).scratch_url(tmp_path, postgres_url) as url:
        options = ConnectOptions(
            options={"iam_role": ROLE, "staging_url": f"s3://{s3_bucket}/tally-staging"},
            s3_endpoint_url=s3_endpoint,
        )
        store = RedshiftOnPostgres(url, options)
        yield store
        store.close()


def events(day: dt.date, extra: dict | None = None) -> pa.Table:
    table = pa.table(
        {
            "_partition_date": pa.array([day, day], pa.date32()),
            "event": pa.array(["Renew", "Refund"]),
            "quantity": pa.array([3, 1], pa.int64()),
            "tags": pa.array([["a", "b"], []], pa.list_(pa.string())),
            "amount": pa.array([decimal.Decimal("4.99"), None], pa.decimal128(12, 2)),
        }
    )
    for name, values in (extra or {}).items():
        table = table.append_column(name, pa.array(values))
    return table


def expected_statements(name: str) -> list[str]:
    text = (FIXTURES / name).read_text()
    lines = [line for line in text.splitlines() if line and not line.startswith("--")]
    return [line.removesuffix(";") for line in lines]


def masked_paths(statements: list[str]) -> list[str]:
    return [re.sub(r"'s3://[^']+\.parquet'", "'{staged}'", s) for s in statements]


def test_a_load_stages_parquet_and_sends_exactly_these_statements(redshift):
    redshift.replace_partition("staging.events", events(DAY), {"_partition_date": DAY})
    wider = events(DAY, {"note": ["n1", None]})
    redshift.replace_partition("staging.events", wider, {"_partition_date": DAY})
    assert masked_paths(redshift.sent) == expected_statements("redshift_load.sql")
    # the staged file holds the table's columns in its order; nested values as JSON text
    last = redshift.staged[-1]
    assert last.column_names == ["_partition_date", "event", "quantity", "tags", "amount", "note"]
    assert last["tags"].to_pylist() == ['["a", "b"]', "[]"]
    # the partition was replaced, not added to; the staged files are gone from S3
    found = redshift.rows(
        "SELECT event, quantity, tags, amount, note FROM staging.events ORDER BY 1"
    )
    assert found == [
        ("Refund", 1, "[]", None, None),
        ("Renew", 3, '["a", "b"]', decimal.Decimal("4.99"), "n1"),
    ]
    assert redshift._filesystem().find("ott-csv-unload/tally-staging") == []


def test_an_export_is_an_unload_of_the_transpiled_select(redshift):
    redshift.sent.clear()
    try:
        redshift.unload(
            "SELECT event, sum(quantity) AS n FROM staging.events GROUP BY event",
            "s3://ott-csv-unload/exports/events_",
        )
    except Exception:  # PostgreSQL has no UNLOAD: only the statement sent is checked
        pass
    assert redshift.sent == expected_statements("redshift_unload.sql")


def test_partition_replace_is_all_or_nothing(redshift):
    """delete + COPY in one transaction: a COPY that fails leaves the old partition."""
    redshift.replace_partition("staging.events", events(DAY), {"_partition_date": DAY})

    def broken_copy(con, statement, params=None):
        if statement.startswith("COPY "):
            raise RuntimeError("S3 refused the read")
        return RedshiftWarehouse._send(redshift, con, statement, params)

    redshift._send = broken_copy
    with pytest.raises(RuntimeError):
        redshift.replace_partition("staging.events", events(DAY), {"_partition_date": DAY})
    assert redshift.rows("SELECT count(*) FROM staging.events") == [(2,)]


# -- Redshift's documented limits, one test each -----------------------------------------


def test_no_copy_from_stdin_loads_go_through_s3(redshift):
    assert not redshift.capabilities.copies_from_client
    redshift.replace_partition("staging.events", events(DAY), {})
    assert not any("STDIN" in statement for statement in redshift.sent)
    assert any(s.startswith("COPY staging.events FROM 's3://") for s in redshift.sent)


def test_no_arrays_nested_values_are_json_text():
    assert not RedshiftWarehouse.capabilities.nested_columns
    for kind in (
        pa.list_(pa.int64()),
        pa.struct([("a", pa.int64())]),
        pa.map_(pa.string(), pa.int64()),
    ):
        assert redshift_type(pa.field("x", kind)) == f"VARCHAR({MAX_VARCHAR})"


def test_text_is_at_most_varchar_65535_bytes(redshift):
    assert RedshiftWarehouse.capabilities.max_text_bytes == 65535
    fits = pa.table({"note": pa.array(["é" * 32767 + "x"])})  # 65,535 bytes in UTF-8
    redshift.replace_partition("staging.notes", fits, {})
    too_long = pa.table({"note": pa.array(["ok", "é" * 32768])})  # 65,536 bytes
    with pytest.raises(BadInputError) as refused:
        redshift.replace_partition("staging.notes", too_long, {})
    assert "field 'note'" in str(refused.value) and "65,536 bytes" in str(refused.value)
    assert "(row 2)" in str(refused.value)


def test_no_silent_text_every_type_is_mapped_on_purpose():
    """Redshift's TEXT is VARCHAR(256): models and migrations get VARCHAR(65535) instead."""
    sql = "CREATE TABLE tally_meta.q (a TEXT, b VARCHAR, n BIGINT, d DATE)"
    assert to_redshift(sql) == (
        "CREATE TABLE tally_meta.q (a VARCHAR(65535), b VARCHAR(65535), n BIGINT, d DATE)"
    )
    mapped = {
        pa.bool_(): "BOOLEAN",
        pa.int16(): "SMALLINT",
        pa.int32(): "INTEGER",
        pa.int64(): "BIGINT",
        pa.float32(): "REAL",
        pa.float64(): "DOUBLE PRECISION",
        pa.decimal128(12, 2): "DECIMAL(12, 2)",
        pa.date32(): "DATE",
        pa.timestamp("us"): "TIMESTAMP",
        pa.timestamp("us", tz="UTC"): "TIMESTAMPTZ",
        pa.time64("us"): "TIME",
        pa.binary(): "VARBYTE(65535)",
        pa.string(): "VARCHAR(65535)",
    }
    assert {kind: redshift_type(pa.field("x", kind)) for kind in mapped} == mapped


def test_a_hash_of_several_values_chains_fnv_hash_each_seeding_the_next():
    """fnv_hash(value, seed): hash(a, b, c) (segment_id) hashes a, then b seeded by that,
    then c; hash(k) of one key (a probe) is fnv_hash(k)."""
    sql = "SELECT hash(a, b, c) AS segment_id, hash(k) AS probe FROM marts.t"
    assert to_redshift(sql) == (
        "SELECT FNV_HASH(c, FNV_HASH(b, FNV_HASH(a))) AS segment_id, FNV_HASH(k) AS probe "
        "FROM marts.t"
    )


def test_decimals_wider_than_38_digits_are_refused():
    with pytest.raises(ConfigError, match="wider than Redshift's 38 digits"):
        redshift_type(pa.field("x", pa.decimal256(40, 2)))


def test_identifiers_are_at_most_127_bytes_and_there_are_no_advisory_locks(redshift):
    assert RedshiftWarehouse.capabilities.max_identifier_length == 127
    assert not RedshiftWarehouse.capabilities.locks_across_processes
    with redshift.exclusive(7):
        pass
    assert not any("advisory" in statement for statement in redshift.sent)


def test_a_model_sets_no_planner_setting_redshift_lacks(redshift, monkeypatch):
    """PostgreSQL runs a model with nested loops and JIT off; Redshift has neither setting
    (a SET of one is an error there), so its backend sends no SET or RESET around a model."""
    sent: list[str] = []
    execute = psycopg.Connection.execute

    def recording(con, query, params=None, **keywords):
        sent.append(str(query))
        return execute(con, query, params, **keywords)

    monkeypatch.setattr(psycopg.Connection, "execute", recording)
    redshift.run_model("CREATE TABLE model_probe AS SELECT 1 AS n")
    assert [s for s in sent if s.split()[0] in ("SET", "RESET")] == []
    assert any("model_probe" in s for s in sent)


def test_copy_from_parquet_has_no_column_list_and_no_region(redshift):
    redshift.replace_partition("staging.events", events(DAY), {})
    copy = next(s for s in redshift.sent if s.startswith("COPY"))
    assert "(" not in copy.split("FROM")[0] and "REGION" not in copy


def test_credentials_never_reach_a_message():
    statement = (
        "COPY t FROM 's3://b/k.parquet' ACCESS_KEY_ID 'AKIAEXAMPLE' "
        "SECRET_ACCESS_KEY 'wJalr''XUtn' FORMAT AS PARQUET"
    )
    shown = describe(statement)
    assert "AKIAEXAMPLE" not in shown and "wJalr" not in shown
    assert shown == (
        "COPY t FROM 's3://b/k.parquet' ACCESS_KEY_ID '********' "
        "SECRET_ACCESS_KEY '********' FORMAT AS PARQUET"
    )


def test_a_load_without_credentials_says_which_setting_is_missing(postgres_url):
    store = RedshiftWarehouse(
        "redshift://u@h:5439/d",
        postgres_url,
        ConnectOptions(options={"staging_url": "s3://b/p"}),
    )
    with pytest.raises(ConfigError, match="warehouse.options.iam_role"):
        store.replace_partition("staging.x", pa.table({"a": [1]}), {})


def test_unknown_options_are_named():
    with pytest.raises(ConfigError, match="unknown key"):
        RedshiftWarehouse(
            "redshift://u@h/d", "postgresql://u@h/d", ConnectOptions(options={"iam": "x"})
        )
