"""Dashboards: server time of each page on a 1,000,000-subscriber report_fact and 10,000,000
web actions.

Data, generated in DuckDB: the report table of reports_bench.py (two years of daily, weekly
and monthly periods; active subscribers summing to about 1,000,000 a day; revenue given a
currency per country); one site with 10,000,000 actions in about 3,330,000 visits over 60
days; a ledger of 365 days × 14 datasets × 2 steps with a failure every 50th step and
10,000 quarantined rows. Each page is asked through the real app in-process (Starlette's
TestClient, logged in), so a figure is routing + login check + queries + rendering, without
the network. One warm-up request, then ``--runs`` timed ones; p50 and p95 of those.

Usage: python benchmarks/dashboard_bench.py [--quick] [--runs 7] [--only Events,Goals]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from hygiene import LoadWatch
from starlette.applications import Starlette
from starlette.testclient import TestClient

from tally.config import Settings
from tally.server import ui
from tally.server.app import create_app
from tally.server.ui.webpages import REPORTS
from tally.server.users import add_user
from tally.warehouse import Warehouse, connect
from tally.web.sessions import model_sql

sys.path.insert(0, str(Path(__file__).parent))
from reports_bench import generate as generate_report_fact  # noqa: E402

LAST_DAY = dt.date(2016, 12, 31)
PASSWORD = "benchmark password"

VISITS = """
INSERT INTO web.visits BY NAME
SELECT 'v' || i AS idvisit, 1 AS idsite, DATE '{last}' - CAST(i % {days} AS INTEGER) AS local_date,
    'k' || (hash(i) % {visitors}) AS visitor_key, 'h' || i || '-1' AS first_hit_id,
    TIMESTAMP '{last}' - INTERVAL (i % {days}) DAY + INTERVAL (hash(i * 7) % 86000) SECOND
        AS started_at,
    TIMESTAMP '{last}' - INTERVAL (i % {days}) DAY + INTERVAL (hash(i * 7) % 86000) SECOND
        + INTERVAL (60 * n) SECOND AS ended_at,
    60 * n AS duration_seconds, n AS actions, n AS pageviews, 0 AS outlinks, 0 AS downloads,
    0 AS events, 0 AS searches,
    'https://bench.example/p' || (hash(i) % 40) AS entry_url,
    'https://bench.example/p' || (hash(i * 3) % 40) AS exit_url,
    ['direct', 'search', 'website', 'campaign'][1 + CAST(hash(i * 5) % 4 AS BIGINT)]
        AS referrer_type,
    ['google', 'bing', 'news.example', 'yahoo'][1 + CAST(hash(i * 11) % 4 AS BIGINT)]
        AS referrer_name,
    ['smartphone', 'desktop', 'tablet'][1 + CAST(hash(i * 13) % 3 AS BIGINT)] AS device_type,
    ['Android', 'iOS', 'Windows', 'Mac'][1 + CAST(hash(i * 17) % 4 AS BIGINT)] AS os_name,
    ['Chrome', 'Safari', 'Firefox'][1 + CAST(hash(i * 19) % 3 AS BIGINT)] AS browser_name,
    ['HK', 'SG', 'MY', 'TW'][1 + CAST(hash(i * 23) % 4 AS BIGINT)] AS country,
    CASE WHEN i % 40 = 0 THEN 1 ELSE 0 END AS conversions,
    CASE WHEN i % 40 = 0 THEN 68.0 ELSE 0.0 END AS revenue
FROM (SELECT i, 1 + CAST(i % 5 AS INTEGER) AS n FROM range({count}) t(i))
"""
ACTIONS = """
INSERT INTO web.actions BY NAME
SELECT 'h' || v_i || '-' || p AS hit_id, 1 AS idsite, local_date, idvisit, visitor_key,
    p AS position, started_at + INTERVAL (60 * (p - 1)) SECOND AS hit_time,
    started_at + INTERVAL (60 * (p - 1)) SECOND + INTERVAL 8 HOUR AS local_time,
    'pageview' AS kind, TRUE AS is_action,
    'https://bench.example/p' || (hash(v_i * 31 + p) % 40) AS url,
    'Page ' || (hash(v_i * 31 + p) % 40) AS action_name
FROM (SELECT CAST(substr(idvisit, 2) AS BIGINT) AS v_i, local_date, idvisit, visitor_key,
             started_at, unnest(range(1, actions + 1)) AS p FROM web.visits)
"""
# Each action's place in its visit, as sessionize stores it (its own steps model), and the
# visits' integer key and entry/exit page labels.
DIRTY = """
INSERT INTO web.dirty_days
SELECT DISTINCT idsite, local_date, CAST(local_date AS TIMESTAMP), CAST(local_date AS TIMESTAMP)
FROM web.visits
"""
VISIT_STEPS = """
UPDATE web.visits
SET visit_key = a.visit_key,
    entry_label = regexp_replace(web.visits.entry_url, '^https://bench.example', ''),
    exit_label = regexp_replace(web.visits.exit_url, '^https://bench.example', '')
FROM (SELECT idvisit, min(visit_key) AS visit_key FROM web.actions GROUP BY 1) AS a
WHERE a.idvisit = web.visits.idvisit
"""
LEDGER = """
INSERT INTO tally_meta.runs BY NAME
SELECT 'run-' || d AS run_id, 'step-' || d || '-' || s || '-' || j AS step_id,
    ['ingest', 'load'][j] AS job, 'source-' || (s % 7) AS source, 'dataset-' || s AS dataset,
    DATE '{last}' - CAST(d AS INTEGER) AS partition_date,
    TIMESTAMP '{last}' - INTERVAL (d) DAY + INTERVAL 9 HOUR + INTERVAL (s * 10 + j) SECOND
        AS started_at,
    TIMESTAMP '{last}' - INTERVAL (d) DAY + INTERVAL 9 HOUR + INTERVAL (s * 10 + j + 3) SECOND
        AS ended_at,
    CASE WHEN (d * 28 + s * 2 + j) % 50 = 0 THEN 'failed' ELSE 'ok' END AS status,
    1000 + s * 10 AS rows_in, 1000 + s * 10 AS rows_out, 0 AS rows_quarantined, 1 AS attempt,
    CASE WHEN (d * 28 + s * 2 + j) % 50 = 0 THEN 'TransientError: 429 from the API' END AS error
FROM range(365) a(d), range(14) b(s), range(1, 3) c(j);
INSERT INTO tally_meta.lake_files BY NAME
SELECT 'k-' || d || '-' || s AS key, 'x' AS sha256, 100 AS size, 'source-' || (s % 7) AS source,
    'dataset-' || s AS dataset, DATE '{last}' - CAST(d AS INTEGER) AS partition_date,
    TIMESTAMP '{last}' - INTERVAL (d) DAY + INTERVAL 9 HOUR AS landed_at
FROM range(365) a(d), range(14) b(s);
INSERT INTO tally_meta.quarantine BY NAME
SELECT 'source-' || (i % 7) AS source, 'dataset-' || (i % 14) AS dataset,
    DATE '{last}' - CAST(i % 365 AS INTEGER) AS partition_date, 'file.csv' AS file, i AS line,
    ['bad date', 'negative amount', 'unknown plan'][1 + i % 3] AS reason,
    TIMESTAMP '{last}' - INTERVAL (i % 365) DAY AS quarantined_at
FROM range(10000) t(i);
"""


def generate(url: str, quick: bool) -> dict[str, int]:
    days = 90 if quick else 731
    generate_report_fact(url, days)
    warehouse = connect(url)
    warehouse.execute(
        "UPDATE marts.report_fact SET meta_5 = CASE country WHEN 'HK' THEN 'HKD' ELSE 'SGD' END "
        "WHERE type = 'Revenue'"
    )
    warehouse.execute(
        "INSERT INTO web.sites VALUES (1, 'Bench', 'https://bench.example', '[]', "
        "'Asia/Hong_Kong', TIMESTAMP '2016-01-01 00:00:00')"
    )
    visits = 333_334 if quick else 3_333_334  # 1..5 actions each, 3 on average
    warehouse.run_model(VISITS.format(last=LAST_DAY, days=60, visitors=visits // 2, count=visits))
    warehouse.run_model(ACTIONS)
    warehouse.run_model(DIRTY)
    warehouse.run_model(model_sql("steps.sql"))
    warehouse.run_model(model_sql("pages.sql"))
    warehouse.execute("DELETE FROM web.dirty_days")
    warehouse.run_model(VISIT_STEPS)
    warehouse.run_model(LEDGER.format(last=LAST_DAY))
    counts = {
        table: warehouse.rows(f"SELECT count(*) FROM {table}")[0][0]
        for table in ("marts.report_fact", "web.visits", "web.actions", "tally_meta.runs")
    }
    add_user(warehouse, "bench", PASSWORD, admin=True)
    warehouse.close()
    return counts


def pages() -> list[tuple[str, str]]:
    web = f"idSite=1&period=day&date={LAST_DAY}"
    month = f"idSite=1&period=month&date={LAST_DAY}"
    return [
        ("Subscriptions, daily (30 days)", "/subscriptions"),
        ("Subscriptions, weekly (12 weeks)", "/subscriptions?resolution=weekly"),
        ("Subscriptions, monthly (12 months)", "/subscriptions?resolution=monthly"),
        ("ELT monitoring (14 days)", "/elt"),
        ("ELT monitoring (90 days)", "/elt?days=90"),
        ("ELT run detail", "/elt/runs/run-3"),
        ("Visitors overview, day", f"/web/overview?{web}"),
        *web_report_pages(month),
        ("Users flow, day", f"/web/users-flow?{web}"),
        ("Real-time map, last 30 minutes", "/web/realtime-map?idSite=1"),
        ("Real-time widget", "/web/realtime/widget?idSite=1"),
        ("Users (admin)", "/admin/users"),
        ("/metrics", "/metrics"),
    ]


def web_report_pages(query: str) -> list[tuple[str, str]]:
    """Every page of the web analytics menu for one period (the real-time ones aside)."""
    return [
        (f"{report.title}, month", f"/web/{report.key}?{query}")
        for report in REPORTS
        if not report.key.startswith("realtime")
    ]


def app_for(settings: Settings, warehouse: Warehouse) -> Starlette:
    """create_app with the dashboards (mounted here if app.py does not mount them yet)."""
    app = create_app(settings, warehouse=warehouse, run_loader=False)
    if "/login" not in {getattr(route, "path", None) for route in app.routes}:
        app.router.routes[:0] = ui.routes(settings)
        for layer in reversed(ui.middleware(settings)):
            app.add_middleware(layer.cls, *layer.args, **layer.kwargs)
    return app


def measure(settings: Settings, runs: int, only: str = "") -> list[tuple[str, float, float]]:
    warehouse = connect(settings.warehouse_url)
    results = []
    with TestClient(app_for(settings, warehouse)) as client:
        form = client.get("/login").text
        found = re.search(r'name="csrf_token" value="([^"]+)"', form)
        assert found is not None, "the login page has no csrf_token field"
        token = found.group(1)
        client.post("/login", data={"csrf_token": token, "username": "bench", "password": PASSWORD})
        for label, path in pages():
            if only and not any(part.lower() in label.lower() for part in only.split(",")):
                continue
            answer = client.get(path)
            assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
            samples = []
            for _ in range(runs):
                started = time.perf_counter()
                client.get(path)
                samples.append((time.perf_counter() - started) * 1000)
            samples.sort()
            p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
            results.append((label, statistics.median(samples), p95))
            print(f"{label:40s} p50 {results[-1][1]:8.1f} ms   p95 {p95:8.1f} ms", flush=True)
    warehouse.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the web data, 90 days")
    parser.add_argument("--runs", type=int, default=7, help="timed requests per page")
    parser.add_argument(
        "--only", default="", help="only pages whose label contains this (several: a,b,c)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tally-dashboard-bench-") as scratch:
        settings = Settings(data_dir=scratch)
        begun = time.perf_counter()
        counts = generate(settings.warehouse_url, args.quick)
        print(
            ", ".join(f"{table} {count:,}" for table, count in counts.items())
            + f" generated in {time.perf_counter() - begun:.0f} s",
            flush=True,
        )
        results = measure(settings, args.runs, args.only)
    print("\n| page | p50 ms | p95 ms |\n| --- | --- | --- |")
    for label, p50, p95 in results:
        print(f"| {label} | {p50:,.0f} | {p95:,.0f} |")


if __name__ == "__main__":
    watch = LoadWatch()  # load average before, after and its peak (issue 27)
    main()
    watch.finish()
