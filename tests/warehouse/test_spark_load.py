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
    """Rows as dicts (the column order may differ), without the run id; a moment as UTC
    without its zone (DuckDB gives it zoned, Spark in its session's zone, UTC)."""
    return [
        {c: _utc(v) for c, v in zip(columns, row, strict=True) if c != "_run_id"} for row in rows
    ]


def _utc(value):
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


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


# -- quoted text, UTF-16: Google Play, the CMS export, Google Drive's sheets ----------------

QUOTED = Layout(COLUMNS, ",", quoted=True)
QUOTED_HEADER = "Day,plan code,Amount,Count,Ratio,Region\n"
QUOTED_RECORDS = [
    '2016-10-23,"P1, the first","1,000.50",3,0.5,North',  # 2: delimiter in quotes: good
    "",  # 3: blank
    '2016-10-24,"multi\nline ""plan""",7,1,1,x',  # 4: a line break and quotes in a value
    "2016-10-24,P2,abc,1,1,x",  # 5: amount not a number
    '"2016-10-25","P3",1,"x",1,"y"',  # 6: a quoted count that is no number
    "2016-10-25,P4,1",  # 7: too few fields
    '"","","","","",""',  # 8: only empty values: not a row
    ",,,,,",  # 9: only delimiters: not a row
    '2016-10-26,"a\nb",1,2,3,"z",extra',  # 10: too many fields, over two lines
    "   ",  # 11: whitespace only
    ' 2016-10-27 ," P5 ",2,2,2,w',  # 12: trimmed
]


def both_quoted(spark, tmp_path: Path, data: bytes, name: str):
    path = tmp_path / name
    path.write_bytes(data)
    plain = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    reference = read_delimited(plain, name, COLUMNS, ",", quoted=True)
    with open(path, "rb") as opened:
        compressed, head = read_head(opened)
    read = read_on_cluster(spark, f"file://{path}", name, QUOTED, compressed, head)
    rows = read.frame.orderBy("_line").toArrow()
    return reference, read, rows.drop_columns(["_file"])


@pytest.mark.parametrize("form", ["utf-8", "gzip", "utf-16"])
def test_spark_reads_quoted_text_like_the_reader(spark, tmp_path, form):
    text = QUOTED_HEADER + "\n".join(QUOTED_RECORDS) + "\n"
    data = text.encode()
    name = "file.csv"
    if form == "gzip":
        data, name = gzip.compress(data, mtime=0), "file.csv.gz"
    if form == "utf-16":  # Google's form: a byte order mark, lines ending in \r\n
        text = "\r\n".join([QUOTED_HEADER.strip(), *QUOTED_RECORDS]) + "\r\n"
        data = b"\xff\xfe" + text.encode("utf-16-le")
    reference, read, rows = both_quoted(spark, tmp_path, data, name)
    assert_same(reference, read, rows)
    assert rows.column("_line").to_pylist() == [2, 4, 12]
    assert rows.column("plan").to_pylist() == ["P1, the first", 'multi\nline "plan"', "P5"]
    assert [(b.line, b.field) for b in read.bad_rows] == [
        (5, "Amount"),
        (6, "Count"),
        (7, None),
        (10, None),
    ]
    assert read.bad_rows[1].raw == "2016-10-25,P3,1,x,1,y"  # the values, quotes taken off


@pytest.mark.parametrize(
    "body",
    [
        '2016-10-23,P"1,1,1,1,x\n',  # a stray quote: pyarrow's rule, not ours
        '2016-10-23,"P1,1,1,1,x\n',  # a quote never closed
        '2016-10-23,"P\r\n1",1,1,1,x\r\n',  # \r\n inside a value
    ],
)
def test_quoted_text_spark_cannot_read_exactly_is_left_to_pyarrow(spark, tmp_path, body):
    path = tmp_path / "file.csv"
    path.write_bytes((QUOTED_HEADER + body).encode())
    with open(path, "rb") as opened:
        compressed, head = read_head(opened)
    with pytest.raises(NativeReadError):
        read_on_cluster(spark, f"file://{path}", "file.csv", QUOTED, compressed, head)


def _csv(header: list[str], rows: list[list[str]], gzipped: bool, utf16: bool = False) -> bytes:
    from tally.sources.csvtools import write_csv

    data = write_csv(
        header, rows, encoding="utf-16" if utf16 else "utf-8", line_end="\r\n" if utf16 else "\n"
    )
    return gzip.compress(data, mtime=0) if gzipped else data


MOMENT = "2016-10-01T10:00:00+08:00"
STATUS_EXPORT = (
    "\n".join(
        [
            "user_id,subscription_id,country,platform,plan_code,product_id,channel,"
            "channel_sector,status,payment_status,start_time,current_period_start,expiry_time,"
            "auto_renew",
            f'U1,S1,HK,iOS IAP,M1,p1,App Store,"Sector, A",active,paying,{MOMENT},{MOMENT},'
            f"{MOMENT},true",
            f"U2,S2,HK,iOS IAP,M1,p1,App Store,A,sleeping,paying,{MOMENT},{MOMENT},{MOMENT},true",
            f"U3,S3,hk,iOS IAP,M1,p1,App Store,A,active,paying,{MOMENT},{MOMENT},{MOMENT},true",
            "U4,S4,SG,iOS IAP,M1,p1,App Store,A,expired,none,2016-10-02T00:00:00.123Z,"
            f"{MOMENT},{MOMENT}, FALSE ",
            "",
            f'U5,S5,SG,Telco,T1,t1,CSL,"two\nlines",active,free_trial,{MOMENT},{MOMENT},'
            f"{MOMENT},yes",
            f"U6,S6,SG,Telco,T1,t1,CSL,A,active,paying,2016-10-01T10:00:00,{MOMENT},{MOMENT},1",
            "U7,S7,SG",
        ]
    )
    + "\n"
)  # lines 3 (status), 4 (country), 9 (no offset), 10 (3 fields) are bad
TRANSACTION_EXPORT = (
    "\n".join(
        [
            "transaction_id,subscription_id,user_id,country,platform,plan_code,product_id,"
            "channel,channel_sector,type,transaction_time,period_start,period_end,amount,"
            "currency,proceeds",
            f"T1,S1,U1,HK,Telco,T1,t1,CSL,A,purchase,{MOMENT},{MOMENT},{MOMENT},48.00,HKD,40.80",
            f"T2,S2,U2,HK,Telco,T1,t1,CSL,A,purchase,{MOMENT},{MOMENT},{MOMENT},abc,HKD,1",
            f'T3,S3,U3,HK,Telco,T1,t1,CSL,A,renewal,{MOMENT},{MOMENT},{MOMENT},"1,000.00",HKD,850',
            f"T4,S4,U4,HK,Telco,T1,t1,CSL,A,gift,{MOMENT},{MOMENT},{MOMENT},1,HKD,1",
        ]
    )
    + "\n"
)  # lines 3 (amount) and 5 (type) are bad


RANGES = [
    {"name": "day", "startDate": "2016-10-23", "endDate": "2016-10-23"},
    {"name": "week", "startDate": "2016-10-17", "endDate": "2016-10-23"},
]
HEADERS = {
    "dimensionHeaders": [{"name": "countryId"}, {"name": "dateRange"}],
    "metricHeaders": [{"name": "totalUsers"}, {"name": "eventCount"}],
}


def _ga_row(country: str, period: str, *values: str) -> dict:
    return {
        "dimensionValues": [{"value": country}, {"value": period}],
        "metricValues": [{"value": value} for value in values],
    }


def _ga_line(series: str, *rows: dict) -> str:
    import json

    report = {"series": series, "request": {"dateRanges": RANGES}}
    return json.dumps({**report, "response": {**HEADERS, "rows": list(rows)}})


GA_EXPORT = (
    "\n".join(
        [
            _ga_line("web-uv", _ga_row("HK", "day", "10", "3"), _ga_row("SG", "week", "25.5", "7")),
            _ga_line("web-vv", _ga_row("HK", "day", "x")),  # another series: not read
            "not json {",  # 3: not JSON
            "",
            _ga_line("web-uv", _ga_row("HK", "month", "1")),  # 5: no such date range
            "[1, 2]",  # 6: not an object
        ]
    )
    + "\n"
)


def _quoted_reports() -> dict[str, tuple[str, bytes]]:
    """A small file of each quoted dataset, each with bad rows: dataset key → (name, bytes)."""
    from tally.sources import google_drive, google_play, viu_cms, viu_premium

    package, amount = google_play.DEMO_PACKAGE, "1,000.00"
    sale = ["GPA.1", "2016-10-23", "1477180800", "Charged", "Pixel", "Monthly", package]
    sale += ["subscription", "plan.m", "HKD", amount, "0.00", amount, "", "", "", "HK", "m", ""]
    return {
        "google-play/subscription-statistics": (
            google_play.statistics_file(package, DAY),
            _csv(
                [c.header for c in google_play.STATISTICS_COLUMNS],
                [
                    ["2016-10-22", package, "plan.m", "HK", "1", "0", "10"],
                    ["2016-10-23", package, "plan.m", "HK", "x", "0", "11"],  # 3: not an int
                    ["2016-10-23", package, "plan, yearly", "SG", "2", "1", "12"],
                ],
                gzipped=False,
                utf16=True,
            ),
        ),
        "google-play/subscription-sales": (
            google_play.sales_file(DAY),
            _csv(
                [c.header for c in google_play.SALES_COLUMNS],
                [sale, sale[:12] + ["abc"] + sale[13:], [*sale[:9], "", *sale[10:]]],
                gzipped=False,
            ),  # 3: Charged Amount no number; 4: no Currency
        ),
        "viu-cms/cms-episode": (
            viu_cms.export_file(DAY),
            _csv(
                [c.name for c in viu_cms.EPISODE_COLUMNS],
                [
                    ["1", "Title, with comma", "11", "1", "One\nTwo", "HK", "", "", "2016-10-20"],
                    ["S2", "T", "12", "1", "E", "HK", "", "", "2016-10-20"],  # 4: series_id
                    ["3", "T", "13", "2", "E", "SG", "2016-10-01", "2017-10-01", "2016-10-21"],
                ],
                gzipped=True,
            ),
        ),
        "viu-premium/subscriber-status": (
            "viu-premium-20161023.csv.gz",
            gzip.compress(STATUS_EXPORT.encode(), mtime=0),
        ),
        "viu-premium/transactions": (
            viu_premium.transaction_file(DAY, "csl"),
            gzip.compress(TRANSACTION_EXPORT.encode(), mtime=0),
        ),
        "google-analytics/web-uv": ("third-party-data.gz", gzip.compress(GA_EXPORT.encode())),
        "google-drive/iap-plan-map": (
            "iap-plan-map-2016-10-23.csv.gz",
            _csv(  # no Apple ID, no Channel Sector column: both NULL
                ["Product ID", "Plan Name", "Plan Code", "Platform", "Channel"],
                [["p1", "Monthly", "M1", "iOS", "App Store"], ["p2", "Yearly", "", "iOS", "x"]],
                gzipped=True,
            ),  # 3: no Plan Code
        ),
        "google-drive/ad-unit-id-mapping": (
            "ad-unit-id-mapping-2016-10-23.csv.gz",
            _csv(
                ["Ad Unit ID", "Ad Unit Name", "Platform", "Position", "Country"],
                [["217", "hk preroll", "iOS", "Pre-roll", "HK"], ["", "x", "iOS", "Top", "SG"]],
                gzipped=True,
            ),  # 3: no Ad Unit ID
        ),
        "google-drive/telco-performance": (
            "telco-performance-2016-10-23.csv.gz",
            _csv(
                [c.header for c in google_drive.TELCO_COLUMNS],
                [
                    ["2016-10-23", "HK", "CSL", "T1", "1", "0", "5", "1,200.50", "HKD"],
                    ["2016-10-23", "HK", "CSL", "T1", "1", "0", "five", "1", "HKD"],
                ],
                gzipped=True,
            ),  # 3: Active Subscriptions no number
        ),
        "google-drive/exchange-rates": (
            "exchange-rates-2016-10-23.csv.gz",
            _csv(
                ["Date", "Currency", "Per USD"],
                [
                    ["2016-10-23", "USD", "1"],
                    ["2016-10-23", "hkd", "7.8"],  # 3: not an ISO code
                    ["2016-10-23", "SGD", "0"],  # 4: not a positive rate
                    ["2016-10-23", "SGD", "x"],  # 5: not a float
                    ["2016-10-23", "HKD", "7.75"],
                ],
                gzipped=True,
            ),
        ),
    }


@pytest.fixture(scope="module")
def quoted_loads(tmp_path_factory):
    """Every quoted dataset's file loaded by a Spark warehouse (read on the cluster) and by
    a DuckDB one (pyarrow): dataset key → [(outcome, columns, staged, quarantined)] × 2."""
    from tests.warehouse.spark_cluster import warehouse_url

    import tally.pipeline.load as loading
    from tally.config import load_settings

    tmp_path = tmp_path_factory.mktemp("quoted")
    settings = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path / "data")})
    settings.quarantine_threshold = 0.8
    reports = _quoted_reports()
    found: dict[str, list] = {key: [] for key in reports}
    parsed_in_python: list[str] = []  # the keys of the files the load parsed in Python
    parse = loading._parse

    def spied(*given):
        parsed_in_python.append(given[2])
        return parse(*given)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(loading, "_parse", spied)
        for url in (warehouse_url(tmp_path / "spark"), f"duckdb:///{tmp_path}/duck.duckdb"):
            _load_quoted(url, tmp_path, settings, reports, found, parsed_in_python)
    return found


def _load_quoted(url, tmp_path, settings, reports, found, parsed_in_python) -> None:
    """Load each report into the warehouse at ``url``; what it did added to ``found``."""
    import tally.pipeline.load as loading

    store = connect(url)
    store.migrate()
    lake = Lake(str(tmp_path / "lake"))
    context = Context(settings, store, lake)
    for key, (name, data) in reports.items():
        source, name_of_set = key.split("/")
        dataset = get_dataset(source, name_of_set)
        path = tmp_path / name
        path.write_bytes(data)
        ingest(context, dataset, DAY, [path])
        assert loading.reads_on_cluster(context, dataset) == url.startswith("spark")
        parsed_in_python.clear()
        outcome = loading.load(context, dataset, DAY)
        # on Spark every file is read on the cluster: none parsed in Python
        assert bool(parsed_in_python) != url.startswith("spark")
        columns = [c for c in store.columns(dataset.staging_table) if c != "_loaded_at"]
        staged = store.rows(
            f"SELECT {', '.join(columns)} FROM {dataset.staging_table} ORDER BY _file, _line"
        )
        quarantined = store.rows(
            "SELECT source, dataset, partition_date, file, line, field, reason, raw "
            "FROM tally_meta.quarantine WHERE source = ? AND dataset = ? ORDER BY file, line",
            [dataset.source, dataset.name],
        )
        found[key].append((outcome, columns, staged, quarantined))
    store.close()


@pytest.mark.parametrize(
    ("key", "good", "bad"),
    [
        ("google-play/subscription-statistics", 2, [(3, "New Subscriptions")]),
        ("google-play/subscription-sales", 1, [(3, "Charged Amount"), (4, "Currency of Sale")]),
        ("viu-cms/cms-episode", 2, [(3, "series_id")]),
        ("google-drive/iap-plan-map", 1, [(3, "Plan Code")]),
        ("google-drive/ad-unit-id-mapping", 1, [(3, "Ad Unit ID")]),
        ("google-drive/telco-performance", 1, [(3, "Active Subscriptions")]),
        (
            "viu-premium/subscriber-status",
            3,
            [(3, "status"), (4, "country"), (9, "start_time"), (10, None)],
        ),
        ("viu-premium/transactions", 2, [(3, "amount"), (5, "type")]),
        ("google-analytics/web-uv", 4, [(3, None), (5, "dateRange"), (6, None)]),
        ("google-drive/exchange-rates", 2, [(3, "Currency"), (4, "Per USD"), (5, "Per USD")]),
    ],
)
def test_a_quoted_dataset_loads_on_spark_as_on_duckdb(quoted_loads, key, good, bad):
    (spark, spark_columns, spark_staged, spark_quarantine), duck = quoted_loads[key]
    assert (spark.rows, spark.rows_read, spark.bad_rows) == (
        good,
        good + len(bad),
        duck[0].bad_rows,
    )
    assert sorted(spark_columns) == sorted(duck[1])
    # GA's rows share their line: compared in one order
    assert sorted(_by_name(spark_columns, spark_staged), key=repr) == sorted(
        _by_name(duck[1], duck[2]), key=repr
    )
    assert spark_quarantine == duck[3]
    assert [row[4:6] for row in spark_quarantine] == bad
