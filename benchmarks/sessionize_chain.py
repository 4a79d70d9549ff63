"""How cheap the visit chain could be outside SQL: an estimate for issue 27's 1M hits/s.

Sessionize's SQL (``tally/web/models/actions.sql``) runs its rules as a chain of window
passes over every hit: the gap to the previous hit, idle pings, time breaks, the visit's
first hit, then each hit's position and running counts. This script times the same chain
done once over sorted columns: DuckDB sorts narrow rows of the kept hits (visitor-day,
time, kind flags) once and hands them over as Arrow, then numpy finds each visit with
running maxima and sums. It is an estimate of the order of magnitude, not a
sessionize: the visitor key is simplified (user id, cookie id, or IP key and user agent;
no day's uid tie, no salt), campaign and referrer marks are left out, and nothing is
written. Compare its CPU with ``sessionize_profile.py``'s actions INSERT on the same hits.

Usage: PYTHONPATH=$PWD/src .venv/bin/python benchmarks/sessionize_chain.py \\
    --kept KEPT.duckdb [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb
import numpy as np
from hygiene import LoadWatch

SORTED = """
SELECT
    hash(coalesce(user_id, visitor_id, ip_key || user_agent),
        CAST(hit_time + INTERVAL 8 HOUR AS DATE)) AS visitor_day,  -- Hong Kong: UTC+8
    epoch(hit_time) AS seconds,
    kind = 'ping' AS ping,
    kind IN ('pageview', 'search') AS interaction,
    kind = 'pageview' AS pageview,
    new_visit
FROM web.hits
ORDER BY visitor_day, hit_time, hit_id
"""


def last_where(flags: np.ndarray, part_start: np.ndarray) -> np.ndarray:
    """At each row, the index of the last row so far (itself included) where ``flags`` is
    true in the same visitor-day, or -1."""
    index = np.arange(len(flags))
    found = np.maximum.accumulate(np.where(flags, index, -1))
    return np.where(found >= part_start, found, -1)


def chain(columns: dict[str, np.ndarray]) -> int:
    """The visits of the sorted hits, by actions.sql's time rules; their count."""
    day, seconds = columns["visitor_day"], columns["seconds"]
    ping, new_visit = columns["ping"], columns["new_visit"]
    count = len(day)
    index = np.arange(count)
    starts = np.ones(count, bool)
    starts[1:] = day[1:] != day[:-1]
    part_start = np.maximum.accumulate(np.where(starts, index, 0))
    gap = np.full(count, -1.0)
    gap[1:] = seconds[1:] - seconds[:-1]
    gap[starts] = -1.0
    idle_ping = last_where(ping & ((gap < 0) | (gap > 1800)), part_start)
    # the last hit that is no ping before each row (the row itself excluded)
    previous_hit = np.full(count, -1)
    previous_hit[1:] = last_where(~ping, part_start)[:-1]
    previous_hit = np.where(previous_hit >= part_start, previous_hit, -1)
    after_idle = idle_ping > previous_hit
    orphan = ping & after_idle
    opens = ~ping & ((gap < 0) | after_idle | (gap > 1800) | new_visit)
    first = last_where(opens, part_start)
    position = np.where(orphan, 0, index - first + 1)
    for name in ("interaction", "pageview"):
        flags = columns[name]
        before = np.cumsum(flags) - flags
        columns[f"{name}_number"] = before - before[np.maximum(first, 0)] + flags
    columns["position"] = position
    return int(opens.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kept", type=Path, required=True, help="the kept loaded hits")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    watch = LoadWatch()
    connection = duckdb.connect(str(args.kept), read_only=True)
    for round_number in range(1, args.rounds + 1):
        started, cpu = time.perf_counter(), time.process_time()
        table = connection.sql(SORTED).to_arrow_table()
        sorted_at, sorted_cpu = time.perf_counter(), time.process_time()
        columns = {name: table[name].to_numpy(zero_copy_only=False) for name in table.column_names}
        visits = chain(columns)
        done, done_cpu = time.perf_counter(), time.process_time()
        print(
            f"round {round_number}: {table.num_rows:,} hits, {visits:,} visits; DuckDB's sort "
            f"{sorted_at - started:.2f} s [{sorted_cpu - cpu:.2f} CPU s], the chain in numpy "
            f"{done - sorted_at:.2f} s [{done_cpu - sorted_cpu:.2f} CPU s]",
            flush=True,
        )
    connection.close()
    watch.finish()


if __name__ == "__main__":
    main()
