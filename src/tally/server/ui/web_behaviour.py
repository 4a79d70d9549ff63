"""Behaviour: pages, entry and exit pages, outlinks, downloads, events, site search,
transitions and users flow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tally.server.ui.render import Panel, bars, sankey
from tally.server.ui.web_view import TOP, View, percent_of, report_rows, short_url


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
    """Matomo's three event reports: by category, by action and by name."""
    return [
        event_panel(view, "Events.getCategory", "categories", "Event categories", "category"),
        event_panel(view, "Events.getAction", "actions", "Event actions", "action"),
        event_panel(view, "Events.getName", "names", "Event names", "name"),
    ]


def event_panel(view: View, method: str, key: str, title: str, label: str) -> Panel:
    rows = report_rows(view.api(method))
    table = [
        [r.get("label"), r.get("nb_events", 0), r.get("nb_visits", 0), r.get("sum_event_value", 0)]
        for r in rows
    ]
    top = table[:TOP]
    return Panel(
        key,
        title,
        [label, "events", "visits", "sum of values"],
        table,
        bars([r[0] for r in top], [r[1] for r in top]) if top else None,
    )


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


# rows kept in each list of a page's transitions; the rest are one "Others" row
TRANSITION_ROWS = 12
# (side, kind, list of Transitions.getTransitionsForPageUrl), in the order the panel shows them
TRANSITION_LISTS = [
    ("before", "page", "previousPages"),
    ("before", "site search", "previousSiteSearches"),
    ("after", "page", "followingPages"),
    ("after", "site search", "followingSiteSearches"),
    ("after", "outlink", "outlinks"),
    ("after", "download", "downloads"),
]


def transitions(view: View, page_url: str) -> list[Panel]:
    """Matomo's Transitions for one page, as ``Transitions.getTransitionsForPageUrl``
    answers: how its views began (entries by referrer type, previous pages and site
    searches) and what followed (pages, site searches, outlinks, downloads, exits); loops
    (the page again) are in the table only. Pages are report labels (the API's)."""
    answer = view.api(
        "Transitions.getTransitionsForPageUrl",
        pageUrl=page_url,
        limitBeforeGrouping=str(TRANSITION_ROWS),
    )
    rows = transition_rows(answer if isinstance(answer, dict) else {})
    before = [r for r in rows if r[0] == "before"]
    after = [r for r in rows if r[0] == "after"]
    labels = (
        [f"← {_transition_label(r)}" for r in before]
        + [short_url(page_url)]
        + [f"→ {_transition_label(r)}" for r in after]
    )
    center = len(before)
    sources = [*range(len(before)), *[center] * len(after)]
    targets = [*[center] * len(before), *range(center + 1, center + 1 + len(after))]
    flows = [r[3] for r in before] + [r[3] for r in after]
    return [
        Panel(
            "transitions",
            f"Transitions of {page_url}",
            ["side", "kind", "page, source or link", "views"],
            rows,
            sankey(labels, sources, targets, flows) if any(flows) else None,
        )
    ]


def transition_rows(answer: dict[str, Any]) -> list[list[Any]]:
    """(side, kind, label, views) of the API's answer: entries by referrer type, then each
    list in ``TRANSITION_LISTS`` order (the API's order inside each), exits, loops."""
    rows: list[list[Any]] = [
        ["before", "entry", r["label"], int(r["visits"])]
        for r in answer.get("referrers", [])
        if r.get("visits")
    ]
    for side, kind, name in TRANSITION_LISTS:
        rows += [[side, kind, r["label"], int(r["referrals"])] for r in answer.get(name, [])]
    metrics = answer.get("pageMetrics", {})
    if metrics.get("exits"):
        rows.append(["after", "exit", "Exits", int(metrics["exits"])])
    if metrics.get("loops"):
        rows.append(["loop", "page", "Loops", int(metrics["loops"])])
    return rows


def _transition_label(row: list[Any]) -> str:
    kind, label = row[1], str(row[2])
    return short_url(label) if kind in ("page", "entry", "exit") else f"{kind}: {label}"


# interaction steps drawn in the users flow, and pages kept per step (the rest: "Others")
FLOW_STEPS = 4
FLOW_PAGES = 6


def users_flow(view: View) -> list[Panel]:
    """Pageviews by interaction step, as ``UsersFlow.getUsersFlow`` answers with
    ``limitActionsPerStep``: the ``FLOW_PAGES`` busiest pages of a step, others merged;
    the links from each of the first ``FLOW_STEPS`` - 1 steps to the next."""
    answer = report_rows(view.api("UsersFlow.getUsersFlow", limitActionsPerStep=str(FLOW_PAGES)))
    rows = flow_links(answer, FLOW_STEPS)
    nodes: dict[tuple[int, str], int] = {}

    def node(step: int, name: str) -> int:
        return nodes.setdefault((step, name), len(nodes))

    sources, targets, values = [], [], []
    for step, page_from, page_to, count in rows:
        sources.append(node(step, page_from))
        targets.append(node(step + 1, page_to))
        values.append(count)
    labels = [f"{step}. {short_url(name)}" for (step, name) in nodes]
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


def flow_links(steps: list[dict[str, Any]], last: int) -> list[list[Any]]:
    """(step, page, next page, visits) of the API's steps before ``last``, in its order
    (a step's pages busiest first, each page's next pages busiest first)."""
    return [
        [int(step["step"]), page["label"], target["label"], int(target["nb_visits"])]
        for step in steps
        if int(step["step"]) < last
        for page in step.get("subtable", [])
        for target in page.get("subtable", [])
    ]
