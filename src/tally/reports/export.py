"""The report's rows as CSV or Parquet, for BI tools that do not read Excel."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as csv
import pyarrow.parquet as parquet

from tally.reports.fact import HEADERS

FORMATS = ("xlsx", "csv", "parquet")


def write_csv(path: Path, rows: pa.Table) -> int:
    """CSV with the workbook's headers (Type, Resolution Type, ...), dates as ISO text."""
    csv.write_csv(rows.rename_columns(list(HEADERS)), str(path))
    return int(rows.num_rows)


def write_parquet(path: Path, rows: pa.Table) -> int:
    """Parquet with the warehouse's column names and types (``start_date`` a DATE)."""
    parquet.write_table(rows, str(path), compression="zstd")
    return int(rows.num_rows)
