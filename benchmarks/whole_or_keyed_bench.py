"""Is a keyed range worth it for the analytics marts the daily build rebuilds whole?

On one kept warehouse (a copy kept by analytics_models_bench.py, whose marts are built),
times two things, CPU and wall, the least of ``--runs``:

- each mart the daily build rebuilds whole (``WHOLE``): its own SQL over every row;
- the by-key read a keyed range costs for each large input (``KEYED_READS``), the way
  ``build.input_rows`` does it on DuckDB: the row ids from the key column, then those
  rows, every column, and (as the daily build now does) only the columns whose names the
  model writes (``build.named_columns``). The keys are a day's: the subscriptions (or
  users) with a row in the newest partition of the loaded transactions.

A keyed model over an input costs at least that read (plus the stored rows by key and the
comparison), so where it is dearer than the whole rebuild, a range does not pay.

Usage: PYTHONPATH=$PWD/src .venv/bin/python benchmarks/whole_or_keyed_bench.py --warehouse \\
    COPY.duckdb [--runs 3] [--threads 1]
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
from hygiene import LoadWatch

from tally.pipeline.build import named_columns
from tally.pipeline.statements import pipeline_fragment

MARTS = Path(__file__).parent.parent / "src" / "tally" / "models" / "marts"
WHOLE = (
    "trial_cohorts",
    "cohort_ltv",
    "attribution_channel",
    "plan_list_prices",
    "subscription_list_prices",
)
# (model, input, key column) of the keyed reads
KEYED_READS = (
    ("subscription_mrr", "marts.subscription_periods", "user_id"),
    ("subscription_attribution", "marts.subscription_periods", "user_id"),
    ("cohort_members", "marts.subscription_mrr", "subscription_id"),
    ("cohort_members", "marts.subscription_attribution", "subscription_id"),
    ("subscription_revenue", "staging.viu_premium_transactions_latest", "subscription_id"),
)
LOADED = "staging.viu_premium_transactions"


def least(run: Callable[[], object], runs: int) -> tuple[float, float]:
    """(CPU s, wall s) of the run with the least CPU."""
    timings = []
    for _ in range(max(1, runs)):
        began, cpu = time.perf_counter(), time.process_time()
        run()
        timings.append((time.process_time() - cpu, time.perf_counter() - began))
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    connection = duckdb.connect(str(args.warehouse), read_only=True)
    connection.execute(f"SET threads = {args.threads}")
    print("whole rebuild (its SQL over every row):")
    for name in WHOLE:
        sql = (MARTS / f"{name}.sql").read_text(encoding="utf-8")
        spent, wall = least(
            functools.partial(
                connection.execute, f"CREATE OR REPLACE TEMPORARY TABLE fresh AS {sql}"
            ),
            args.runs,
        )
        print(f"  {name:26} CPU {spent:6.3f} s  wall {wall:6.3f} s")
    newest = connection.execute(f"SELECT max(_partition_date) FROM {LOADED}").fetchall()[0][0]
    connection.execute(
        "CREATE TEMPORARY TABLE day_keys AS SELECT DISTINCT subscription_id, user_id "
        f"FROM {LOADED} WHERE _partition_date = DATE '{newest}'"
    )
    count = connection.execute("SELECT count(*) FROM day_keys").fetchall()[0][0]
    print(f"keyed read of a day's keys ({newest}: {count:,} subscriptions):")
    for model, table, column in KEYED_READS:
        ids = f"SELECT rowid FROM {table} WHERE {column} IN (SELECT {column} FROM day_keys)"
        rows = f"SELECT * FROM {table} WHERE rowid IN ({ids})"
        sql = (MARTS / f"{model}.sql").read_text(encoding="utf-8")
        named = named_columns(sql, table) or ()
        listed = ", ".join(f"'{name}'" for name in named)
        picked = pipeline_fragment("named_columns", names=listed)
        narrow = rows.replace("SELECT *", f"SELECT {picked}", 1) if named else rows
        print(f"  {model}:")
        for what, sql in (("row ids", ids), ("rows", rows), ("named columns", narrow)):
            spent, wall = least(
                functools.partial(
                    connection.execute, f"CREATE OR REPLACE TEMPORARY TABLE read AS {sql}"
                ),
                args.runs,
            )
            found = connection.execute("SELECT count(*) FROM read").fetchall()[0][0]
            label = f"{table} by {column}, {what}"
            print(f"    {label:68} CPU {spent:6.3f} s  wall {wall:6.3f} s  rows {found:,}")


if __name__ == "__main__":
    watch = LoadWatch()
    main()
    watch.finish()
