"""Extending a subscription's periods from a new day's rows alone (the daily build's fast path).

Most of what a day brings lands after everything a user had: a renewal, a grace-period
notice, the payment that ends it, a refund of the latest period, a new subscription. For
those, the subscription's latest stored period (``marts.subscription_last_periods``) and the
day's rows give the same periods the model gives from the user's whole history, because
every window of the model (previous period, access before, the user's earlier ends) only
looks back, and what it finds before the latest period is kept in that row. A user's
subscriptions touched on the same day are extended together (a new period reads the
others' extended ends). A user whose day reaches further back takes the whole
recomputation (the model's own SQL, narrowed to those users); so does one whose day moves
a period that comes before another of their subscriptions' latest periods (that one's
windows would move too). ``rebuild_periods`` is the periods model's way to its declared
range (by user), registered in ``FAST_PATHS`` for the daily build (``incremental.py``).

The SQL reuses the model's own steps (``subscription_periods.sql``: time zones, which row
describes a period, refunds, stand-ins) by their CTE names, with the latest stored period fed
back in as one more described row; only the windows differ (``_extended_periods.sql``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from importlib import resources

from tally.pipeline.build import (
    Model,
    done_with,
    few_rows,
    keyed_rows,
    narrowed,
    rebuild_keys,
    replace_changed,
    table_columns,
    temporary,
)
from tally.pipeline.statements import pipeline_fragment
from tally.warehouse import Warehouse
from tally.warehouse.sqlfiles import sql_expression, sql_file

PERIODS = "marts.subscription_periods"
LAST_PERIODS = "marts.subscription_last_periods"
REFUNDS = "marts.refund_transactions"
# the column of "tails" (where the warehouse has row ids) holding each row's row id in
# LAST_PERIODS
ROW_ID = "_row_id"
# the periods model's inputs: one copy of each billing event, and the status export
LATEST = "staging.viu_premium_transactions_latest"
STATUS = "staging.viu_premium_subscriber_status"
# the model's CTEs the extension runs unchanged, in the model's order
REUSED = ("transactions", "described", "chosen", "refunds", "known", "first_known", "stand_ins")


def marts_sql(name: str) -> str:
    """The text of a SQL file in ``models/marts`` (a model, or a step of the daily build)."""
    return resources.files("tally.models").joinpath("marts", name).read_text(encoding="utf-8")


def model_text(name: str) -> str:
    """A model's SQL as ``build.read_model`` keeps it (``Model.sql``), so that narrowing it
    reuses the parse the build made of it."""
    return marts_sql(name).strip().rstrip(";")


def step_sql(name: str, **fragments: str) -> str:
    """A step of the extension, ``models/marts/<name>`` (not a model), its ``{fragments}``
    filled."""
    return sql_file("tally.models", f"marts/{name}", **fragments)


def step_fragment(name: str, **fragments: str) -> str:
    """``step_sql`` as one line without its comments: a CTE body, an input's rows or a
    condition that another step embeds."""
    return sql_expression("tally.models", f"marts/{name}", **fragments)


def _among(column: str, table: str) -> str:
    """The condition: a row's ``column`` among those of the temporary ``table``."""
    return pipeline_fragment("keys_among", key=column, given=column, rows=table)


def model_ctes(sql: str) -> dict[str, str]:
    """The CTEs of a model, name → body, in order.

    Split on the text, not through sqlglot (a parse costs ~0.03 s of a ~1 s build): a model
    opens each CTE with ``name AS (`` at the start of a line and closes it with ``)`` at the
    start of a line, and comments are dropped first.
    """
    text = re.sub(r"--[^\n]*", "", sql)
    found = re.findall(r"^(?:WITH\s+)?(\w+) AS \(\n(.*?)^\)", text, re.MULTILINE | re.DOTALL)
    return dict(found)


def new_keys_sql(model_sql: str) -> str:
    """(user, subscription, period start) of every described row and refund the day brought.

    ``model_sql`` is the periods model with its inputs narrowed by the caller (see
    ``build.narrowed``) to the new rows only.
    """
    ctes = model_ctes(model_sql)
    return step_sql("_new_keys.sql", transactions=ctes["transactions"], described=ctes["described"])


def extended_sql(model_sql: str) -> str:
    """The periods of the touched subscriptions, from their latest stored period (``tails``)
    and the new rows; one row per period from that latest one on, with the model's columns
    and, for ``marts.subscription_last_periods``, ``earlier_max_end``, ``first_known_start``,
    ``previous_start`` and ``is_last``. ``model_sql`` is the periods model with its inputs
    narrowed by the caller (``build.narrowed``) to the touched subscriptions' rows."""
    ctes = model_ctes(model_sql)
    missing = [name for name in (*REUSED, "periods") if name not in ctes]
    if missing:
        raise ValueError(
            f"subscription_periods.sql lost its CTEs {missing}: extension.py reuses them"
        )
    steps = {name: ctes[name] for name in REUSED}
    steps["new_described"] = steps.pop("described")
    # a stored latest period, as the described row it came from
    carried = marts_sql("_carried_periods.sql")
    steps["described"] = step_fragment("_extension_described.sql", carried=carried)
    # a stand-in goes before a subscription's first period: only new subscriptions get one
    steps["new_known"] = step_fragment("_extension_new_known.sql")
    first_known = re.subn(r"\bFROM known\b", "FROM new_known", ctes["first_known"])
    if first_known[1] != 1:
        raise ValueError("subscription_periods.sql: first_known must read known once")
    steps["first_known"] = first_known[0]
    steps["periods"] = ctes["periods"]
    order = (
        "transactions",
        "new_described",
        "described",
        "chosen",
        "refunds",
        "known",
        "new_known",
        "first_known",
        "stand_ins",
        "periods",
    )
    prefix = ",\n".join(f"{name} AS ({steps[name]})" for name in order)
    return f"WITH {prefix}\n{marts_sql('_extended_periods.sql')}"


def rebuild_periods(
    warehouse: Warehouse, model: Model, users: str, deltas: Mapping[str, str], horizon: dt.date
) -> None:
    """The periods model's own way to its range (the users in the temporary table
    ``users``): extend the latest stored period of most of their subscriptions from the
    new rows alone, recompute the others' users whole with the model's SQL, and replace
    the periods that differ (``build.replace_changed``, leaving the delta in
    ``deltas[PERIODS]``).

    ``deltas`` names the temporary tables of the inputs' changed rows: the billing events
    that came or went (``_old``) and the status-export rows the newest built export did not
    have; ``horizon`` is the newest day built before."""
    latest, status = deltas[LATEST], deltas[STATUS]
    temporary(warehouse, "tails", _tails(warehouse, users))
    new_rows = {
        LATEST: f"SELECT * FROM {latest} WHERE NOT _old",
        STATUS: f"SELECT * FROM {status}",
    }
    # the model narrowed, then its steps composed: the model's parse is the one the build
    # made (cached), where narrowing the composed text would parse it anew (~0.05 s each)
    temporary(warehouse, "new_keys", new_keys_sql(narrowed(model.sql, new_rows)))
    temporary(warehouse, "recomputed_users", marts_sql("_recomputed_users.sql"))
    # a revised event may move anything of its user's (old and new user, if it moved)
    revised = pipeline_fragment(
        "keys_among", key="transaction_id", given="transaction_id", rows=f"{latest} WHERE _old"
    )
    warehouse.execute(f"INSERT INTO recomputed_users SELECT user_id FROM {latest} WHERE {revised}")
    columns = table_columns(warehouse, PERIODS)
    _extend(warehouse, model, latest, status, horizon, columns)
    recomputed = _recompute_whole(warehouse, model, columns)
    # "extended" holds the periods as they are now (rows_on_one_side reads the model's
    # columns of it): no copy of them
    replace_changed(warehouse, model, None, None, deltas[PERIODS], "old_periods", "extended")
    _latest_periods(warehouse, columns, recomputed)
    done_with(warehouse, WORKING_TABLES)


def _latest_periods(warehouse: Warehouse, columns: list[str], recomputed: bool) -> None:
    """``last_fresh`` and ``last_stored``: the latest periods (``LAST_PERIODS``) of the
    extended subscriptions and of the users recomputed whole, as they are now (from the
    extension's rows, and the model's own SQL over the recomputed periods, ``columns``
    of "extended") and as stored; ``rebuild_last_periods`` replaces the one with the
    other. ``recomputed``: whether any user was recomputed whole."""
    listed = ", ".join(table_columns(warehouse, LAST_PERIODS))
    # (a recomputed period's is_last is NULL: not picked here)
    temporary(warehouse, "last_fresh", f"SELECT {listed} FROM extended WHERE is_last")
    whole = _among("user_id", "recomputed_users")
    if recomputed:
        periods = ", ".join(columns)
        latest = narrowed(
            model_text("subscription_last_periods.sql"),
            {PERIODS: f"SELECT {periods} FROM extended WHERE {whole}"},
        )
        warehouse.execute(f"INSERT INTO last_fresh SELECT * FROM ({latest}) AS r")
    temporary(warehouse, "last_stored", step_sql("_stored_latest_periods.sql", recomputed=whole))


def rebuild_last_periods(
    warehouse: Warehouse, model: Model, keys: str, deltas: Mapping[str, str], horizon: dt.date
) -> None:
    """``marts.subscription_last_periods``'s way to its declared range (by subscription):
    the rows ``rebuild_periods`` left, when it ran (else the model's own SQL for the keys)."""
    if PERIODS not in deltas:
        rebuild_keys(warehouse, model, keys, deltas[model.table])
        return
    row_ids = ROW_ID if warehouse.capabilities.row_ids else None
    replace_changed(
        warehouse, model, None, None, deltas[model.table], "last_stored", "last_fresh", row_ids
    )
    done_with(warehouse, ["last_stored", "last_fresh"])


WORKING_TABLES = (
    "tails",
    "new_keys",
    "recomputed_users",
    "touched",
    "extended",
    "old_periods",
)


def _extend(
    warehouse: Warehouse,
    model: Model,
    latest: str,
    status: str,
    horizon: dt.date,
    columns: list[str],
) -> None:
    """``extended``: the periods of the day's subscriptions that extend their latest stored
    period, with the latest periods whose user_prev_end only grows
    (``_raised_periods.sql``), and ``touched``, those subscriptions. Users the extension
    cannot take join ``recomputed_users``."""
    temporary(warehouse, "touched", step_sql("_touched_subscriptions.sql"))
    touched = _among("subscription_id", "touched")
    # the touched subscriptions' new rows, and all their refunds
    day_rows = step_fragment(
        "_extension_day_rows.sql",
        columns=", ".join(table_columns(warehouse, REFUNDS)),
        latest=latest,
        refunds=REFUNDS,
        horizon=f"DATE '{horizon}'",
        touched=touched,
    )
    sources = {LATEST: day_rows, STATUS: f"SELECT * FROM {status} WHERE {touched}"}
    temporary(warehouse, "extended", extended_sql(narrowed(model.sql, sources)))
    warehouse.execute(f"INSERT INTO recomputed_users {marts_sql('_unextended_users.sql')}")
    warehouse.execute(f"DELETE FROM extended WHERE {_among('user_id', 'recomputed_users')}")
    raised = ", ".join(
        "greatest(o.user_prev_end, g.grown_end)" if c == "user_prev_end" else f"o.{c}"
        for c in columns
    )
    warehouse.execute(f"INSERT INTO extended {step_sql('_raised_periods.sql', columns=raised)}")
    temporary(warehouse, "touched", "SELECT DISTINCT subscription_id FROM extended")


def _recompute_whole(warehouse: Warehouse, model: Model, columns: list[str]) -> bool:
    """The periods of the extended subscriptions and of the users recomputed from their
    whole history (with the model's own SQL, its inputs narrowed to those users) as they
    are now, in "extended" (the recomputed ones join it, the columns only it has left
    NULL: a copy of the extended periods cost ~0.017 s of the build's thread at 1M
    subscriptions), and as stored, in ``old_periods``. Whether any user was recomputed."""
    listed = ", ".join(columns)
    touched = _among("subscription_id", "touched")
    temporary(warehouse, "old_periods", f"SELECT {listed} FROM tails WHERE {touched}")
    if not warehouse.rows("SELECT count(*) FROM recomputed_users")[0][0]:
        return False
    sources = {
        table: _users_rows(warehouse, table, "recomputed_users") for table in (LATEST, STATUS)
    }
    recomputed = narrowed(model.sql, sources)
    warehouse.execute(f"INSERT INTO extended ({listed}) SELECT {listed} FROM ({recomputed}) AS r")
    whole = _users_rows(warehouse, PERIODS, "recomputed_users")
    warehouse.execute(f"INSERT INTO old_periods {whole}")
    return True


def _tails(warehouse: Warehouse, users_table: str) -> str:
    """The stored latest periods (``LAST_PERIODS``) of the users in the temporary table
    ``users_table``: the rows whose ``_user_hash`` is a hash of one of those users (one
    number to read per stored row instead of a user_id's text to decompress and compare),
    then among them the users themselves, so a hash two users share never picks a wrong
    row. The step's CPU at 1M subscriptions: 0.14-0.18 -> 0.09-0.11 s, busy (most of what
    is left reads the picked rows' every column: they sit in every row group)."""
    hashed = pipeline_fragment(
        "keys_among", key="_user_hash", given="hash(user_id)", rows=users_table
    )
    hashed = few_rows(warehouse, LAST_PERIODS, hashed)
    among = _among("user_id", users_table)
    if not warehouse.capabilities.row_ids:
        return f"SELECT * FROM {LAST_PERIODS} WHERE {hashed} AND {among}"
    # with each row's row id: the rows replaced are deleted by it (rebuild_last_periods)
    return f"SELECT *, rowid AS {ROW_ID} FROM {LAST_PERIODS} WHERE {hashed} AND {among}"


def _users_rows(warehouse: Warehouse, table: str, users_table: str) -> str:
    """The rows in ``table`` of the users in the temporary table ``users_table``: where the
    warehouse has row ids (DuckDB), in two steps, the row ids from the user column alone,
    then those rows (a handful of users' rows sit in every row group, and a plain semi-join
    decompresses every column of every row: 0.34 -> 0.19 s over 6.6M transactions for 20
    users; the day's 12,900 users' latest periods, 0.13 -> 0.10 s); the row ids by the
    table's hash of the user where its model declares one (``build.keyed_rows``)."""
    return keyed_rows(warehouse, table, _among("user_id", users_table))


# the models with their own way to their range: table -> the function
FAST_PATHS = {PERIODS: rebuild_periods, LAST_PERIODS: rebuild_last_periods}
