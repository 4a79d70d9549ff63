"""The daily build of every mart (the subscriber marts and issue 23's), statement by
statement: where the CPU of ``build_day`` goes once issue 23's marts are in it (issue 26).

``daily_build_profile.py`` times the subscriber marts' daily build alone; this script builds
the marts bench's data in full with issue 23's marts too (every day but the last), loads the
last day, and runs ``build_day`` over all of them with each statement timed (CPU and wall),
printing what each model did and the slowest statements. Run it with ``PYTHONPATH``
pointing at another tree to compare (CPU time is what a busy machine disturbs least).

Usage: PYTHONPATH=$PWD/src .venv/bin/python benchmarks/daily_statements_profile.py \\
    [--subscriptions 50000] [--top 15]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))

import marts_bench  # noqa: E402
from daily_build_profile import print_statements, timed_build_day, timing  # noqa: E402
from hygiene import LoadWatch  # noqa: E402

from tally.config import load_settings  # noqa: E402
from tally.lake import Lake  # noqa: E402
from tally.models.sets import ANALYTICS_MODELS, SUBSCRIBER_MODELS  # noqa: E402
from tally.pipeline.build import build, discover_models  # noqa: E402
from tally.pipeline.context import Context  # noqa: E402
from tally.warehouse import connect  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=50_000)
    parser.add_argument("--top", type=int, default=15, help="statements to list")
    args = parser.parse_args()
    watch = LoadWatch()
    everything = SUBSCRIBER_MODELS + ANALYTICS_MODELS
    chosen = [m for m in discover_models() if m.table in everything]
    last = marts_bench.FIRST_DAY + dt.timedelta(days=marts_bench.DAYS - 1)
    generated = dict(zip(marts_bench.STAGED, marts_bench.generate(args.subscriptions), strict=True))
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        warehouse = connect(f"duckdb:///{folder}/warehouse.duckdb")
        warehouse.migrate()
        for table, rows in generated.items():
            earlier = pa.compute.less(rows["_partition_date"], pa.scalar(last, pa.date32()))
            marts_bench._load_in_day_order(warehouse, table, rows.filter(earlier))
        context = Context(load_settings(environ={}), warehouse, Lake(str(folder / "lake")))
        build(context, chosen)
        for table, rows in generated.items():
            newest = pa.compute.equal(rows["_partition_date"], pa.scalar(last, pa.date32()))
            warehouse.replace_partition(table, rows.filter(newest), {"_partition_date": last})
        found: list[tuple[float, float, str]] = []
        timing(warehouse, found)
        outcome, wall, cpu = timed_build_day(context, last, chosen)
        warehouse.close()
    watch.finish()
    print(f"{args.subscriptions:,} subscriptions, build_day: {wall:.2f} s wall, {cpu:.2f} s CPU")
    print_statements(found, cpu, outcome, args.top, by_cpu=True)


if __name__ == "__main__":
    main()
