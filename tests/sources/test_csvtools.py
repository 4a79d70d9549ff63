"""Encoding detection and the writers the demo files are made with."""

from __future__ import annotations

import codecs

import pytest

from tally.errors import BadInputError
from tally.sources.csvtools import detect_encoding, rows_of, to_utf8, write_csv

TEXT = "Date,Country\n2016-10-23,HK\n"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16-le-bom"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16-be-bom"),
        (TEXT.encode("utf-16-le"), "utf-16-le"),  # no BOM: the NULs give it away
        (codecs.BOM_UTF8 + TEXT.encode(), "utf-8-sig"),
        (TEXT.encode(), "utf-8"),
    ],
)
def test_every_encoding_google_uses_reads_to_the_same_utf8(data: bytes, expected: str) -> None:
    assert detect_encoding(data) == expected
    assert to_utf8(data, "f.csv") == TEXT.encode()


def test_broken_utf16_names_the_line() -> None:
    good = codecs.BOM_UTF16_LE + "a,b\nc,d\n".encode("utf-16-le")
    broken = good + "\ud800".encode("utf-16-le", "surrogatepass") + "e,f\n".encode("utf-16-le")
    with pytest.raises(BadInputError, match=r"f.csv, line 3: not valid UTF-16-LE"):
        to_utf8(broken, "f.csv")


def test_utf16_writer_puts_a_bom_and_reads_back() -> None:
    data = write_csv(
        ["Amount", "Note"],
        [["1,288.00", "quoted, because of the comma"]],
        encoding="utf-16",
        line_end="\r\n",
    )
    assert data.startswith(codecs.BOM_UTF16_LE)
    assert rows_of(data, "f.csv") == (
        ["Amount", "Note"],
        [["1,288.00", "quoted, because of the comma"]],
    )


def test_tab_separated_output_is_not_quoted() -> None:
    assert write_csv(["A", "B"], [['say "hi"', "x"]], delimiter="\t") == b'A\tB\nsay "hi"\tx\n'


def test_an_empty_file_has_no_header() -> None:
    with pytest.raises(BadInputError, match="empty file"):
        rows_of(b"", "f.csv")
