"""Web analytics pages with Matomo's menu: the pickers, the menu and the real-time widget.

The reports live in ``web_visitors``, ``web_behaviour`` and ``web_acquisition``. Every report
is asked through ``call`` with the parameters an HTTP client would send, so a chart shows
exactly what the API answers. The one read of its own is the real-time widget's list of the
newest visits: a lookup of ``web.visits`` by their last action.
"""

from __future__ import annotations

import datetime as dt

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from tally.errors import TallyError
from tally.server.ui.access import page_queries, warehouse_of
from tally.server.ui.render import SECURITY_HEADERS, Panel, page
from tally.server.ui.web_acquisition import (
    campaigns,
    goals,
    referrer_types,
    search_engines,
    websites,
)
from tally.server.ui.web_behaviour import (
    entry_exit,
    events,
    link_report,
    pages,
    site_search,
    transitions,
    users_flow,
)
from tally.server.ui.web_map import REFRESH_SECONDS, WINDOWS, minutes_of, real_time_map
from tally.server.ui.web_view import Report, Site, View, report_rows
from tally.server.ui.web_visitors import (
    custom_variables,
    devices,
    engagement,
    locations,
    overview,
    software,
    times,
    visitor_log,
)
from tally.server.users import User
from tally.warehouse import Warehouse
from tally.web.reporting import call
from tally.web.reporting.default_date import default_date
from tally.web.reporting.periods import PERIODS, resolve, site_today
from tally.web.reporting.segments import compile_segment
from tally.web.sites import site_exists, site_names, site_timezones


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
    Report("Visitors", "realtime-map", "Real-time map", real_time_map),
    Report("Visitors", "locations", "Locations", locations),
    Report("Visitors", "devices", "Devices", devices),
    Report("Visitors", "software", "Software", software),
    Report("Visitors", "times", "Times", times),
    Report("Visitors", "engagement", "Engagement", engagement),
    Report("Visitors", "custom-variables", "Custom variables", custom_variables),
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
    zones = site_timezones(warehouse)
    return [
        Site(idsite, name, zones[idsite])
        for idsite, name in site_names(warehouse).items()
        if user.can_view(idsite)
    ]


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
        if not site_exists(warehouse, idsite):
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
    date, note = request.query_params.get("date", ""), ""
    if not date:  # yesterday, or the newest day with data when yesterday has none
        chosen = default_date(warehouse, site.idsite, site.timezone, period)
        date, note = chosen.date, chosen.note
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
    return View(warehouse, site, period, resolved_date, segment, spans[0], note), sites


async def web_page(request: Request) -> Response:
    key = request.path_params.get("report", "dashboard")  # Matomo opens on its Dashboard
    report = BY_KEY.get(key)
    if report is None:
        return Response(f"no web report {key!r}", status_code=404)
    user: User = request.scope["state"]["user"]
    warehouse = warehouse_of(request)
    page_url = request.query_params.get("page", "")
    minutes = minutes_of(request.query_params.get("minutes", ""))

    def compute() -> tuple[View, list[Site], list[Panel], list[str]]:
        view, sites = read_view(request, warehouse, user)
        top_pages: list[str] = []
        if key == "transitions":
            top_pages = [
                str(r.get("url"))
                for r in report_rows(view.api("Actions.getPageUrls", flat="1"))
                if r.get("url")
            ][:30]
            chosen = page_url or (top_pages[0] if top_pages else "")
            return view, sites, transitions(view, chosen) if chosen else [], top_pages
        if key == "realtime-map":
            return view, sites, real_time_map(view, minutes), top_pages
        return view, sites, report.build(view), top_pages

    try:
        view, sites, panels, top_pages = await page_queries(request, compute)
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
        minutes=minutes,
        windows=WINDOWS,
        refresh_seconds=REFRESH_SECONDS,
        refresh_source=_map_source(view, minutes) if key == "realtime-map" else "",
    )


def _map_source(view: View, minutes: int) -> str:
    from urllib.parse import urlencode

    params = {"idSite": str(view.site.idsite), "minutes": str(minutes)}
    if view.segment:
        params["segment"] = view.segment
    return f"/web/realtime/map?{urlencode(params)}"


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
        rows = report_rows(answer)
        counters[minutes] = rows[0] if rows else {}
    since = (now or dt.datetime.now(dt.UTC).replace(tzinfo=None)) - dt.timedelta(hours=24)
    latest = view.warehouse.rows(
        "SELECT ended_at, country, provider, device_type, "
        "coalesce(referrer_name, referrer_type), actions, exit_url FROM web.visits "
        "WHERE idsite = ? AND ended_at >= ? "
        "ORDER BY ended_at DESC LIMIT 10",
        [view.site.idsite, since],
    )
    return {"counters": counters, "latest": latest, "today": site_today(view.site.timezone)}


async def realtime_widget(request: Request) -> Response:
    """The real-time widget's HTML fragment (the page reloads it every 10 seconds)."""
    user: User = request.scope["state"]["user"]
    warehouse = warehouse_of(request)

    def compute() -> tuple[View, dict[str, object]]:
        view, _sites = read_view(request, warehouse, user)
        return view, realtime_figures(view)

    try:
        view, figures = await page_queries(request, compute)
    except Refused as refused:
        return Response(str(refused), status_code=refused.status)
    from tally.server.ui.render import templates

    html = templates.get_template("realtime.html").render(
        **figures, updated=dt.datetime.now(dt.UTC)
    )
    return HTMLResponse(html, headers=SECURITY_HEADERS)


async def realtime_map_fragment(request: Request) -> Response:
    """The real-time map's panels alone (the page reloads them every REFRESH_SECONDS)."""
    user: User = request.scope["state"]["user"]
    warehouse = warehouse_of(request)
    minutes = minutes_of(request.query_params.get("minutes", ""))

    def compute() -> list[Panel]:
        view, _sites = read_view(request, warehouse, user)
        return real_time_map(view, minutes)

    try:
        panels = await page_queries(request, compute)
    except Refused as refused:
        return Response(str(refused), status_code=refused.status)
    return page(request, "panels_only.html", title="Real-time map", panels=panels)


def routes() -> list[Route]:
    return [
        Route("/web", web_page),
        Route("/web/realtime/widget", realtime_widget),
        Route("/web/realtime/map", realtime_map_fragment),
        Route("/web/{report}", web_page),
    ]
