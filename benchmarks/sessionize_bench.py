"""Turning tracked hits into visits, through the real path, stage by stage (issues 27, 28).

A year (2025) of matomo.js page views, events, outlinks and downloads for one site
(Asia/Hong_Kong), drawn by tally's demo generator (``tally.web.demo.records``) with one public
address per visitor drawn from the whole IPv4 space (so the provider and country caches
see as many addresses as visitors, not the demo's dozen), is written into a hit log the way
the endpoint writes it. Then, each stage timed alone:

1. **loader**: ``load_hits`` reads the log, parses and enriches every hit (device, country,
   provider, referrer, IP anonymised) and inserts it into ``web.hits`` exactly once; run in
   fresh warehouses alternately with the provider lookup on (the country + ASN database)
   and off (``web.provider_lookup = false``: the country-only database, as before issue 28),
   caches emptied before each run; then the loader's work before DuckDB (read, parse,
   check, enrich, Arrow table) alone, so a hit's CPU splits into that and writing;
2. **sessionize**: ``sessionize`` over the loaded hits (visits, actions, conversions);
   floor: a plain DuckDB SQL sessionization of the same ``web.hits`` (30-minute gap, split at
   the site's midnight: one window pass numbering visits per visitor and local day, then
   one row per visit), timed alternately with it;
3. **incremental**: one more day's hits logged, loaded and sessionized, against the year's
   sessionize.

``--engine`` picks the sessionize engine of stages 2 and 3 (default: the default of
``web.sessionize_engine``, the engine tally runs);
``--engine both`` times the year's sessionize on each engine twice, alternating, each run
on a fresh copy of the same loaded hits, checks that both wrote the same web.actions and
web.visits (a hash of every column of every row), then sessionizes one more day on each.

With ``--copies K`` the sessionize and incremental stages run on K copies of the loaded hits
(copied in SQL, each copy with its own hit ids, visitor ids, user ids and IP keys: K times as
many visitors a day, the same pages and times), so a year of a few million hits is timed
without hours of loading; the loader stage is timed on the log itself.

Usage: python benchmarks/sessionize_bench.py [--hits N] [--rounds N] [--copies K] [--full]
                                            [--loader-only] [--kept-child]
                                            [--engine sql|sorted|both]
  default  about 150,000 hits, 3 rounds of the loader each way
  --loader-only  stop after the loader stage (its rows of the table only)
  --kept-child   the loads through the loader's kept child (as tally serve runs them);
                 either way each round also times one load the other way, side by side
  --full   about 10,000,000 hits (the issue's year; the loader alone takes most of an hour)
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import resource
import shutil
import sys
import time
from pathlib import Path

from hygiene import LoadWatch, scalar, temporary_folder

from tally.config import Settings, load_settings
from tally.warehouse import Warehouse, connect
from tally.web import enrich, loader
from tally.web.demo import USER_AGENTS, records, write_records
from tally.web.hitlog import read_segment, segment_paths
from tally.web.loader import load_hits
from tally.web.sessions import ENGINES, DaySalts, sessionize
from tally.web.sites import add_site

YEAR = (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
NEXT_DAY = dt.date(2026, 1, 1)
HITS_PER_VISIT = 2.9  # the demo generator's mean, measured: used only to size the year
LOADER_TARGET = 50_000  # hits/s (issue 27)
SESSIONIZE_TARGET = 1_000_000  # hits/s (issue 27)
INCREMENTAL_TARGET = 0.05  # one day's sessionize / the year's (issue 27)
VISITOR = re.compile(rb"_id=([0-9a-f]{16})")

FLOOR_SQL = """
CREATE OR REPLACE TABLE floor_visits AS
WITH local AS (
    SELECT idsite, coalesce(user_id, visitor_id) AS visitor, hit_time,
           CAST(hit_time + INTERVAL 8 HOUR AS DATE) AS local_date  -- Hong Kong: UTC+8
    FROM web.hits
),
marked AS (
    SELECT *,
        CASE WHEN hit_time - lag(hit_time) OVER w <= INTERVAL 30 MINUTE THEN 0 ELSE 1 END
            AS opens
    FROM local
    WINDOW w AS (PARTITION BY idsite, visitor, local_date ORDER BY hit_time)
),
numbered AS (
    SELECT *, sum(opens) OVER (
        PARTITION BY idsite, visitor, local_date ORDER BY hit_time
        ROWS UNBOUNDED PRECEDING) AS visit_number
    FROM marked
)
SELECT idsite, visitor, local_date, visit_number, min(hit_time) AS started_at,
       max(hit_time) AS ended_at, count(*) AS hits
FROM numbered
GROUP BY ALL
"""


def traffic(day_from: dt.date, day_to: dt.date, hits: int, seed: int) -> list[bytes]:
    """Demo hit-log records for the days, each visitor given its own public address."""
    days = (day_to - day_from).days + 1
    per_day = max(1, round(hits / days / HITS_PER_VISIT / 1.11))  # weekends are 1.4×
    found = records(1, seed, day_from, day_to, visits_per_day=per_day)
    rng = random.Random(seed)
    addresses: dict[bytes, str] = {}
    out = []
    for payload in found:
        record = json.loads(payload)
        visitor = VISITOR.search(record["q"].encode())
        key = visitor.group(1) if visitor else b""
        if key not in addresses:
            addresses[key] = public_address(rng)
        record["ip"] = addresses[key]
        out.append(json.dumps(record, separators=(",", ":")).encode())
    return out


def public_address(rng: random.Random) -> str:
    """A random IPv4 address that is not private or reserved."""
    while True:
        text = ".".join(str(rng.randrange(256)) for _ in range(4))
        if enrich.network_of(text).country:
            return text


def fresh_warehouse(folder: Path, name: str) -> Warehouse:
    store = connect(f"duckdb:///{folder / name}.duckdb")
    store.migrate()
    add_site(store, "Bench", ["https://watch.example.com"], "Asia/Hong_Kong")
    return store


def cpu_seconds() -> float:
    """CPU seconds of this process (all threads) and of its ended children."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def process_cpu(pid: int | None) -> float:
    """CPU seconds of a running process (the loader's kept child), from /proc."""
    if not pid:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def warm_lookups() -> None:
    """Start-up costs, not a hit's: the address databases load once a process, and
    device-detector compiles its patterns on the first agents it sees."""
    for with_provider in (True, False):
        enrich._geo(with_provider)
    for agent in USER_AGENTS:
        enrich.detect_device(agent)


def warm_up_log(settings: Settings, payloads: list[bytes], folder: Path) -> Settings:
    """Settings whose hit log is a small one of its own (the first 3,000 records): the
    first load of a process pays for imports and DuckDB's first plans, so one such load
    runs before anything is timed."""
    warm = settings.model_copy(deep=True)
    warm.web.hit_log_dir = str(folder / "warm-up-log")
    write_records(warm, payloads[:3000])
    return warm


def timed_load(store: Warehouse, settings: Settings, kept: bool) -> tuple[float, float, int]:
    """Wall-clock seconds, CPU seconds and hits of one load of the whole log, with cold
    lookup caches. With ``kept``, the batches are prepared in the loader's kept child
    process, as ``tally serve`` prepares them: started afresh and warmed before the clock
    starts (its lookups cold, its patterns compiled), its CPU counted from /proc; a large
    load without it starts its own child, whose CPU is counted once it has ended."""
    enrich.network_of.cache_clear()
    enrich.detect_device.cache_clear()
    loader.stop_preparer()
    child = loader.start_preparer(wait=True) if kept else None
    started, cpu, child_cpu = time.perf_counter(), cpu_seconds(), process_cpu(child)
    result = load_hits(store, settings)
    seconds = time.perf_counter() - started
    child_cpu = process_cpu(child) - child_cpu
    if not kept:  # a large load's own child, ended: its CPU (start included) is counted
        loader.stop_preparer()
    return seconds, cpu_seconds() - cpu + child_cpu, result.loaded


def prepare_cost(folder: Path, settings: Settings) -> float:
    """Microseconds of CPU per hit the loader spends before DuckDB: reading the log's
    records, parsing, checking and enriching them and making each batch's Arrow table
    (``loader._prepare``, which makes the table too, in batches as ``load_hits`` makes them,
    the lookup caches emptied as in ``timed_load``; best of 3). The rest of a load's CPU
    is writing into ``web.hits``: the insert, the commit and DuckDB's checkpoint."""
    store = fresh_warehouse(folder, "prepare")
    sites, salts = loader._site_rules(store), DaySalts.of(store)
    size = settings.web.load_batch_records
    batches = [
        (path.name, read_segment(path, 0, sealed=True).records)
        for path in segment_paths(Path(settings.web.hit_log_dir))
    ]
    hits, best = sum(len(records) for _, records in batches), float("inf")
    for _ in range(3):
        enrich.network_of.cache_clear()
        enrich.detect_device.cache_clear()
        started = time.process_time()
        with store.transaction():
            for name, records in batches:
                for first in range(0, len(records), size):
                    loader._prepare(records[first : first + size], name, settings, sites, salts)
        best = min(best, time.process_time() - started)
    store.close()
    return best / hits * 1e6


def lookup_cost(addresses: list[str], with_provider: bool) -> float:
    """Microseconds of CPU per address looked up for the first time (no cache)."""
    enrich.network_of.cache_clear()
    started = time.process_time()
    for address in addresses:
        enrich.network_of(address, with_provider)
    return (time.process_time() - started) / len(addresses) * 1e6


def timed_sessionize(store: Warehouse, engine: str) -> tuple[float, float]:
    """Wall-clock and CPU seconds (this process, DuckDB's threads included) of one run."""
    started, cpu = time.perf_counter(), time.process_time()
    sessionize(store, engine=engine)
    return time.perf_counter() - started, time.process_time() - cpu


# Every column of every row sessionize wrote, as one number per table: two engines that
# wrote the same rows give the same sums (page ids are given in label order: alike too).
FINGERPRINT_SQL = """
SELECT
    (SELECT count(*) FROM web.actions),
    (SELECT sum(hash(a)) FROM web.actions AS a),
    (SELECT count(*) FROM web.visits),
    (SELECT sum(hash(v)) FROM web.visits AS v)
"""


def fingerprint(store: Warehouse) -> tuple[int, ...]:
    return tuple(int(value) for value in store.rows(FINGERPRINT_SQL)[0])


def timed_floor(path: Path) -> tuple[float, float, int]:
    import duckdb

    with duckdb.connect(str(path)) as connection:
        started, cpu = time.perf_counter(), time.process_time()
        connection.execute(FLOOR_SQL)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        visits = scalar(connection, "SELECT count(*) FROM floor_visits")
        connection.execute("DROP TABLE floor_visits")
    return seconds, cpu, visits


COPY_SQL = """
INSERT INTO web.hits
SELECT h.* REPLACE (
    h.hit_id || '/' || c.k AS hit_id,
    CASE WHEN h.visitor_id IS NOT NULL THEN substr(md5(h.visitor_id || c.k), 1, 16) END
        AS visitor_id,
    CASE WHEN h.user_id IS NOT NULL THEN h.user_id || '/' || c.k END AS user_id,
    CASE WHEN h.ip_key IS NOT NULL THEN substr(md5(h.ip_key || c.k), 1, 32) END AS ip_key
)
FROM web.hits AS h, (SELECT range AS k FROM range(1, ?)) AS c
"""


def copied(path: Path, copies: int) -> None:
    """The loaded hits K times over (see the module's docstring)."""
    import duckdb

    if copies > 1:
        with duckdb.connect(str(path)) as connection:
            connection.execute(COPY_SQL, [copies])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hits", type=int, default=150_000, help="about this many hits")
    parser.add_argument("--rounds", type=int, default=3, help="loader runs each way")
    parser.add_argument("--full", action="store_true", help="about 10M hits")
    parser.add_argument(
        "--copies", type=int, default=1, help="sessionize K copies of the loaded hits"
    )
    parser.add_argument(
        "--loader-only", action="store_true", help="time the loader stage alone, then stop"
    )
    parser.add_argument(
        "--kept-child",
        action="store_true",
        help="time the loads through the loader's kept child process (as tally serve "
        "prepares them) and, beside them, the loading process; default: the other way round",
    )
    parser.add_argument(
        "--process-bytes",
        type=int,
        default=None,
        help="web.load_process_bytes: a load of this many bytes prepares its batches in a "
        "child process (0: never; default: the setting's default)",
    )
    parser.add_argument(
        "--engine",
        choices=(*ENGINES, "both"),
        default=None,
        help="the sessionize engine (default: web.sessionize_engine's default, what tally "
        "runs); both: each, alternating, twice",
    )
    options = parser.parse_args()
    hits = 10_000_000 if options.full else options.hits
    print(f"{platform.node()}: {platform.machine()}, Python {sys.version.split()[0]}")
    watch = LoadWatch()
    with temporary_folder("tally-sessionize-bench-") as folder:
        settings = load_settings(environ={"TALLY_DATA_DIR": str(folder / "data")})
        if options.process_bytes is not None:
            settings.web.load_process_bytes = options.process_bytes
        started = time.perf_counter()
        payloads = traffic(*YEAR, hits, seed=27)
        write_records(settings, payloads)
        logged = sum(p.stat().st_size for p in segment_paths(Path(settings.web.hit_log_dir)))
        threshold = settings.web.load_process_bytes
        in_child = bool(threshold) and options.kept_child
        # each round, the same load the other way, for the side-by-side row
        other = (not in_child) if threshold else None
        where = (
            "in the kept child process (as tally serve)"
            if in_child
            else "in a child process"
            if 0 < threshold <= logged
            else "in the loading process"
        )
        print(
            f"generated and logged {len(payloads):,} hits ({logged:,} bytes) in "
            f"{time.perf_counter() - started:.1f} s; batches prepared {where}"
        )
        warm_lookups()
        warm = warm_up_log(settings, payloads, folder)
        for with_provider in (True, False):
            warm.web.provider_lookup = with_provider
            store = fresh_warehouse(folder, f"warm-up-{with_provider}")
            timed_load(store, warm, in_child)
            store.close()

        loads: dict[bool, list[float]] = {True: [], False: []}
        load_cpu: dict[bool, list[float]] = {True: [], False: []}
        kept: Warehouse | None = None
        beside: list[tuple[float, float]] = []  # (hits/s, per CPU-s) the other way
        for round_number in range(options.rounds):
            if other is not None:  # side by side: the same load, prepared the other way
                store = fresh_warehouse(folder, f"load-{round_number}-other")
                seconds, cpu, loaded = timed_load(store, settings, other)
                store.close()
                beside.append((loaded / seconds, loaded / cpu))
                print(
                    f"loader, provider on, {way(other)}: {loaded:,} hits in "
                    f"{seconds:.1f} s = {loaded / seconds:,.0f} hits/s "
                    f"[{loaded / cpu:,.0f} per CPU-second]"
                )
            # alternate which goes first, so neither always meets the quieter moment
            for with_provider in (True, False) if round_number % 2 == 0 else (False, True):
                settings.web.provider_lookup = with_provider
                name = f"load-{round_number}-{'provider' if with_provider else 'country'}"
                store = fresh_warehouse(folder, name)
                seconds, cpu, loaded = timed_load(store, settings, in_child)
                loads[with_provider].append(loaded / seconds)
                load_cpu[with_provider].append(loaded / cpu)
                print(
                    f"loader, provider {'on ' if with_provider else 'off'}: "
                    f"{loaded:,} hits in {seconds:.1f} s = {loaded / seconds:,.0f} hits/s "
                    f"[{loaded / cpu:,.0f} per CPU-second]"
                )
                if with_provider and kept is None:
                    kept, kept_name = store, name
                else:
                    store.close()
        settings.web.provider_lookup = True
        # Where a loaded hit's CPU goes: before DuckDB (Python), and writing (DuckDB)
        before_duckdb = prepare_cost(folder, settings)
        print(
            f"loader before DuckDB (read, parse, check, enrich, Arrow table): "
            f"{before_duckdb:.1f} µs CPU per hit"
        )
        # The lookup alone, on the log's own addresses: what the provider adds per address
        addresses = sorted({json.loads(p)["ip"] for p in payloads})
        costs = {
            flag: min(lookup_cost(addresses, flag) for _ in range(3)) for flag in (True, False)
        }
        print(
            f"lookup of {len(addresses):,} distinct addresses: {costs[True]:.1f} µs each with "
            f"the provider, {costs[False]:.1f} µs country only"
        )

        assert kept is not None
        loaded_hits = kept.rows("SELECT count(*) FROM web.hits")[0][0]
        kept.close()
        if options.loader_only:
            watch.finish()
            print_loader(options.rounds, loads, load_cpu, before_duckdb, watch, beside, in_child)
            return
        path = folder / f"{kept_name}.duckdb"
        copied(path, options.copies)
        if options.copies > 1:
            loaded_hits *= options.copies
            print(f"copied the loaded hits {options.copies} times: {loaded_hits:,} hits")
        floor_seconds, floor_cpu, floor_visits = timed_floor(path)
        engine = options.engine or settings.web.sessionize_engine
        engines = ENGINES if engine == "both" else (engine,)
        years = year_runs(path, engines, loaded_hits)
        floor_again, floor_cpu_again, _ = timed_floor(path)
        print(
            f"floor (plain SQL): {floor_visits:,} visits in {floor_seconds:.2f} s "
            f"[{floor_cpu:.2f}] and {floor_again:.2f} s [{floor_cpu_again:.2f}]"
        )

        # one more day: logged after the year, loaded, sessionized alone (on each engine's
        # sessionized year)
        day = traffic(NEXT_DAY, NEXT_DAY, max(1, loaded_hits // 365), seed=28)
        write_records(settings, day)
        days: dict[str, tuple[float, float]] = {}
        for engine in engines:
            store = connect(f"duckdb:///{engine_path(path, engine)}")
            day_load, _, day_loaded = timed_load(store, settings, in_child)
            days[engine] = timed_sessionize(store, engine)
            store.close()
            print(
                f"one more day: {day_loaded:,} hits loaded in {day_load:.2f} s, "
                f"sessionized ({engine}) in {days[engine][0]:.2f} s [{days[engine][1]:.2f} "
                f"CPU s]"
            )
    watch.finish()

    with_cpu = max(load_cpu[True])
    extra = (costs[True] - costs[False]) * len(addresses) / len(payloads)
    floor_rate = loaded_hits / min(floor_seconds, floor_again)
    floor_cpu_rate = loaded_hits / min(floor_cpu, floor_cpu_again)
    print()
    print("| stage | figure | floor / reference | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    print_loader(options.rounds, loads, load_cpu, before_duckdb, watch, beside, in_child)
    print(
        f"| the provider's own cost | {extra:.2f} µs CPU per hit ({costs[True]:.1f} − "
        f"{costs[False]:.1f} µs per distinct address, {len(addresses):,} addresses) | a hit's "
        f"loader CPU with the provider: {1e6 / with_cpu:.0f} µs | "
        f"{extra / (1e6 / with_cpu):.3f} | |"
    )
    for engine in engines:
        # the best of the engine's runs (one, or two with --engine both)
        year_seconds = min(seconds for seconds, _ in years[engine])
        year_cpu = min(cpu for _, cpu in years[engine])
        session_rate, session_cpu_rate = loaded_hits / year_seconds, loaded_hits / year_cpu
        day_seconds, day_cpu = days[engine]
        share, share_cpu = day_seconds / year_seconds, day_cpu / year_cpu
        print(
            f"| sessionize, {engine} engine ({loaded_hits:,} hits, best of "
            f"{len(years[engine])}) | {session_rate:,.0f} hits/s "
            f"[{session_cpu_rate:,.0f} per CPU-s] | plain DuckDB SQL sessionization (30-min "
            f"gap, local midnight): {floor_rate:,.0f} hits/s [{floor_cpu_rate:,.0f}] | "
            f"{session_rate / floor_rate:.2f} [{session_cpu_rate / floor_cpu_rate:.2f}] | "
            f"≥ {SESSIONIZE_TARGET:,} hits/s — "
            f"{watch.verdict(session_rate >= SESSIONIZE_TARGET)} |"
        )
        print(
            f"| incremental, one day, {engine} engine | {day_seconds:.2f} s [{day_cpu:.2f} CPU "
            f"s] | the year: {year_seconds:.2f} s [{year_cpu:.2f}] | {share:.3f} "
            f"[{share_cpu:.3f}] | ≤ {INCREMENTAL_TARGET} — wall "
            f"{watch.verdict(share <= INCREMENTAL_TARGET)}, per CPU "
            f"{watch.verdict(share_cpu <= INCREMENTAL_TARGET)} |"
        )


def engine_path(path: Path, engine: str) -> Path:
    """The copy of the loaded hits an engine sessionizes."""
    return path.with_name(f"{path.stem}-{engine}.duckdb")


def year_runs(
    path: Path, engines: tuple[str, ...], hits: int
) -> dict[str, list[tuple[float, float]]]:
    """The year sessionized by each engine on a fresh copy of ``path``: once, or with two
    engines twice each, alternating which goes first; with two, both must have written the
    same rows (the bench stops otherwise)."""
    runs: dict[str, list[tuple[float, float]]] = {engine: [] for engine in engines}
    prints: dict[str, tuple[int, ...]] = {}
    for round_number in range(1 if len(engines) == 1 else 2):
        for engine in engines if round_number % 2 == 0 else engines[::-1]:
            copy = engine_path(path, engine)
            shutil.copyfile(path, copy)
            store = connect(f"duckdb:///{copy}")
            seconds, cpu = timed_sessionize(store, engine)
            prints[engine] = fingerprint(store)
            store.close()
            runs[engine].append((seconds, cpu))
            print(
                f"sessionize ({engine} engine): {hits:,} hits → {prints[engine][2]:,} visits "
                f"in {seconds:.2f} s [{cpu:.2f} CPU s] = {hits / seconds:,.0f} hits/s"
            )
    if len(set(prints.values())) > 1:
        raise SystemExit(f"the engines wrote different rows: {prints}")
    if len(engines) > 1:
        print(f"both engines wrote the same rows: {prints[engines[0]]}")
    return runs


def way(kept: bool) -> str:
    """Where a load's batches were prepared."""
    return "kept child (as tally serve)" if kept else "no kept child (as load_hits alone)"


def print_loader(
    rounds: int,
    loads: dict[bool, list[float]],
    load_cpu: dict[bool, list[float]],
    before_duckdb: float,
    watch: LoadWatch,
    beside: list[tuple[float, float]],
    in_child: bool,
) -> None:
    """The loader's rows of the closing table: best of the rounds each way, the same
    load prepared in the loading process when the kept child was timed, and where a
    loaded hit's CPU goes."""
    with_rate, without_rate = max(loads[True]), max(loads[False])
    with_cpu, without_cpu = max(load_cpu[True]), max(load_cpu[False])
    print(
        f"| loader, provider on (best of {rounds}) | {with_rate:,.0f} hits/s "
        f"[{with_cpu:,.0f} per CPU-s] | provider off: {without_rate:,.0f} hits/s "
        f"[{without_cpu:,.0f}] | {with_rate / without_rate:.2f} [{with_cpu / without_cpu:.2f}] | "
        f"≥ 0.90 of off — wall {watch.verdict(with_rate >= 0.9 * without_rate)}, per CPU "
        f"{watch.verdict(with_cpu >= 0.9 * without_cpu)}; "
        f"≥ {LOADER_TARGET:,} hits/s — {watch.verdict(with_rate >= LOADER_TARGET)} |"
    )
    if beside:
        rate, cpu = max(rate for rate, _ in beside), max(cpu for _, cpu in beside)
        print(
            f"| loader, provider on, {way(in_child)} against {way(not in_child)} "
            f"(best of {len(beside)}) | {with_rate:,.0f} hits/s [{with_cpu:,.0f} per CPU-s] "
            f"| {way(not in_child)}: {rate:,.0f} hits/s [{cpu:,.0f}] | "
            f"{with_rate / rate:.2f} [{with_cpu / cpu:.2f}] | |"
        )
    per_hit = 1e6 / with_cpu
    print(
        f"| loader, where a hit's CPU goes (provider on) | before DuckDB (read, parse, check, "
        f"enrich, Arrow table): {before_duckdb:.0f} µs | writing into web.hits (insert, "
        f"commit, checkpoint): {per_hit - before_duckdb:.0f} µs | {before_duckdb / per_hit:.2f} "
        f"of {per_hit:.0f} µs | 50,000 hits/s on one core: 20 µs a hit |"
    )


if __name__ == "__main__":
    main()
