"""Subscriber marts benchmark: full build for two years of a large service, and a daily build.

The viu-premium staging tables are generated directly with numpy (DemoWorld simulates one
subscriber at a time, far too slow for a million): subscriptions with optional 7-day trials,
30-day paid periods, late payments in the grace period, billing-retry gaps, refunds,
redemptions, returning users. The status export is thin: the subscriptions active at the end
of the first day and of the last two days, plus each redemption once (on its first day),
because the marts only need it for periods no transaction describes (and the daily build
compares a day's export with the day before's). The exchange-rate sheet quotes HKD and SGD
per US dollar (the reporting currency) for every day, restated each day (``rate_sheet``),
so every money figure converts at its day's rate, as it would in production.

Measured, in one run, each build in a child process (so its peak memory is its own), after
the page cache is written back (``timed_build``):
  full   every subscriber mart from staging (the first build, or a rebuild)
  daily  the build after loading one more day (the daily job), as a ratio of the full build;
         run ``--daily-runs`` times (3), each on the same warehouse as the day left it (a
         copy kept), the median taken: a second or so of CPU on a busy machine varies more
         than the minutes of the full build
The full build is then run again on the same data, and every mart's rows are compared (by
count and a sum of row hashes) with what the daily build left: they must be the same.

``--reuse FOLDER`` keeps the loaded warehouse (every day but the last, before any build)
and the last day's rows in FOLDER the first time, and starts from them on later runs of
the same size, instead of generating and loading them again (a minute or two at 1M).

Usage: .venv/bin/python benchmarks/marts_bench.py [--subscriptions 1000000] [--quick]
    [--daily-runs 3] [--analytics] [--reuse FOLDER]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from hygiene import LoadWatch

from tally.models.sets import ANALYTICS_MODELS, SUBSCRIBER_MODELS
from tally.sources import get_dataset
from tally.warehouse import Warehouse, connect

DAYS = 730
FIRST_DAY = dt.date(2025, 1, 1)
PLANS = (
    # platform, plan code, product id, channel, sector, HKD, SGD, weight
    ("iOS IAP", "PREMIUM_M", "com.tally.video.monthly", "App Store", "Store", 68.0, 11.98, 40),
    (
        "iOS IAP",
        "PREMIUM_HD_M",
        "com.tally.video.monthly.hd",
        "App Store",
        "Store",
        88.0,
        14.98,
        10,
    ),
    ("Android IAP", "PREMIUM_M", "tally_video_monthly", "Google Play", "Store", 68.0, 11.98, 35),
    ("Telco", "CSL_M", "csl_premium_monthly", "CSL", "Telco", 58.0, 58.0, 10),
    (
        "Redemption",
        "SAMSUNG_TAB_PROMO",
        "promo_galaxy_tab",
        "Redemption Campaign",
        "Partner",
        0.0,
        0.0,
        5,
    ),
)
EPOCH = np.datetime64("1970-01-01", "D")


def generate(count: int, seed: int = 1) -> tuple[pa.Table, pa.Table]:
    """(transactions, status) staging tables for ``count`` subscriptions over DAYS days."""
    rng = np.random.default_rng(seed)
    first = np.datetime64(FIRST_DAY.isoformat(), "D")
    start = rng.integers(-30, DAYS, count)
    hk = rng.random(count) < 0.7
    weights = np.array([p[-1] for p in PLANS], float)
    plan = rng.choice(len(PLANS), count, p=weights / weights.sum())
    plan[(plan == 3) & ~hk] = 2  # no telco partner in SG
    user = np.arange(count)
    back = rng.random(count) < 0.1  # returning users start a new subscription
    user[back] = (rng.random(back.sum()) * np.arange(count)[back]).astype(np.int64)
    redemption = plan == 4
    trial = (rng.random(count) < 0.4) & (plan < 3)
    converts = ~trial | (rng.random(count) < 0.65)
    paid = np.where(converts & ~redemption, rng.geometric(0.08, count), 0)
    # periods: one row per (subscription, period); trial first when there is one
    periods = trial.astype(np.int64) + paid + redemption
    owner = np.repeat(np.arange(count), periods)
    index = np.arange(owner.size) - np.repeat(np.cumsum(periods) - periods, periods)
    is_trial = trial[owner] & (index == 0)
    length = np.where(is_trial, 7, 30)
    retry = np.where(rng.random(owner.size) < 0.015, rng.integers(1, 11, owner.size), 0)
    retry[(index == 0) | (index == 1) & trial[owner]] = 0  # no gap before a first payment
    gap_sum = np.cumsum(length + retry)
    group_base = np.repeat(np.cumsum(periods) - periods, periods)
    before = np.where(group_base > 0, gap_sum[np.maximum(group_base - 1, 0)], 0)
    offset = gap_sum - before - length  # days from the subscription's start to the period's
    period_start = start[owner] + offset
    period_end = period_start + length
    keep = period_start < DAYS
    late = np.where(
        ~is_trial & (index > 0) & (retry == 0) & (rng.random(owner.size) < 0.02),
        rng.integers(1, 6, owner.size),
        0,
    )
    last = np.r_[owner[1:] != owner[:-1], True]
    refund = last & ~is_trial & ~redemption[owner] & (rng.random(owner.size) < 0.01)
    refund_day = period_start + rng.integers(1, 11, owner.size)
    transactions = _transactions(
        owner,
        keep & ~redemption[owner],
        is_trial,
        index,
        retry,
        late,
        refund & (refund_day < DAYS),
        refund_day,
        period_start,
        period_end,
        plan,
        hk,
        user,
        first,
    )
    status = _status(
        owner, period_start, period_end, is_trial, plan, hk, user, start, redemption, first
    )
    return transactions, status


def _transactions(
    owner: np.ndarray,
    keep: np.ndarray,
    is_trial: np.ndarray,
    index: np.ndarray,
    retry: np.ndarray,
    late: np.ndarray,
    refund: np.ndarray,
    refund_day: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    plan: np.ndarray,
    hk: np.ndarray,
    user: np.ndarray,
    first: np.datetime64,
) -> pa.Table:
    kinds = np.where(is_trial, "trial_start", np.where(index == 0, "purchase", "renewal"))
    paid_on = starts + late
    rows = [
        (keep, kinds, paid_on, starts, ends, 1.0),
        (
            keep & (late > 0),
            np.full(owner.size, "grace_period_start"),
            starts,
            starts,
            starts + 6,
            0.0,
        ),
        (keep & refund, np.full(owner.size, "refund"), refund_day, starts, ends, -1.0),
    ]
    parts = []
    for mask, kind, when, period_start, period_end, sign in rows:
        chosen = np.nonzero(mask & (when < DAYS))[0]
        parts.append(
            _transaction_part(
                owner[chosen],
                kind[chosen],
                when[chosen],
                period_start[chosen],
                period_end[chosen],
                sign,
                is_trial[chosen],
                plan,
                hk,
                user,
                first,
            )
        )
    table = pa.concat_tables(parts)
    # one id per billing event over the three parts (the staging model keeps one row per
    # id); the numbers fit the 9 characters _names keeps
    ids = _names("T", np.arange(table.num_rows))
    return table.set_column(table.column_names.index("transaction_id"), "transaction_id", ids)


def _names(prefix: str, numbers: np.ndarray) -> pa.Array:
    return pa.array(np.char.add(prefix, numbers.astype("U9")))


def _plan_columns(plan_index: np.ndarray, hk: np.ndarray) -> dict[str, pa.Array]:
    columns = {}
    for position, name in enumerate(
        ("platform", "plan_code", "product_id", "channel", "channel_sector")
    ):
        values = np.array([p[position] for p in PLANS])
        columns[name] = pa.array(values[plan_index])
    columns["country"] = pa.array(np.where(hk, "HK", "SG"))
    return columns


def _utc(days: np.ndarray, first: np.datetime64, hour: int) -> pa.Array:
    # local 10:00 (+08:00) is 02:00 UTC the same day
    moments = (first + days).astype("datetime64[us]") + np.timedelta64(hour, "h")
    return pa.array(moments, pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))


def _transaction_part(
    owner: np.ndarray,
    kind: np.ndarray,
    when: np.ndarray,
    period_start: np.ndarray,
    period_end: np.ndarray,
    sign: float,
    is_trial: np.ndarray,
    plan: np.ndarray,
    hk: np.ndarray,
    user: np.ndarray,
    first: np.datetime64,
) -> pa.Table:
    plan_index = plan[owner]
    prices_hk = np.array([p[5] for p in PLANS])
    prices_sg = np.array([p[6] for p in PLANS])
    price = np.where(hk[owner], prices_hk[plan_index], prices_sg[plan_index])
    amount = np.where(is_trial | (kind == "grace_period_start"), 0.0, price * sign)
    share = np.where(plan_index == 3, 0.85, 0.70)
    columns = {
        "transaction_id": _names("T", np.arange(owner.size)),  # made unique by the caller
        "subscription_id": _names("S", owner),
        "user_id": _names("U", user[owner]),
        **_plan_columns(plan_index, hk[owner]),
        "type": pa.array(kind),
        "transaction_time": _utc(when, first, 2),
        "period_start": _utc(period_start, first, 2),
        "period_end": _utc(period_end, first, 2),
        "amount": pa.array(amount),
        "currency": pa.array(np.where(hk[owner], "HKD", "SGD")),
        "proceeds": pa.array(np.round(amount * share, 2)),
        "_partition_date": pa.array((first + when).astype("datetime64[D]"), pa.date32()),
        # the loader's file and line: which copy of a transaction_id wins (none repeat here)
        "_file": pa.array(np.full(owner.size, "bench.csv.gz")),
        "_line": pa.array(np.arange(owner.size, dtype=np.int64) + 2),
    }
    return pa.table(columns)


def _status(
    owner: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    is_trial: np.ndarray,
    plan: np.ndarray,
    hk: np.ndarray,
    user: np.ndarray,
    start: np.ndarray,
    redemption: np.ndarray,
    first: np.datetime64,
) -> pa.Table:
    parts = []
    for reported in (0, DAYS - 2, DAYS - 1):  # the days the status export is read on
        chosen = np.nonzero((starts <= reported) & (reported < ends))[0]
        parts.append((chosen, np.full(chosen.size, reported)))
    firsts = np.nonzero(redemption[owner] & (starts >= 0) & (starts < DAYS))[0]
    parts.append((firsts, starts[firsts]))
    chosen = np.concatenate([p[0] for p in parts])
    day = np.concatenate([p[1] for p in parts])
    subscription = owner[chosen]
    columns = {
        "user_id": _names("U", user[subscription]),
        "subscription_id": _names("S", subscription),
        **_plan_columns(plan[subscription], hk[subscription]),
        "status": pa.array(np.full(chosen.size, "active")),
        "payment_status": pa.array(np.where(is_trial[chosen], "free_trial", "paying")),
        "start_time": _utc(start[subscription], first, 2),
        "current_period_start": _utc(starts[chosen], first, 2),
        "expiry_time": _utc(ends[chosen], first, 2),
        "auto_renew": pa.array(np.ones(chosen.size, bool)),
        "_partition_date": pa.array((first + day).astype("datetime64[D]"), pa.date32()),
    }
    return pa.table(columns)


BUILD = """
import json, resource, sys, time
from tally.config import load_settings
from tally.lake import Lake
import datetime as dt
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context
from tally.pipeline.incremental import build_day
from tally.warehouse import Warehouse, connect
url, models, lake, day = sys.argv[1], set(json.loads(sys.argv[2])), sys.argv[3], sys.argv[4]
warehouse = connect(url)
context = Context(load_settings(environ={}), warehouse, Lake(lake))
chosen = [m for m in discover_models() if m.table in models]
began, cpu_began = time.perf_counter(), time.process_time()
if day == "full":
    outcome = build(context, chosen)
else:  # the daily job's build of the same models
    outcome = build_day(context, dt.date.fromisoformat(day), chosen=chosen)
seconds = time.perf_counter() - began
cpu_seconds = time.process_time() - cpu_began  # every thread of the process (DuckDB's too)
# the child's own high-water mark: ru_maxrss keeps the parent's size from before the exec
# (the parent holds the generated tables), /proc's VmHWM starts again at the exec
try:
    with open("/proc/self/status") as status:
        peak = next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) * 1024
except OSError:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "peak_bytes": peak,
                  "outcome": outcome}))
"""


def _load_in_day_order(warehouse: Warehouse, table: str, rows: pa.Table) -> None:
    """Append ``rows`` as the daily loads leave them: each day's partition after the day
    before's. Generated subscription by subscription, every row group would hold every day,
    and the daily build's reads of the newest days could skip none; DuckDB's parallel append
    of one large table does not keep its order, so it is sorted in SQL."""
    with warehouse.session():
        warehouse.append(table, rows)
        ordered = f"SELECT * FROM {table} ORDER BY _partition_date"
        warehouse.execute(f"CREATE TEMPORARY TABLE ordered AS {ordered}")
        warehouse.execute(f"DELETE FROM {table}")
        warehouse.execute(f"INSERT INTO {table} SELECT * FROM ordered ORDER BY _partition_date")
        warehouse.execute("DROP TABLE ordered")


def _fingerprints(
    url: str, tables: tuple[str, ...] = SUBSCRIBER_MODELS
) -> dict[str, tuple[int, int]]:
    """(rows, sum of row hashes) of each mart, doubles rounded to 6 places (a sum
    of doubles may differ in its last bit with the order it was added in)."""
    warehouse = connect(url)
    found = {}
    for table in tables:
        schema, name = table.split(".")
        columns = warehouse.rows(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [schema, name],
        )
        values = ", ".join(f"round({c}, 6)" if kind == "DOUBLE" else c for c, kind in columns)
        found[table] = warehouse.rows(
            f"SELECT count(*), sum(hash({values})::HUGEINT) FROM {table}"
        )[0]
    warehouse.close()
    return found


def timed_build(
    url: str, folder: Path, day: dt.date | None = None, chosen: tuple[str, ...] = SUBSCRIBER_MODELS
) -> dict[str, Any]:
    """One build of the ``chosen`` models in a child process (full, or the daily build of
    ``day``): time and memory. The page cache is written back first (``os.sync``): the
    warehouse was copied or loaded just before, and the build's first COMMIT would
    otherwise wait for the copy's writeback (at 1M, one pair: a daily build 1.15 s without
    the sync, 0.88 s with it), where a production build finds its file's pages long on
    disk; the build's own writes stay in its time."""
    os.sync()
    mode = day.isoformat() if day else "full"
    models = json.dumps(chosen)
    done = subprocess.run(
        [sys.executable, "-c", BUILD, url, models, str(folder / "lake"), mode],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        # the child's own error, not only its exit status: a failed build must say why
        raise SystemExit(f"the {mode} build exited {done.returncode}:\n{done.stderr[-4000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    failed = {
        k: v
        for k, v in result["outcome"].items()
        if k in chosen and not (v == "ok" or v.startswith("incremental"))
    }
    if failed:
        raise SystemExit(f"build failed: {failed}")
    return result


STAGED = ("staging.viu_premium_transactions", "staging.viu_premium_subscriber_status")
RATES = "staging.google_drive_exchange_rates"
# units per US dollar the bench's rates start from (the reporting currency is US dollars)
RATE_BASES = {"HKD": 7.80, "SGD": 1.34}
RATE_HISTORY_DAYS = 60  # quoted from before the first day: the stand-in periods start there


def rate_sheet(day: dt.date, seed: int = 2) -> pa.Table:
    """The exchange-rate sheet as restated on ``day`` (finance's sheet keeps the history):
    a quote per currency for every day from RATE_HISTORY_DAYS before the first day to
    ``day``, moving a little each weekday (weekends repeat Friday's), parsed as the loader
    parses it, with its partition day."""
    rng = np.random.default_rng(seed)
    first = FIRST_DAY - dt.timedelta(days=RATE_HISTORY_DAYS)
    count = DAYS + RATE_HISTORY_DAYS
    lines = ["Date,Currency,Per USD"]
    walks = {
        c: base * np.exp(np.cumsum(rng.normal(0, 0.001, count))) for c, base in RATE_BASES.items()
    }
    for offset in range((day - first).days + 1):
        date = first + dt.timedelta(days=offset)
        quoted = offset - max(0, date.weekday() - 4)  # Saturday and Sunday: Friday's
        for currency, walk in walks.items():
            lines.append(f"{date},{currency},{walk[quoted]:.4f}")
    name = f"exchange-rates-{day}.csv.gz"
    sheet = get_dataset("google-drive", "exchange-rates")
    parsed = sheet.parse(gzip.compress("\n".join(lines).encode() + b"\n"), name)
    assert not parsed.bad_rows
    rows = parsed.table
    rows = rows.append_column("_partition_date", pa.array(np.full(rows.num_rows, day), pa.date32()))
    return rows.append_column("_file", pa.array(np.full(rows.num_rows, name), pa.string()))


def staged(count: int, last: dt.date, path: Path, reuse: Path | None) -> dict[str, pa.Table]:
    """Write the loaded warehouse (every day before ``last``, no build yet) to ``path``;
    returns each staging table's rows of ``last``. With ``reuse``, both are kept there
    (per size) the first time and copied from there afterwards."""
    kept = reuse / f"{count}" if reuse is not None else None
    if kept is not None and (kept / "staged.duckdb").exists():
        shutil.copy(kept / "staged.duckdb", path)
        # a folder kept by an older tally lacks the newer migrations (the ledger's columns)
        copied = connect(f"duckdb:///{path}")
        copied.migrate()
        copied.close()
        return {table: pq.read_table(kept / f"{table}.parquet") for table in (*STAGED, RATES)}
    generated = dict(zip(STAGED, generate(count), strict=True))
    warehouse = connect(f"duckdb:///{path}")
    warehouse.migrate()
    # the rate sheet as restated the day before the last (its newest snapshot is the one
    # read), then the last day's
    warehouse.append(RATES, rate_sheet(last - dt.timedelta(days=1)))
    newest = {RATES: rate_sheet(last)}
    for table, rows in generated.items():
        day = pa.scalar(last, pa.date32())
        # everything up to the day before the last: the state before the daily job
        _load_in_day_order(
            warehouse, table, rows.filter(pa.compute.less(rows["_partition_date"], day))
        )
        newest[table] = rows.filter(pa.compute.equal(rows["_partition_date"], day))
    warehouse.close()
    if kept is not None:
        kept.mkdir(parents=True, exist_ok=True)
        for table, rows in newest.items():
            pq.write_table(rows, kept / f"{table}.parquet")
        shutil.copy(path, kept / "staged.duckdb")
    return newest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 subscriptions")
    parser.add_argument(
        "--analytics",
        action="store_true",
        help="also issue 23's marts: their full build apart, and in the daily build",
    )
    parser.add_argument(
        "--daily-runs", type=int, default=3, help="daily builds on the same day (median)"
    )
    parser.add_argument(
        "--reuse",
        type=Path,
        help="folder keeping the loaded warehouse and the last day's rows between runs",
    )
    args = parser.parse_args()
    everything = SUBSCRIBER_MODELS + (ANALYTICS_MODELS if args.analytics else ())
    count = 50_000 if args.quick else args.subscriptions
    last = FIRST_DAY + dt.timedelta(days=DAYS - 1)
    with tempfile.TemporaryDirectory() as temporary:
        folder = Path(temporary)
        url = f"duckdb:///{folder}/warehouse.duckdb"
        began = time.perf_counter()
        newest = staged(count, last, folder / "warehouse.duckdb", args.reuse)
        generated = time.perf_counter() - began
        full = timed_build(url, folder)
        added = timed_build(url, folder, chosen=ANALYTICS_MODELS) if args.analytics else None
        # the daily job: the last day's partitions arrive, then the build runs
        warehouse = connect(url)
        for table, rows in newest.items():
            warehouse.replace_partition(table, rows, {"_partition_date": last})
        sizes = {
            table: warehouse.rows(f"SELECT count(*) FROM {table}")[0][0]
            for table in (
                "staging.viu_premium_transactions",
                "staging.viu_premium_subscriber_status",
                "marts.subscription_periods",
            )
        }
        warehouse.close()
        path = folder / "warehouse.duckdb"
        assert not Path(f"{path}.wal").exists()  # closed: everything is in the file
        shutil.copy(path, folder / "before-daily.duckdb")
        dailies = []
        for run in range(max(1, args.daily_runs)):
            if run:  # the warehouse as the day's load left it, again
                Path(f"{path}.wal").unlink(missing_ok=True)
                shutil.copy(folder / "before-daily.duckdb", path)
            dailies.append(timed_build(url, folder, last, chosen=everything))
        (folder / "before-daily.duckdb").unlink()
        daily = dict(dailies[-1])  # its tables are the ones compared below
        daily["seconds"] = statistics.median(d["seconds"] for d in dailies)
        daily["cpu_seconds"] = statistics.median(d["cpu_seconds"] for d in dailies)
        daily["peak_bytes"] = max(d["peak_bytes"] for d in dailies)
        after_daily = _fingerprints(url, everything)
        # the full build again, to compare the daily build with
        check = timed_build(url, folder, chosen=everything)
        again = _fingerprints(url, everything)
        differing = sorted(t for t, f in again.items() if after_daily[t] != f)
        warehouse = connect(url)
        sizes["marts.subscriber_daily"] = warehouse.rows(
            "SELECT count(*) FROM marts.subscriber_daily"
        )[0][0]
        warehouse.close()
    print(
        f"subscriptions: {count:,} over {DAYS} days ({FIRST_DAY} .. {last}); "
        f"generated and loaded in {generated:.1f} s"
    )
    for table, rows in sizes.items():
        print(f"  {table}: {rows:,} rows")
    print(
        f"full build:  {full['seconds']:8.2f} s, CPU {full['cpu_seconds']:8.2f} s, "
        f"peak memory {full['peak_bytes'] / 2**20:,.0f} MiB"
    )
    print(
        f"daily build: {daily['seconds']:8.2f} s, CPU {daily['cpu_seconds']:8.2f} s, "
        f"peak memory {daily['peak_bytes'] / 2**20:,.0f} MiB (median of "
        + ", ".join(f"{d['seconds']:.2f} s / CPU {d['cpu_seconds']:.2f} s" for d in dailies)
        + ")"
    )
    whole, whole_cpu = full["seconds"], full["cpu_seconds"]
    if added is not None:
        whole, whole_cpu = whole + added["seconds"], whole_cpu + added["cpu_seconds"]
        print(
            f"issue 23's marts, full: {added['seconds']:8.2f} s, "
            f"CPU {added['cpu_seconds']:8.2f} s, "
            f"peak memory {added['peak_bytes'] / 2**20:,.0f} MiB; "
            f"{added['seconds'] / full['seconds']:.3f} of the subscriber marts' (target <= 0.30)"
        )
    print(
        f"full again:  {check['seconds']:8.2f} s, CPU {check['cpu_seconds']:8.2f} s "
        "(after the daily build, same data)"
    )
    print(
        f"daily / full: {daily['seconds'] / whole:.3f} wall, "
        f"{daily['cpu_seconds'] / whole_cpu:.3f} CPU "
        f"({daily['cpu_seconds'] / check['cpu_seconds']:.3f} against full again; "
        "target <= 0.02)"
    )
    print(f"daily build: {daily['outcome'].get('marts.subscriber_total')}")
    if differing:
        raise SystemExit(f"the daily build's tables differ from the full build's: {differing}")
    print(f"daily build == full build: all {len(after_daily)} tables")


if __name__ == "__main__":
    watch = LoadWatch()  # load average before, after and its peak (issue 27)
    main()
    watch.finish()
