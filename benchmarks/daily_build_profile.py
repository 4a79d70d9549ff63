"""The daily build statement by statement: CPU and wall time of each, on a copy of one warehouse.

Builds (once, kept in ``--folder``) the marts bench's data up to the day before its last
day, then loads the last day; each run copies that warehouse and runs the daily build
(``build_day``) on the copy, printing its wall and CPU time, what each model did and the
slowest statements. Run it with ``PYTHONPATH`` pointing at two trees, one after the other,
to compare them on the same data (CPU time is what a busy machine disturbs least).

Usage: PYTHONPATH=$PWD/src .venv/bin/python benchmarks/daily_build_profile.py \\
    --subscriptions 1000000 --folder /tmp/daily-profile --copy new.duckdb
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import marts_bench  # noqa: E402

from tally.config import load_settings  # noqa: E402
from tally.lake import Lake  # noqa: E402
from tally.models.sets import ANALYTICS_MODELS, SUBSCRIBER_MODELS  # noqa: E402
from tally.pipeline.build import build, discover_models  # noqa: E402
from tally.pipeline.context import Context  # noqa: E402
from tally.pipeline.incremental import build_day  # noqa: E402
from tally.warehouse import Warehouse, connect  # noqa: E402


def prepared(count: int, folder: Path, last: dt.date, models: tuple[str, ...] = ()) -> Path:
    """The warehouse with every day but the last built and the last day loaded (from the
    marts bench's loaded warehouse, kept in the same folder: ``marts_bench.staged``), the
    subscriber marts built, and ``models`` (issue 23's, with ``--analytics``) too."""
    base = folder / (f"base-analytics-{count}.duckdb" if models else f"base-{count}.duckdb")
    if base.exists():
        return base
    building = folder / "base-in-progress.duckdb"
    newest = marts_bench.staged(count, last, building, folder)
    warehouse = connect(f"duckdb:///{building}")
    context = Context(load_settings(environ={}), warehouse, Lake(str(folder / "lake")))
    chosen = SUBSCRIBER_MODELS + models
    build(context, [m for m in discover_models() if m.table in chosen])
    for table, rows in newest.items():
        warehouse.replace_partition(table, rows, {"_partition_date": last})
    warehouse.close()
    building.rename(base)
    return base


def timing(warehouse: Warehouse, found: list[tuple[float, float, str]]) -> None:
    """Record each statement's wall and CPU seconds in ``found`` (a whole rebuild's under
    its table's name)."""
    kind = type(warehouse)
    for name in ("execute", "rows", "materialize"):  # materialize: a model rebuilt whole
        original = getattr(kind, name)

        def timed(self: Any, sql: str, *args: Any, _original: Any = original, **kw: Any) -> Any:
            began, cpu = time.perf_counter(), time.process_time()
            result = _original(self, sql, *args, **kw)
            spent = (time.perf_counter() - began, time.process_time() - cpu)
            found.append((*spent, " ".join(sql.split())[:140]))
            return result

        setattr(kind, name, timed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--copy", default="work.duckdb", help="the copy's file name")
    parser.add_argument("--top", type=int, default=20, help="statements to list")
    parser.add_argument(
        "--analytics", action="store_true", help="issue 23's marts too (the base built with them)"
    )
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    last = marts_bench.FIRST_DAY + dt.timedelta(days=marts_bench.DAYS - 1)
    copy = args.folder / args.copy
    extra = ANALYTICS_MODELS if args.analytics else ()
    shutil.copy(prepared(args.subscriptions, args.folder, last, extra), copy)
    warehouse = connect(f"duckdb:///{copy}")
    warehouse.migrate()
    found: list[tuple[float, float, str]] = []
    timing(warehouse, found)
    context = Context(load_settings(environ={}), warehouse, Lake(str(args.folder / "lake")))
    tables = SUBSCRIBER_MODELS + extra
    chosen = [m for m in discover_models() if m.table in tables]
    outcome, wall, cpu = timed_build_day(context, last, chosen)
    print(f"build_day: {wall:.2f} s wall, {cpu:.2f} s CPU")
    print_statements(found, cpu, outcome, args.top, by_cpu=args.analytics)


def timed_build_day(
    context: Context, last: dt.date, chosen: list[Any]
) -> tuple[dict[str, str], float, float]:
    """``build_day`` of ``last`` over the ``chosen`` models: (what each did, wall s, CPU s)."""
    began, cpu = time.perf_counter(), time.process_time()
    outcome = build_day(context, last, chosen=chosen)
    return outcome, time.perf_counter() - began, time.process_time() - cpu


def print_statements(
    found: list[tuple[float, float, str]],
    cpu: float,
    outcome: dict[str, str],
    top: int,
    by_cpu: bool = False,
) -> None:
    """The statements' share of the build's ``cpu``, what each model did, and the ``top``
    slowest statements (by wall time, or by CPU)."""
    in_sql = sum(c for _, c, _ in found)
    print(f"  in {len(found)} statements: {in_sql:.2f} s CPU; outside them: {cpu - in_sql:.2f} s")
    for table, what in outcome.items():
        print(f"  {table}: {what}")
    if by_cpu:
        print("slowest statements by CPU (CPU s, wall s):")
        for spent, spent_cpu, sql in sorted(found, key=lambda f: f[1], reverse=True)[:top]:
            print(f"  {spent_cpu:7.3f} {spent:7.3f}  {sql}")
    else:
        print("slowest statements (wall s, CPU s):")
        for spent, spent_cpu, sql in sorted(found, reverse=True)[:top]:
            print(f"  {spent:7.3f} {spent_cpu:7.3f}  {sql}")


if __name__ == "__main__":
    main()
