"""Behaviour: pages, entry and exit pages, outlinks, downloads, events, site search,
transitions and users flow."""

from __future__ import annotations

from collections.abc import Callable

from tally.server.ui.render import Panel, bars, sankey
from tally.server.ui.web_view import TOP, View, percent_of, report_rows, short_url, sql_panel
from tally.web.reporting.queries import dashboard_sql


def pages(view: View) -> list[Panel]:
    rows = report_rows(view.api("Actions.getPageUrls", flat="1"))
    table = [
        [
            r.get("label"),
            r.get("nb_hits", 0),
            r.get("nb_visits", 0),
            r.get("avg_time_on_page", 0),
            r.get("bounce_rate", ""),
            r.get("exit_rate", ""),
        ]
        for r in rows
    ]
    top = table[:TOP]
    return [
        Panel(
            "pages",
            "Pages",
            [
                "page",
                "pageviews",
                "unique pageviews",
                "avg seconds on page",
                "bounce rate",
                "exit rate",
            ],
            table,
            bars([r[0] for r in top], [r[1] for r in top]) if top else None,
        )
    ]


def entry_exit(kind: str) -> Callable[[View], list[Panel]]:
    def build(view: View) -> list[Panel]:
        rows = report_rows(view.api("Actions.getPageUrls", flat="1"))
        column = f"{kind}_nb_visits"
        chosen = sorted((r for r in rows if r.get(column)), key=lambda r: -int(r[column]))
        if kind == "entry":
            table = [
                [
                    r["label"],
                    r[column],
                    r.get("entry_bounce_count", 0),
                    percent_of(r.get("entry_bounce_count", 0), r[column]),
                ]
                for r in chosen
            ]
            columns = ["page", "entrances", "bounces", "bounce rate %"]
        else:
            table = [[r["label"], r[column], r.get("exit_rate", "")] for r in chosen]
            columns = ["page", "exits", "exit rate"]
        top = table[:TOP]
        title = "Entry pages" if kind == "entry" else "Exit pages"
        return [
            Panel(
                kind,
                title,
                columns,
                table,
                bars([r[0] for r in top], [r[1] for r in top]) if top else None,
            )
        ]

    return build


def link_report(method: str, key: str, title: str) -> Callable[[View], list[Panel]]:
    def build(view: View) -> list[Panel]:
        rows = report_rows(view.api(method, flat="1"))
        table = [[r.get("label"), r.get("nb_hits", 0), r.get("nb_visits", 0)] for r in rows]
        top = table[:TOP]
        return [
            Panel(
                key,
                title,
                ["link", "clicks", "visits"],
                table,
                bars([r[0] for r in top], [r[1] for r in top]) if top else None,
            )
        ]

    return build


def events(view: View) -> list[Panel]:
    rows = report_rows(view.api("Events.getCategory"))
    table = [
        [r.get("label"), r.get("nb_events", 0), r.get("nb_visits", 0), r.get("sum_event_value", 0)]
        for r in rows
    ]
    categories = Panel(
        "categories",
        "Event categories",
        ["category", "events", "visits", "sum of values"],
        table,
        bars([r[0] for r in table[:TOP]], [r[1] for r in table[:TOP]]) if table else None,
    )
    actions = sql_panel(
        view,
        "actions",
        "Event actions and names",
        ["category / action / name", "events"],
        "event_actions",
    )
    return [categories, actions]


def site_search(view: View) -> list[Panel]:
    """The Reporting API's Actions.getSiteSearchKeywords (keywords as typed)."""
    rows = report_rows(view.api("Actions.getSiteSearchKeywords"))
    table = [[r.get("label"), r.get("nb_hits", 0), r.get("nb_visits", 0)] for r in rows]
    top = table[:TOP]
    return [
        Panel(
            "keywords",
            "Site search keywords",
            ["keyword", "searches", "visits"],
            table,
            bars([r[0] for r in top], [r[1] for r in top]) if top else None,
        )
    ]


def transitions(view: View, page_url: str) -> list[Panel]:
    """Matomo's Transitions for one page: where its views came from and went next."""
    visits, params = view.visits_sql()
    span = [view.site.idsite, view.span.start, view.span.end]
    found = view.warehouse.rows(
        dashboard_sql("transitions", visits=visits), [*params, *span, page_url, *span]
    )
    # each side comes back in its CTE's order, which a UNION ALL does not keep
    before = sorted(((r[1], r[2]) for r in found if r[0] == "before"), key=_busiest)
    after = sorted(((r[1], r[2]) for r in found if r[0] == "after"), key=_busiest)
    labels = (
        [f"← {short_url(r[0])}" for r in before]
        + [short_url(page_url)]
        + [f"→ {short_url(r[0])}" for r in after]
    )
    center = len(before)
    sources = [*range(len(before)), *[center] * len(after)]
    targets = [*[center] * len(before), *range(center + 1, center + 1 + len(after))]
    flows = [int(r[1]) for r in before] + [int(r[1]) for r in after]
    rows = [["before", r[0], int(r[1])] for r in before] + [
        ["after", r[0], int(r[1])] for r in after
    ]
    chart = sankey(labels, sources, targets, flows) if flows else None
    return [
        Panel(
            "transitions",
            f"Transitions of {page_url}",
            ["side", "page or source", "views"],
            rows,
            chart,
        )
    ]


def _busiest(row: tuple[str, int]) -> tuple[int, str]:
    return -int(row[1]), row[0]


def users_flow(view: View, steps: int = 4, per_step: int = 6) -> list[Panel]:
    """Pageviews by interaction step; the ``per_step`` busiest pages of a step, others merged.

    The step is the page view's number in its visit as sessionize stored it, and visits are
    matched on the integer ``visit_key``, so no window numbers the visits' actions here."""
    visits, params = view.visits_sql()
    found = view.warehouse.rows(
        dashboard_sql("users_flow", visits=visits),
        [*params, view.site.idsite, view.span.start, view.span.end, steps, per_step],
    )
    nodes: dict[tuple[int, str], int] = {}

    def node(step: int, name: str) -> int:
        return nodes.setdefault((step, name), len(nodes))

    sources, targets, values = [], [], []
    for step, page_from, page_to, count in found:
        sources.append(node(int(step), page_from))
        targets.append(node(int(step) + 1, page_to))
        values.append(int(count))
    labels = [f"{step}. {short_url(name)}" for (step, name) in nodes]
    rows = [[int(r[0]), r[1], r[2], int(r[3])] for r in found]
    chart = sankey(labels, sources, targets, values) if values else None
    return [
        Panel(
            "flow",
            "Users flow (pageviews by interaction step)",
            ["step", "from page", "to page", "visits"],
            rows,
            chart,
        )
    ]
