"""The report's rows as CSV or Parquet, for BI tools that do not read Excel."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as csv
import pyarrow.parquet as parquet

from tally.reports.fact import HEADERS


def write_csv(path: Path, rows: pa.Table) -> int:
    """CSV with the workbook's headers (Type, Resolution Type, ...), dates as ISO text."""
    csv.write_csv(rows.rename_columns(list(HEADERS)), str(path))
    return int(rows.num_rows)


def write_parquet(path: Path, rows: pa.Table) -> int:
    """Parquet with the warehouse's column names and types (``start_date`` a DATE)."""
    parquet.write_table(rows, str(path), compression="zstd")
    return int(rows.num_rows)


# A format besides the workbook: a writer of the report's rows to a local file, which the
# caller publishes (write_subscription_report). A new format is one writer named here.
WRITERS: dict[str, Callable[[Path, pa.Table], int]] = {"csv": write_csv, "parquet": write_parquet}
FORMATS = ("xlsx", *WRITERS)
