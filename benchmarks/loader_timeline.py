"""Where a load's wall clock goes, batch by batch (issue 27 item 2).

The loader prepares a batch (Python: parse, check, enrich, the Arrow table) in the loading
thread, or in its kept child process, while one writer thread inserts the batch before into
``web.hits`` and commits. This script loads the same log as ``sessionize_bench.py`` (the
demo year, one public address per visitor) into fresh warehouses and records, per batch,
when each step started and ended and in which thread, with that thread's CPU time:

- ``prepare``: ``loader._prepare`` (in the loading process), or, with the kept child, the
  wait for the child's next batch (``recv``: the child prepares meanwhile);
- ``insert``: the writer thread's insert of a batch with its offset (``loader._write``);
- ``commit``: the writer's COMMIT (``loader._commit``);
- ``wait``: the loading thread waiting for the writer before it hands it the next batch.

Then it prints the steps in time order, the sums, how much of the load both threads were
busy at once, and the fixed cost of a load: a load of a ~100-hit log, and the same load's
parts (sites, salts, the writer, retention). An ``insert``'s CPU over its wall says whether
DuckDB's append runs beside Python or holds the GIL (Arrow's scan through Python objects):
``--gil`` also times a Python counting loop alone and during an insert.

    PYTHONPATH=src python benchmarks/loader_timeline.py [--hits 60000] [--rounds 2]
                                      [--kept-child [--share 0,2,3] [--no-in-process]]
                                      [--commit-records 100000,20000]
                                      [--quiet] [--gil] [--threads]
                                      [--check-rows OTHER_TREE/src]
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hygiene import LoadWatch, temporary_folder, thread_seconds
from sessionize_bench import (
    YEAR,
    fresh_warehouse,
    process_cpu,
    traffic,
    warm_lookups,
    warm_up_log,
)

from tally.config import Settings, load_settings
from tally.web import enrich, loader
from tally.web.demo import write_records
from tally.web.hitlog import read_segment, segment_paths
from tally.web.loader import load_hits
from tally.web.sessions import DaySalts

Step = tuple[str, str, float, float, float]  # kind, thread, start, end, thread CPU


class Timeline:
    def __init__(self) -> None:
        self.steps: list[Step] = []
        self.origin = time.perf_counter()
        self.guard = threading.Lock()

    def wrap(self, kind: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started, cpu = time.perf_counter(), time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                ended, spent = time.perf_counter(), time.thread_time() - cpu
                with self.guard:
                    self.steps.append(
                        (kind, threading.current_thread().name, started, ended, spent)
                    )

        return timed


def patched(timeline: Timeline) -> Callable[[], None]:
    """Wrap the loader's steps; the function that unwraps them."""
    saved = {
        name: getattr(loader, name) for name in ("_prepare", "_write", "_commit", "_from_child")
    }
    wait = loader._Writer.wait
    loader._prepare = timeline.wrap("prepare", saved["_prepare"])
    loader._write = timeline.wrap("insert", saved["_write"])
    loader._commit = timeline.wrap("commit", saved["_commit"])
    loader._from_child = timeline.wrap("child", saved["_from_child"])
    loader._Writer.wait = timeline.wrap("wait", wait)  # type: ignore[method-assign]

    def restore() -> None:
        for name, function in saved.items():
            setattr(loader, name, function)
        loader._Writer.wait = wait  # type: ignore[method-assign]

    return restore


def busy(steps: list[Step], kinds: set[str]) -> list[tuple[float, float]]:
    """The union of the steps' intervals, merged."""
    spans = sorted((s[2], s[3]) for s in steps if s[0] in kinds)
    merged: list[tuple[float, float]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def length(spans: list[tuple[float, float]]) -> float:
    return sum(end - start for start, end in spans)


def overlap(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> float:
    total, j = 0.0, 0
    for start, end in a:
        for other_start, other_end in b[j:]:
            if other_start >= end:
                break
            total += max(0.0, min(end, other_end) - max(start, other_start))
    return total


class ThreadClock:
    """CPU of each of this process's threads over a load (``thread_seconds``): the loading
    thread, the writer and DuckDB's own threads, which ``thread_time`` in the writer does
    not see. Threads end before the load returns (the writer's pool,
    DuckDB's with the database), hence a sampler every 50 ms (its own CPU left out)."""

    def __init__(self) -> None:
        self.first = thread_seconds()
        self.last: dict[str, float] = {}
        self.names: dict[str, str] = {}
        self.done = threading.Event()
        self.sampler = threading.Thread(target=self.sample, name="thread-clock")
        self.sampler.start()

    def sample(self) -> None:
        while not self.done.wait(0.05):
            self.last.update(thread_seconds())
            for thread in threading.enumerate():
                self.names[str(thread.native_id)] = thread.name

    def stop(self) -> dict[str, float]:
        """CPU seconds by kind of thread over the load."""
        self.done.set()
        self.sampler.join()
        self.last.update(thread_seconds())
        main, mine = str(threading.main_thread().native_id), str(threading.get_native_id())
        kinds: dict[str, float] = {"loading": 0.0, "writer": 0.0, "DuckDB's": 0.0}
        for tid, seconds in self.last.items():
            name = self.names.get(tid, "")
            if tid == str(self.sampler.native_id) or name == "thread-clock":
                continue
            kind = "loading" if tid in (main, mine) else "writer" if "writer" in name else None
            kinds[kind or "DuckDB's"] += seconds - self.first.get(tid, 0.0)
        return kinds


def timed(store: Any, settings: Settings, kept: bool, quiet: bool, threads: bool = False) -> None:
    enrich.network_of.cache_clear()
    enrich.detect_device.cache_clear()
    loader.stop_preparer()
    child = loader.start_preparer(wait=True) if kept else None
    timeline = Timeline()
    restore = patched(timeline)
    cpu, child_cpu = time.process_time(), process_cpu(child)
    clock = ThreadClock() if threads else None
    try:
        started = time.perf_counter()
        result = load_hits(store, settings)
        seconds = time.perf_counter() - started
    finally:
        restore()
        by_thread = clock.stop() if clock else {}
    cpu, child_cpu = time.process_time() - cpu, process_cpu(child) - child_cpu
    steps = sorted(timeline.steps, key=lambda s: s[2])
    if not quiet:
        print(f"{'step':8} {'thread':20} {'start':>8} {'end':>8} {'wall ms':>8} {'cpu ms':>8}")
        for kind, thread, start, end, spent in steps:
            if kind == "child" and end - start < 0.0005:
                continue
            print(
                f"{kind:8} {thread[:20]:20} {(start - started) * 1e3:8.1f} "
                f"{(end - started) * 1e3:8.1f} {(end - start) * 1e3:8.1f} {spent * 1e3:8.1f}"
            )
    preparing = busy(steps, {"prepare"} if not kept else {"child"})
    writing = busy(steps, {"insert", "commit"})
    sums = {
        kind: (
            sum(s[3] - s[2] for s in steps if s[0] == kind),
            sum(s[4] for s in steps if s[0] == kind),
        )
        for kind in ("prepare", "child", "wait", "insert", "commit")
    }
    first = min((s[2] for s in steps), default=started)
    last = max((s[3] for s in steps), default=started)
    hits = result.loaded
    print(
        f"{'kept child' if kept else 'in-process'}: {hits:,} hits in {seconds:.3f} s = "
        f"{hits / seconds:,.0f} hits/s; this process's CPU {cpu:.3f} s "
        f"[{hits / cpu:,.0f} per CPU-s]"
        + (
            f"; the child's CPU {child_cpu:.3f} s; a hit's CPU here {cpu / hits * 1e6:.1f} µs, "
            f"there {child_cpu / hits * 1e6:.1f} µs, both {(cpu + child_cpu) / hits * 1e6:.1f}"
            if kept
            else f"; a hit's CPU {cpu / hits * 1e6:.1f} µs"
        )
    )
    for kind, (wall, spent) in sums.items():
        if wall:
            print(
                f"  {kind:8} wall {wall:.3f} s ({wall / hits * 1e6:5.1f} µs a hit), "
                f"its thread's CPU {spent:.3f} s"
            )
    if by_thread:
        print(
            "  CPU by thread (/proc, the sampler's left out): "
            + ", ".join(f"{kind} {spent:.2f} s" for kind, spent in by_thread.items())
        )
    both = overlap(preparing, writing)
    print(
        f"  before the first step {(first - started) * 1e3:.0f} ms, after the last "
        f"{(seconds - (last - started)) * 1e3:.0f} ms; preparing busy {length(preparing):.3f} s, "
        f"writing busy {length(writing):.3f} s, both at once {both:.3f} s; "
        f"writer idle {seconds - length(writing):.3f} s"
    )


def fixed_cost(folder: Path, settings: Settings, payloads: list[bytes], rounds: int) -> None:
    """A load of 100 hits, whole and by part."""
    small = settings.model_copy(deep=True)
    small.web.hit_log_dir = str(folder / "small-log")
    write_records(small, payloads[:100])
    for round_number in range(rounds):
        store = fresh_warehouse(folder, f"small-{round_number}")
        enrich.network_of.cache_clear()
        enrich.detect_device.cache_clear()
        timeline = Timeline()
        wrapped = {
            name: getattr(loader, name)
            for name in ("_site_rules", "_positions", "_apply_retention", "_prepare", "_write")
        }
        of = DaySalts.of
        for name, function in wrapped.items():
            setattr(loader, name, timeline.wrap(name, function))
        DaySalts.of = timeline.wrap("salts", of)  # type: ignore[method-assign]
        finish = loader._Writer.finish
        loader._Writer.finish = timeline.wrap("finish", finish)  # type: ignore[method-assign]
        started = time.perf_counter()
        try:
            result = load_hits(store, small)
        finally:
            seconds = time.perf_counter() - started
            for name, function in wrapped.items():
                setattr(loader, name, function)
            DaySalts.of = of  # type: ignore[method-assign]
            loader._Writer.finish = finish  # type: ignore[method-assign]
        parts = ", ".join(
            f"{kind} {(end - start) * 1e3:.1f}" for kind, _, start, end, _ in timeline.steps
        )
        print(
            f"a load of {result.loaded} hits: {seconds * 1e3:.1f} ms wall; its parts (ms): {parts}"
        )
        store.close()


def gil_check(folder: Path, settings: Settings) -> None:
    """A Python loop's rate alone, and while the writer inserts a prepared batch."""
    store = fresh_warehouse(folder, "gil")
    path = segment_paths(Path(settings.web.hit_log_dir))[0]
    records = read_segment(path, 0, sealed=True, max_records=10_000).records
    sites, salts = loader._site_rules(store), DaySalts.of(store)
    batch = loader._prepare(records, path.name, settings, sites, salts)
    stop = threading.Event()

    def count() -> int:
        n = 0
        while not stop.is_set():
            n += 1
        return n

    def rate(seconds: float) -> float:
        stop.clear()
        holder: list[int] = []
        thread = threading.Thread(target=lambda: holder.append(count()))
        started = time.perf_counter()
        thread.start()
        time.sleep(seconds)
        stop.set()
        thread.join()
        return holder[0] / (time.perf_counter() - started)

    alone = rate(0.3)
    stop.clear()
    holder: list[int] = []
    thread = threading.Thread(target=lambda: holder.append(count()))
    started = time.perf_counter()
    thread.start()
    with store.transaction():
        inserted = time.perf_counter()
        store.append("web.hits", batch.table)
        insert_seconds = time.perf_counter() - inserted
    stop.set()
    thread.join()
    during = holder[0] / (time.perf_counter() - started)
    print(
        f"a Python loop: {alone:,.0f} turns/s alone, {during:,.0f} while one 10,000-row "
        f"insert and commit ran ({insert_seconds * 1e3:.0f} ms of the insert): "
        f"{during / alone:.2f} of its speed"
    )
    store.close()


# a load of the log by another tree (run with its src on PYTHONPATH), in its own process
_OTHER_TREE_LOAD = """
import sys
from tally.config import load_settings
from tally.warehouse import connect
from tally.web.loader import load_hits
from tally.web.sites import add_site
settings = load_settings(environ={"TALLY_DATA_DIR": sys.argv[1]})
settings.web.hit_log_dir = sys.argv[2]
store = connect("duckdb:///" + sys.argv[3])
store.migrate()
add_site(store, "Bench", ["https://watch.example.com"], "Asia/Hong_Kong")
print(load_hits(store, settings).loaded)
store.close()
"""


def check_rows(folder: Path, settings: Settings, other_src: str) -> None:
    """The log loaded by the tree at ``other_src`` (in-process), then by this tree in
    process and through the kept child (no sharing, and the setting's sharing), each with
    the first load's salts (so the IP keys agree): every web.hits row and every segment's
    progress compared with EXCEPT ALL both ways."""
    import subprocess

    import duckdb

    reference = folder / "other-tree.duckdb"
    environment = {**os.environ, "PYTHONPATH": other_src}
    command = [sys.executable, "-c", _OTHER_TREE_LOAD, str(folder / "other-data")]
    command += [settings.web.hit_log_dir, str(reference)]
    subprocess.run(command, check=True, env=environment, stdout=subprocess.DEVNULL)
    with duckdb.connect(str(reference), read_only=True) as other:
        salts = other.execute("SELECT * FROM web.visitor_salts").fetchall()
    shared = settings.web.load_share_batches
    for kept, share in dict.fromkeys(((False, 0), (True, 0), (True, shared))):
        settings.web.load_share_batches = share
        name = f"check-{kept}-{share}"
        store = fresh_warehouse(folder, name)
        marks = ", ".join("?" * len(salts[0])) if salts else ""
        for row in salts:
            store.execute(f"INSERT INTO web.visitor_salts VALUES ({marks})", list(row))
        loader.stop_preparer()
        if kept:
            loader.start_preparer(wait=True)
        load_hits(store, settings)
        store.close()
        with duckdb.connect() as both:
            both.execute(f"ATTACH '{reference}' AS a (READ_ONLY)")
            both.execute(f"ATTACH '{folder / name}.duckdb' AS b (READ_ONLY)")
            progress = (
                "SELECT segment, loaded_offset, hits, skipped_bytes, sealed"
                " FROM {}.tally_meta.hitlog_segments"
            )
            counts = [
                both.execute(f"SELECT count(*) FROM ({one} EXCEPT ALL {other})").fetchone()[0]  # type: ignore[index]
                for one, other in (
                    ("SELECT * FROM a.web.hits", "SELECT * FROM b.web.hits"),
                    ("SELECT * FROM b.web.hits", "SELECT * FROM a.web.hits"),
                    (progress.format("a"), progress.format("b")),
                    (progress.format("b"), progress.format("a")),
                )
            ]
            rows = both.execute("SELECT count(*) FROM b.web.hits").fetchone()[0]  # type: ignore[index]
        way = f"kept child, web.load_share_batches = {share}" if kept else "in process"
        print(
            f"rows against {other_src} ({way}): {rows:,} rows; only there {counts[0]}, "
            f"only here {counts[1]}; segments' progress differing {counts[2]} / {counts[3]}"
        )
    settings.web.load_share_batches = shared
    loader.stop_preparer()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kept-child", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="sums only, no step lines")
    parser.add_argument(
        "--share",
        default="",
        help="with --kept-child: web.load_share_batches values timed in turn, e.g. 0,2,3 "
        "(default: the setting's default)",
    )
    parser.add_argument("--no-in-process", action="store_true", help="kept child loads only")
    parser.add_argument(
        "--commit-records",
        default="",
        help="web.load_commit_records values timed in turn in each round, e.g. 100000,20000 "
        "(default: the setting's default)",
    )
    parser.add_argument(
        "--check-rows",
        metavar="OTHER_SRC",
        help="also load the log with the tree whose src folder this is (e.g. a git archive "
        "of main) and compare web.hits and the progress with this tree's, row for row",
    )
    parser.add_argument("--gil", action="store_true", help="also the GIL check")
    parser.add_argument(
        "--threads",
        action="store_true",
        help="also each load's CPU by thread: loading, writer, DuckDB's own (from /proc)",
    )
    options = parser.parse_args()
    watch = LoadWatch()
    print(f"load average {os.getloadavg()}")
    with temporary_folder("tally-loader-timeline-") as folder:
        settings = load_settings(environ={"TALLY_DATA_DIR": str(folder / "data")})
        payloads = traffic(*YEAR, options.hits, seed=27)
        write_records(settings, payloads)
        warm_lookups()
        warm = warm_up_log(settings, payloads, folder)
        store = fresh_warehouse(folder, "warm-up")
        load_hits(store, warm)
        store.close()
        fixed_cost(folder, settings, payloads, options.rounds)
        # the loops below change these settings; --check-rows loads with the defaults
        default_share = settings.web.load_share_batches
        default_commit = settings.web.load_commit_records
        shares = [int(n) for n in options.share.split(",") if n] or [default_share]
        commits = [int(n) for n in options.commit_records.split(",") if n] or [default_commit]
        ways: list[tuple[bool, int, int]] = []
        for commit in commits:
            ways += [] if options.no_in_process else [(False, 0, commit)]
            if options.kept_child:
                ways += [(True, share, commit) for share in shares]
        for round_number in range(options.rounds):
            # each round in another order, so no way always meets the quieter moment
            turned = ways[round_number % len(ways) :] + ways[: round_number % len(ways)]
            for kept, share, commit in turned:
                settings.web.load_share_batches = share
                settings.web.load_commit_records = commit
                if kept:
                    print(f"web.load_share_batches = {share}")
                if len(commits) > 1:
                    print(f"web.load_commit_records = {commit}")
                name = f"load-{round_number}-{kept}-{share}-{commit}"
                store = fresh_warehouse(folder, name)
                timed(store, settings, kept, options.quiet or round_number > 0, options.threads)
                store.close()
        settings.web.load_share_batches = default_share
        settings.web.load_commit_records = default_commit
        if options.gil:
            gil_check(folder, settings)
        if options.check_rows:
            check_rows(folder, settings, options.check_rows)
        loader.stop_preparer()
    watch.finish()
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
