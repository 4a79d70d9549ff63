"""The figures digest: equal for the same figures, different for any other, read back from
the workbook that carries it."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa
import pytest
import xlsxwriter

from tally.reports.fingerprint import PROPERTY, canonical, figures, of_bytes, stored
from tally.reports.summary import Line

ROWS = pa.table({"type": ["Churn", "Churn"], "value": [1.0, 2.0]})


def test_same_figures_same_digest_whatever_the_last_bits_of_a_sum() -> None:
    # 0.1 + 0.2 is 0.30000000000000004: a sum added in another order; no cell shows it
    line = Line("iOS IAP", None, (0.1 + 0.2, None))
    assert figures(ROWS, line) == figures(ROWS, Line("iOS IAP", None, (0.3, None)))
    assert canonical(0.1 + 0.2) == "0.3"


@pytest.mark.parametrize(
    "other",
    [
        (pa.table({"type": ["Churn", "Churn"], "value": [1.0, 2.5]}), Line("iOS IAP", None, (3,))),
        (ROWS, Line("iOS IAP", None, (4,))),
        (ROWS, Line("Android IAP", None, (3,))),
        (ROWS, Line("iOS IAP", None, (3,), partial=True)),
    ],
)
def test_any_other_figure_changes_the_digest(other) -> None:
    assert figures(*other) != figures(ROWS, Line("iOS IAP", None, (3,)))


def test_dates_decimals_and_mappings_are_canonical() -> None:
    assert (
        canonical({"b": 1, "a": dt.date(2017, 1, 2)}) == "{'a': datetime.date(2017, 1, 2), 'b': 1}"
    )
    assert canonical(decimal.Decimal("2.50")) == canonical(2.5) == "2.5"
    assert canonical(object()) != canonical(object())  # unknown: never taken as unchanged


def test_the_digest_is_read_back_from_the_workbook(tmp_path) -> None:
    digest = figures(ROWS)
    path = tmp_path / "book.xlsx"
    book = xlsxwriter.Workbook(str(path))
    book.set_custom_property(PROPERTY, digest)
    book.add_worksheet().write("A1", 1)
    book.close()
    assert stored(path.read_bytes()) == digest
    plain = tmp_path / "plain.xlsx"
    other = xlsxwriter.Workbook(str(plain))
    other.add_worksheet()
    other.close()
    assert stored(plain.read_bytes()) is None
    assert stored(b"not a zip") is None
    assert of_bytes(b"a") != of_bytes(b"b")
