"""The daily build, incremental: after a new newest day is loaded, recompute only what moved.

A full build recomputes every subscription's periods and every day of every mart. When the
daily job has just loaded a day after the newest one built, only a few things can change:

1. the periods of the subscriptions in that day's viu-premium files: most are extended from
   their latest stored period (``extension.py``, ``marts.subscription_last_periods``, with
   earlier refunds from ``marts.refund_transactions``); a user whose day reaches back
   before a latest period, or moves a period in front of another of their latest periods,
   is recomputed from their whole history (a user's earlier periods decide new vs
   reactivation). Only the periods and spans that differ from the stored ones are replaced;
2. from the first day one of their events moved (``_moved_periods.sql``; at the latest the
   new day itself, where periods of untouched users may now end as churn), every model
   that declares a date range (``build.Range``: the recurring total, the daily marts, the
   weeks and months holding those days), by ``build.rebuild_days`` with its own SQL;
3. the small marts downstream (reconciliation, content, telco, ...) are rebuilt whole.

Each recomputation reads only what can reach the days it replaces: the spans come from the
recomputed periods alone, and the daily marts read the periods still open on ``since`` (a
period's events all fall on or before its end), the stored totals from ``since`` on and
the transactions of the partitions from two days before it, so the daily build does not
rescan the whole history of periods.

Anything else (a day reloaded inside the built range, the first day moving, a mart missing)
falls back to the full build, so the result is always the full build's result; the tests
check that they are equal. The whole daily build is one transaction: stopped half way, it
leaves the stored build as it was.

The periods are stored in order of their end (``subscription_periods.sql``), so what the
daily build reads and replaces sits in the last row groups; see benchmarks/README.md for
what each step costs.
"""

from __future__ import annotations

import datetime as dt
import re

from tally.pipeline.build import WRITTEN, Model, build, discover_models, ordered, rebuild_days
from tally.pipeline.context import Context
from tally.pipeline.extension import LAST_PERIODS, extended_sql, marts_sql, new_keys_sql
from tally.pipeline.ledger import Ledger, new_run_id
from tally.warehouse import Warehouse

# every copy of the billing events as loaded, and one copy of each (the models read that)
RAW = "staging.viu_premium_transactions"
LATEST = "staging.viu_premium_transactions_latest"
STAGING = (LATEST, "staging.viu_premium_subscriber_status")
PERIODS = "marts.subscription_periods"
SPANS = "marts.subscription_spans"
BOUNDS = "marts.subscription_bounds"
REFUNDS = "marts.refund_transactions"
DATE_GRAINS = ("day", "week", "month", "resolution")
HANDLED = {LATEST, BOUNDS, REFUNDS, PERIODS, LAST_PERIODS, SPANS}


def substituted(sql: str, sources: dict[str, tuple[str, str | None]]) -> str:
    """A model's SQL reading, for each table named in ``sources``, the rows of another
    table (or the same) that meet a condition (``None``: every row).

    Done on the text, not through sqlglot: parsing and printing the models costs about
    0.4 s a build, which is most of a small daily build. The models write a table as
    ``schema.table`` or ``schema.table AS alias`` (never a bare alias), and their comments
    are dropped first so a name in a comment is left alone.
    """
    text = re.sub(r"--[^\n]*", "", sql)
    for table, (source, condition) in sources.items():
        name = table.split(".")[-1]
        where = f" WHERE {condition}" if condition is not None else ""
        pattern = re.compile(
            rf"(?<![\w.]){re.escape(table)}(?![\w.])(?:\s+AS\s+(\w+))?", re.IGNORECASE
        )
        subquery = f"(SELECT * FROM {source}{where}) AS "
        text = pattern.sub(
            lambda found, start=subquery, name=name: start + (found.group(1) or name), text
        )
    return text


def _tables(warehouse: Warehouse) -> set[str]:
    """Every table in the warehouse, in one catalogue query (not one per table)."""
    found = warehouse.rows("SELECT table_schema, table_name FROM information_schema.tables")
    return {f"{schema}.{name}" for schema, name in found}


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
    outcome: dict[str, str] = {}
    # one connection for the whole step: DuckDB would otherwise reopen (and checkpoint) the
    # file for every statement; no mart's rows have an order (every reader sorts or groups),
    # and keeping the order read halves DuckDB's speed on two cores
    ranged = _ranged(models)
    handled = HANDLED | {m.table for m in ranged}
    with warehouse.session(), warehouse.unordered():
        built = _built_range(warehouse, models, handled)
        if built is not None and day > built[1]:
            ledger = Ledger(warehouse)
            with ledger.step(run_id, "build", dataset=f"incremental {day}") as step:
                # all or nothing: a build stopped half way would leave the new horizon with
                # the old marts, and the next day's build would take the day as done
                with warehouse.transaction():
                    since = _recompute_periods(context, models, day, built[1])
                    # every date-ranged model, by its declared range (build.rebuild_days)
                    for model in ranged:
                        rebuild_days(warehouse, model, since)
                step.rows_out = len(ranged)
    if built is None or day <= built[1]:
        # no build yet, or a reload inside the built range: outside the session, so the full
        # build holds the warehouse one model at a time
        return build(context, everything, run_id=run_id)
    outcome.update(dict.fromkeys(sorted(handled), f"incremental from {since}"))
    rest = [m for m in models.values() if m.table not in handled]
    if rest:  # else nothing is left to build: not even the countries and plans to rewrite
        outcome.update(build(context, rest, run_id=run_id))
    return outcome


def _ranged(models: dict[str, Model]) -> list[Model]:
    """The models with a declared date range, in dependency order, whose inputs are all
    rebuilt here before them (or written, or loaded tables this build tracks); a model
    reading another model that is rebuilt whole is rebuilt whole too."""
    ranged: list[Model] = []
    known = HANDLED | WRITTEN | {RAW, *STAGING}
    for model in ordered(list(models.values())):
        declared = model.range
        if declared is not None and declared.grain in DATE_GRAINS and model.reads <= known:
            ranged.append(model)
            known.add(model.table)
    return ranged


def _built_range(
    warehouse: Warehouse, models: dict[str, Model], handled: set[str]
) -> tuple[dt.date, dt.date] | None:
    """(first day, horizon) of the stored build when the incremental build can extend it:
    every handled mart and staging table exists and no partition before the first built
    day was loaded since; otherwise ``None``."""
    needed = handled | {RAW, *STAGING} | WRITTEN
    if not HANDLED <= set(models) or not needed <= _tables(warehouse):
        return None
    old = warehouse.rows(f"SELECT data_start, horizon FROM {BOUNDS}")
    first = f"SELECT min(_partition_date) FROM {RAW}"
    fresh = warehouse.rows(first)[0][0]
    if not old or old[0][1] is None or (fresh and fresh < old[0][0]):
        return None
    return old[0][0], old[0][1]


def _recompute_periods(
    context: Context, models: dict[str, Model], day: dt.date, old_horizon: dt.date
) -> dt.date:
    """Replace the periods and spans of the day's users that moved; returns the first day
    that moved.

    A user whose new rows extend their latest period is extended from the stored latest
    period (``extension.py``); the others are recomputed from their whole history.
    """
    warehouse = context.warehouse
    # the working tables are temporary: the session's own, never written to the warehouse
    # file (DuckDB would write them to its log, then checkpoint them on closing)
    new = f"_partition_date > DATE '{old_horizon.isoformat()}'"
    first_money_day = _refresh_latest(warehouse, models, new)
    _temporary(warehouse, "new_status", _new_status_sql(old_horizon))
    _temporary(
        warehouse,
        "changed_users",
        f"SELECT user_id FROM {STAGING[0]} WHERE {new} UNION SELECT user_id FROM new_status",
    )
    warehouse.materialize(BOUNDS, models[BOUNDS].sql)
    _temporary(
        warehouse,
        "tails",
        f"SELECT * FROM {LAST_PERIODS} WHERE user_id IN (SELECT user_id FROM changed_users)",
    )
    model = models[PERIODS].sql
    day_rows = {STAGING[0]: (STAGING[0], new), STAGING[1]: ("new_status", None)}
    _temporary(warehouse, "new_keys", substituted(new_keys_sql(model), day_rows))
    _temporary(warehouse, "recomputed_users", marts_sql("_recomputed_users.sql"))
    # a revised event may move anything of its user's (old and new user, if it moved)
    warehouse.execute(
        "INSERT INTO recomputed_users SELECT user_id FROM revised UNION "
        "SELECT user_id FROM latest_rows "
        "WHERE transaction_id IN (SELECT transaction_id FROM revised)"
    )
    columns = warehouse.columns(PERIODS)
    _extend(warehouse, model, new, columns)
    _recompute_whole(warehouse, model, columns)
    differs = " OR ".join(f"o.{c} IS DISTINCT FROM n.{c}" for c in columns)
    _temporary(
        warehouse, "moved_periods", marts_sql("_moved_periods.sql").replace("{differs}", differs)
    )
    moved = warehouse.rows("SELECT min(changed_on) FROM moved_periods")[0][0]
    # money and refunds count on the transaction's own day, which a backdated or revised
    # event puts before any period that moved (a purchase replacing a status-export row
    # moves no event of its period, but brings its revenue)
    moments = (moved, first_money_day, old_horizon + dt.timedelta(days=1), day)
    since = min(d for d in moments if d is not None)
    _replace_moved(warehouse, models)
    _replace_last_periods(warehouse, models, columns)
    refreshed = "subscription_id IN (SELECT subscription_id FROM new_subscriptions)"
    warehouse.execute(f"DELETE FROM {REFUNDS} WHERE {refreshed}")
    refunds = substituted(models[REFUNDS].sql, {LATEST: (LATEST, refreshed)})
    warehouse.execute(f"INSERT INTO {REFUNDS} {refunds}")
    for table in WORKING_TABLES:
        warehouse.execute(f"DROP TABLE IF EXISTS {table}")
    return since


WORKING_TABLES = (
    "new_subscriptions",
    "latest_rows",
    "revised",
    "new_status",
    "changed_users",
    "tails",
    "new_keys",
    "recomputed_users",
    "touched",
    "extended",
    "changed_periods",
    "old_periods",
    "moved_periods",
)


def _refresh_latest(warehouse: Warehouse, models: dict[str, Model], new: str) -> dt.date | None:
    """Bring ``staging.viu_premium_transactions_latest`` up to the new partitions with the
    model's own SQL, run over every copy of the subscriptions those partitions name (a
    refund's scope reads its period's price, which may have come days before).

    Leaves ``new_subscriptions``, ``latest_rows`` (their rows as they are now) and
    ``revised`` (their stored rows that are no longer so: an earlier copy a revision
    replaced, a refund whose scope moved). Returns the first business day a new or
    revised row counts money on (None: none).
    """
    _temporary(
        warehouse, "new_subscriptions", f"SELECT DISTINCT subscription_id FROM {RAW} WHERE {new}"
    )
    refreshed = "subscription_id IN (SELECT subscription_id FROM new_subscriptions)"
    _temporary(warehouse, "latest_rows", substituted(models[LATEST].sql, {RAW: (RAW, refreshed)}))
    _temporary(
        warehouse,
        "revised",
        f"SELECT * FROM {LATEST} WHERE {refreshed} EXCEPT SELECT * FROM latest_rows",
    )
    warehouse.execute(f"DELETE FROM {LATEST} WHERE {refreshed}")
    warehouse.execute(f"INSERT INTO {LATEST} SELECT * FROM latest_rows")
    first = (
        "SELECT min(CAST(t.transaction_time AT TIME ZONE z.timezone AS DATE)) FROM ("
        f"SELECT country, transaction_time FROM latest_rows WHERE {new} "
        "UNION ALL SELECT country, transaction_time FROM revised"
        ") AS t JOIN marts.dim_country AS z ON z.code = t.country"
    )
    return warehouse.rows(first)[0][0]


def _extend(warehouse: Warehouse, model: str, new: str, columns: list[str]) -> None:
    """``extended``: the periods of the day's subscriptions that extend their latest stored
    period (``extension.py``), with the latest periods whose user_prev_end only grows
    (``_raised_periods.sql``), and ``touched``, those subscriptions. Users the extension
    cannot take join ``recomputed_users``."""
    _temporary(
        warehouse,
        "touched",
        "SELECT DISTINCT subscription_id FROM new_keys "
        "WHERE user_id NOT IN (SELECT user_id FROM recomputed_users)",
    )
    touched = "subscription_id IN (SELECT subscription_id FROM touched)"
    # the touched subscriptions' new rows, and all their refunds (a refund may come before
    # the period it cuts is known): the earlier ones from the small table of refunds
    listed = ", ".join(warehouse.columns(REFUNDS))
    transactions = (
        f"(SELECT {listed} FROM {STAGING[0]} WHERE {new} UNION ALL "
        f"SELECT {listed} FROM {REFUNDS} WHERE NOT ({new})) AS day_rows"
    )
    sources = {STAGING[0]: (transactions, touched), STAGING[1]: ("new_status", touched)}
    _temporary(warehouse, "extended", substituted(extended_sql(model), sources))
    warehouse.execute(f"INSERT INTO recomputed_users {marts_sql('_unextended_users.sql')}")
    warehouse.execute(
        "DELETE FROM extended WHERE user_id IN (SELECT user_id FROM recomputed_users)"
    )
    raised = ", ".join(
        "greatest(o.user_prev_end, g.grown_end)" if c == "user_prev_end" else f"o.{c}"
        for c in columns
    )
    raised_sql = marts_sql("_raised_periods.sql").replace("{columns}", raised)
    warehouse.execute(f"INSERT INTO extended {raised_sql}")
    _temporary(warehouse, "touched", "SELECT DISTINCT subscription_id FROM extended")


def _recompute_whole(warehouse: Warehouse, model: str, columns: list[str]) -> None:
    """``changed_periods`` (the periods as they are now) and ``old_periods`` (as stored) of
    the extended subscriptions and of the users recomputed from their whole history."""
    listed = ", ".join(columns)
    touched = "subscription_id IN (SELECT subscription_id FROM touched)"
    _temporary(warehouse, "changed_periods", f"SELECT {listed} FROM extended")
    _temporary(warehouse, "old_periods", f"SELECT {listed} FROM tails WHERE {touched}")
    if warehouse.rows("SELECT count(*) FROM recomputed_users")[0][0]:
        sources = {table: (table, _users_rows(warehouse, table)) for table in STAGING}
        recomputed = substituted(model, sources)
        warehouse.execute(f"INSERT INTO changed_periods SELECT * FROM ({recomputed}) AS r")
        whole = _users_rows(warehouse, PERIODS)
        warehouse.execute(f"INSERT INTO old_periods SELECT * FROM {PERIODS} WHERE {whole}")


def _users_rows(warehouse: Warehouse, table: str) -> str:
    """The condition that picks the rows of ``recomputed_users`` in ``table``.

    Where the warehouse has row ids (DuckDB), in two steps, the row ids from the user
    column alone, then those rows: a
    handful of users' rows sit in every row group, and a plain semi-join decompresses every
    column of every row (0.34 -> 0.19 s over 6.6M transactions for 20 users).
    """
    users = "user_id IN (SELECT user_id FROM recomputed_users)"
    if not warehouse.capabilities.row_ids:
        return users
    return f"rowid IN (SELECT rowid FROM {table} WHERE {users})"


def _replace_last_periods(
    warehouse: Warehouse, models: dict[str, Model], columns: list[str]
) -> None:
    """Replace the stored latest periods of the touched subscriptions and of the users
    recomputed whole."""
    warehouse.execute(
        f"DELETE FROM {LAST_PERIODS} "
        "WHERE subscription_id IN (SELECT subscription_id FROM touched) "
        "OR user_id IN (SELECT user_id FROM recomputed_users)"
    )
    listed = ", ".join(columns)
    warehouse.execute(
        f"INSERT INTO {LAST_PERIODS} "
        f"SELECT {listed}, earlier_max_end, first_known_start, previous_start "
        "FROM extended WHERE is_last"
    )
    whole = "user_id IN (SELECT user_id FROM recomputed_users)"
    recomputed = substituted(models[LAST_PERIODS].sql, {PERIODS: ("changed_periods", whole)})
    warehouse.execute(f"INSERT INTO {LAST_PERIODS} SELECT * FROM ({recomputed}) AS r")


# the keys the stored rows of moved periods, and of their spans, are found by: a period's
# spans begin on its start or on the day it was paid. A subscription belongs to one user
# (the recomputation reads the staging rows of whole users), so the key needs no user.
MOVED_KEYS = {
    PERIODS: "SELECT subscription_id, period_start FROM moved_periods",
    SPANS: " UNION ".join(
        f"SELECT subscription_id, {start} AS span_start FROM moved_periods"
        for start in ("period_start", "old_paying_from", "new_paying_from")
    ),
}


def _replace_moved(warehouse: Warehouse, models: dict[str, Model]) -> None:
    """Replace only the stored periods and spans of the periods that moved.

    Most of a user's periods come back unchanged (a renewal adds one period and closes the
    one before); deleting and inserting all of them made DuckDB rewrite the deleted rows'
    row groups on its checkpoint. Rows are replaced by key (subscription, start day): every
    stored row under a key a moved period (old or new) gives is deleted and every
    recomputed row under it inserted, so rows under any other key came from unchanged
    periods and are equal in both.
    """
    spans = substituted(models[SPANS].sql, {PERIODS: ("changed_periods", None)})
    _replace_keyed(
        warehouse, PERIODS, MOVED_KEYS[PERIODS], "SELECT * FROM changed_periods", "period_start"
    )
    _replace_keyed(warehouse, SPANS, MOVED_KEYS[SPANS], spans, "span_start")


def _replace_keyed(
    warehouse: Warehouse, table: str, keys_sql: str, rows_sql: str, start: str
) -> None:
    """Delete ``table``'s rows whose (subscription, ``start``) is among ``keys_sql``'s,
    and insert ``rows_sql``'s rows with those keys (a period missing on one side gives a
    NULL paying day there: no row matches it)."""
    _temporary(warehouse, "moved_keys", f"SELECT * FROM ({keys_sql}) AS keys")
    key = ("subscription_id", start)
    matched = " AND ".join(f"{table}.{column} = moved_keys.{column}" for column in key)
    warehouse.execute(f"DELETE FROM {table} USING moved_keys WHERE {matched}")
    fresh = " AND ".join(f"fresh.{column} = moved_keys.{column}" for column in key)
    warehouse.execute(
        f"INSERT INTO {table} SELECT fresh.* FROM ({rows_sql}) AS fresh "
        f"WHERE EXISTS (SELECT 1 FROM moved_keys WHERE {fresh})"
    )
    warehouse.execute("DROP TABLE moved_keys")


def _temporary(warehouse: Warehouse, table: str, select_sql: str) -> None:
    """(Re)create the session's temporary ``table`` from a SELECT."""
    warehouse.execute(f"DROP TABLE IF EXISTS {table}")
    warehouse.execute(f"CREATE TEMPORARY TABLE {table} AS {select_sql}")


STATUS_STATE = (
    "user_id, subscription_id, country, platform, plan_code, product_id, channel, "
    "channel_sector, status, payment_status, start_time, current_period_start, expiry_time"
)


def _new_status_sql(built: dt.date) -> str:
    """The status-export rows loaded after the last build (days after ``built``) that the
    last built export did not already show.

    The status export lists every subscription every day; a row the last built export
    already showed (same state, same period) changes no period, so only new or changed
    rows count.
    """
    table = STAGING[1]
    return (
        f"SELECT {STATUS_STATE} FROM {table} WHERE _partition_date > DATE '{built}' "
        f"EXCEPT SELECT {STATUS_STATE} FROM {table} "
        f"WHERE _partition_date = (SELECT max(_partition_date) FROM {table} "
        f"WHERE _partition_date <= DATE '{built}')"
    )
