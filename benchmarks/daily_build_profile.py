"""The daily build statement by statement: CPU and wall time of each, on a copy of one warehouse.

Builds (once, kept in ``--folder``) the marts bench's data up to the day before its last
day, then loads the last day; each run copies that warehouse and runs the daily build
(``build_day``) on the copy, printing its wall and CPU time, what each model did and the
slowest statements. Run it with ``PYTHONPATH`` pointing at two trees, one after the other,
to compare them on the same data (CPU time is what a busy machine disturbs least).

``--serial`` (Linux) also adds up, statement by statement, the CPU of the thread that ran
most of it (DuckDB splits a statement over its threads), plus this thread's CPU between
statements: the time the build would take if every statement's other threads ran beside
it, a floor of its wall time at rest that a busy machine inflates far less than the wall
time itself (the outermost transaction's COMMIT and the close of the database,
``_detach``, are in; reads aside, on another thread, are not); and lists the ``--top``
statements with the largest shares of it.

``--timeline`` prints every call of the build as it ran (``Timeline``: start, duration,
thread, that thread's CPU), the build's thread's gaps between calls and its waits for the
reads aside: the shape of the wall clock, which the sums above do not show.

``--operators REGEX`` runs each statement whose text matches REGEX under DuckDB's profiler
and prints its operators (time summed over threads, rows out, row groups scanned) with the
planner's and optimizer's time: where a statement's CPU goes (the daily build's windows
over ~24k rows cost ~1 µs a row each, its hash joins far less).

Usage: PYTHONPATH=$PWD/src .venv/bin/python benchmarks/daily_build_profile.py \\
    --subscriptions 1000000 --folder /tmp/daily-profile --copy new.duckdb [--serial] \\
    [--timeline] [--operators 'TABLE extended AS']
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

import marts_bench  # noqa: E402
from hygiene import thread_seconds  # noqa: E402

from tally.config import load_settings  # noqa: E402
from tally.lake import Lake  # noqa: E402
from tally.models.sets import ANALYTICS_MODELS, SUBSCRIBER_MODELS  # noqa: E402
from tally.pipeline import incremental  # noqa: E402
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


def operators(warehouse: Warehouse, pattern: str, folder: Path) -> None:
    """Run each statement matching ``pattern`` under DuckDB's JSON profiler (written to
    ``folder``), and print its operator tree once it ran."""
    kind = type(warehouse)
    original = kind.execute
    made: list[int] = []

    def profiled(self: Any, sql: str, *args: Any, **kw: Any) -> Any:
        if not re.search(pattern, sql):
            return original(self, sql, *args, **kw)
        made.append(1)
        path = folder / f"operators-{len(made)}.json"
        with self.session() as con:
            con.execute("PRAGMA enable_profiling = 'json'")
            con.execute(f"SET profiling_output = '{path}'")
            con.execute("SET profiling_mode = 'detailed'")
            try:
                return original(self, sql, *args, **kw)
            finally:
                con.execute("PRAGMA disable_profiling")
                print_operators(path, " ".join(sql.split())[:100])

    kind.execute = profiled  # type: ignore[method-assign]


def print_operators(path: Path, statement: str) -> None:
    """The profile DuckDB wrote to ``path``: planning, then each operator of 1 ms or more."""
    profile = json.loads(path.read_text())
    planning = profile["planner"]["total_time"] + profile["optimizer"]["total_time"]
    print(f"operators of: {statement}\n  planner + optimizer {planning:.4f} s")

    def walk(node: dict[str, Any], depth: int) -> None:
        scanned = ""
        if "rows_scanned" in node:
            groups = f"{node['row_groups_scanned']}/{node['total_row_groups_to_scan']}"
            scanned = f", {node['rows_scanned']} scanned in {groups} row groups"
        if node["timing"] >= 0.001:
            name = node["name"]
            table = node.get("extra_info", {}).get("Table", "")
            rows = node["intermediate_rows"]
            print(f"  {'  ' * depth}{name} {node['timing']:.4f} s, {rows} rows{scanned} {table}")
        for child in node.get("children", []):
            walk(child, depth + 1)

    for node in profile["operator"]:
        walk(node, 0)


class Serial:
    """Per statement this thread runs (and the close of the database), the CPU of the
    busiest thread (``busiest``), and this thread's CPU in them (``inside``); see the module
    doc."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.thread = str(threading.get_native_id())
        self.busiest = 0.0
        self.inside = 0.0
        self.statements: list[tuple[float, str]] = []  # (busiest thread's CPU, statement)
        self.depth = 0  # this thread's transactions open
        kind = type(warehouse)
        for name in ("execute", "rows", "query", "_detach"):
            setattr(kind, name, self._timed(getattr(kind, name)))
        kind.transaction = self._committed(kind.transaction)  # type: ignore[method-assign]

    def _timed(self, original: Any) -> Any:
        def timed(warehouse: Any, *args: Any, **kw: Any) -> Any:
            if str(threading.get_native_id()) != self.thread:
                return original(warehouse, *args, **kw)  # a read aside: in its own thread
            before = thread_seconds()
            result = original(warehouse, *args, **kw)
            text = args[0] if args and isinstance(args[0], str) else original.__name__
            self._spent(before, text)
            return result

        return timed

    def _committed(self, original: Any) -> Any:
        """The outermost transaction's COMMIT as one more statement (a checkpoint at the
        commit runs on DuckDB's threads too, which the time between statements misses)."""

        @contextmanager
        def transaction(warehouse: Any) -> Iterator[None]:
            outermost = str(threading.get_native_id()) == self.thread and self.depth == 0
            before: dict[str, float] = {}
            self.depth += outermost
            try:
                with original(warehouse):
                    yield
                    before = thread_seconds() if outermost else {}
            finally:
                self.depth -= outermost
            if before:
                self._spent(before, "COMMIT")

        return transaction

    def _spent(self, before: dict[str, float], text: str) -> None:
        spent = {t: s - before.get(t, 0.0) for t, s in thread_seconds().items()}
        self.busiest += max(spent.values())
        self.inside += spent.get(self.thread, 0.0)
        self.statements.append((max(spent.values()), " ".join(text.split())[:120]))

    def floor(self, began: float) -> str:
        """The estimate since this thread's CPU was ``began`` (``thread_seconds``)."""
        outside = thread_seconds()[self.thread] - began - self.inside
        return (
            f"serial estimate: {self.busiest + outside:.2f} s (each statement's busiest "
            f"thread {self.busiest:.2f} s, this thread between statements {outside:.2f} s)"
        )


class Timeline:
    """The build as it ran (``--timeline``): each warehouse call (statements, the reads
    aside, opening and closing the database, the outermost COMMIT) and each wait of the
    build's thread for a read aside (``_Aside.ready``), with its start and end from the
    build's start, its thread and that thread's CPU in it. The build's thread's time
    between them is Python (narrowing the models, the ledger, Arrow)."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.began = time.perf_counter()
        self.calls: list[tuple[float, float, str, float, str]] = []
        kind = type(warehouse)
        for name in ("execute", "rows", "query", "_open", "_detach"):
            setattr(kind, name, self._timed(getattr(kind, name), name))
        kind.transaction = self._committed(kind.transaction)  # type: ignore[method-assign]
        incremental._Aside.ready = self._timed(  # type: ignore[method-assign]
            incremental._Aside.ready, "(waits for reads aside)"
        )

    def _timed(self, original: Any, name: str) -> Any:
        def timed(owner: Any, *args: Any, **kw: Any) -> Any:
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(owner, *args, **kw)
            finally:
                text = args[0] if args and isinstance(args[0], str) else name
                self._add(start, cpu, text)

        return timed

    def _add(self, start: float, cpu: float, text: str) -> None:
        thread = threading.current_thread().name
        spent = time.thread_time() - cpu
        self.calls.append((start, time.perf_counter(), thread, spent, " ".join(text.split())))

    def _committed(self, original: Any) -> Any:
        @contextmanager
        def transaction(warehouse: Any) -> Iterator[None]:
            outermost = not warehouse._state.in_transaction
            start = cpu = 0.0
            with original(warehouse):
                yield
                start, cpu = time.perf_counter(), time.thread_time()
            if outermost:
                self._add(start, cpu, "COMMIT")

        return transaction

    def print(self, build_thread: str = "MainThread") -> None:
        """Every call in the order it started, the build's thread's gaps of 2 ms or more
        between them, and what the build's thread's time went to."""
        print("timeline (ms from the build's start; duration; the thread's CPU ms):")
        end = inside = waits = 0.0
        for start, stop, thread, cpu, text in sorted(self.calls):
            mine = thread == build_thread
            if mine and start - end >= 0.002 and end:
                print(f"  {'':>8} {'':>7}  ... {(start - end) * 1000:.1f} ms between calls")
            print(
                f"  {(start - self.began) * 1000:8.1f} {(stop - start) * 1000:7.1f}  "
                f"cpu {cpu * 1000:6.1f}  {thread[:14]:14} {text[:110]}"
            )
            if mine and stop > end:
                inside += stop - max(start, end)
                waits += (stop - start) if text.startswith("(waits") else 0.0
                end = stop
        total = end - self.began
        print(
            f"build's thread: {total:.3f} s, in calls {inside - waits:.3f} s, waiting for "
            f"(and taking) reads aside {waits:.3f} s, between calls {total - inside:.3f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--copy", default="work.duckdb", help="the copy's file name")
    parser.add_argument("--top", type=int, default=20, help="statements to list")
    parser.add_argument(
        "--analytics", action="store_true", help="issue 23's marts too (the base built with them)"
    )
    parser.add_argument("--serial", action="store_true", help="the serial estimate (module doc)")
    parser.add_argument(
        "--timeline", action="store_true", help="every call as it ran (Timeline), and the waits"
    )
    parser.add_argument(
        "--operators", metavar="REGEX", help="profile the statements matching it (module doc)"
    )
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    last = marts_bench.FIRST_DAY + dt.timedelta(days=marts_bench.DAYS - 1)
    copy = args.folder / args.copy
    extra = ANALYTICS_MODELS if args.analytics else ()
    shutil.copy(prepared(args.subscriptions, args.folder, last, extra), copy)
    os.sync()  # the copy's writeback is not the build's (marts_bench.timed_build)
    warehouse = connect(f"duckdb:///{copy}")
    warehouse.migrate()
    found: list[tuple[float, float, str]] = []
    timing(warehouse, found)
    if args.operators:
        operators(warehouse, args.operators, args.folder)
    serial = Serial(warehouse) if args.serial else None
    context = Context(load_settings(environ={}), warehouse, Lake(str(args.folder / "lake")))
    tables = SUBSCRIBER_MODELS + extra
    chosen = [m for m in discover_models() if m.table in tables]
    began = thread_seconds()[str(threading.get_native_id())]
    timeline = Timeline(warehouse) if args.timeline else None
    own = time.thread_time()
    outcome, wall, cpu = timed_build_day(context, last, chosen)
    own = time.thread_time() - own
    print(
        f"build_day: {wall:.2f} s wall, {cpu:.2f} s CPU (the build's thread {own:.2f}), "
        f"load {os.getloadavg()[0]:.2f}"
    )
    if timeline is not None:
        timeline.print()
    if serial is not None:
        print(serial.floor(began))
        print("largest shares of the serial estimate (busiest thread's CPU s):")
        for busiest, sql in sorted(serial.statements, reverse=True)[: args.top]:
            print(f"  {busiest:7.3f}  {sql}")
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
