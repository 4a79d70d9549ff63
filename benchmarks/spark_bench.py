"""Spark benchmark: the subscriber marts' builds on a local Spark cluster and on DuckDB.

The staging tables come from the marts benchmark's generator (benchmarks/marts_bench.py)
at 1x, 2x and 4x ``--subscriptions``; for each size, in one run and side by side:

  load    the two staging tables written into the warehouse (Spark: one dynamic partition
          overwrite of every day's partition; DuckDB: one insert)
  full    every subscriber mart built from staging (tally.pipeline.build)
  daily   the daily job's build after one more day (Spark: the full build again, since
          its Parquet tables are replaced, never updated in place; DuckDB: incremental)

Spark runs on a standalone cluster of one master and ``--workers`` one-core workers started
from the pyspark wheel (tally.warehouse.spark.cluster). On a two-core machine Spark cannot
beat DuckDB; what the figures show is how Spark's time grows with the data.

Usage: .venv/bin/python benchmarks/spark_bench.py [--subscriptions 20000] [--scales 1,2,4]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).parent))

from marts_bench import DAYS, FIRST_DAY, SUBSCRIBER_MODELS, generate  # noqa: E402

from tally.config import load_settings  # noqa: E402
from tally.lake import Lake  # noqa: E402
from tally.pipeline.build import build, discover_models  # noqa: E402
from tally.pipeline.context import Context  # noqa: E402
from tally.pipeline.incremental import build_day  # noqa: E402
from tally.warehouse import Warehouse, connect  # noqa: E402
from tally.warehouse.spark.cluster import LocalCluster  # noqa: E402

STAGING = ("staging.viu_premium_transactions", "staging.viu_premium_subscriber_status")
LAST = FIRST_DAY + dt.timedelta(days=DAYS - 1)


def load(warehouse: Warehouse, tables: dict[str, pa.Table], newest: bool) -> float:
    """Write each staging table's days before the last (or the last day alone)."""
    began = time.perf_counter()
    for name, rows in tables.items():
        last = pa.scalar(LAST, pa.date32())
        chosen = pc.equal if newest else pc.less
        part = rows.filter(chosen(rows["_partition_date"], last))
        warehouse.replace_partition(name, part, {"_partition_date": LAST})
    return time.perf_counter() - began


def timed(action) -> float:
    began = time.perf_counter()
    outcome = action()
    failed = {k: v for k, v in outcome.items() if k in SUBSCRIBER_MODELS and "skipped" in v}
    if failed:
        raise SystemExit(f"build failed: {failed}")
    return time.perf_counter() - began


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


def measure(url: str, folder: Path, tables: dict[str, pa.Table]) -> dict[str, float]:
    warehouse = connect(url)
    warehouse.migrate()
    context = Context(load_settings(environ={}), warehouse, Lake(str(folder / "lake")))
    chosen = [m for m in discover_models() if m.table in SUBSCRIBER_MODELS]
    figures = {"load": load(warehouse, tables, newest=False)}
    running, latencies = threading.Event(), []
    running.set()
    reader = threading.Thread(target=lambda: latencies.extend(reads_during(url, running)))
    reader.start()
    figures["full"] = timed(lambda: build(context, chosen))
    running.clear()
    reader.join()
    latencies.sort()
    figures["read_p50"] = latencies[len(latencies) // 2] if latencies else float("nan")
    figures["read_max"] = latencies[-1] if latencies else float("nan")
    figures["reads"] = len(latencies)
    load(warehouse, tables, newest=True)
    figures["daily"] = timed(lambda: build_day(context, LAST, chosen=chosen))
    figures["rows"] = warehouse.rows("SELECT count(*) FROM marts.subscription_periods")[0][0]
    warehouse.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=20_000)
    parser.add_argument("--scales", default="1,2,4")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f}", flush=True)
    with tempfile.TemporaryDirectory() as temporary:
        root = Path(temporary)
        cluster = LocalCluster(root / "cluster")
        cluster.start(workers=args.workers)
        try:
            for scale in (int(s) for s in args.scales.split(",")):
                count = args.subscriptions * scale
                transactions, status = generate(count)
                tables = dict(zip(STAGING, (transactions, status), strict=True))
                folder = root / f"x{scale}"
                spark_url = (
                    f"{cluster.master_url}/?location={folder}/spark/tables"
                    f"&serving={folder}/spark/serving.duckdb"
                )
                duck = measure(f"duckdb:///{folder}/warehouse.duckdb", folder, tables)
                spark = measure(spark_url, folder / "spark", tables)
                print(
                    f"{scale}x ({count:,} subscriptions, {transactions.num_rows:,} transactions,"
                    f" {duck['rows']:,} periods):",
                    flush=True,
                )
                for step in ("load", "full", "daily"):
                    print(
                        f"  {step:5}  spark {spark[step]:7.1f} s   duckdb {duck[step]:6.1f} s"
                        f"   ratio {spark[step] / max(duck[step], 1e-9):5.1f}",
                        flush=True,
                    )
                for name, figures in (("spark", spark), ("duckdb", duck)):
                    print(
                        f"  reads during the full build on {name}: {figures['reads']}, "
                        f"p50 {figures['read_p50'] * 1000:.0f} ms, "
                        f"max {figures['read_max'] * 1000:.0f} ms",
                        flush=True,
                    )
                assert spark["rows"] == duck["rows"], (spark["rows"], duck["rows"])
        finally:
            cluster.stop()
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
