"""Issue 23's marts one at a time: the full build's CPU and wall time of each, at a scale.

Builds (once, kept in ``--folder``) the marts bench's data (``marts_bench.generate``, and
its exchange-rate sheet) up to the day before its last day with the subscriber marts, then
builds each analytics mart on a copy of that warehouse, in dependency order, one model per
``build`` call, printing its CPU (the process's, DuckDB's threads included) and wall
seconds. Run it with ``PYTHONPATH`` pointing at two trees, one after the other, to compare
them on the same data (CPU time is what a busy machine disturbs least).

Usage: PYTHONPATH=$PWD/src .venv/bin/python benchmarks/analytics_models_bench.py \\
    --subscriptions 200000 --folder /tmp/analytics-models
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))

import marts_bench  # noqa: E402

from tally.config import load_settings  # noqa: E402
from tally.lake import Lake  # noqa: E402
from tally.pipeline.build import build, discover_models, ordered  # noqa: E402
from tally.pipeline.context import Context  # noqa: E402
from tally.warehouse import connect  # noqa: E402

TABLES = ("staging.viu_premium_transactions", "staging.viu_premium_subscriber_status")


def prepared(count: int, folder: Path) -> Path:
    """The warehouse with every day but the last loaded and the subscriber marts built."""
    base = folder / "base.duckdb"
    if base.exists():
        return base
    last = marts_bench.FIRST_DAY + dt.timedelta(days=marts_bench.DAYS - 1)
    warehouse = connect(f"duckdb:///{base}")
    warehouse.migrate()
    warehouse.append(marts_bench.RATES, marts_bench.rate_sheet(last - dt.timedelta(days=1)))
    for table, rows in zip(TABLES, marts_bench.generate(count), strict=True):
        earlier = pa.compute.less(rows["_partition_date"], pa.scalar(last, pa.date32()))
        marts_bench._load_in_day_order(warehouse, table, rows.filter(earlier))
    context = Context(load_settings(environ={}), warehouse, Lake(str(folder / "lake")))
    began = time.process_time()
    build(context, [m for m in discover_models() if m.table in marts_bench.SUBSCRIBER_MODELS])
    print(f"subscriber marts, full build: CPU {time.process_time() - began:.2f} s")
    warehouse.close()
    return base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=200_000)
    parser.add_argument("--folder", type=Path, required=True)
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    copy = args.folder / "copy.duckdb"
    shutil.copy(prepared(args.subscriptions, args.folder), copy)
    Path(f"{copy}.wal").unlink(missing_ok=True)
    warehouse = connect(f"duckdb:///{copy}")
    warehouse.migrate()  # a base kept by an older tally lacks the newer migrations
    context = Context(load_settings(environ={}), warehouse, Lake(str(args.folder / "lake")))
    names = set(marts_bench.ANALYTICS_MODELS)
    total = 0.0
    for model in ordered([m for m in discover_models() if m.table in names]):
        began, cpu = time.perf_counter(), time.process_time()
        outcome = build(context, [model])[model.table]
        spent = time.process_time() - cpu
        total += spent
        wall = time.perf_counter() - began
        print(f"{model.table:36s} CPU {spent:6.2f} s  wall {wall:6.2f} s  {outcome}", flush=True)
    print(f"issue 23's marts, each built alone: CPU {total:.2f} s")


if __name__ == "__main__":
    main()
