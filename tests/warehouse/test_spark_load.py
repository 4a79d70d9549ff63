"""Loads on Spark: the cluster reads the lake's files itself, with the pyarrow reader's result.

``delimited_spark.read_on_cluster`` against ``read_delimited`` (the reference) on the same
bytes: the typed rows, their line numbers, the bad rows (file, line, field, reason, raw
text), the rows read and the unknown headers must match. Then ``tally``'s load on a Spark
warehouse: staging and quarantine as the pyarrow path writes them, the threshold kept, and a
file Spark cannot read exactly handed to pyarrow. Runs under ``make test-spark`` only.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import os
from pathlib import Path

import pytest

from tally.errors import QuarantineError
from tally.lake import Lake
from tally.pipeline.context import Context
from tally.pipeline.ingest import ingest
from tally.sources import get_dataset
from tally.sources.delimited import Column, Layout, read_delimited
from tally.sources.delimited_spark import read_head, read_on_cluster
from tally.sources.delimited_sql import NativeReadError
from tally.warehouse import connect

pytestmark = pytest.mark.skipif(
    os.environ.get("TALLY_TEST_SPARK") != "1",
    reason="needs the local Spark cluster: make test-spark",
)
FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"
EVENTS = get_dataset("itunes", "subscription-events")
DAY = dt.date(2016, 10, 23)
COLUMNS = (
    Column("Day", "day", "date", required=True),
    Column("Plan", "plan", "text", aliases=("Plan Code",)),
    Column("Amount", "amount", "amount"),
    Column("Count", "count", "int"),
    Column("Ratio", "ratio", "float"),
)
LAYOUT = Layout(COLUMNS, "\t")
HEADER = "Day\tplan code\tAmount\tCount\tRatio\tRegion\n"
LINES = [
    "2016-10-23\tP1\t1,000.50\t3\t0.5\tNorth",  # 2: good, thousands separator
    "",  # 3: blank line: neither a row nor an error
    "1/25/2017\t P2 \t7\t007\t1e3\t",  # 4: US date, trimmed text, leading zeros
    "2016-02-30\tP1\t1\t1\t1\tx",  # 5: impossible date
    "02/31/2017\tP1\t1\t1\t1\tx",  # 6: impossible US date
    "2016-10-23\tP1\t1\t1.5\t1\tx",  # 7: Spark's cast would take 1.5 as 1; tally refuses it
    "2016-10-23\tP1\t1\t+1\t1\tx",  # 8: a sign tally does not take
    "\tP1\t1\t1\t1\tx",  # 9: required date missing
    "2016-10-23\tP1\t1",  # 10: too few fields
    "2016-10-23\tP1\t1\t1\t1\tx\textra",  # 11: too many fields
    "   ",  # 12: whitespace only: not a row
    "\t\t\t\t\t",  # 13: only delimiters: not a row
    "\u00a02016-10-24\u3000\tP3\t-2\t-0\t.5\ty",  # 14: Unicode spaces trimmed
    "2016-10-24\tP3\tabc\t1\t1\ty",  # 15: amount not a number
    "2016-10-24\tP3\t1\t1\t1e\ty",  # 16: float not a number
    "2016-1-5\tP4\t\t\t\t",  # 17: one-digit month and day, empty optionals
    "2016-10-24\tP'5\"\t1\t99999999999\t-1.25E-2\tz",  # 18: quotes are plain text
    "2016-10-23\tP1\t1\t" + "9" * 50 + "\t1\tx",  # 19: past 64 bits
    "2016-10-23\tP1\t1\t9223372036854775807\t1\tx",  # 20: 2**63 - 1, the largest: kept
    "2016-10-23\tP1\t1e999\t1\t1\tx",  # 21: amount past a double: infinity
    "2016-10-23\tP1\t1\t1\t-1e999\tx",  # 22: float past a double
    "2016-10-23\tP1\t1\t1\t1.\tx\u2028",  # 23: Java's $ would stop before \u2028; \z does not
    "2016-10-23\tP1\t1\t1\\d\t1\tx",  # 24: a backslash is text, not an escape
]


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory):
    from tests.warehouse.spark_cluster import warehouse_url

    store = connect(warehouse_url(tmp_path_factory.mktemp("reader")))
    yield store.spark
    store.close()


def both(spark, tmp_path: Path, data: bytes, name: str = "file.txt"):
    """The reference Parsed, the cluster's read, and its good rows (without ``_file``)."""
    path = tmp_path / name
    path.write_bytes(data)
    plain = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    reference = read_delimited(plain, name, COLUMNS, "\t")
    with open(path, "rb") as opened:
        compressed, head = read_head(opened)
    read = read_on_cluster(spark, f"file://{path}", name, LAYOUT, compressed, head)
    rows = read.frame.orderBy("_line").toArrow()
    assert set(rows.column("_file").to_pylist()) <= {name}
    return reference, read, rows.drop_columns(["_file"])


def assert_same(reference, read, rows) -> None:
    assert rows.schema.names == reference.table.schema.names
    assert rows.cast(reference.table.schema).to_pylist() == reference.table.to_pylist()
    assert read.bad_rows == reference.bad_rows
    assert read.rows_read == reference.rows_read
    assert read.rows == reference.table.num_rows
    assert read.unknown_columns == reference.unknown_columns


@pytest.mark.parametrize("gzipped", [False, True])
def test_spark_reads_every_rule_of_the_reader(spark, tmp_path, gzipped):
    data = (HEADER + "\n".join(LINES) + "\n").encode()
    name = "file.txt.gz" if gzipped else "file.txt"
    reference, read, rows = both(
        spark, tmp_path, gzip.compress(data, mtime=0) if gzipped else data, name
    )
    assert_same(reference, read, rows)
    assert rows.column("_line").to_pylist() == [2, 4, 14, 17, 18, 20, 23]
    assert [(b.line, b.field) for b in read.bad_rows][:4] == [
        (5, "Day"),
        (6, "Day"),
        (7, "Count"),
        (8, "Count"),
    ]


def test_spark_numbers_lines_across_the_splits_of_a_file(spark, tmp_path):
    # a plain file is read in several splits: each split's rows are offset by the rows of
    # the splits before it, so the numbers are the file's own lines
    body = [f"2016-10-23\tP{i}\t{i}\t{i}\t1\tx" if i % 97 else "bad" for i in range(3000)]
    data = (HEADER + "\n".join(body) + "\n").encode()
    spark.conf.set("spark.sql.files.maxPartitionBytes", "8192")
    try:
        reference, read, rows = both(spark, tmp_path, data)
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    assert_same(reference, read, rows)
    assert len(read.bad_rows) == 31 and read.bad_rows[1].line == 99


def test_spark_reads_windows_line_endings_and_a_byte_order_mark(spark, tmp_path):
    text = "\ufeff" + HEADER + "2016-10-23\tP1\t1\t2\t3\tx\n2016-10-24\tP2\t1\tx\t3\ty\n"
    data = text.replace("\n", "\r\n").encode() + b"2016-10-25\tP3\t1\t2\t3\tz\n"
    reference, read, rows = both(spark, tmp_path, data)
    assert_same(reference, read, rows)
    assert rows.column("plan").to_pylist() == ["P1", "P3"]
    assert read.bad_rows[0].raw == "2016-10-24\tP2\t1\tx\t3\ty"  # no \r kept


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("file.txt", b"2016-10-23\tP1\t1\t\xff\t1\tx\n"),  # not UTF-8
        ("file.txt", b"2016-10-23\tP1\x00\t1\t1\t1\tx\n"),  # a NUL byte
        ("file.txt", b"2016-10-23\tP1\r\t1\t1\t1\tx\n"),  # a carriage return in a line
        ("file.txt", gzip.compress(b"", mtime=0)),  # gzip'd, but not named .gz
    ],
)
def test_what_spark_cannot_read_exactly_is_left_to_pyarrow(spark, tmp_path, name, body):
    path = tmp_path / name
    path.write_bytes(HEADER.encode() + body if body[:2] != b"\x1f\x8b" else body)
    with open(path, "rb") as opened:
        compressed, head = read_head(opened)
    with pytest.raises(NativeReadError):
        read_on_cluster(spark, f"file://{path}", name, LAYOUT, compressed, head)


def test_read_head_sees_gzip_and_stops_at_the_first_line():
    data = gzip.compress(b"a\tb\nc\td\n", mtime=0)
    assert read_head(io.BytesIO(data)) == (True, b"a\tb\n")
    assert read_head(io.BytesIO(b"a\tb\nc\td\n")) == (False, b"a\tb\n")


# -- tally's load on a Spark warehouse -----------------------------------------------------


def local_report(tmp_path: Path, name: str, extra: bytes = b"") -> Path:
    target = tmp_path / (name + ".gz")
    target.write_bytes(gzip.compress((FIXTURES / name).read_bytes() + extra, mtime=0))
    return target


def loaded_both_ways(
    settings, tmp_path: Path, report: Path, threshold: float = 0.8, dataset=EVENTS
):
    """The same file loaded by a Spark warehouse (read on the cluster) and by a DuckDB one
    reading it with pyarrow: (outcome, staging rows, quarantine rows) for each."""
    from tests.warehouse.spark_cluster import warehouse_url

    import tally.pipeline.load as loading

    settings.quarantine_threshold = threshold
    found = []
    for url in (warehouse_url(tmp_path / "spark"), f"duckdb:///{tmp_path}/duck.duckdb"):
        store = connect(url)
        store.migrate()
        context = Context(settings, store, Lake(str(tmp_path / "lake")))
        ingest(context, dataset, DAY, [report])
        assert loading.reads_on_cluster(context, dataset) == url.startswith("spark")
        try:
            outcome = (
                loading.load(context, dataset, DAY)
                if url.startswith("spark")
                else _in_python(loading, context, dataset)
            )
        except QuarantineError as error:
            outcome = error
        columns, staged = [], []
        if store.table_exists(dataset.staging_table):
            columns = [c for c in store.columns(dataset.staging_table) if c != "_loaded_at"]
            staged = store.rows(
                f"SELECT {', '.join(columns)} FROM {dataset.staging_table} ORDER BY _file, _line"
            )
        quarantined = store.rows(
            "SELECT source, dataset, partition_date, file, line, field, reason, raw "
            "FROM tally_meta.quarantine ORDER BY file, line"
        )
        steps = store.rows(
            "SELECT status, rows_in, rows_out, rows_quarantined FROM tally_meta.runs "
            "WHERE job = 'load' ORDER BY started_at"
        )
        found.append((outcome, columns, staged, quarantined, steps))
        store.close()
    return found


def _in_python(loading, context, dataset=EVENTS):
    reads_in_place = loading.reads_in_place
    loading.reads_in_place = lambda context, dataset: False
    try:
        return loading.load(context, dataset, DAY)
    finally:
        loading.reads_in_place = reads_in_place


def _by_name(columns: list[str], rows: list[tuple]) -> list[dict]:
    """Rows as dicts (the column order may differ), without the run id."""
    return [{c: v for c, v in zip(columns, row, strict=True) if c != "_run_id"} for row in rows]


def test_a_spark_load_quarantines_bad_rows_like_the_pyarrow_load(settings, tmp_path):
    report = local_report(tmp_path, "itunes_subscription_event_bad.txt")
    (spark, spark_columns, *on_spark), (duck, duck_columns, *on_duckdb) = loaded_both_ways(
        settings, tmp_path, report
    )
    assert (spark.rows, spark.rows_read, spark.bad_rows) == (2, 5, duck.bad_rows)
    assert sorted(spark_columns) == sorted(duck_columns)
    assert _by_name(spark_columns, on_spark[0]) == _by_name(duck_columns, on_duckdb[0])
    assert on_spark[1] == on_duckdb[1]  # quarantine: file, line, field, reason, raw
    assert [row[4:6] for row in on_spark[1]] == [(3, "Event Date"), (4, None), (5, "Quantity")]
    assert on_spark[2] == on_duckdb[2] == [("ok", 5, 2, 3)]


def test_a_spark_load_past_the_threshold_fails_and_keeps_the_partition(settings, tmp_path):
    report = local_report(tmp_path, "itunes_subscription_event_bad.txt")
    (spark, _, staged, quarantined, steps), _ = loaded_both_ways(
        settings, tmp_path, report, threshold=0.05
    )
    assert isinstance(spark, QuarantineError)
    assert "3 of 5 rows are bad" in str(spark)
    assert staged == []  # nothing written: the cluster's write never ran
    assert [row[4] for row in quarantined] == [3, 4, 5]  # the bad rows still quarantined
    assert steps == [("failed", 5, None, 3)]


def test_a_file_spark_cannot_read_exactly_is_parsed_in_python(settings, tmp_path):
    report = local_report(
        tmp_path, "itunes_subscription_event_small.txt", b"2016-10-23\tRenew\t\xff\n"
    )
    (spark, _, staged, quarantined, _), (duck, _, _, duck_quarantined, _) = loaded_both_ways(
        settings, tmp_path, report
    )
    assert (spark.rows, spark.rows_read) == (duck.rows, duck.rows_read) == (4, 5)
    assert quarantined == duck_quarantined
    assert [row[4:7] for row in quarantined] == [
        (6, None, "not valid UTF-8 (invalid start byte at byte 17 of the line)")
    ]
    assert len(staged) == 4


def test_the_subscription_report_is_read_on_the_cluster_with_its_day_from_the_name(
    settings, tmp_path
):
    from tests.pipeline.test_load import ACTIVE, subscription_report

    report = subscription_report(tmp_path)
    (spark, spark_columns, *on_spark), (duck, duck_columns, *on_duckdb) = loaded_both_ways(
        settings, tmp_path, report, dataset=ACTIVE
    )
    # lines 2 and 4 land; 3 (a count that is no number) and 5 (no Country) are quarantined
    assert (spark.rows, spark.rows_read, spark.bad_rows) == (2, 4, duck.bad_rows)
    assert sorted(spark_columns) == sorted(duck_columns)
    assert _by_name(spark_columns, on_spark[0]) == _by_name(duck_columns, on_duckdb[0])
    assert {row["report_date"] for row in _by_name(spark_columns, on_spark[0])} == {DAY}
    assert on_spark[1] == on_duckdb[1]
    assert [row[4] for row in on_spark[1]] == [3, 5]
