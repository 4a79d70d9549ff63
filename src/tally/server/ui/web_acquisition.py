"""Acquisition (channel types, websites, search engines, campaigns) and goals."""

from __future__ import annotations

from tally.server.ui.render import Panel, bars, pie
from tally.server.ui.web_view import View, dimension_panel, percent_of, report_rows
from tally.web.reporting.queries import dashboard_sql


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


def goals(view: View) -> list[Panel]:
    visits, params = view.visits_sql()
    found = view.warehouse.rows(dashboard_sql("goals", visits=visits), params)
    rows = [[r[0], int(r[1]), int(r[2]), float(r[3]), percent_of(r[2], r[4])] for r in found]
    return [
        Panel(
            "goals",
            "Goals",
            ["goal", "conversions", "converted visits", "revenue", "conversion rate %"],
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
