"""Load throughput: 1,000,000 App Store subscription-event rows from the lake, each backend
against its own plainest load of the same files, side by side in one run.

DuckDB: tally's load (parse + validate every value + quarantine with line numbers + replace
the partition), the ten days loaded by ``load_days`` as ``tally backfill`` and the demo do
(side by side, one day per core, each day its own transaction, a thread that is done
taking the next day; ``--one-by-one``: one day after another, as before), against DuckDB's
own ``CREATE TABLE AS SELECT * FROM read_csv(...)`` of the same files into a new database
file (no validation, no line numbers, no quarantine); the target is tally/CTAS <= 1.5.
The run also times DuckDB's ``read_csv`` count, the old floor.
PostgreSQL (unless --no-postgres): tally's load of the same files into a fresh database
against ``COPY ... FROM STDIN`` of the same decompressed files into a table of text columns.

``--waves`` also times, in the same rounds, the side-by-side load in waves of one day a
thread (``load_days(days_a_thread=1)``: every thread waits for the wave's slowest day and
the file is closed between waves), the way of issue 17's fourth session.

With ``--rounds N`` the two DuckDB loads alternate N times (each round in fresh folders) and
the ratios are the medians of the rounds' own ratios: on a shared machine one pair of runs
moves by ±20 %.

Usage: python benchmarks/load_bench.py [--rows 1000000] [--files 10] [--rounds 1]
[--no-postgres] [--one-by-one] [--both] [--waves]
(PostgreSQL: TALLY_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test)
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
from hygiene import LoadWatch, scalar, temporary_folder

from tally.config import load_settings
from tally.pipeline.context import open_context
from tally.pipeline.ingest import land
from tally.pipeline.load import load, load_days
from tally.sources import get_dataset
from tally.sources.itunes import EVENT_COLUMNS
from tally.warehouse import registry

EVENTS = [
    "Renew",
    "Subscribe",
    "Cancel",
    "Start Introductory Offer",
    "Refund",
    "Paid Subscription from Introductory Offer",
    "Reactivate",
]


def report_bytes(rows: int, day: dt.date, seed: int) -> bytes:
    """A gzip'd Subscription Event report of ``rows`` rows, generated vectorised."""
    rng = np.random.default_rng(seed)
    columns: dict[str, pa.Array] = {}
    for column in EVENT_COLUMNS:
        if column.kind == "date":
            values = pa.array([day.isoformat()] * rows)
        elif column.name == "event":
            values = pa.array(np.array(EVENTS)[rng.integers(0, len(EVENTS), rows)])
        elif column.name == "country":
            values = pa.array(np.array(["HK", "SG"])[rng.integers(0, 2, rows)])
        elif column.kind == "int":
            values = pa.array(rng.integers(1, 500, rows).astype(str))
        else:
            values = pa.array(["tally Video"] * rows)
        columns[column.header] = values
    buffer = pa.BufferOutputStream()
    options = pacsv.WriteOptions(delimiter="\t", quoting_style="none", include_header=False)
    pacsv.write_csv(pa.table(columns), buffer, options)
    header = "\t".join(columns).encode() + b"\n"
    return gzip.compress(header + buffer.getvalue().to_pybytes(), compresslevel=1, mtime=0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=1, help="tally load and CTAS, alternating")
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--one-by-one", action="store_true", help="tally loads one day after another"
    )
    parser.add_argument(
        "--both", action="store_true", help="also time tally's load one day after another"
    )
    parser.add_argument(
        "--waves", action="store_true", help="also time tally's load in waves of one day a thread"
    )
    args = parser.parse_args()
    watch = LoadWatch()
    days = [dt.date(2016, 10, 1) + dt.timedelta(days=i) for i in range(args.files)]
    per_file = args.rows // args.files
    reports = [report_bytes(per_file, day, index) for index, day in enumerate(days)]
    total = per_file * len(days)
    rounds: list[tuple[float, float, float, float]] = []  # tally wall, CPU; CTAS wall, CPU
    in_turn: list[tuple[float, float]] = []  # --both: tally one day after another, wall, CPU
    in_waves: list[tuple[float, float]] = []  # --waves: tally in waves, wall, CPU
    postgres = None
    for number in range(args.rounds):
        with temporary_folder("tally-load-bench-") as path:
            folder = str(path)
            load_seconds, load_cpu, files = tally_figures(
                folder, days, reports, total, args.one_by_one
            )
            if args.both:
                in_turn.append(tally_figures(f"{folder}/in-turn", days, reports, total, True)[:2])
            if args.waves:
                waves = tally_figures(f"{folder}/waves", days, reports, total, False, 1)
                in_waves.append(waves[:2])
            started, cpu = time.perf_counter(), time.process_time()
            plain = duckdb.connect(str(Path(folder) / "plain.duckdb"))
            plain.execute(
                "CREATE TABLE events AS SELECT * FROM read_csv(?, delim='\t', header=true, "
                "quote='')",
                [files],
            )
            plain.close()
            own_seconds = time.perf_counter() - started
            own_cpu = time.process_time() - cpu
            rounds.append((load_seconds, load_cpu, own_seconds, own_cpu))
            print(
                f"round {number + 1}: tally {load_seconds:.2f} s ({load_cpu:.2f} CPU s), "
                f"CTAS {own_seconds:.2f} s ({own_cpu:.2f} CPU s): "
                f"{load_seconds / own_seconds:.2f} wall, {load_cpu / own_cpu:.2f} CPU",
                flush=True,
            )
            if args.both:
                seconds, cpu_seconds = in_turn[-1]
                print(
                    f"round {number + 1}: tally one day after another {seconds:.2f} s "
                    f"({cpu_seconds:.2f} CPU s): {seconds / own_seconds:.2f} wall, "
                    f"{cpu_seconds / own_cpu:.2f} CPU",
                    flush=True,
                )
            if args.waves:
                seconds, cpu_seconds = in_waves[-1]
                print(
                    f"round {number + 1}: tally in waves {seconds:.2f} s "
                    f"({cpu_seconds:.2f} CPU s): {seconds / own_seconds:.2f} wall, "
                    f"{cpu_seconds / own_cpu:.2f} CPU",
                    flush=True,
                )
            if number == args.rounds - 1:
                started = time.perf_counter()
                counted = scalar(
                    duckdb.connect(),
                    "SELECT count(*) FROM read_csv(?, delim='\t', header=true, quote='', "
                    "all_varchar=true)",
                    [files],
                )
                read_seconds = time.perf_counter() - started
                assert counted == total, counted
                if not args.no_postgres:
                    postgres = postgres_figures(
                        folder, days, files, total, args.one_by_one, args.both
                    )

    load_seconds, load_cpu, own_seconds, own_cpu = (
        statistics.median(r[i] for r in rounds) for i in range(4)
    )
    ratio = statistics.median(r[0] / r[2] for r in rounds)
    cpu_ratio = statistics.median(r[1] / r[3] for r in rounds)
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, duckdb {duckdb.__version__}"
    )
    print(f"rows: {total:,} in {len(days)} gzip files; {len(rounds)} round(s), medians below")
    print(
        f"tally load (parse+validate+load): {load_seconds:.2f} s = {total / load_seconds:,.0f}/s"
        f" ({load_cpu:.2f} CPU s)"
    )
    print(f"duckdb read_csv count:            {read_seconds:.2f} s = {total / read_seconds:,.0f}/s")
    print(
        f"duckdb own load (CTAS):           {own_seconds:.2f} s = {total / own_seconds:,.0f}/s"
        f" ({own_cpu:.2f} CPU s)"
    )
    watch.finish()
    print(f"ratio tally load/CTAS: {ratio:.2f} (target <= 1.5: {watch.verdict(ratio <= 1.5)})")
    print(
        f"ratio tally load/CTAS in CPU seconds of this process: {cpu_ratio:.2f} "
        f"(target <= 1.5: {watch.verdict(cpu_ratio <= 1.5)})"
    )
    print(f"ratio load/read: {load_seconds / read_seconds:.2f} (old target <= 2)")
    print(f"ratio duckdb's own load/read: {own_seconds / read_seconds:.2f}")
    if in_turn:
        ratio = statistics.median(t[0] / r[2] for t, r in zip(in_turn, rounds, strict=True))
        cpu_ratio = statistics.median(t[1] / r[3] for t, r in zip(in_turn, rounds, strict=True))
        print(f"ratio tally load one day after another/CTAS: {ratio:.2f} wall, {cpu_ratio:.2f} CPU")
    if in_waves:
        ratio = statistics.median(t[0] / r[2] for t, r in zip(in_waves, rounds, strict=True))
        cpu_ratio = statistics.median(t[1] / r[3] for t, r in zip(in_waves, rounds, strict=True))
        print(f"ratio tally load in waves/CTAS: {ratio:.2f} wall, {cpu_ratio:.2f} CPU")
    if postgres is not None:
        tally_pg, copy_pg, turn_pg = postgres
        print(f"postgres tally load:  {tally_pg:.2f} s = {total / tally_pg:,.0f}/s")
        print(f"postgres COPY:        {copy_pg:.2f} s = {total / copy_pg:,.0f}/s")
        print(f"ratio postgres tally load/COPY: {tally_pg / copy_pg:.2f}")
        if turn_pg is not None:
            print(
                f"postgres tally load one day after another: {turn_pg:.2f} s, "
                f"ratio/COPY {turn_pg / copy_pg:.2f}"
            )


def tally_figures(
    folder: str,
    days: list[dt.date],
    reports: list[bytes],
    total: int,
    one_by_one: bool,
    days_a_thread: int = 4,
) -> tuple[float, float, list[str]]:
    """tally's DuckDB load of the reports landed in a fresh data folder: wall and CPU
    seconds, and the lake's files."""
    dataset = get_dataset("itunes", "subscription-events")
    settings = load_settings(environ={"TALLY_DATA_DIR": folder})
    context = open_context(settings)
    for day, data in zip(days, reports, strict=True):
        land(context, dataset, day, {dataset.file_names(day, settings)[0]: data})
    started, cpu = time.perf_counter(), time.process_time()
    load_all(context, dataset, days, one_by_one, days_a_thread)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    loaded = context.warehouse.rows("SELECT count(*) FROM staging.itunes_subscription_events")
    assert loaded[0][0] == total, loaded
    context.warehouse.close()
    files = sorted(str(p) for p in Path(context.lake.root).rglob("*.txt.gz"))
    return seconds, cpu_seconds, files


def load_all(
    context: Any, dataset: Any, days: list[dt.date], one_by_one: bool, days_a_thread: int = 4
) -> None:
    """tally's load of every day; a day that fails stops the bench."""
    if one_by_one:
        for day in days:
            load(context, dataset, day)
        return
    for day, loaded in load_days(context, dataset, days, days_a_thread=days_a_thread):
        if isinstance(loaded, Exception):
            raise RuntimeError(f"{day}: {loaded}") from loaded


def postgres_figures(
    folder: str, days: list[dt.date], files: list[str], total: int, one_by_one: bool, both: bool
) -> tuple[float, float, float | None]:
    """(tally's load, COPY of the same files, with ``both`` tally's load one day after
    another) on fresh PostgreSQL databases, in seconds."""
    import psycopg

    server = os.environ.get("TALLY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    backend = registry.backend_for(server)
    tally_seconds = postgres_load(folder, days, total, one_by_one)
    in_turn = postgres_load(folder, days, total, True) if both else None
    with backend.scratch_url(Path(folder), server) as url, psycopg.connect(url) as con:
        header = gzip.open(files[0], "rt").readline().rstrip("\n").split("\t")
        columns = ", ".join(f'"{name}" TEXT' for name in header)
        started = time.perf_counter()
        con.execute(f"CREATE TABLE events ({columns})")
        for path in files:
            copy_sql = "COPY events FROM STDIN (FORMAT text, DELIMITER E'\\t', HEADER true)"
            with gzip.open(path, "rb") as source, con.cursor().copy(copy_sql) as copy:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
        con.commit()
        copy_seconds = time.perf_counter() - started
        assert scalar(con, "SELECT count(*) FROM events") == total
    return tally_seconds, copy_seconds, in_turn


def postgres_load(folder: str, days: list[dt.date], total: int, one_by_one: bool) -> float:
    """Seconds of tally's load of the landed files into a fresh PostgreSQL database."""
    server = os.environ.get("TALLY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    dataset = get_dataset("itunes", "subscription-events")
    with registry.backend_for(server).scratch_url(Path(folder), server) as url:
        environ = {"TALLY_DATA_DIR": folder, "TALLY_WAREHOUSE_URL": url}
        context = open_context(load_settings(environ=environ))
        started = time.perf_counter()
        load_all(context, dataset, days, one_by_one)
        seconds = time.perf_counter() - started
        loaded = context.warehouse.rows("SELECT count(*) FROM staging.itunes_subscription_events")
        assert loaded[0][0] == total, loaded
        context.warehouse.close()
    return seconds


if __name__ == "__main__":
    main()
