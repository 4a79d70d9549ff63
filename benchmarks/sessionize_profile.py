"""Sessionize statement by statement: where a year's run and one more day's go (issue 27).

``sessionize_bench.py`` times the stages whole; this script keeps the bench's loaded hits
(its year of one site's traffic, ``--copies K`` times over) in a DuckDB file under
``--folder`` (made once, reused by later runs: loading takes minutes), sessionizes a copy
of it in full with each statement timed (CPU and wall), then loads one more day and
sessionizes that alone, statement by statement too. Run it with ``PYTHONPATH`` pointing at
another tree to compare two versions of the models on the same hits.

Usage: PYTHONPATH=$PWD/src .venv/bin/python benchmarks/sessionize_profile.py \\
    --folder /work/benchdata/i27c [--hits 60000] [--copies 20] [--top 12]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from daily_build_profile import timing  # noqa: E402
from hygiene import LoadWatch  # noqa: E402
from sessionize_bench import (  # noqa: E402
    NEXT_DAY,
    YEAR,
    copied,
    fresh_warehouse,
    timed_load,
    traffic,
)

from tally.config import load_settings  # noqa: E402
from tally.warehouse import Warehouse, connect  # noqa: E402
from tally.warehouse.base import split_statements  # noqa: E402
from tally.web.demo import write_records  # noqa: E402
from tally.web.sessions import sessionize  # noqa: E402


def prepared(folder: Path, hits: int, copies: int) -> Path:
    """The kept warehouse of the bench's loaded hits, copied ``copies`` times (made once)."""
    kept = folder / f"hits-{hits}x{copies}.duckdb"
    if kept.exists():
        return kept
    settings = load_settings(environ={"TALLY_DATA_DIR": str(folder / f"log-{hits}")})
    write_records(settings, traffic(*YEAR, hits, seed=27))
    store = fresh_warehouse(folder, f"making-{hits}x{copies}")
    timed_load(store, settings)
    store.close()
    making = folder / f"making-{hits}x{copies}.duckdb"
    copied(making, copies)
    making.rename(kept)
    return kept


def statement_timing(warehouse: Warehouse, found: list[tuple[float, float, str]]) -> None:
    """``timing`` for ``execute`` and ``rows``, and each statement of a model on its own."""
    timing(warehouse, found)

    def run_model(self: Any, sql: str) -> None:
        for statement in split_statements(sql):
            self.execute(statement)

    type(warehouse).run_model = run_model  # type: ignore[method-assign]


def timed(store: Warehouse, found: list[tuple[float, float, str]]) -> tuple[float, float, int]:
    found.clear()
    started, cpu = time.perf_counter(), time.process_time()
    hits = sessionize(store).actions
    return time.perf_counter() - started, time.process_time() - cpu, hits


def report(title: str, found: list[tuple[float, float, str]], top: int) -> None:
    print(title)
    for spent, spent_cpu, sql in sorted(found, key=lambda f: f[1], reverse=True)[:top]:
        print(f"  {spent_cpu:7.3f} {spent:7.3f}  {sql[:110]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--hits", type=int, default=60_000)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--top", type=int, default=12, help="statements to list")
    parser.add_argument("--kept", type=Path, help="a warehouse of loaded hits to use instead")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    kept = args.kept or prepared(args.folder, args.hits, args.copies)
    watch = LoadWatch()
    work = args.folder / "work.duckdb"
    shutil.copy(kept, work)
    try:
        store = connect(f"duckdb:///{work}")
        store.migrate()
        found: list[tuple[float, float, str]] = []
        statement_timing(store, found)
        year_wall, year_cpu, hits = timed(store, found)
        print(f"year: {hits:,} hits in {year_wall:.2f} s [{year_cpu:.2f} CPU s]")
        report("slowest statements of the year (CPU s, wall s):", found, args.top)
        settings = load_settings(environ={"TALLY_DATA_DIR": str(args.folder / "day")})
        shutil.rmtree(args.folder / "day", ignore_errors=True)
        write_records(settings, traffic(NEXT_DAY, NEXT_DAY, max(1, hits // 365), seed=28))
        timed_load(store, settings)
        day_wall, day_cpu, day_hits = timed(store, found)
        print(
            f"one more day: {day_hits:,} hits in {day_wall:.2f} s [{day_cpu:.2f} CPU s]: "
            f"{day_wall / year_wall:.3f} [{day_cpu / year_cpu:.3f}] of the year"
        )
        report("slowest statements of the day (CPU s, wall s):", found, args.top)
        store.close()
    finally:
        work.unlink(missing_ok=True)
        shutil.rmtree(args.folder / "day", ignore_errors=True)
    watch.finish()


if __name__ == "__main__":
    main()
