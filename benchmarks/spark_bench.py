"""Spark benchmark: the subscriber marts' builds and the App Store load, on a local Spark
cluster and on DuckDB, side by side in one run.

The staging tables come from the marts benchmark's generator (benchmarks/marts_bench.py)
at each of ``--scales`` times ``--subscriptions``; for each size:

  load    the two staging tables written into the warehouse (Spark: read by the cluster from
          Parquet files, one dynamic partition overwrite of every day's partition; DuckDB:
          one insert of the Arrow tables)
  full    every subscriber mart built from staging (tally.pipeline.build)
  daily   the daily job's build after one more day (Spark: the full build again, since
          its Parquet tables are replaced, never updated in place; DuckDB: incremental)

Then the App Store load: ``--load-rows`` Subscription Event rows in ``--load-files`` gzip'd
files of the lake, loaded by tally (parse, check every value, quarantine, replace the
partition) into each warehouse: DuckDB reads them in place, Spark's executors read them.

Each step gives wall seconds and CPU seconds: DuckDB's are this process's; Spark's are this
process's plus every process under it (the driver JVM, the master, the workers and their
executors), read from /proc. Spark runs on a standalone cluster of one master and
``--workers`` one-core workers started from the pyspark wheel
(tally.warehouse.spark.cluster). On a two-core machine Spark cannot beat DuckDB; what the
figures show is how Spark's time grows with the data.

With several ``--scales``, a least-squares line through the full build's times (fixed
seconds + seconds per million transactions) shows how each engine's cost grows.

Usage: .venv/bin/python benchmarks/spark_bench.py [--subscriptions 5000] [--scales 1,4]
       [--load-rows 1000000] [--load-files 10] [--workers 2] [--no-daily] [--warm]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))

from hygiene import LoadWatch  # noqa: E402
from load_bench import report_bytes  # noqa: E402
from marts_bench import DAYS, FIRST_DAY, generate  # noqa: E402

from tally.config import load_settings  # noqa: E402
from tally.lake import Lake  # noqa: E402
from tally.models.sets import SUBSCRIBER_MODELS  # noqa: E402
from tally.pipeline.build import build, discover_models  # noqa: E402
from tally.pipeline.context import Context  # noqa: E402
from tally.pipeline.incremental import build_day  # noqa: E402
from tally.pipeline.ingest import land  # noqa: E402
from tally.pipeline.load import load as tally_load  # noqa: E402
from tally.sources import get_dataset  # noqa: E402
from tally.warehouse import Warehouse, connect  # noqa: E402
from tally.warehouse.spark.cluster import LocalCluster  # noqa: E402

STAGING = ("staging.viu_premium_transactions", "staging.viu_premium_subscriber_status")
LAST = FIRST_DAY + dt.timedelta(days=DAYS - 1)
TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu() -> float:
    """CPU seconds (user + system) of this process and every live process under it."""
    parents: dict[int, int] = {}
    spent: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        spent[int(entry)] = (int(fields[11]) + int(fields[12])) / TICK
    mine, total = {os.getpid()}, 0.0
    changed = True
    while changed:
        changed = False
        for pid, parent in parents.items():
            if parent in mine and pid not in mine:
                mine.add(pid)
                changed = True
    for pid in mine:
        total += spent.get(pid, 0.0)
    return total


class Clock:
    """Wall and CPU seconds of one step (CPU: this process, or its whole tree)."""

    def __init__(self, tree: bool) -> None:
        self.cpu: Callable[[], float] = tree_cpu if tree else time.process_time

    def __call__(self, action: Callable[[], Any]) -> tuple[float, float, Any]:
        wall, cpu = time.perf_counter(), self.cpu()
        outcome = action()
        return time.perf_counter() - wall, self.cpu() - cpu, outcome


def staged(warehouse: Warehouse, tables: dict[str, str | pa.Table], newest: bool) -> None:
    """Write each staging table's days before the last (or the last day alone); Spark reads
    them from Parquet files (``tables`` holds their paths), DuckDB gets the Arrow tables."""
    for name, rows in tables.items():
        last = pa.scalar(LAST, pa.date32())
        if isinstance(rows, str):
            spark: Any = warehouse
            frame = spark.spark.read.parquet(rows)
            frame = frame.where(
                frame["_partition_date"] == LAST if newest else frame["_partition_date"] < LAST
            )
            spark.replace_partition_frame(name, frame, {"_partition_date": LAST})
        else:
            chosen = pc.equal if newest else pc.less
            part = rows.filter(chosen(rows["_partition_date"], last))
            warehouse.replace_partition(name, part, {"_partition_date": LAST})


def built(outcome: dict[str, str]) -> None:
    failed = {k: v for k, v in outcome.items() if k in SUBSCRIBER_MODELS and "skipped" in v}
    if failed:
        raise SystemExit(f"build failed: {failed}")


READ = (
    "SELECT _partition_date, count(*) AS n, count(DISTINCT user_id) AS users "
    "FROM staging.viu_premium_transactions WHERE _partition_date >= DATE '2026-10-01' "
    "GROUP BY 1 ORDER BY 1"
)


def reads_during(url: str, running: threading.Event) -> list[float]:
    """A dashboard's read (seconds each), again and again while ``running`` is set."""
    reader = connect(url)
    times: list[float] = []
    while running.is_set():
        began = time.perf_counter()
        with reader.interactive():
            reader.query(READ)
        times.append(time.perf_counter() - began)
        time.sleep(0.2)
    return times


def measure(url: str, folder: Path, tables: dict[str, Any], daily: bool = True) -> dict[str, Any]:
    warehouse = connect(url)
    warehouse.migrate()
    clock = Clock(tree=url.startswith("spark"))
    context = Context(load_settings(environ={}), warehouse, Lake(str(folder / "lake")))
    chosen = [m for m in discover_models() if m.table in SUBSCRIBER_MODELS]
    figures: dict[str, Any] = {}
    figures["load"] = clock(lambda: staged(warehouse, tables, newest=False))[:2]
    running, latencies = threading.Event(), []
    running.set()
    reader = threading.Thread(target=lambda: latencies.extend(reads_during(url, running)))
    reader.start()
    *figures["full"], outcome = clock(lambda: build(context, chosen))
    running.clear()
    reader.join()
    built(outcome)
    latencies.sort()
    figures["read_p50"] = latencies[len(latencies) // 2] if latencies else float("nan")
    figures["read_max"] = latencies[-1] if latencies else float("nan")
    figures["reads"] = len(latencies)
    if daily:
        staged(warehouse, tables, newest=True)
        *figures["daily"], outcome = clock(lambda: build_day(context, LAST, chosen=chosen))
        built(outcome)
    figures["rows"] = warehouse.rows("SELECT count(*) FROM marts.subscription_periods")[0][0]
    warehouse.close()
    return figures


def app_store_load(urls: dict[str, str], folder: Path, rows: int, files: int) -> dict[str, Any]:
    """tally's load of the same App Store files on each warehouse: (wall, CPU) seconds."""
    dataset = get_dataset("itunes", "subscription-events")
    days = [dt.date(2016, 10, 1) + dt.timedelta(days=i) for i in range(files)]
    reports = [report_bytes(rows // files, day, index) for index, day in enumerate(days)]
    figures: dict[str, Any] = {}
    for name, url in urls.items():
        warehouse = connect(url)
        warehouse.migrate()
        settings = load_settings(environ={"TALLY_DATA_DIR": str(folder / name)})
        context = Context(settings, warehouse, Lake(str(folder / name / "lake")))
        for day, report in zip(days, reports, strict=True):
            land(context, dataset, day, {dataset.file_names(day, settings)[0]: report})

        def loads(context: Context = context) -> list[Any]:
            return [tally_load(context, dataset, day) for day in days]

        figures[name] = Clock(tree=name == "spark")(loads)[:2]
        count = warehouse.rows(f"SELECT count(*) FROM {dataset.staging_table}")[0][0]
        assert count == rows // files * files, count
        warehouse.close()
    return figures


def side_by_side(step: str, spark: tuple[float, float], duck: tuple[float, float]) -> str:
    return (
        f"  {step:5}  spark {spark[0]:7.1f} s ({spark[1]:7.1f} CPU s)   "
        f"duckdb {duck[0]:6.1f} s ({duck[1]:6.1f} CPU s)   "
        f"ratio {spark[0] / max(duck[0], 1e-9):5.1f} wall, {spark[1] / max(duck[1], 1e-9):5.1f} CPU"
    )


def linear_fit(growth: list[tuple[int, tuple[float, float], tuple[float, float]]]) -> str:
    """How the full build's time grows with the rows: a least-squares line, time = fixed +
    per million rows × rows, for wall and CPU seconds on each engine, and each size's
    distance from it (a linear cost leaves small distances)."""
    rows = np.array([float(n) for n, _, _ in growth]) / 1e6
    lines = ["full build against transactions (least-squares line: fixed + per 1M rows):"]
    for name in ("spark", "duckdb"):
        for measure_index, what in ((0, "wall"), (1, "CPU")):
            seconds = np.array(
                [(spark if name == "spark" else duck)[measure_index] for _, spark, duck in growth]
            )
            slope, fixed = np.polyfit(rows, seconds, 1)
            fitted = fixed + slope * rows
            away = ", ".join(
                f"{n:,}: {s:.1f} s (line {f:.1f})"
                for n, s, f in zip((n for n, _, _ in growth), seconds, fitted, strict=True)
            )
            lines.append(
                f"  {name:6} {what:4}  fixed {fixed:7.1f} s + {slope:7.1f} s per 1M rows;  {away}"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=5_000)
    parser.add_argument("--scales", default="1,4")
    parser.add_argument("--load-rows", type=int, default=1_000_000)
    parser.add_argument("--load-files", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--no-daily", action="store_true", help="skip the daily build (on Spark: the full again)"
    )
    parser.add_argument(
        "--warm",
        action="store_true",
        help="build 1x once on Spark before timing (its code generation and JIT are then "
        "not in the first size's figures)",
    )
    args = parser.parse_args()
    growth: list[tuple[int, tuple[float, float], tuple[float, float]]] = []
    watch = LoadWatch()
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        cluster = LocalCluster(root / "cluster")
        cluster.start(workers=args.workers)
        master = cluster.master_url

        def spark_url(folder: Path) -> str:
            return f"{master}/?location={folder}/spark/tables&serving={folder}/spark/serving.duckdb"

        try:
            # the session (driver JVM, executors) starts before any step is timed, and runs
            # one small job, so that the first size does not pay for it
            warm: Any = connect(spark_url(root / "warm-up"))
            warm.spark.range(100_000).selectExpr("sum(id)").collect()
            scales = [int(s) for s in args.scales.split(",") if s]
            # the warm-up builds 1x (code generation and JIT do not depend on the rows)
            for scale in ([-1] if args.warm else []) + scales:
                count = args.subscriptions * abs(scale)
                transactions, status = generate(count)
                tables = dict(zip(STAGING, (transactions, status), strict=True))
                folder = root / f"x{scale}"
                files: dict[str, Any] = {}
                for name, rows in tables.items():
                    path = folder / "generated" / f"{name}.parquet"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    pq.write_table(rows, path)
                    files[name] = f"file://{path}"
                if scale < 0:  # the warm-up: Spark only, nothing reported
                    measure(spark_url(folder), folder / "spark", files, daily=False)
                    print(f"warm-up build of {count:,} subscriptions done", flush=True)
                    continue
                daily = not args.no_daily
                duck = measure(f"duckdb:///{folder}/warehouse.duckdb", folder, tables, daily)
                spark = measure(spark_url(folder), folder / "spark", files, daily)
                growth.append((transactions.num_rows, spark["full"], duck["full"]))
                print(
                    f"{scale}x ({count:,} subscriptions, {transactions.num_rows:,} transactions,"
                    f" {duck['rows']:,} periods), load average now {os.getloadavg()[0]:.1f}:",
                    flush=True,
                )
                for step in ("load", "full", "daily") if daily else ("load", "full"):
                    print(side_by_side(step, spark[step], duck[step]), flush=True)
                for name, figures in (("spark", spark), ("duckdb", duck)):
                    print(
                        f"  reads during the full build on {name}: {figures['reads']}, "
                        f"p50 {figures['read_p50'] * 1000:.0f} ms, "
                        f"max {figures['read_max'] * 1000:.0f} ms",
                        flush=True,
                    )
                assert spark["rows"] == duck["rows"], (spark["rows"], duck["rows"])
            if len(growth) >= 2:
                print(linear_fit(growth), flush=True)
            if args.load_rows:
                folder = root / "app-store"
                urls = {
                    "duckdb": f"duckdb:///{folder}/warehouse.duckdb",
                    "spark": spark_url(folder),
                }
                loads = app_store_load(urls, folder, args.load_rows, args.load_files)
                print(
                    f"App Store load, {args.load_rows:,} rows in {args.load_files} gzip files, "
                    f"load average now {os.getloadavg()[0]:.1f}:"
                )
                print(side_by_side("load", loads["spark"], loads["duckdb"]), flush=True)
        finally:
            cluster.stop()
    watch.finish()


if __name__ == "__main__":
    main()
