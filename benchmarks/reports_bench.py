"""Reports: all six subscription workbooks (HK/SG × daily/weekly/monthly) for a generated
report_fact of a 1,000,000-subscriber business, against writing the same rows to CSV.

The report table is generated in DuckDB: two years of daily, weekly and monthly periods,
2 countries × 5 platforms × 4 plans × 3 payment statuses × 9 metric types, with active
subscribers summing to about 1,000,000 a day. Each side runs in its own fresh process so
its peak memory (ru_maxrss) is its own; wall time includes reading the rows from the
warehouse on both sides.

Usage: python benchmarks/reports_bench.py [--quick]
       python benchmarks/reports_bench.py --pivot duckdb:///PATH/warehouse.duckdb
The second form times `tally pivot` end to end (a fresh process each run, as a user types
it) against the Python start-up floor, the import of the CLI alone and `tally --help`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hygiene import LoadWatch

from tally.config import load_settings
from tally.warehouse import connect

DAY = dt.date(2016, 12, 31)

GENERATE = """
CREATE SCHEMA IF NOT EXISTS marts;
CREATE OR REPLACE TABLE marts.report_fact AS
WITH countries(country, country_share) AS (VALUES ('HK', 0.6), ('SG', 0.4)),
platforms(platform, channel, sector, platform_share) AS (VALUES
    ('iOS IAP', 'App Store', 'IAP', 0.35), ('Android IAP', 'Google Play', 'IAP', 0.30),
    ('Telco', 'CSL', 'Telco', 0.15), ('Redemption', 'Redemption Campaign', 'Promotion', 0.10),
    ('Web', 'Web', 'Direct', 0.10)),
plans AS (SELECT 'PLAN-' || n AS plan FROM range(1, 5) t(n)),
statuses(status, status_share) AS (VALUES
    ('Paying', 0.85), ('Free trial', 0.10), ('Grace period', 0.05)),
types(type, per_day) AS (VALUES
    ('Active subscriber', 0.0), ('New subscriber', 0.004), ('Churn', 0.0035),
    ('Renewal', 0.03), ('Free trial', 0.002), ('Trial conversion', 0.001),
    ('Reactivation', 0.0005), ('Refund', 0.0002), ('Revenue', 0.25)),
periods AS (
    SELECT 'daily' AS resolution_type, d::DATE AS start_date, 1 AS days
    FROM range(DATE '{first}', DATE '2017-01-01', INTERVAL 1 DAY) t(d)
    UNION ALL
    SELECT 'weekly', d::DATE, 7
    FROM range(DATE '{week}', DATE '2017-01-01', INTERVAL 7 DAY) t(d)
    UNION ALL
    SELECT 'monthly', d::DATE, 30
    FROM range(DATE '{month}', DATE '2017-01-01', INTERVAL 1 MONTH) t(d))
SELECT type, resolution_type, country, platform, start_date,
       plan AS meta_1, channel AS meta_2, sector AS meta_3, status AS meta_4,
       NULL::VARCHAR AS meta_5, NULL::VARCHAR AS meta_6, NULL::VARCHAR AS meta_7,
       NULL::VARCHAR AS meta_8,
       round(1000000 * country_share * platform_share * status_share / 4
             * CASE WHEN per_day = 0 THEN 1 ELSE per_day * days END
             * (0.9 + 0.2 * random()), 2)::DOUBLE AS value
FROM types, countries, platforms, plans, statuses, periods
WHERE status = 'Paying' OR type NOT IN ('Revenue', 'Refund', 'Renewal')
"""


def generate(url: str, days: int) -> int:
    first = DAY - dt.timedelta(days=days - 1)
    warehouse = connect(url)
    warehouse.migrate()
    week = first - dt.timedelta(days=first.weekday())
    month = first.replace(day=1)
    warehouse.run_model(GENERATE.format(first=first, week=week, month=month))
    count = int(warehouse.rows("SELECT count(*) FROM marts.report_fact")[0][0])
    warehouse.close()
    return count


def run_side(side: str, url: str, out: Path) -> dict[str, object]:
    """One side in this process: the six reports as xlsx, or the same rows as csv."""
    from tally.reports.subscription import write_subscription_report

    settings = load_settings(environ={"TALLY_DATA_DIR": str(out), "TALLY_WAREHOUSE_URL": url})
    warehouse = connect(url)
    timings = {}
    rows = 0
    started = time.perf_counter()
    for country in ("HK", "SG"):
        for period in ("daily", "weekly", "monthly"):
            begun = time.perf_counter()
            written = write_subscription_report(
                warehouse, settings, country, period, DAY, output_format=side
            )
            timings[f"{country} {period}"] = round(time.perf_counter() - begun, 2)
            rows += sum(written.rows.values())
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak = usage.ru_maxrss / 1024  # KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime  # steadier than wall time on a shared machine
    size = sum(p.stat().st_size for p in out.rglob(f"*.{side}"))
    return {
        "side": side,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu, 2),
        "rows": rows,
        "peak_mib": round(peak),
        "bytes": size,
        "per_report": timings,
    }


PIVOT_FORMULA = 'GETPIVOTDATA("value",Churn!$A$5,"Platform","iOS IAP")'


def time_pivot(url: str, runs: int = 7) -> None:
    """Median wall and CPU seconds of `tally pivot`, of the CLI's import, of bare Python.

    Twice: with a bytecode cache (as pip installs tally and its dependencies: compiled once)
    and without one (PYTHONDONTWRITEBYTECODE, a `--no-compile` install: every import
    compiles its source again). The cache lives in a temporary folder (PYTHONPYCACHEPREFIX),
    warmed by one unmeasured run, so nothing is written beside the installed files.
    """
    import os
    import statistics

    base = {**os.environ, "TALLY_WAREHOUSE_URL": url}
    base.setdefault("TALLY_DATA_DIR", tempfile.mkdtemp(prefix="tally-pivot-bench-"))
    cached = {k: v for k, v in base.items() if k != "PYTHONDONTWRITEBYTECODE"}
    cached["PYTHONPYCACHEPREFIX"] = tempfile.mkdtemp(prefix="tally-pivot-pyc-")
    uncached = {**base, "PYTHONDONTWRITEBYTECODE": "1"}
    uncached.pop("PYTHONPYCACHEPREFIX", None)
    cli = "from tally.cli.main import main; main()"
    commands = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "import tally.cli.main": [sys.executable, "-c", "import tally.cli.main"],
        "tally pivot": [sys.executable, "-c", cli, "pivot", "--country", "HK"]
        + ["--resolution", "monthly", PIVOT_FORMULA],
        "tally --help (every area)": [sys.executable, "-c", cli, "--help"],
    }
    for label, environment in (("bytecode cache", cached), ("no bytecode", uncached)):
        print(f"{label}:")
        for name, command in commands.items():
            subprocess.run(command, check=True, capture_output=True, env=environment)  # warm
            walls, cpus = [], []
            for _ in range(runs):
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                begun = time.perf_counter()
                subprocess.run(command, check=True, capture_output=True, env=environment)
                walls.append(time.perf_counter() - begun)
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            print(
                f"  {name:28} wall median {statistics.median(walls):5.2f} s "
                f"min {min(walls):5.2f} s   CPU median {statistics.median(cpus):5.2f} s"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="90 days instead of two years")
    parser.add_argument("--pivot", metavar="URL", help="time `tally pivot` on this warehouse")
    parser.add_argument("--side", choices=["xlsx", "csv"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pivot:
        time_pivot(args.pivot)
        return
    if args.side:  # child process: one side, result as JSON on stdout
        print(json.dumps(run_side(args.side, args.url, Path(args.out))))
        return
    days = 90 if args.quick else 731
    with tempfile.TemporaryDirectory(prefix="tally-reports-bench-") as scratch:
        url = f"duckdb:///{scratch}/warehouse.duckdb"
        begun = time.perf_counter()
        count = generate(url, days)
        print(
            f"generated {count:,} report_fact rows ({days} days) in "
            f"{time.perf_counter() - begun:.1f} s"
        )
        results = []
        for side in ("xlsx", "csv"):
            done = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--side",
                    side,
                    "--url",
                    url,
                    "--out",
                    f"{scratch}/{side}",
                ],
                check=True,
                capture_output=True,
                text=True,
            )
            results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    xlsx, csv = results
    print(f"python {platform.python_version()}, {platform.machine()}")
    print(
        f"{'side':6} {'seconds':>8} {'CPU s':>8} {'rows':>10} {'rows/s':>9} {'peak MiB':>9} "
        f"{'MiB out':>8}"
    )
    for result in results:
        print(
            f"{result['side']:6} {result['seconds']:8.2f} {result['cpu_seconds']:8.2f} "
            f"{result['rows']:10,} "
            f"{result['rows'] / result['seconds']:9,.0f} {result['peak_mib']:9} "
            f"{result['bytes'] / 2**20:8.1f}"
        )
    print(
        f"ratio xlsx/csv: time {xlsx['seconds'] / csv['seconds']:.1f}x, "
        f"CPU {xlsx['cpu_seconds'] / csv['cpu_seconds']:.1f}x, "
        f"peak memory {xlsx['peak_mib'] / csv['peak_mib']:.1f}x"
    )
    print("per workbook (s):", json.dumps(xlsx["per_report"]))
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "reports_bench.json").write_text(
        json.dumps(
            {
                "measured": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                "days": days,
                "report_fact_rows": count,
                "results": results,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    watch = LoadWatch()  # load average before, after and its peak (issue 27)
    main()
    watch.finish()
