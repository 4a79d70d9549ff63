"""The daily build, incremental: after a new newest day is loaded, recompute only what moved.

A full build recomputes every subscription's periods and every day of every mart. When the
daily job has just loaded a day after the newest one built, only a few things can change:

1. the periods of the users who appear in that day's viu-premium files (their
   subscriptions, all of them, because a user's earlier periods decide new vs reactivation);
2. from the first day one of their events moved (``_changed_since.sql``; at the latest the
   new day itself, where periods of untouched users may now end as churn), the recurring
   total (carried from the stored day before, ``_subscriber_total_since.sql``), the daily
   marts, and the weeks and months holding those days;
3. the small marts downstream (reconciliation, content, telco, ...) are rebuilt whole.

Anything else (a day reloaded inside the built range, the first day moving, a mart missing)
falls back to the full build, so the result is always the full build's result; the tests
check that they are equal.
"""

from __future__ import annotations

import datetime as dt
from importlib import resources

import sqlglot
from sqlglot import exp

from tally.pipeline.build import Model, build, discover_models
from tally.pipeline.context import Context
from tally.pipeline.ledger import Ledger, new_run_id

STAGING = ("staging.viu_premium_transactions", "staging.viu_premium_subscriber_status")
PERIODS = "marts.subscription_periods"
SPANS = "marts.subscription_spans"
TOTAL = "marts.subscriber_total"
BOUNDS = "marts.subscription_bounds"
# mart → (date column, resolution of its rows: "daily", "weekly", "monthly" or a column)
BY_DATE = {
    "marts.subscriber_daily": ("day", "daily"),
    "marts.revenue_daily": ("day", "daily"),
    "marts.subscriber_weekly": ("period_start", "weekly"),
    "marts.subscriber_monthly": ("period_start", "monthly"),
    "marts.report_fact": ("start_date", "resolution_type"),
}
HANDLED = {BOUNDS, PERIODS, SPANS, TOTAL, *BY_DATE}


def _sql_file(name: str) -> str:
    return resources.files("tally.models").joinpath("marts", name).read_text(encoding="utf-8")


def restricted(sql: str, tables: set[str], condition: str) -> str:
    """A model's SQL reading only the rows of ``tables`` that meet ``condition``."""
    tree = sqlglot.parse_one(sql, read="duckdb")
    for table in list(tree.find_all(exp.Table)):
        name = f"{table.db}.{table.name}"
        if table.db and name in tables:
            subquery = (
                sqlglot.select("*").from_(name).where(condition).subquery(table.alias_or_name)
            )
            table.replace(subquery)
    return tree.sql(dialect="duckdb")


def _period_start(day: dt.date, resolution: str) -> dt.date:
    if resolution == "weekly":
        return day - dt.timedelta(days=day.weekday())
    if resolution == "monthly":
        return day.replace(day=1)
    return day


def build_day(
    context: Context,
    day: dt.date,
    run_id: str | None = None,
    chosen: list[Model] | None = None,
) -> dict[str, str]:
    """The build after ``day`` was loaded: incremental when possible, else the full build.

    ``chosen`` limits the build to some models, as ``build`` does (default: every model).
    """
    run_id = run_id or new_run_id()
    everything = chosen if chosen is not None else discover_models()
    models = {m.table: m for m in everything}
    warehouse = context.warehouse
    if not HANDLED <= set(models) or not all(
        warehouse.table_exists(t) for t in HANDLED | set(STAGING)
    ):
        return build(context, everything, run_id=run_id)
    old = warehouse.rows(f"SELECT data_start, horizon FROM {BOUNDS}")
    first = "SELECT min(_partition_date) FROM staging.viu_premium_transactions"
    fresh = warehouse.rows(first)[0][0]
    if not old or old[0][1] is None or day <= old[0][1] or (fresh and fresh < old[0][0]):
        return build(context, everything, run_id=run_id)  # a reload inside the range, or no build
    ledger = Ledger(warehouse)
    outcome: dict[str, str] = {}
    # one connection for the whole step: DuckDB would otherwise reopen (and checkpoint) the
    # file for every statement
    with warehouse.session(), ledger.step(run_id, "build", dataset=f"incremental {day}") as step:
        since = _recompute_periods(context, models, day, old[0][1])
        _recompute_from(context, models, since)
        recomputed = f"SELECT count(*) FROM {TOTAL} WHERE day >= ?"
        step.rows_out = warehouse.rows(recomputed, [since])[0][0]
    outcome.update(dict.fromkeys(sorted(HANDLED), f"incremental from {since}"))
    rest = [m for m in models.values() if m.table not in HANDLED]
    outcome.update(build(context, rest, run_id=run_id))
    return outcome


def _recompute_periods(
    context: Context, models: dict[str, Model], day: dt.date, old_horizon: dt.date
) -> dt.date:
    """Replace the periods and spans of the day's users; returns the first day that moved."""
    warehouse = context.warehouse
    warehouse.materialize("marts.changed_users", _changed_users_sql(old_horizon, day))
    warehouse.materialize(BOUNDS, models[BOUNDS].sql)
    mine = "user_id IN (SELECT user_id FROM marts.changed_users)"
    warehouse.materialize(
        "marts.changed_periods", restricted(models[PERIODS].sql, set(STAGING), mine)
    )
    moved = warehouse.rows(_sql_file("_changed_since.sql"))[0][0]
    since = min(d for d in (moved, old_horizon + dt.timedelta(days=1), day) if d is not None)
    with warehouse.transaction():
        warehouse.execute(f"DELETE FROM {PERIODS} WHERE {mine}")
        warehouse.execute(f"INSERT INTO {PERIODS} SELECT * FROM marts.changed_periods")
        warehouse.execute(f"DELETE FROM {SPANS} WHERE {mine}")
        spans = restricted(models[SPANS].sql, {PERIODS}, mine)
        warehouse.execute(f"INSERT INTO {SPANS} {spans}")
    for table in ("marts.changed_users", "marts.changed_periods"):
        warehouse.execute(f"DROP TABLE IF EXISTS {table}")
    return since


STATUS_STATE = (
    "user_id, subscription_id, country, platform, plan_code, product_id, channel, "
    "channel_sector, status, payment_status, start_time, current_period_start, expiry_time"
)


def _changed_users_sql(built: dt.date, day: dt.date) -> str:
    """Users in the transactions loaded after the last build (days ``built`` + 1 .. ``day``),
    and in the status exports of those days where their row changed.

    The status export lists every subscription every day; a row the last built export
    already showed (same state, same period) changes no period, so only new or changed
    rows count.
    """
    new = f"_partition_date > DATE '{built.isoformat()}' AND _partition_date <= DATE '{day}'"
    return (
        f"SELECT DISTINCT user_id FROM staging.viu_premium_transactions WHERE {new} "
        f"UNION SELECT DISTINCT user_id FROM ("
        f"SELECT {STATUS_STATE} FROM staging.viu_premium_subscriber_status WHERE {new} "
        f"EXCEPT SELECT {STATUS_STATE} FROM staging.viu_premium_subscriber_status "
        f"WHERE _partition_date = (SELECT max(_partition_date) "
        f"FROM staging.viu_premium_subscriber_status "
        f"WHERE _partition_date <= DATE '{built.isoformat()}')"
        f") AS changed"
    )


def _recompute_from(context: Context, models: dict[str, Model], since: dt.date) -> None:
    """Replace the recurring total from ``since`` on, and the date-keyed marts after it."""
    warehouse = context.warehouse
    with warehouse.transaction():
        # read the carried total before deleting: it starts from the stored day before
        total = _sql_file("_subscriber_total_since.sql")
        warehouse.execute("DROP TABLE IF EXISTS marts.changed_total")
        warehouse.execute(f"CREATE TABLE marts.changed_total AS {total}", [since])
        warehouse.execute(f"DELETE FROM {TOTAL} WHERE day >= ?", [since])
        warehouse.execute(f"INSERT INTO {TOTAL} SELECT * FROM marts.changed_total")
        warehouse.execute("DROP TABLE marts.changed_total")
    for table in (
        "marts.subscriber_daily",
        "marts.revenue_daily",
        "marts.subscriber_weekly",
        "marts.subscriber_monthly",
        "marts.report_fact",
    ):
        column, resolution = BY_DATE[table]
        if resolution == "resolution_type":
            where = " OR ".join(
                f"(resolution_type = '{r}' AND {column} >= DATE '{_period_start(since, r)}')"
                for r in ("daily", "weekly", "monthly")
            )
        else:
            where = f"{column} >= DATE '{_period_start(since, resolution)}'"
        sql = models[table].sql
        if table == "marts.revenue_daily":
            # a day's export holds that day's transactions: older partitions cannot hold a
            # transaction dated on or after `since` (two days' slack for zones and late files)
            early = since - dt.timedelta(days=2)
            sql = restricted(sql, {STAGING[0]}, f"_partition_date >= DATE '{early}'")
        with warehouse.transaction():
            warehouse.execute(f"DELETE FROM {table} WHERE {where}")
            warehouse.execute(f"INSERT INTO {table} SELECT * FROM ({sql}) AS fresh WHERE {where}")
