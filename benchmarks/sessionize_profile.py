"""Sessionize statement by statement: where a year's run and one more day's go (issue 27).

``sessionize_bench.py`` times the stages whole; this script keeps the bench's loaded hits
(its year of one site's traffic, ``--copies K`` times over) in a DuckDB file under
``--folder`` (made once, reused by later runs: loading takes minutes), sessionizes a copy
of it in full with each statement timed (CPU and wall), then loads one more day and
sessionizes that alone, statement by statement too. Run it with ``PYTHONPATH`` pointing at
another tree to compare two versions of the models on the same hits.

With ``--operators N`` each statement of the year's run taking a CPU second or more is
also profiled by DuckDB (``PRAGMA enable_profiling = 'json'``), and its N costliest
operators are listed: their time summed over threads (a share of the statement, not CPU
seconds), rows out, and what they do. Profiling costs time of its own: take the year's
figures from a run without it.

Usage: PYTHONPATH=$PWD/src .venv/bin/python benchmarks/sessionize_profile.py \\
    --folder FOLDER [--hits 60000] [--copies 20] [--top 12] [--operators 15]
"""

from __future__ import annotations

import argparse
import json
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
    timed_load(store, settings, kept=False)
    store.close()
    making = folder / f"making-{hits}x{copies}.duckdb"
    copied(making, copies)
    making.rename(kept)
    return kept


def statement_timing(
    warehouse: Warehouse, found: list[tuple[float, float, str]], operators: Path | None = None
) -> dict[str, Path | None]:
    """``timing`` for ``execute`` and ``rows``, and each statement of a model on its own;
    with ``operators`` (a folder), each model statement's DuckDB profile written there,
    until the answer's "folder" is set to None."""
    timing(warehouse, found)
    profiles = iter(range(1, 1000))
    profiling = {"folder": operators}

    def run_model(self: Any, sql: str) -> None:
        for statement in split_statements(sql):
            folder = profiling["folder"]
            if folder is None:
                self.execute(statement)
                continue
            # the session's own connection (profiling is a connection's setting); the
            # PRAGMAs go around the statement untimed (``timing`` wraps execute)
            with self.session() as connection:
                connection.execute("PRAGMA enable_profiling = 'json'")
                output = folder / f"{next(profiles)}.json"
                connection.execute(f"PRAGMA profiling_output = '{output}'")
                try:
                    self.execute(statement)
                finally:
                    connection.execute("PRAGMA disable_profiling")

    type(warehouse).run_model = run_model  # type: ignore[method-assign]
    return profiling


def operator_report(folder: Path, top: int) -> None:
    """The costliest operators of each profiled statement that took a second or more."""
    for path in sorted(folder.iterdir(), key=lambda p: int(p.stem)):
        profile = json.loads(path.read_text(encoding="utf-8"))
        found: list[tuple[float, int, str, str]] = []
        for node in profile.get("children", []) + profile.get("operator", []):
            walk(node, found)
        total = sum(spent for spent, _, _, _ in found)
        latency = float(profile.get("latency", profile.get("operator_timing", 0.0)) or 0.0)
        if total < 1.0 and latency < 1.0:
            continue
        print(f"statement {path.stem}: operator time {total:.2f} s summed over threads")
        for spent, rows, name, info in sorted(found, reverse=True)[:top]:
            print(f"  {spent:6.2f} {spent / total:4.0%} {rows:>11,} {name:<16} {info[:100]}")


def walk(node: dict[str, Any], found: list[tuple[float, int, str, str]]) -> None:
    """Every operator under ``node`` (DuckDB's JSON profile; key names differ by version)."""
    spent = float(node.get("timing", node.get("operator_timing", 0.0)) or 0.0)
    rows = int(node.get("intermediate_rows", node.get("operator_cardinality", 0)) or 0)
    name = str(node.get("name", node.get("operator_name", node.get("operator_type", ""))))
    info = json.dumps(node.get("extra_info", {}), separators=(",", ":"))
    found.append((spent, rows, name, info))
    for child in node.get("children", []):
        walk(child, found)


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
    parser.add_argument(
        "--operators", type=int, default=0, help="list each slow statement's N costliest operators"
    )
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
        profiles = args.folder / "operators" if args.operators else None
        if profiles is not None:
            shutil.rmtree(profiles, ignore_errors=True)
            profiles.mkdir()
        profiling = statement_timing(store, found, profiles)
        year_wall, year_cpu, hits = timed(store, found)
        print(f"year: {hits:,} hits in {year_wall:.2f} s [{year_cpu:.2f} CPU s]")
        report("slowest statements of the year (CPU s, wall s):", found, args.top)
        if profiles is not None:
            operator_report(profiles, args.operators)
            profiling["folder"] = None  # the day's run unprofiled
        settings = load_settings(environ={"TALLY_DATA_DIR": str(args.folder / "day")})
        shutil.rmtree(args.folder / "day", ignore_errors=True)
        write_records(settings, traffic(NEXT_DAY, NEXT_DAY, max(1, hits // 365), seed=28))
        timed_load(store, settings, kept=False)
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
        shutil.rmtree(args.folder / "operators", ignore_errors=True)
    watch.finish()


if __name__ == "__main__":
    main()
