"""Extending a subscription's periods from a new day's rows alone (the daily build's fast path).

Most of what a day brings lands after everything a user had: a renewal, a grace-period
notice, the payment that ends it, a refund of the latest period, a new subscription. For
those, the subscription's latest stored period (``marts.subscription_last_periods``) and the
day's rows give the same periods the model gives from the user's whole history, because
every window of the model (previous period, access before, the user's earlier ends) only
looks back, and what it finds before the latest period is kept in that row. A user's
subscriptions touched on the same day are extended together (a new period reads the
others' extended ends). A user whose day reaches further back takes the whole
recomputation (``incremental.py``); so does one whose day moves a period that comes before
another of their subscriptions' latest periods (that one's windows would move too).

The SQL reuses the model's own steps (``subscription_periods.sql``: time zones, which row
describes a period, refunds, stand-ins) by their CTE names, with the latest stored period fed
back in as one more described row; only the windows differ (``_extended_periods.sql``).
"""

from __future__ import annotations

import re
from importlib import resources

LAST_PERIODS = "marts.subscription_last_periods"
# the model's CTEs the extension runs unchanged, in the model's order
REUSED = ("transactions", "described", "chosen", "refunds", "known", "first_known", "stand_ins")
# a stored latest period, as the described row it came from (the model's `described` columns)
CARRIED = (
    "SELECT subscription_id, user_id, country, platform, plan_code, product_id, channel, "
    "channel_sector, kind, period_start AS start_date, billed_end AS end_date, paid_on, "
    "source_rank AS priority, source_time AS seen_at, continues FROM tails "
    "WHERE subscription_id IN (SELECT subscription_id FROM touched)"
)


def marts_sql(name: str) -> str:
    """The text of a SQL file in ``models/marts`` (a model, or a step of the daily build)."""
    return resources.files("tally.models").joinpath("marts", name).read_text(encoding="utf-8")


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

    Reads ``transactions`` and ``new_status`` as the caller narrowed them (see
    ``incremental.substituted``): the new partitions only.
    """
    ctes = model_ctes(model_sql)
    return (
        f"WITH transactions AS ({ctes['transactions']}), described AS ({ctes['described']}) "
        "SELECT user_id, subscription_id, start_date FROM described "
        "UNION SELECT user_id, subscription_id, start_date FROM transactions "
        "WHERE type = 'refund'"
    )


def extended_sql(model_sql: str) -> str:
    """The periods of the touched subscriptions, from their latest stored period (``tails``)
    and the new rows; one row per period from that latest one on, with the model's columns
    and, for ``marts.subscription_last_periods``, ``earlier_max_end``, ``first_known_start``,
    ``previous_start`` and ``is_last``."""
    ctes = model_ctes(model_sql)
    missing = [name for name in (*REUSED, "periods") if name not in ctes]
    if missing:
        raise ValueError(
            f"subscription_periods.sql lost its CTEs {missing}: extension.py reuses them"
        )
    steps = {name: ctes[name] for name in REUSED}
    steps["new_described"] = steps.pop("described")
    steps["described"] = f"SELECT * FROM new_described UNION ALL {CARRIED}"
    # a stand-in goes before a subscription's first period: only new subscriptions get one
    steps["first_known"] = (
        f"SELECT * FROM ({ctes['first_known']}) AS f "
        "WHERE f.subscription_id NOT IN (SELECT subscription_id FROM tails)"
    )
    steps["periods"] = ctes["periods"]
    order = ("transactions", "new_described", "described", *REUSED[2:], "periods")
    prefix = ",\n".join(f"{name} AS ({steps[name]})" for name in order)
    return f"WITH {prefix}\n{marts_sql('_extended_periods.sql')}"
