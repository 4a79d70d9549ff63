"""CSV and Parquet copies of the report rows."""

from __future__ import annotations

import datetime as dt

import pyarrow.csv as csv
import pyarrow.parquet as parquet

from tally.reports.export import write_csv, write_parquet
from tally.reports.fact import HEADERS, SCHEMA


def test_csv_has_workbook_headers(fact_rows, tmp_path) -> None:
    path = tmp_path / "rows.csv"
    assert write_csv(path, fact_rows) == fact_rows.num_rows
    first = path.read_text(encoding="utf-8").splitlines()[0]
    assert first == ",".join(f'"{h}"' for h in HEADERS)
    back = csv.read_csv(path)
    assert back.num_rows == fact_rows.num_rows
    assert back["Start Date"][0].as_py() == dt.date(2017, 1, 9)


def test_parquet_keeps_types(fact_rows, tmp_path) -> None:
    path = tmp_path / "rows.parquet"
    write_parquet(path, fact_rows)
    back = parquet.read_table(path)
    assert back.schema.equals(SCHEMA)
    assert back.equals(fact_rows)
