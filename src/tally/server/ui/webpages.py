"""Web analytics pages with Matomo's menu, drawn from the Reporting API.

Every report that ``tally.web.reporting`` has a method for is asked through ``call`` with the
same parameters an HTTP client would send, so a chart shows exactly what the API answers.
Reports it has no method for yet (visitor log, software, times, engagement, entry/exit
pages, site search, search engines, campaigns, goals, transitions, users flow) query
``web.visits``/``web.actions`` directly, always through the Reporting API's segment-scoped
visits so the segment box applies to them too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from tally.errors import TallyError
from tally.server.ui.access import warehouse_of
from tally.server.ui.render import SECURITY_HEADERS, Panel, bars, lines, page, pie, sankey
from tally.server.users import User
from tally.warehouse import Warehouse
from tally.web.reporting import call
from tally.web.reporting.methods import Query, scoped_visits
from tally.web.reporting.periods import PERIODS, Span, resolve, site_today
from tally.web.reporting.segments import compile_segment

TOP = 15  # rows drawn in a chart; the table and CSV keep every row
EVOLUTION_PERIODS = {"day": 30, "week": 12, "month": 12, "year": 5}
VISIT_COLUMNS = [
    "nb_visits",
    "nb_uniq_visitors",
    "nb_actions",
    "bounce_count",
    "nb_visits_converted",
]


@dataclass(frozen=True)
class Site:
    idsite: int
    name: str
    timezone: str


@dataclass(frozen=True)
class View:
    """What the pickers chose: one site, one period, one segment."""

    warehouse: Warehouse
    site: Site
    period: str
    date: str
    segment: str
    span: Span

    def params(self, **extra: str) -> dict[str, str]:
        found = {"idSite": str(self.site.idsite), "period": self.period, "date": self.date}
        if self.segment:
            found["segment"] = self.segment
        return {**found, **extra}

    def api(self, method: str, **extra: str) -> object:
        return call(self.warehouse, method, self.params(**extra))

    def visits_sql(self) -> tuple[str, list[object]]:
        """The segment-scoped visits of the span (the Reporting API's own SQL)."""
        query = Query(self.warehouse, self.site.idsite, self.span, compile_segment(self.segment))
        return scoped_visits(query)


@dataclass(frozen=True)
class Report:
    group: str
    key: str
    title: str
    build: Callable[[View], list[Panel]]


# -- helpers ------------------------------------------------------------------------------


def dimension_panel(key: str, title: str, rows: list[dict], label: str = "label") -> Panel:
    """A Matomo visit-dimension report (label + visit metrics) as bars and a table."""
    table = [
        [
            row.get(label),
            row.get("nb_visits", 0),
            row.get("nb_uniq_visitors", 0),
            row.get("nb_actions", 0),
            _rate(row.get("bounce_count", 0), row.get("nb_visits", 0)),
            _ratio(row.get("sum_visit_length", 0), row.get("nb_visits", 0)),
            row.get("nb_visits_converted", 0),
        ]
        for row in rows
    ]
    top = table[:TOP]
    return Panel(
        key,
        title,
        [
            "label",
            "visits",
            "unique visitors",
            "actions",
            "bounce rate %",
            "avg seconds",
            "converted",
        ],
        table,
        bars([r[0] for r in top], [r[1] for r in top]) if top else None,
    )


def short_url(url: str) -> str:
    """A URL as a chart label: its path and query, without scheme and host."""
    if not url.startswith(("http://", "https://")):
        return url
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _rate(part: object, whole: object) -> float:
    return round(float(part or 0) / float(whole) * 100, 1) if whole else 0.0


def _ratio(part: object, whole: object) -> float:
    return round(float(part or 0) / float(whole), 1) if whole else 0.0


def _rows(answer: object) -> list[dict]:
    return answer if isinstance(answer, list) else []


def sql_panel(
    view: View, key: str, title: str, columns: list[str], select: str, *, chart: str = "bars"
) -> Panel:
    """A report from SQL over ``v`` (scoped visits); the first two columns are label, value."""
    visits, params = view.visits_sql()
    found = view.warehouse.rows(select.replace("{visits}", f"({visits})"), params)
    rows = [list(r) for r in found]
    top = rows[:TOP]
    figure = None
    if top:
        labels, values = [r[0] for r in top], [r[1] for r in top]
        figure = pie(labels, values) if chart == "pie" else bars(labels, values)
        if chart == "columns":
            figure = bars(labels, values, horizontal=False)
            figure["layout"]["xaxis"] = {"type": "category"}
    return Panel(key, title, columns, rows, figure)


# -- Visitors ------------------------------------------------------------------------------


def evolution_params(view: View) -> dict[str, str]:
    """The API parameters of the evolution graph: the last N periods up to the chosen one."""
    if view.period == "range":
        return view.params(period="day", date=f"{view.span.start},{view.span.end}")
    count = EVOLUTION_PERIODS[view.period]
    first = view.span.start
    for _ in range(count - 1):
        first = _previous_start(view.period, first)
    return view.params(date=f"{first},{view.span.end}")


def _previous_start(period: str, day: dt.date) -> dt.date:
    if period == "day":
        return day - dt.timedelta(days=1)
    if period == "week":
        return day - dt.timedelta(weeks=1)
    if period == "month":
        return (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    return day.replace(year=day.year - 1)


TRUNCATE = {"day": "day", "range": "day", "week": "week", "month": "month", "year": "year"}


def evolution(view: View) -> dict[str, dict[str, int]]:
    """VisitsSummary.get's counts for each period of the evolution graph, in one query.

    Asking the API once per period costs one scan of web.visits per point (30 for a daily
    graph); one grouped query over the whole span gives the same numbers (a test compares
    them with the API's).
    """
    params = evolution_params(view)
    spans = resolve(params["period"], params["date"], view.site.timezone).spans
    whole = Span("range", spans[0].start, spans[-1].end)
    visits, values = scoped_visits(
        Query(view.warehouse, view.site.idsite, whole, compile_segment(view.segment))
    )
    unit = TRUNCATE[params["period"]]
    found = view.warehouse.rows(
        f"SELECT CAST(date_trunc('{unit}', v.local_date) AS DATE), count(*), "
        "count(DISTINCT v.visitor_key), coalesce(sum(v.actions), 0), "
        "coalesce(sum(CASE WHEN v.actions <= 1 THEN 1 ELSE 0 END), 0), "
        "coalesce(sum(CASE WHEN v.conversions > 0 THEN 1 ELSE 0 END), 0) "
        f"FROM ({visits}) AS v GROUP BY 1",
        values,
    )
    by_start = {row[0]: dict(zip(VISIT_COLUMNS, map(int, row[1:]), strict=True)) for row in found}
    empty = dict.fromkeys(VISIT_COLUMNS, 0)
    return {span.label: by_start.get(span.start, empty) for span in spans}


def overview(view: View) -> list[Panel]:
    by_period = evolution(view)
    labels = list(by_period)
    series = {
        "visits": [by_period[p].get("nb_visits", 0) for p in labels],
        "unique visitors": [by_period[p].get("nb_uniq_visitors", 0) for p in labels],
    }
    evolution_panel = Panel(
        "evolution",
        "Visits over time",
        ["period", *VISIT_COLUMNS],
        [[p, *[by_period[p].get(c, 0) for c in VISIT_COLUMNS]] for p in labels],
        lines(labels, series),
    )
    summary = view.api("VisitsSummary.get")
    summary = summary if isinstance(summary, dict) else {}
    return [
        evolution_panel,
        Panel(
            "summary",
            f"Summary ({view.span.start} – {view.span.end})",
            ["metric", "value"],
            [[name, value] for name, value in summary.items()],
        ),
    ]


def visitor_log(view: View) -> list[Panel]:
    return [
        sql_panel(
            view,
            "log",
            "Visitor log (newest 200 visits)",
            [
                "started (UTC)",
                "visitor",
                "country",
                "device",
                "browser",
                "referrer",
                "actions",
                "seconds",
                "entry page",
                "exit page",
                "conversions",
            ],
            "SELECT v.started_at, substr(v.visitor_key, 1, 8), v.country, v.device_type, "
            "v.browser_name, coalesce(v.referrer_name, v.referrer_type), v.actions, "
            "v.duration_seconds, v.entry_url, v.exit_url, v.conversions FROM {visits} AS v "
            "ORDER BY v.started_at DESC LIMIT 200",
            chart="none",
        )
    ]


def locations(view: View) -> list[Panel]:
    return [dimension_panel("countries", "Countries", _rows(view.api("UserCountry.getCountry")))]


def devices(view: View) -> list[Panel]:
    panel = dimension_panel(
        "device-types", "Device types", _rows(view.api("DevicesDetection.getType"))
    )
    if panel.rows:
        panel.chart = pie([r[0] for r in panel.rows], [r[1] for r in panel.rows])
    return [panel]


def software(view: View) -> list[Panel]:
    return [
        sql_panel(
            view,
            "os",
            "Operating systems",
            ["operating system", "visits", "actions"],
            "SELECT coalesce(v.os_name, 'Unknown'), count(*), sum(v.actions) "
            "FROM {visits} AS v GROUP BY 1 ORDER BY 2 DESC, 1",
        ),
        sql_panel(
            view,
            "browsers",
            "Browsers",
            ["browser", "visits", "actions"],
            "SELECT coalesce(v.browser_name, 'Unknown'), count(*), sum(v.actions) "
            "FROM {visits} AS v GROUP BY 1 ORDER BY 2 DESC, 1",
        ),
    ]


def times(view: View) -> list[Panel]:
    hours = sql_panel(
        view,
        "hours",
        "Visits per hour (site's time)",
        ["hour", "visits"],
        "SELECT CAST(extract(hour FROM a.local_time) AS INTEGER), count(*) FROM {visits} AS v "
        "JOIN web.actions AS a ON a.hit_id = v.first_hit_id GROUP BY 1 ORDER BY 1",
        chart="columns",
    )
    weekdays = sql_panel(
        view,
        "weekdays",
        "Visits per day of the week (0 = Sunday)",
        ["day of week", "visits"],
        "SELECT CAST(extract(dow FROM v.local_date) AS INTEGER), count(*) FROM {visits} AS v "
        "GROUP BY 1 ORDER BY 1",
        chart="columns",
    )
    return [hours, weekdays]


def engagement(view: View) -> list[Panel]:
    actions = sql_panel(
        view,
        "actions",
        "Visits by number of actions",
        ["actions", "visits"],
        "SELECT CASE WHEN v.actions >= 10 THEN '10+' ELSE CAST(v.actions AS VARCHAR) END, "
        "count(*), min(v.actions) FROM {visits} AS v GROUP BY 1 ORDER BY 3",
        chart="columns",
    )
    durations = sql_panel(
        view,
        "durations",
        "Visits by duration",
        ["duration", "visits"],
        "SELECT CASE WHEN v.duration_seconds < 10 THEN '0-10 s' "
        "WHEN v.duration_seconds < 60 THEN '10-60 s' WHEN v.duration_seconds < 180 THEN '1-3 min' "
        "WHEN v.duration_seconds < 600 THEN '3-10 min' ELSE '10+ min' END, count(*), "
        "min(v.duration_seconds) FROM {visits} AS v GROUP BY 1 ORDER BY 3",
        chart="columns",
    )
    for panel in (actions, durations):
        panel.rows = [row[:2] for row in panel.rows]
    return [actions, durations]


# -- Behaviour -----------------------------------------------------------------------------


def pages(view: View) -> list[Panel]:
    rows = _rows(view.api("Actions.getPageUrls", flat="1"))
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
        rows = _rows(view.api("Actions.getPageUrls", flat="1"))
        column = f"{kind}_nb_visits"
        chosen = sorted((r for r in rows if r.get(column)), key=lambda r: -int(r[column]))
        if kind == "entry":
            table = [
                [
                    r["label"],
                    r[column],
                    r.get("entry_bounce_count", 0),
                    _rate(r.get("entry_bounce_count", 0), r[column]),
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
        rows = _rows(view.api(method, flat="1"))
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
    rows = _rows(view.api("Events.getCategory"))
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
        "SELECT a.event_category || ' / ' || coalesce(a.event_action, '') || ' / ' || "
        "coalesce(a.event_name, ''), count(*) FROM {visits} AS v JOIN web.actions AS a "
        "ON a.idvisit = v.idvisit WHERE a.kind = 'event' GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 100",
    )
    return [categories, actions]


def site_search(view: View) -> list[Panel]:
    return [
        sql_panel(
            view,
            "keywords",
            "Site search keywords",
            ["keyword", "searches", "visits"],
            "SELECT a.search_keyword, count(*), count(DISTINCT v.idvisit) FROM {visits} AS v "
            "JOIN web.actions AS a ON a.idvisit = v.idvisit WHERE a.kind = 'search' "
            "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 100",
        )
    ]


def transitions(view: View, page_url: str) -> list[Panel]:
    """Matomo's Transitions for one page: where its views came from and went next."""
    visits, params = view.visits_sql()
    # An action's local_date is its visit's: the range lets the scan skip other days.
    scope = "a.idsite = ? AND a.local_date >= ? AND a.local_date <= ? AND a.is_action"
    span = [view.site.idsite, view.span.start, view.span.end]
    base = (
        f"WITH scoped AS ({visits}), here AS (SELECT a.idvisit, a.position FROM web.actions AS a "
        f"JOIN scoped AS v ON v.idvisit = a.idvisit WHERE {scope} AND a.kind = 'pageview' "
        "AND a.url = ?), near AS (SELECT a.idvisit, a.position, a.url, a.kind "
        f"FROM web.actions AS a WHERE {scope} AND a.idvisit IN (SELECT idvisit FROM here)) "
    )
    values = [*params, *span, page_url, *span]
    before = view.warehouse.rows(
        base + "SELECT coalesce(p.url, 'entry: ' || coalesce(v.referrer_type, 'direct')), "
        "count(*) FROM here AS h JOIN scoped AS v ON v.idvisit = h.idvisit "
        "LEFT JOIN near AS p ON p.idvisit = h.idvisit AND p.position = h.position - 1 "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 12",
        values,
    )
    after = view.warehouse.rows(
        base + "SELECT coalesce(CASE WHEN n.kind = 'pageview' THEN n.url "
        "ELSE n.kind || ': ' || coalesce(n.url, '') END, 'exit'), count(*) FROM here AS h "
        "LEFT JOIN near AS n ON n.idvisit = h.idvisit AND n.position = h.position + 1 "
        "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 12",
        values,
    )
    labels = (
        [f"← {short_url(r[0])}" for r in before]
        + [short_url(page_url)]
        + [f"→ {short_url(r[0])}" for r in after]
    )
    center = len(before)
    sources = [*range(len(before)), *[center] * len(after)]
    targets = [*[center] * len(before), *range(center + 1, center + 1 + len(after))]
    values = [int(r[1]) for r in before] + [int(r[1]) for r in after]
    rows = [["before", r[0], int(r[1])] for r in before] + [
        ["after", r[0], int(r[1])] for r in after
    ]
    chart = sankey(labels, sources, targets, values) if values else None
    return [
        Panel(
            "transitions",
            f"Transitions of {page_url}",
            ["side", "page or source", "views"],
            rows,
            chart,
        )
    ]


def users_flow(view: View, steps: int = 4, per_step: int = 6) -> list[Panel]:
    """Pageviews by interaction step; the ``per_step`` busiest pages of a step, others merged."""
    visits, params = view.visits_sql()
    found = view.warehouse.rows(
        f"WITH scoped AS ({visits}), seen AS (SELECT a.idvisit, a.url, row_number() OVER "
        "(PARTITION BY a.idvisit ORDER BY a.position) AS step FROM web.actions AS a "
        "JOIN scoped AS v ON v.idvisit = a.idvisit WHERE a.kind = 'pageview' "
        "AND a.idsite = ? AND a.local_date >= ? AND a.local_date <= ?), "
        "ranked AS (SELECT step, url, count(*) AS views, row_number() OVER (PARTITION BY step "
        "ORDER BY count(*) DESC, url) AS place FROM seen WHERE step <= ? GROUP BY 1, 2), "
        "named AS (SELECT s.idvisit, s.step, CASE WHEN r.place <= ? THEN s.url ELSE 'Others' END "
        "AS page FROM seen AS s JOIN ranked AS r ON r.step = s.step AND r.url = s.url) "
        "SELECT a.step, a.page, b.page, count(*) FROM named AS a JOIN named AS b "
        "ON b.idvisit = a.idvisit AND b.step = a.step + 1 GROUP BY 1, 2, 3 ORDER BY 1, 4 DESC",
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


# -- Acquisition and goals ------------------------------------------------------------------


def referrer_types(view: View) -> list[Panel]:
    panel = dimension_panel(
        "channels", "Channel types", _rows(view.api("Referrers.getReferrerType"))
    )
    if panel.rows:
        panel.chart = pie([r[0] for r in panel.rows], [r[1] for r in panel.rows])
    return [panel]


def websites(view: View) -> list[Panel]:
    return [dimension_panel("websites", "Websites", _rows(view.api("Referrers.getWebsites")))]


def search_engines(view: View) -> list[Panel]:
    return [
        sql_panel(
            view,
            "engines",
            "Search engines",
            ["search engine", "visits", "actions"],
            "SELECT coalesce(v.referrer_name, 'Unknown'), count(*), sum(v.actions) "
            "FROM {visits} AS v WHERE v.referrer_type = 'search' GROUP BY 1 ORDER BY 2 DESC, 1",
        ),
        sql_panel(
            view,
            "keywords",
            "Search keywords",
            ["keyword", "visits"],
            "SELECT coalesce(v.referrer_keyword, 'Keyword not defined'), count(*) "
            "FROM {visits} AS v WHERE v.referrer_type = 'search' GROUP BY 1 "
            "ORDER BY 2 DESC, 1 LIMIT 100",
        ),
    ]


def campaigns(view: View) -> list[Panel]:
    return [
        sql_panel(
            view,
            "campaigns",
            "Campaigns",
            ["campaign", "visits", "actions", "conversions"],
            "SELECT v.campaign_name, count(*), sum(v.actions), sum(v.conversions) "
            "FROM {visits} AS v WHERE v.campaign_name IS NOT NULL GROUP BY 1 "
            "ORDER BY 2 DESC, 1",
        )
    ]


def goals(view: View) -> list[Panel]:
    visits, params = view.visits_sql()
    found = view.warehouse.rows(
        f"WITH scoped AS ({visits}) SELECT coalesce(g.name, 'goal ' || CAST(c.idgoal AS VARCHAR)), "
        "count(*), count(DISTINCT c.idvisit), coalesce(sum(c.revenue), 0), "
        "(SELECT count(*) FROM scoped) FROM web.conversions AS c "
        "JOIN scoped AS v ON v.idvisit = c.idvisit "
        "LEFT JOIN web.goals AS g ON g.idsite = c.idsite AND g.idgoal = c.idgoal "
        "GROUP BY 1 ORDER BY 2 DESC, 1",
        params,
    )
    rows = [[r[0], int(r[1]), int(r[2]), float(r[3]), _rate(r[2], r[4])] for r in found]
    return [
        Panel(
            "goals",
            "Goals",
            ["goal", "conversions", "converted visits", "revenue", "conversion rate %"],
            rows,
            bars([r[0] for r in rows], [r[1] for r in rows]) if rows else None,
        )
    ]


def dashboard(view: View) -> list[Panel]:
    """Matomo's default dashboard: visits over time and the top of four reports side by side."""
    panels = [overview(view)[0]]
    for build in (pages, referrer_types, locations, devices):
        panel = build(view)[0]
        panel.wide = False
        panels.append(panel)
    return panels


REPORTS = [
    Report("Dashboard", "dashboard", "Dashboard", dashboard),
    Report("Visitors", "overview", "Visitors overview", overview),
    Report("Visitors", "log", "Visitor log", visitor_log),
    Report("Visitors", "realtime", "Real-time", lambda view: []),
    Report("Visitors", "locations", "Locations", locations),
    Report("Visitors", "devices", "Devices", devices),
    Report("Visitors", "software", "Software", software),
    Report("Visitors", "times", "Times", times),
    Report("Visitors", "engagement", "Engagement", engagement),
    Report("Behaviour", "pages", "Pages", pages),
    Report("Behaviour", "entry-pages", "Entry pages", entry_exit("entry")),
    Report("Behaviour", "exit-pages", "Exit pages", entry_exit("exit")),
    Report(
        "Behaviour",
        "outlinks",
        "Outlinks",
        link_report("Actions.getOutlinks", "outlinks", "Outlinks"),
    ),
    Report(
        "Behaviour",
        "downloads",
        "Downloads",
        link_report("Actions.getDownloads", "downloads", "Downloads"),
    ),
    Report("Behaviour", "events", "Events", events),
    Report("Behaviour", "site-search", "Site search", site_search),
    Report("Behaviour", "transitions", "Transitions", lambda view: []),
    Report("Behaviour", "users-flow", "Users flow", users_flow),
    Report("Acquisition", "referrer-types", "Channel types", referrer_types),
    Report("Acquisition", "websites", "Websites", websites),
    Report("Acquisition", "search-engines", "Search engines", search_engines),
    Report("Acquisition", "campaigns", "Campaigns", campaigns),
    Report("Goals", "goals", "Goals overview", goals),
]
BY_KEY = {report.key: report for report in REPORTS}


# -- requests -------------------------------------------------------------------------------


def visible_sites(warehouse: Warehouse, user: User) -> list[Site]:
    found = warehouse.rows("SELECT idsite, name, timezone FROM web.sites ORDER BY idsite")
    return [Site(int(r[0]), str(r[1]), str(r[2])) for r in found if user.can_view(int(r[0]))]


class Refused(Exception):
    """The request cannot be answered: a status and a message for the page."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def read_view(request: Request, warehouse: Warehouse, user: User) -> tuple[View, list[Site]]:
    sites = visible_sites(warehouse, user)
    wanted = request.query_params.get("idSite", "")
    if wanted:
        if not wanted.isdigit():
            raise Refused(400, f"idSite {wanted!r} is not a site id")
        idsite = int(wanted)
        exists = warehouse.rows("SELECT count(*) FROM web.sites WHERE idsite = ?", [idsite])[0][0]
        if not exists:
            raise Refused(404, f"no site {idsite}")
        if not user.can_view(idsite):
            raise Refused(403, f"you have no rights to site {idsite}")
        site = next(s for s in sites if s.idsite == idsite)
    elif sites:
        site = sites[0]
    else:
        raise Refused(403, "no site is shared with you (an admin can: tally user grant)")
    period = request.query_params.get("period", "day")
    if period not in PERIODS:
        raise Refused(400, f"period is one of {', '.join(PERIODS)}; got {period!r}")
    date = request.query_params.get("date", "") or ("yesterday" if period != "range" else "last7")
    try:
        spans = resolve(period, date, site.timezone).spans
        segment = request.query_params.get("segment", "").strip()
        compile_segment(segment)
    except TallyError as error:
        raise Refused(400, str(error)) from None
    if len(spans) != 1:
        raise Refused(
            400,
            f"date {date!r} with period {period} names several periods; "
            "use period=range for a span of dates",
        )
    resolved_date = (
        spans[0].start.isoformat() if period != "range" else (f"{spans[0].start},{spans[0].end}")
    )
    return View(warehouse, site, period, resolved_date, segment, spans[0]), sites


async def web_page(request: Request) -> Response:
    key = request.path_params.get("report", "overview")
    report = BY_KEY.get(key)
    if report is None:
        return Response(f"no web report {key!r}", status_code=404)
    user: User = request.scope["state"]["user"]
    warehouse = warehouse_of(request)
    page_url = request.query_params.get("page", "")

    def compute() -> tuple[View, list[Site], list[Panel], list[str]]:
        view, sites = read_view(request, warehouse, user)
        top_pages: list[str] = []
        if key == "transitions":
            top_pages = [
                str(r.get("url"))
                for r in _rows(view.api("Actions.getPageUrls", flat="1"))
                if r.get("url")
            ][:30]
            chosen = page_url or (top_pages[0] if top_pages else "")
            return view, sites, transitions(view, chosen) if chosen else [], top_pages
        return view, sites, report.build(view), top_pages

    try:
        view, sites, panels, top_pages = await asyncio.to_thread(compute)
    except Refused as refused:
        return page(
            request,
            "message.html",
            title="Web analytics",
            area="web",
            message=str(refused),
            status_code=refused.status,
        )
    return page(
        request,
        "web.html",
        title=f"{report.title} · {view.site.name}",
        area="web",
        panels=panels,
        report=report,
        reports=REPORTS,
        view=view,
        sites=sites,
        periods=PERIODS,
        top_pages=top_pages,
        page_url=page_url,
        query=_query(view),
    )


def _query(view: View) -> str:
    from urllib.parse import urlencode

    return urlencode(view.params())


def realtime_figures(view: View, now: dt.datetime | None = None) -> dict[str, object]:
    """Live counters for the last 30 minutes and 24 hours, and the newest visits."""
    counters = {}
    for minutes in (30, 1440):
        answer = call(
            view.warehouse,
            "Live.getCounters",
            {"idSite": str(view.site.idsite), "lastMinutes": str(minutes)},
            now=now,
        )
        rows = _rows(answer)
        counters[minutes] = rows[0] if rows else {}
    since = (now or dt.datetime.now(dt.UTC).replace(tzinfo=None)) - dt.timedelta(hours=24)
    latest = view.warehouse.rows(
        "SELECT ended_at, country, device_type, coalesce(referrer_name, referrer_type), actions, "
        "exit_url FROM web.visits WHERE idsite = ? AND ended_at >= ? "
        "ORDER BY ended_at DESC LIMIT 10",
        [view.site.idsite, since],
    )
    return {"counters": counters, "latest": latest, "today": site_today(view.site.timezone)}


async def realtime_widget(request: Request) -> Response:
    """The real-time widget's HTML fragment (the page reloads it every 10 seconds)."""
    user: User = request.scope["state"]["user"]
    warehouse = warehouse_of(request)
    try:
        view, _sites = await asyncio.to_thread(read_view, request, warehouse, user)
    except Refused as refused:
        return Response(str(refused), status_code=refused.status)
    figures = await asyncio.to_thread(realtime_figures, view)
    from tally.server.ui.render import templates

    html = templates.get_template("realtime.html").render(
        **figures, updated=dt.datetime.now(dt.UTC)
    )
    return HTMLResponse(html, headers=SECURITY_HEADERS)


def routes() -> list[Route]:
    return [
        Route("/web", web_page),
        Route("/web/realtime/widget", realtime_widget),
        Route("/web/{report}", web_page),
    ]
