"""Acquisition (channel types, websites, search engines, campaigns) and goals."""

from __future__ import annotations

from tally.server.ui.render import Panel, bars, pie
from tally.server.ui.web_view import View, dimension_panel, report_rows


def referrer_types(view: View) -> list[Panel]:
    panel = dimension_panel(
        "channels", "Channel types", report_rows(view.api("Referrers.getReferrerType"))
    )
    if panel.rows:
        panel.chart = pie([r[0] for r in panel.rows], [r[1] for r in panel.rows])
    return [panel]


def websites(view: View) -> list[Panel]:
    return [dimension_panel("websites", "Websites", report_rows(view.api("Referrers.getWebsites")))]


def search_engines(view: View) -> list[Panel]:
    return [
        dimension_panel(
            "engines", "Search engines", report_rows(view.api("Referrers.getSearchEngines"))
        ),
        dimension_panel(
            "keywords", "Search keywords", report_rows(view.api("Referrers.getKeywords"))
        ),
    ]


def campaigns(view: View) -> list[Panel]:
    return [
        dimension_panel("campaigns", "Campaigns", report_rows(view.api("Referrers.getCampaigns")))
    ]


# Matomo's ecommerce "goals" (Goals.get idGoal=...), shown when the period has any
ECOMMERCE_ROWS = {"ecommerceOrder": "Ecommerce orders", "ecommerceAbandonedCart": "Abandoned carts"}


def goals(view: View) -> list[Panel]:
    """Every goal of the site as ``Goals.getConversions`` answers (a goal's conversion rate
    is its conversions per visit, as Matomo's), then ecommerce orders and abandoned carts as
    ``Goals.get`` answers for them (converted visits per visit) when there are any."""
    rows = [
        [r["label"], r["nb_conversions"], r["nb_visits_converted"], r["revenue"],
         r["conversion_rate"]]
        for r in report_rows(view.api("Goals.getConversions"))
    ]  # fmt: skip
    for idgoal, name in ECOMMERCE_ROWS.items():
        found = view.api("Goals.get", idGoal=idgoal)
        if isinstance(found, dict) and found.get("nb_conversions"):
            rows.append(
                [name, found["nb_conversions"], found["nb_visits_converted"], found["revenue"],
                 found["conversion_rate"]]
            )  # fmt: skip
    return [
        Panel(
            "goals",
            "Goals",
            ["goal", "conversions", "converted visits", "revenue", "conversion rate"],
            rows,
            bars([r[0] for r in rows], [r[1] for r in rows]) if rows else None,
        ),
        *ecommerce(view),
    ]


def ecommerce(view: View) -> list[Panel]:
    """The ordered products by SKU (Goals.getItemsSku), when the period has orders."""
    items = view.api("Goals.getItemsSku")
    if not isinstance(items, list) or not items:
        return []
    rows = [[r["label"], r["quantity"], r["orders"], r["revenue"], r["avg_price"]] for r in items]
    return [
        Panel(
            "ecommerce",
            "Ecommerce: products ordered",
            ["SKU", "quantity", "orders", "revenue", "average price"],
            rows,
            bars([r[0] for r in rows], [r[3] for r in rows]),
        )
    ]
