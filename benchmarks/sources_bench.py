"""Parse + load throughput of two source formats, each beside DuckDB reading the same file.

Formats: the Google Play estimated sales report (quoted CSV, "1,288.00" amounts) and the
App Store Subscription report (gzip'd TSV, 32 columns). For each, one generated file is
landed in the lake; tally's load (read from the lake, detect the encoding, parse and
validate every value, replace the partition in DuckDB) is timed against DuckDB's own
``read_csv`` of the same file into a table, in the same run.

Usage: python benchmarks/sources_bench.py [--rows 500000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import platform
import tempfile
import time
from collections.abc import Callable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from hygiene import LoadWatch, scalar

from tally.config import load_settings
from tally.pipeline.context import open_context
from tally.pipeline.ingest import dataset_key, land
from tally.pipeline.load import load
from tally.sources import Dataset, get_dataset
from tally.sources.google_play import SALES_COLUMNS
from tally.sources.itunes_subscription import SUBSCRIPTION_COLUMNS

DAY = dt.date(2016, 10, 23)


def _csv(columns: dict[str, pa.Array], delimiter: str, quoting: str) -> bytes:
    buffer = pa.BufferOutputStream()
    options = pacsv.WriteOptions(delimiter=delimiter, quoting_style=quoting, include_header=False)
    pacsv.write_csv(pa.table(columns), buffer, options)
    header = delimiter.join(columns).encode() + b"\n"
    body: bytes = buffer.getvalue().to_pybytes()
    return header + body


def sales_report(rows: int, rng: np.random.Generator) -> bytes:
    """A day of Google Play sales: amounts with thousands separators, quoted as Google does."""
    columns: dict[str, pa.Array] = {}
    amounts = np.char.mod("%.2f", rng.uniform(1, 2500, rows))
    with_commas = pa.array([f"{float(a):,.2f}" for a in amounts])
    for column in SALES_COLUMNS:
        if column.kind == "date":
            values = pa.array([DAY.isoformat()] * rows)
        elif column.kind == "amount":
            values = with_commas
        elif column.kind == "int":
            values = pa.array(rng.integers(1_477_000_000, 1_477_086_400, rows).astype(str))
        elif column.name == "order_number":
            values = pa.array(np.char.add("GPA.3312-0001-", np.arange(rows).astype(str)))
        else:
            values = pa.array(["tally_video_monthly"] * rows)
        columns[column.header] = values
    return _csv(columns, ",", "needed")


def subscription_report(rows: int, rng: np.random.Generator) -> bytes:
    """A gzip'd App Store Subscription report (Apple's TSV, no quoting)."""
    columns: dict[str, pa.Array] = {}
    for column in SUBSCRIPTION_COLUMNS:
        if column.kind == "int":
            values = pa.array(rng.integers(0, 5000, rows).astype(str))
        elif column.kind == "amount":
            values = pa.array(np.char.mod("%.2f", rng.uniform(1, 200, rows)))
        elif column.name == "country":
            values = pa.array(np.array(["HK", "SG"])[rng.integers(0, 2, rows)])
        else:
            values = pa.array(["Premium Monthly"] * rows)
        columns[column.header] = values
    return gzip.compress(_csv(columns, "\t", "none"), compresslevel=1, mtime=0)


def measure(
    folder: str, dataset: Dataset, data: bytes, rows: int, duckdb_read: str
) -> tuple[float, float]:
    """Seconds for tally's load and for DuckDB's read of the same landed file."""
    settings = load_settings(environ={"TALLY_DATA_DIR": f"{folder}/{dataset.name}"})
    context = open_context(settings)
    name = dataset.file_names(DAY, settings)[0]
    land(context, dataset, DAY, {name: data})
    started = time.perf_counter()
    load(context, dataset, DAY)
    load_seconds = time.perf_counter() - started
    loaded = context.warehouse.rows(f"SELECT count(*) FROM {dataset.staging_table}")[0][0]
    assert loaded == rows, (loaded, rows)
    context.warehouse.close()
    path = context.lake.path(dataset_key(dataset, DAY, name))
    connection = duckdb.connect()
    started = time.perf_counter()
    connection.execute(f"CREATE TABLE plain AS SELECT * FROM {duckdb_read}", [path])
    read_seconds = time.perf_counter() - started
    assert scalar(connection, "SELECT count(*) FROM plain") == rows
    return load_seconds, read_seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    cases: list[tuple[str, str, Callable[[int, np.random.Generator], bytes], str]] = [
        (
            "google-play",
            "subscription-sales",
            sales_report,
            "read_csv(?, header=true, quote='\"', all_varchar=false)",
        ),
        (
            "itunes",
            "active-subscription",
            subscription_report,
            "read_csv(?, delim='\t', header=true, quote='')",
        ),
    ]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, duckdb {duckdb.__version__}"
    )
    with tempfile.TemporaryDirectory() as folder:
        for source, name, generate, read in cases:
            data = generate(args.rows, rng)
            load_seconds, read_seconds = measure(
                folder, get_dataset(source, name), data, args.rows, read
            )
            print(f"{source}/{name}: {args.rows:,} rows, {len(data) / 1e6:.1f} MB")
            print(
                f"  tally load (parse+validate+load): {load_seconds:6.2f} s = "
                f"{args.rows / load_seconds:,.0f} rows/s"
            )
            print(
                f"  duckdb read_csv into a table:     {read_seconds:6.2f} s = "
                f"{args.rows / read_seconds:,.0f} rows/s"
            )
            print(f"  ratio load/read: {load_seconds / read_seconds:.2f}")


if __name__ == "__main__":
    watch = LoadWatch()  # load average before, after and its peak (issue 27)
    main()
    watch.finish()
