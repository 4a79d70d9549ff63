"""Web reports: Reporting API calls on a generated year of traffic, with DuckDB's plain scan
of web.hits over the same span as the floor, timed in the same run.

One site (Asia/Hong_Kong) over 2025. Visits are generated straight into web.visits,
web.actions and web.hits with DuckDB SQL (not through sessionize, which would take far
longer than the reports; only sessionize's steps model runs, to number each action in its
visit as sessionize stores it): about 4.5 hits a visit, mostly page views over 500 pages whose
popularity is skewed (the busiest page has about an eighth of the views), some searches,
outlinks, downloads and events. Each call goes through ``tally.web.reporting.call``, which
opens the warehouse file, runs the report and closes it, as the server does.

Usage: python benchmarks/webreports_bench.py [--quick | --full] [--visits N] [--runs N]
       [--keep PATH | --reuse PATH] [--only TEXT]
  default  1,000,000 visits (~4.5M hits)
  --quick  50,000 visits, 3 runs: under a minute
  --full   2,250,000 visits (~10M hits): the issue's year
"""

from __future__ import annotations

import argparse
import datetime as dt
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
from hygiene import LoadWatch, scalar, temporary_folder

from tally.warehouse import Warehouse, connect
from tally.web.reporting import call
from tally.web.sessions import model_sql

SITE_URL = "https://bench.example.com"
PAGES = 500
BUSIEST = f"{SITE_URL}/page/0"
SPANS = {
    "day": {"period": "day", "date": "2025-06-15"},
    "month": {"period": "month", "date": "2025-06-15"},
    "year": {"period": "year", "date": "2025-06-15"},
}
SPAN_BOUNDS = {  # local dates, for the floor scan (hits are UTC: Hong Kong is UTC+8)
    "day": (dt.date(2025, 6, 15), dt.date(2025, 6, 15)),
    "month": (dt.date(2025, 6, 1), dt.date(2025, 6, 30)),
    "year": (dt.date(2025, 1, 1), dt.date(2025, 12, 31)),
}
# (row, method, its parameters): UsersFlow as Matomo answers by default (each step's 5
# busiest pages, the rest "Others"), and with every page (about 1.6M rows for the year)
CALLS = [
    ("VisitsSummary.get", "VisitsSummary.get", {}),
    ("Actions.getPageUrls", "Actions.getPageUrls", {}),
    ("Transitions.getTransitionsForPageUrl", "Transitions.getTransitionsForPageUrl",
     {"pageUrl": BUSIEST}),
    ("UsersFlow.getUsersFlow", "UsersFlow.getUsersFlow", {}),
    ("UsersFlow, limitActionsPerStep=-1", "UsersFlow.getUsersFlow", {"limitActionsPerStep": "-1"}),
]  # fmt: skip

PLAN = """
CREATE TEMP TABLE plan AS
SELECT
    i,
    md5(CAST(i AS VARCHAR)) AS idvisit,
    CAST(DATE '2025-01-01' + CAST(floor(i * 365.0 / {visits}) AS INTEGER) AS DATE) AS local_date,
    'c:' || CAST(hash(i * 7919) % {visitors} AS VARCHAR) AS visitor_key,
    1 + CAST(floor(-ln(1 - random()) * 4.0) AS INTEGER) AS hits,
    CAST(floor(random() * 82800) AS INTEGER) AS start_second,
    CAST(floor(random() * 100) AS INTEGER) AS draw
FROM range({visits}) AS t(i)
"""

ACTIONS = """
INSERT INTO web.actions (hit_id, idsite, local_date, idvisit, visitor_key, position, hit_time,
    local_time, kind, is_action, url, action_name, link_url, event_category, event_action,
    event_name, event_value, search_keyword, idgoal, revenue, pv_id, seconds_since_previous)
SELECT
    s.idvisit || ':' || CAST(s.p AS VARCHAR) AS hit_id,
    1, s.local_date, s.idvisit, s.visitor_key, s.p + 1,
    CAST(s.local_date AS TIMESTAMP) + to_seconds(s.start_second + s.p * 45 - 8 * 3600),
    CAST(s.local_date AS TIMESTAMP) + to_seconds(s.start_second + s.p * 45),
    s.kind, TRUE,
    CASE WHEN s.kind IN ('outlink', 'download') THEN s.page_url
        WHEN s.kind = 'search' THEN '{site}/search?q=' || CAST(s.page AS VARCHAR)
        ELSE s.page_url END,
    CASE WHEN s.kind = 'pageview' THEN 'Page ' || CAST(s.page AS VARCHAR) END,
    CASE WHEN s.kind = 'outlink' THEN 'https://partner.example.org/' || CAST(s.page % 20 AS VARCHAR)
        WHEN s.kind = 'download'
            THEN 'https://cdn.example.com/file' || CAST(s.page % 10 AS VARCHAR) || '.pdf'
    END,
    CASE WHEN s.kind = 'event' THEN 'Video' END,
    CASE WHEN s.kind = 'event' THEN 'Play' END,
    NULL, NULL,
    CASE WHEN s.kind = 'search' THEN 'show ' || CAST(s.page % 50 AS VARCHAR) END,
    NULL, NULL, NULL, CASE WHEN s.p = 0 THEN NULL ELSE 45 END
FROM (
    SELECT
        x.*,
        CASE WHEN x.p = 0 OR x.r < 0.85 THEN 'pageview' WHEN x.r < 0.90 THEN 'search'
            WHEN x.r < 0.94 THEN 'outlink' WHEN x.r < 0.97 THEN 'download' ELSE 'event' END
            AS kind,
        '{site}/page/' || CAST(x.page AS VARCHAR) AS page_url
    FROM (
        SELECT plan.*, unnest(range(plan.hits)) AS p, random() AS r,
            CAST(floor(pow(random(), 3) * {pages}) AS INTEGER) AS page
        FROM plan
    ) AS x
) AS s
ORDER BY s.local_date, s.idvisit, s.p
"""

VISITS = """
INSERT INTO web.visits
SELECT
    a.idvisit, 1, min(a.local_date), min(a.visitor_key), min(a.visitor_key), NULL,
    a.idvisit || ':0', min(a.hit_time), max(a.hit_time),
    date_diff('second', min(a.hit_time), max(a.hit_time)),
    count(*), count(*) FILTER (WHERE a.kind = 'pageview'),
    count(*) FILTER (WHERE a.kind = 'outlink'), count(*) FILTER (WHERE a.kind = 'download'),
    count(*) FILTER (WHERE a.kind = 'event'), count(*) FILTER (WHERE a.kind = 'search'),
    arg_min(a.url, a.position) FILTER (WHERE a.kind = 'pageview'),
    arg_min(a.action_name, a.position) FILTER (WHERE a.kind = 'pageview'),
    arg_max(a.url, a.position) FILTER (WHERE a.kind = 'pageview'),
    arg_max(a.action_name, a.position) FILTER (WHERE a.kind = 'pageview'),
    min(CASE p.draw % 5 WHEN 0 THEN 'search' WHEN 1 THEN 'website' WHEN 2 THEN 'campaign'
        ELSE 'direct' END),
    min(CASE p.draw % 5 WHEN 0 THEN 'Google' WHEN 1 THEN 'news.example.org' END),
    NULL, min(CASE WHEN p.draw % 5 = 2 THEN 'spring' END), NULL, NULL, NULL,
    min(CASE WHEN p.draw < 60 THEN 'smartphone' WHEN p.draw < 70 THEN 'tablet'
        ELSE 'desktop' END),
    min(CASE WHEN p.draw < 60 THEN 'Android' ELSE 'Windows' END),
    min(CASE WHEN p.draw < 60 THEN 'Chrome Mobile' ELSE 'Chrome' END),
    min(CASE WHEN p.draw < 70 THEN 'HK' ELSE 'SG' END),
    0, 0, NULL, min(a.visit_key),
    arg_min(a.page_label, a.position) FILTER (WHERE a.kind = 'pageview'),
    arg_max(a.page_label, a.position) FILTER (WHERE a.kind = 'pageview'),
    min(CASE WHEN p.draw < 70 THEN 'HKT Limited' ELSE 'Starhub Ltd' END)
FROM web.actions AS a JOIN plan AS p ON p.idvisit = a.idvisit
GROUP BY a.idvisit
ORDER BY min(a.local_date), a.idvisit
"""

# Every day is "dirty", so sessionize's own steps model numbers each action in its visit.
DIRTY = """
INSERT INTO web.dirty_days
SELECT 1, CAST(d AS DATE), d - INTERVAL 8 HOUR, d + INTERVAL 16 HOUR
FROM range(TIMESTAMP '2025-01-01', TIMESTAMP '2026-01-01', INTERVAL 1 DAY) AS t(d)
"""

HITS = """
INSERT INTO web.hits (hit_id, idsite, received_at, hit_time, visitor_id, kind, url,
    action_name, link_url, new_visit, is_bot, referrer_type, transport, raw_query)
SELECT hit_id, idsite, hit_time, hit_time, visitor_key, kind, url, action_name, link_url,
    FALSE, FALSE, 'direct', 'get', 'idsite=1&rec=1'
FROM web.actions ORDER BY hit_time
"""


def generate(path: Path, visits: int) -> dict[str, int]:
    """A migrated warehouse at ``path`` holding ``visits`` generated visits of 2025."""
    warehouse = connect(f"duckdb:///{path}")
    warehouse.migrate()
    warehouse.close()
    con = duckdb.connect(str(path))
    try:
        con.execute(
            "INSERT INTO web.sites VALUES (1, 'Bench', ?, ?, 'Asia/Hong_Kong', now())",
            [SITE_URL, f'["{SITE_URL}"]'],
        )
        con.execute(PLAN.format(visits=visits, visitors=max(1, visits // 3)))
        con.execute(ACTIONS.format(site=SITE_URL, pages=PAGES))
        con.execute(DIRTY)
        con.execute(model_sql("steps.sql"))
        con.execute(model_sql("pages.sql"))
        con.execute("DELETE FROM web.dirty_days")
        con.execute(VISITS)
        con.execute(HITS)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    return counted(path)


def migrated(path: Path) -> dict[str, int]:
    """Bring a kept warehouse to the current migrations (they fill new columns) and count it."""
    warehouse = connect(f"duckdb:///{path}")
    warehouse.migrate()
    warehouse.close()
    return counted(path)


def counted(path: Path) -> dict[str, int]:
    """How many visits, actions and hits the warehouse at ``path`` holds."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            table: int(scalar(con, f"SELECT count(*) FROM web.{table}"))
            for table in ("visits", "actions", "hits")
        }
    finally:
        con.close()


def timed(function: Callable[[], object], runs: int) -> list[float]:
    """Seconds of each of ``runs`` calls, after one untimed warm-up call."""
    function()
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        seconds.append(time.perf_counter() - start)
    return seconds


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (of a handful of runs, p95 is the slowest or next to it)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def floor_scan(warehouse: Warehouse, span: str) -> Callable[[], object]:
    """DuckDB reading the span's hits of web.hits: every row's time and URL, nothing else."""
    first, last = SPAN_BOUNDS[span]
    start = dt.datetime.combine(first, dt.time()) - dt.timedelta(hours=8)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time()) - dt.timedelta(hours=8)
    sql = (
        "SELECT count(*), max(length(url)) FROM web.hits "
        "WHERE idsite = 1 AND hit_time >= ? AND hit_time < ?"
    )
    return lambda: warehouse.rows(sql, [start, end])


def floor_visits(warehouse: Warehouse, span: str) -> Callable[[], object]:
    """The like-for-like floor of VisitsSummary.get: its aggregates as one plain SQL over
    the span's web.visits (no segment, no API, no formatting)."""
    first, last = SPAN_BOUNDS[span]
    sql = (
        "SELECT count(*), count(DISTINCT visitor_key), count(DISTINCT user_id), sum(actions), "
        "max(actions), sum(duration_seconds), count(*) FILTER (WHERE actions <= 1), "
        "count(*) FILTER (WHERE conversions > 0) FROM web.visits "
        "WHERE idsite = 1 AND local_date >= ? AND local_date <= ?"
    )
    return lambda: warehouse.rows(sql, [first, last])


USERS_FLOW_YEAR_TARGET = 1.0  # seconds, p50 (issue 27)


def print_floor(
    label: str,
    floor: Callable[[Warehouse, str], Callable[[], object]],
    warehouse: Warehouse,
    runs: int,
) -> None:
    """One table row: the floor's p50 / p95 for the day, the month and the year."""
    cells = []
    for span in SPANS:
        seconds = timed(floor(warehouse, span), runs)
        cells.append(f"{statistics.median(seconds):.2f} / {percentile(seconds, 0.95):.2f}")
    print(f"| {label:<40} | {cells[0]:>13} | {cells[1]:>13} | {cells[2]:>13} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="50,000 visits, 3 runs")
    size.add_argument("--full", action="store_true", help="2,250,000 visits (~10M hits)")
    size.add_argument("--visits", type=int, help="how many visits to generate")
    parser.add_argument("--runs", type=int, help="timed runs per call (default 5; quick 3)")
    parser.add_argument("--keep", type=Path, help="write the warehouse here and keep it")
    parser.add_argument(
        "--reuse", type=Path, help="time a warehouse an earlier --keep wrote (no generation)"
    )
    parser.add_argument(
        "--only",
        help="time only the calls whose row contains this (e.g. UsersFlow; the floors and the"
        " verdict are left out): for profiling with where_time_goes.py",
    )
    args = parser.parse_args()
    visits = args.visits or (50_000 if args.quick else 2_250_000 if args.full else 1_000_000)
    runs = args.runs or (3 if args.quick else 5)

    watch = LoadWatch()
    medians: dict[tuple[str, str], float] = {}
    with temporary_folder("tally-webreports-bench-") as folder:
        path = args.reuse or args.keep or folder / "warehouse.duckdb"
        started = time.perf_counter()
        counts = migrated(path) if args.reuse else generate(path, visits)
        generation = time.perf_counter() - started
        print(
            f"{'reused' if args.reuse else 'generated'} {counts['visits']:,} visits, "
            f"{counts['actions']:,} actions, {counts['hits']:,} hits of 2025 in {generation:.1f} s "
            f"(duckdb {duckdb.__version__}, Python {platform.python_version()}, "
            f"{platform.machine()})"
        )
        warehouse = connect(f"duckdb:///{path}")
        print(f"{runs} timed runs each after a warm-up; seconds p50 / p95\n")
        print(f"| {'call':<40} | {'day':>13} | {'month':>13} | {'year':>13} |")
        print(f"| {'-' * 40} | {'-' * 13} | {'-' * 13} | {'-' * 13} |")
        for row, method, extra in CALLS:
            if args.only and args.only not in row:
                continue
            cells = []
            for period in SPANS.values():
                params = {"idSite": "1", **period, **extra}
                seconds = timed(lambda: call(warehouse, method, params), runs)  # noqa: B023
                medians[row, params["period"]] = statistics.median(seconds)
                cells.append(f"{statistics.median(seconds):.2f} / {percentile(seconds, 0.95):.2f}")
            print(f"| {row:<40} | {cells[0]:>13} | {cells[1]:>13} | {cells[2]:>13} |")
        if not args.only:  # the floors
            print_floor("floor: DuckDB scan of web.hits", floor_scan, warehouse, runs)
            print_floor("floor: VisitsSummary's SQL on web.visits", floor_visits, warehouse, runs)
        warehouse.close()
        print(f"\ntotal {time.perf_counter() - started:.1f} s", file=sys.stderr)
    watch.finish()
    if args.only:
        return
    year = medians["UsersFlow.getUsersFlow", "year"]
    every = medians["UsersFlow, limitActionsPerStep=-1", "year"]
    print(
        "UsersFlow.getUsersFlow with every page (limitActionsPerStep=-1), the year:"
        f" p50 {every:.2f} s"
    )
    print(
        f"UsersFlow.getUsersFlow (Matomo's default, 5 pages a step), the year: p50 {year:.2f} s"
        f" (target < {USERS_FLOW_YEAR_TARGET:g} s"
        f" with the year's ~10M hits, --full): {watch.verdict(year < USERS_FLOW_YEAR_TARGET)}"
    )


if __name__ == "__main__":
    main()
