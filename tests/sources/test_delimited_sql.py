"""DuckDB reads delimited files in place with exactly the pyarrow reader's result.

Each case reads the same bytes both ways: ``read_delimited`` (the reference) and
``stage_delimited`` inside DuckDB. The typed rows, their line numbers, the bad rows (file,
line, field, reason, raw text), the count of rows read and the unknown headers must match.
"""

import gzip
from pathlib import Path

import pytest

from tally.errors import BadInputError
from tally.sources.delimited import Column, Layout, read_delimited
from tally.sources.delimited_sql import (
    NativeReadError,
    can_stage,
    read_lines,
    split_work,
    stage_delimited,
)
from tally.sources.itunes import EVENT_COLUMNS
from tally.warehouse import connect

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"
COLUMNS = (
    Column("Day", "day", "date", required=True),
    Column("Plan", "plan", "text", aliases=("Plan Code",)),
    Column("Amount", "amount", "amount"),
    Column("Count", "count", "int"),
    Column("Ratio", "ratio", "float"),
)
HEADER = "Day\tplan code\tAmount\tCount\tRatio\tRegion\n"


@pytest.fixture
def store():
    """An in-memory DuckDB warehouse, held open (its temporary tables live as long)."""
    warehouse = connect("duckdb:///:memory:")
    with warehouse.session():
        yield warehouse
    warehouse.close()


def both(store, tmp_path, data: bytes, layout: Layout, name="file.txt"):
    """The reference Parsed and the staged result (with its rows) for the same bytes."""
    path = tmp_path / name
    path.write_bytes(data)
    plain = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    reference = read_delimited(plain, name, layout.columns, layout.delimiter)
    staged = stage_delimited(store, str(path), name, layout, "staged")
    rows = store.query(f"{staged.select()} ORDER BY _line")
    return reference, staged, rows


def assert_same(reference, staged, rows):
    assert rows.schema.names == reference.table.schema.names
    assert rows.cast(reference.table.schema).to_pylist() == reference.table.to_pylist()
    assert staged.bad_rows == reference.bad_rows
    assert staged.rows_read == reference.rows_read
    assert staged.unknown_columns == reference.unknown_columns


@pytest.mark.parametrize(
    "name", ["itunes_subscription_event_bad.txt", "itunes_subscription_event_small.txt"]
)
@pytest.mark.parametrize("gzipped", [False, True])
def test_apple_fixtures_read_the_same(store, tmp_path, name, gzipped):
    data = (FIXTURES / name).read_bytes()
    data = gzip.compress(data, mtime=0) if gzipped else data
    reference, staged, rows = both(store, tmp_path, data, Layout(EVENT_COLUMNS, "\t"))
    assert_same(reference, staged, rows)
    if name.endswith("_bad.txt"):
        # the fixture's bad lines: an impossible date, a short row, a non-numeric quantity
        assert [(b.line, b.field) for b in staged.bad_rows] == [
            (3, "Event Date"),
            (4, None),
            (5, "Quantity"),
        ]
        assert staged.bad_rows[1].reason == "expected 29 fields, found 5"


def test_every_rule_of_the_reader_holds_in_sql(store, tmp_path):
    lines = [
        "2016-10-23\tP1\t1,000.50\t3\t0.5\tNorth",  # 2: good, thousands separator
        "",  # 3: blank line: neither a row nor an error
        "1/25/2017\t P2 \t7\t007\t1e3\t",  # 4: US date, trimmed text, leading zeros
        "2016-02-30\tP1\t1\t1\t1\tx",  # 5: impossible date
        "02/31/2017\tP1\t1\t1\t1\tx",  # 6: impossible US date
        "2016-10-23\tP1\t1\t1.5\t1\tx",  # 7: DuckDB would round 1.5; tally refuses it
        "2016-10-23\tP1\t1\t+1\t1\tx",  # 8: a sign DuckDB accepts and tally does not
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
    ]
    data = (HEADER + "\n".join(lines) + "\n").encode()
    reference, staged, rows = both(store, tmp_path, data, Layout(COLUMNS, "\t"))
    assert_same(reference, staged, rows)
    # the expectations, worked out by hand from the lines above
    assert rows.column("_line").to_pylist() == [2, 4, 14, 17, 18]
    assert [(b.line, b.field) for b in staged.bad_rows] == [
        (5, "Day"),
        (6, "Day"),
        (7, "Count"),
        (8, "Count"),
        (9, "Day"),
        (10, None),
        (11, None),
        (15, "Amount"),
        (16, "Ratio"),
    ]
    assert staged.bad_rows[2].reason == "not a int: '1.5'"
    assert staged.bad_rows[4].reason == "missing value"
    assert staged.rows_read == 14  # 17 lines less the blank, whitespace and delimiter lines


def test_lines_checked_as_inserted_then_refused_match_the_reader(store, tmp_path):
    # the load's way: the good rows go straight from the numbered lines into a table, and
    # only the lines that did not land are checked again, to say why
    data = (HEADER + "2016-10-23\tP1\t1\t1\t1\tx\n\n2016-10-23\tP1\t1\t1.5\t1\tx\n").encode()
    data += b"\t\t\t\t\t\n2016-1-5\tP4\t\t\t\t\n2016-10-23\tP1\n"
    path = tmp_path / "file.txt"
    path.write_bytes(data)
    reference = read_delimited(data, "file.txt", COLUMNS, "\t")
    lines = read_lines(store, str(path), "file.txt", Layout(COLUMNS, "\t"), "lines")
    assert lines.rows == 6  # every line after the header, the blank ones too
    store.execute(f"CREATE TEMP TABLE landed AS {split_work(lines.select(), 2)}")
    rows = store.query("SELECT * FROM landed ORDER BY _line")
    assert rows.cast(reference.table.schema).to_pylist() == reference.table.to_pylist()
    assert rows.column("_line").to_pylist() == [2, 6]
    missing = "_line IN (SELECT _line FROM lines WHERE _line > 1 EXCEPT SELECT _line FROM landed)"
    bad_rows, blank = lines.refused(store, missing)
    assert bad_rows == reference.bad_rows
    assert [(b.line, b.field) for b in bad_rows] == [(4, "Count"), (7, None)]
    assert blank == 2  # line 3 (empty) and line 5 (only delimiters)
    assert lines.rows - blank == reference.rows_read == 4


def test_windows_line_endings_and_a_byte_order_mark(store, tmp_path):
    text = "\ufeff" + HEADER + "2016-10-23\tP1\t1\t2\t3\tx\n2016-10-24\tP2\t1\tx\t3\ty\n"
    data = text.replace("\n", "\r\n").encode()
    reference, staged, rows = both(store, tmp_path, data, Layout(COLUMNS, "\t"))
    assert_same(reference, staged, rows)
    assert rows.column("plan").to_pylist() == ["P1"]
    assert staged.bad_rows[0].raw == "2016-10-24\tP2\t1\tx\t3\ty"  # no \r kept


def test_header_only_file_is_empty_not_bad(store, tmp_path):
    reference, staged, rows = both(store, tmp_path, HEADER.encode(), Layout(COLUMNS, "\t"))
    assert_same(reference, staged, rows)
    assert rows.num_rows == 0 and staged.rows_read == 0


def test_missing_required_header_fails_the_file_the_same_way(store, tmp_path):
    path = tmp_path / "file.txt"
    path.write_bytes(b"Plan\tAmount\nP1\t1\n")
    with pytest.raises(BadInputError) as native:
        stage_delimited(store, str(path), "file.txt", Layout(COLUMNS, "\t"), "staged")
    with pytest.raises(BadInputError) as reference:
        read_delimited(path.read_bytes(), "file.txt", COLUMNS, "\t")
    assert str(native.value) == str(reference.value)
    assert "required column 'Day' is missing" in str(native.value)


@pytest.mark.parametrize(
    "body",
    [
        b"2016-10-23\tP1\t1\t\xff\t1\tx\n",  # not UTF-8
        b"2016-10-23\tP1\x00\t1\t1\t1\tx\n",  # a NUL byte
        b"2016-10-23\tP1\t1\t1\t1\tx\r\n2016-10-23\tP1\t1\t1\t1\tx\n",  # mixed line endings
    ],
)
def test_what_duckdb_cannot_read_is_left_to_pyarrow(store, tmp_path, body):
    path = tmp_path / "file.txt"
    path.write_bytes(HEADER.encode() + body)
    with pytest.raises(NativeReadError):
        stage_delimited(store, str(path), "file.txt", Layout(COLUMNS, "\t"), "staged")
    # and the staging tables are gone, so the load can go on with the next file
    temporary = store.rows("SELECT count(*) FROM duckdb_tables() WHERE temporary")
    assert temporary == [(0,)]


def test_only_unquoted_single_character_layouts_are_read_in_place():
    assert can_stage(Layout(COLUMNS, "\t"))
    assert not can_stage(Layout(COLUMNS, ",", quoted=True))
    assert not can_stage(Layout(COLUMNS, "||"))


def test_out_of_range_numbers_are_refused_alike(store, tmp_path):
    lines = [
        "2016-10-23\tP1\t1\t" + "9" * 50 + "\t1\tx",  # 2: past 64 bits
        "2016-10-23\tP1\t1\t9223372036854775807\t1\tx",  # 3: 2**63 - 1, the largest: kept
        "2016-10-23\tP1\t1\t-9223372036854775809\t1\tx",  # 4: -2**63 - 1: past 64 bits
        "2016-10-23\tP1\t1e999\t1\t1\tx",  # 5: amount past a double: infinity
        "2016-10-23\tP1\t1\t1\t-1e999\tx",  # 6: float past a double
    ]
    data = (HEADER + "\n".join(lines) + "\n").encode()
    reference, staged, rows = both(store, tmp_path, data, Layout(COLUMNS, "\t"))
    assert_same(reference, staged, rows)
    assert rows.column("_line").to_pylist() == [3]
    assert [(b.line, b.field, b.reason[:34]) for b in staged.bad_rows] == [
        (2, "Count", "out of range for a 64-bit integer:"),
        (4, "Count", "out of range for a 64-bit integer:"),
        (5, "Amount", "out of range for a 64-bit float: '"),
        (6, "Ratio", "out of range for a 64-bit float: '"),
    ]
