"""``SubscriptionAttribution.getChannels`` and ``SubscriptionAttribution.getCampaigns``:
the subscriptions a site's visits brought, by acquisition channel or campaign, with what
they became (trials, paid conversions, revenue, realised LTV), from the subscription marts
(``marts.attribution_channel``, docs/metrics.md "From campaign to revenue").

Not a Matomo method (Matomo knows nothing of the subscriptions): named in its style and
answered in its shape. The period selects subscriptions by their start day; parameters:
``attributionModel`` ``last_touch`` (default) or ``first_touch``. Money is in the reporting
currency (``revenue_currency`` says which); a segment (it selects visits) is refused.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from tally.errors import BadInputError
from tally.web.reporting.methods import Query, Report, Row, method, ratio, rounded
from tally.web.reporting.queries import report_sql

MART = "marts.attribution_channel"
MODELS = {"last_touch": "Last touch", "first_touch": "First touch"}


def _model(query: Query) -> str:
    raw = query.params.get("attributionModel", "last_touch") or "last_touch"
    if raw not in MODELS:
        raise BadInputError(
            f"attributionModel {raw!r} is not one of {', '.join(MODELS)}", field="attributionModel"
        )
    return MODELS[raw]


def _rows(query: Query, dimension: str, where: str = "TRUE") -> list[tuple[Any, ...]]:
    if query.segment.sql != "TRUE":
        raise BadInputError(
            "SubscriptionAttribution reports subscriptions, not visits: a segment does not apply",
            field="segment",
        )
    if not query.warehouse.table_exists(MART):
        return []  # no subscription data (a web-only install), or not built yet: no rows
    sql = report_sql("attribution", dimension=dimension, mart=MART, where=where)
    params = [_model(query), query.idsite, query.span.start, query.span.end]
    return query.warehouse.rows(sql, params)


def _metrics(row: tuple[Any, ...]) -> Row:
    _, subscriptions, trials, paid, converted, revenue, mrr, currency = row
    subscriptions, paid = int(subscriptions), int(paid)
    money = None if revenue is None else rounded(float(revenue), 2)
    return {
        "nb_subscriptions": subscriptions,
        "nb_trials": int(trials),
        "nb_conversions": paid,
        "nb_trial_conversions": int(converted),
        "trial_conversion_rate": f"{ratio(100 * int(converted), int(trials), 2)}%",
        "revenue": money,
        "mrr": None if mrr is None else rounded(float(mrr), 2),
        "ltv": None if money is None else ratio(float(revenue), subscriptions, 2),
        "ltv_paying": None if money is None else ratio(float(revenue), paid, 2),
        "revenue_currency": currency,
    }


@method("SubscriptionAttribution.getChannels")
def channels(query: Query) -> Report:
    """New subscriptions by the channel of the visit they are attributed to."""
    return [{"label": row[0], **_metrics(row)} for row in _rows(query, "channel")]


@method("SubscriptionAttribution.getCampaigns")
def campaigns(query: Query) -> Report:
    """New subscriptions attributed to campaign visits, by campaign name."""
    return [
        {
            "label": row[0],
            **_metrics(row),
            "segment": f"campaignName=={quote(str(row[0]), safe='')}",
        }
        for row in _rows(query, "campaign", "channel = 'Campaigns'")
    ]
