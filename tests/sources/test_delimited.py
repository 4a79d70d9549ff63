"""The shared delimited reader: typed columns, every bad row named, good rows kept."""

import datetime as dt

import pytest

from tally.errors import BadInputError
from tally.sources.delimited import MAX_LINE_BYTES, Column, read_delimited

COLUMNS = (
    Column("Day", "day", "date", required=True),
    Column("Plan", "plan", "text", aliases=("Plan Code",)),
    Column("Amount", "amount", "amount"),
    Column("Count", "count", "int"),
)


def parse(text):
    return read_delimited(text.encode(), "file.csv", COLUMNS)


def test_types_aliases_and_thousands_separators():
    parsed = parse('Day,plan code,Amount,Count\n2016-10-23,P1,"1,000.50",3\n1/25/2017,P2,7,\n')
    # the file is not quoted-CSV aware unless asked: "1,000.50" splits; read it quoted instead
    assert parsed.bad_rows[0].line == 2
    quoted = read_delimited(
        b'Day,plan code,Amount,Count\n2016-10-23,P1,"1,000.50",3\n1/25/2017,P2,7,\n',
        "file.csv",
        COLUMNS,
        quoted=True,
    )
    assert quoted.bad_rows == []
    assert quoted.table.to_pylist() == [
        {"day": dt.date(2016, 10, 23), "plan": "P1", "amount": 1000.5, "count": 3, "_line": 2},
        {"day": dt.date(2017, 1, 25), "plan": "P2", "amount": 7.0, "count": None, "_line": 3},
    ]


def test_impossible_dates_are_bad_rows_not_shifted():
    parsed = parse(
        "Day,Plan,Amount,Count\n2016-02-30,P1,1,1\n2016-02-29,P1,1,1\n02/31/2017,P,1,1\n"
    )
    assert [(b.line, b.field) for b in parsed.bad_rows] == [(2, "Day"), (4, "Day")]
    assert parsed.table.column("day").to_pylist() == [dt.date(2016, 2, 29)]


def test_blank_lines_are_neither_rows_nor_errors():
    parsed = parse("Day,Plan,Amount,Count\n2016-10-23,P1,1,1\n\n2016-10-24,P1,2,2\n")
    assert parsed.bad_rows == [] and parsed.rows_read == 2
    assert parsed.table.column("_line").to_pylist() == [2, 4]


def test_required_value_missing_and_unknown_header_kept():
    parsed = parse("Day,Plan,Amount,Count,Region\n,P1,1,1,North\n2016-10-23,P1,1,1,South\n")
    assert [(b.line, b.field, b.reason) for b in parsed.bad_rows] == [(2, "Day", "missing value")]
    assert parsed.unknown_columns == ["Region"]
    assert parsed.table.column("x_region").to_pylist() == ["South"]


def test_header_only_and_empty_files():
    assert parse("Day,Plan,Amount,Count\n").table.num_rows == 0
    with pytest.raises(BadInputError, match="empty"):
        parse("")


# -- hostile input (issue 24): a bad line costs that row, never the file -------------------


def test_an_invalid_byte_quarantines_its_row_and_the_rest_land():
    data = b"Day,Plan,Amount,Count\n2016-10-23,P1,1,1\n2016-10-23,P\xff2,2,2\n2016-10-24,P3,3,3\n"
    parsed = read_delimited(data, "file.csv", COLUMNS)
    assert [row["plan"] for row in parsed.table.to_pylist()] == ["P1", "P3"]
    assert [(b.line, b.reason) for b in parsed.bad_rows] == [
        (3, "not valid UTF-8 (invalid start byte at byte 12 of the line)")
    ]
    assert parsed.rows_read == 3


def test_an_out_of_range_integer_quarantines_its_row():
    fifty = "9" * 50
    parsed = parse(
        f"Day,Plan,Amount,Count\n2016-10-23,P1,1,{fifty}\n2016-10-23,P2,1,9223372036854775807\n"
        "2016-10-23,P3,1,-9223372036854775809\n"
    )
    # 2**63 - 1 is the largest 64-bit integer: it lands; one below -2**63 does not
    assert [row["count"] for row in parsed.table.to_pylist()] == [9223372036854775807]
    assert [(b.line, b.field) for b in parsed.bad_rows] == [(2, "Count"), (4, "Count")]
    assert parsed.bad_rows[0].reason.startswith("out of range for a 64-bit integer: '9999")


def test_a_line_over_the_limit_quarantines_its_row():
    long = "x" * (MAX_LINE_BYTES + 1)
    parsed = parse(f"Day,Plan,Amount,Count\n2016-10-23,{long},1,1\n2016-10-24,P2,2,2\n")
    assert [row["plan"] for row in parsed.table.to_pylist()] == ["P2"]
    assert [(b.line, b.reason) for b in parsed.bad_rows] == [
        # "2016-10-23," + the long value + ",1,1": 15 bytes more
        (2, f"line of {MAX_LINE_BYTES + 16:,} bytes, over the limit of {MAX_LINE_BYTES:,}")
    ]


def test_a_utf16_file_is_read_as_utf16_not_as_garbage():
    text = "Day,Plan,Amount,Count\n2016-10-23,Pläne,1,1\n"
    utf8 = read_delimited(text.encode(), "file.csv", COLUMNS)
    for encoded in (b"\xff\xfe" + text.encode("utf-16-le"), text.encode("utf-16-le")):
        parsed = read_delimited(encoded, "file.csv", COLUMNS)
        assert parsed.table.to_pylist() == utf8.table.to_pylist()
    with pytest.raises(BadInputError, match="not valid UTF-16-LE"):  # odd length: refused
        read_delimited(b"\xff\xfe" + text.encode("utf-16-le") + b"x", "file.csv", COLUMNS)


def test_a_quote_left_open_is_one_bad_row_to_the_end_of_the_file():
    data = b'Day,Plan,Amount,Count\n2016-10-23,"P1,1,1\n' + b"2016-10-24,P2,2,2\n" * 3
    parsed = read_delimited(data, "file.csv", COLUMNS, quoted=True)
    # nothing says where the quoted field ends: the rest of the file is its text
    assert parsed.table.num_rows == 0
    assert [(b.line, b.reason) for b in parsed.bad_rows] == [(2, "expected 4 fields, found 2")]


def test_a_float_past_a_doubles_range_quarantines_its_row():
    parsed = parse("Day,Plan,Amount,Count\n2016-10-23,P1,1e999,1\n2016-10-23,P2,-1e999,1\n")
    assert parsed.table.num_rows == 0  # infinity would poison every sum it joins
    assert [b.reason for b in parsed.bad_rows] == [
        "out of range for a 64-bit float: '1e999'",
        "out of range for a 64-bit float: '-1e999'",
    ]
