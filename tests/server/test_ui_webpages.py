"""Web analytics pages (webpages and the web_* report modules) on the hand-made site of
tests/web/reporting_site.py (its docstring lists the five visits counted below)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from tests.server.ui_support import cheap_hashes, dashboard_app, log_in
from tests.web.reporting_flow_site import shared_site
from tests.web.reporting_site import load_site
from tests.web.test_reporting_ecommerce import shop  # noqa: F401, F811 (a fixture)

from tally.config import Settings
from tally.server.ui.web_acquisition import goals
from tally.server.ui.web_behaviour import (
    FLOW_STEPS,
    flow_links,
    transition_rows,
    transitions,
    users_flow,
)
from tally.server.ui.web_view import Site, View
from tally.server.ui.web_visitors import custom_variables, evolution
from tally.server.ui.webpages import REPORTS, realtime_figures
from tally.server.users import add_user, grant
from tally.warehouse import Warehouse, connect
from tally.web.reporting import call
from tally.web.reporting.periods import Span

SITE = "https://watch.example.com"
SPAN = {"idSite": "1", "period": "range", "date": "2026-03-02,2026-03-03"}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    monkeypatch = pytest.MonkeyPatch()
    cheap_hashes(monkeypatch)
    folder = tmp_path_factory.mktemp("web-ui")
    settings = Settings(data_dir=str(folder))
    store = connect(settings.warehouse_url)
    store.migrate()
    load_site(store)
    add_user(store, "viewer", "correct horse battery")
    grant(store, "viewer", 1, "view")
    with TestClient(dashboard_app(settings, store)) as client:
        log_in(client, "viewer", "correct horse battery")
        client.app.state.test_store = store
        yield client
    store.close()
    monkeypatch.undo()


def _csv(client: TestClient, path: str, panel: str, **params: str) -> list[list[str]]:
    answer = client.get(path, params={**SPAN, **params, "csv": panel})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(answer.text)))


def _store(client: TestClient) -> Warehouse:
    return client.app.state.test_store


def test_every_menu_entry_answers(client: TestClient) -> None:
    for report in REPORTS:
        answer = client.get(f"/web/{report.key}", params=SPAN)
        assert answer.status_code == 200, (report.key, answer.text[:500])
        assert f'class="on" data-report="{report.key}"' in answer.text


def test_overview_chart_numbers_equal_the_api(client: TestClient) -> None:
    rows = _csv(client, "/web/overview", "evolution", period="day", date="2026-03-03")
    by_day = {row[0]: row for row in rows[1:]}
    # Hand count: four visits on 03-02 (V1-V4), one on 03-03 (V5); V1 and V4 are visitor A.
    assert by_day["2026-03-02"][1:3] == ["4", "3"]
    assert by_day["2026-03-03"][1:3] == ["1", "1"]
    api = call(_store(client), "VisitsSummary.get", {**SPAN, "period": "day"})
    for day, summary in api.answers.items():
        assert int(by_day[day][1]) == summary["nb_visits"]
        assert int(by_day[day][2]) == summary["nb_uniq_visitors"]


def test_pages_table_is_the_apis(client: TestClient) -> None:
    rows = _csv(client, "/web/pages", "pages")
    api = call(_store(client), "Actions.getPageUrls", {**SPAN, "flat": "1"})
    assert [row[0] for row in rows[1:]] == [str(r["label"]) for r in api]
    assert [int(row[1]) for row in rows[1:]] == [r["nb_hits"] for r in api]


def test_users_flow_is_the_apis(client: TestClient) -> None:
    rows = [[int(r[0]), r[1], r[2], int(r[3])] for r in _csv(client, "/web/users-flow", "flow")[1:]]
    # Pageviews in order, by report label (/ and /#top are /index): V1 /index → /shows →
    # /index; V3 /index → /watch/1; V5 /index → /plans. V2 and V4 have one pageview each,
    # so no link. A step's next pages busiest first, ties by label.
    assert rows == [
        [1, "/index", "/plans", 1],
        [1, "/index", "/shows?genre=drama", 1],
        [1, "/index", "/watch/1", 1],
        [2, "/shows?genre=drama", "/index", 1],
    ]
    api = call(_store(client), "UsersFlow.getUsersFlow", {**SPAN, "limitActionsPerStep": "6"})
    assert rows == flow_links(api, FLOW_STEPS)


def test_transitions_of_the_home_page_are_the_apis(client: TestClient) -> None:
    rows = _csv(client, "/web/transitions", "transitions", page=f"{SITE}/")
    found = [[r[0], r[1], r[2], int(r[3])] for r in rows[1:]]
    # The page is matched by its report label, /index, so / and /#top are both its views:
    # V1 09:00 (entered directly), V1 09:05 (after /shows), V3 (from Google), V5 (from the
    # campaign). After them: /shows, /watch/1, /plans, and the end of V1 (its outlink to
    # IMDb was clicked on /#top, after the view and before no further interaction).
    assert found == [
        ["before", "entry", "Direct entries", 1],
        ["before", "entry", "From search engines", 1],
        ["before", "entry", "From campaigns", 1],
        ["before", "page", "/shows?genre=drama", 1],
        ["after", "page", "/plans", 1],
        ["after", "page", "/shows?genre=drama", 1],
        ["after", "page", "/watch/1", 1],
        ["after", "outlink", "https://www.imdb.com/title/tt1", 1],
        ["after", "exit", "Exits", 1],
    ]
    api = call(
        _store(client),
        "Transitions.getTransitionsForPageUrl",
        {**SPAN, "pageUrl": f"{SITE}/", "limitBeforeGrouping": "12"},
    )
    assert found == transition_rows(api)
    assert api["pageMetrics"]["pageviews"] == 4


def test_event_panels_are_the_apis(client: TestClient) -> None:
    # V3 and V5 each sent Video/Play, with a value of 12.5 and without one; neither a name
    expected = {
        "categories": ("Events.getCategory", [["Video", 2, 2, 12.5]]),
        "actions": ("Events.getAction", [["Play", 2, 2, 12.5]]),
        "names": ("Events.getName", [["Event Name not defined", 2, 2, 12.5]]),
    }
    for panel, (method, hand) in expected.items():
        rows = [
            [r[0], int(r[1]), int(r[2]), float(r[3])]
            for r in _csv(client, "/web/events", panel)[1:]
        ]
        assert rows == hand
        api = call(_store(client), method, SPAN)
        assert rows == [
            [a["label"], a["nb_events"], a["nb_visits"], a["sum_event_value"]] for a in api
        ]


def test_engagement_is_the_apis_visitor_interest(client: TestClient) -> None:
    # Hand count (reporting_site's docstring): actions V1 4, V2 1, V3 4, V4 1, V5 3;
    # lengths V1 360 s, V2 60 s, V3 1200 s, V4 0 s, V5 360 s, in Matomo's ranges.
    actions = {r[0]: int(r[1]) for r in _csv(client, "/web/engagement", "actions")[1:]}
    assert {label: n for label, n in actions.items() if n} == {
        "1 page": 2,
        "3 pages": 1,
        "4 pages": 2,
    }
    lengths = {r[0]: int(r[1]) for r in _csv(client, "/web/engagement", "durations")[1:]}
    assert {label: n for label, n in lengths.items() if n} == {
        "0\u201310s": 1,
        "31\u201360s": 1,
        "4-7 min": 2,
        "15-30 min": 1,
    }
    api = call(_store(client), "VisitorInterest.getNumberOfVisitsPerPage", SPAN)
    assert [r[0] for r in _csv(client, "/web/engagement", "actions")[1:]] == [
        r["label"] for r in api
    ]


def test_api_backed_panels_show_the_apis_rows(client: TestClient) -> None:
    # site search, software, times, search engines and campaigns ask the Reporting API
    # (web_view's rule: the API wherever it has the method); each panel's labels and first
    # figure are the API's rows in its order.
    panels = [
        ("/web/site-search", "keywords", "Actions.getSiteSearchKeywords", "nb_hits"),
        ("/web/software", "os", "DevicesDetection.getOsFamilies", "nb_visits"),
        ("/web/software", "browsers", "DevicesDetection.getBrowsers", "nb_visits"),
        ("/web/times", "hours", "VisitTime.getVisitInformationPerServerTime", "nb_visits"),
        ("/web/times", "weekdays", "VisitTime.getByDayOfWeek", "nb_visits"),
        ("/web/search-engines", "engines", "Referrers.getSearchEngines", "nb_visits"),
        ("/web/search-engines", "keywords", "Referrers.getKeywords", "nb_visits"),
        ("/web/campaigns", "campaigns", "Referrers.getCampaigns", "nb_visits"),
    ]
    for path, panel, method, figure in panels:
        rows = _csv(client, path, panel)[1:]
        api = call(_store(client), method, SPAN)
        assert [(r[0], int(r[1])) for r in rows] == [(str(a["label"]), a[figure]) for a in api]
    # V3 came from a Google search and V5 from the campaign "spring"; no site searches
    engines = _csv(client, "/web/search-engines", "engines")[1:]
    assert [(r[0], r[1]) for r in engines] == [("Google", "1")]
    campaigns = _csv(client, "/web/campaigns", "campaigns")[1:]
    assert [(r[0], r[1]) for r in campaigns] == [("spring", "1")]
    # 2026-03-02 is a Monday (V1-V4) and 03-03 a Tuesday (V5)
    weekdays = {r[0]: int(r[1]) for r in _csv(client, "/web/times", "weekdays")[1:]}
    assert (weekdays["Monday"], weekdays["Tuesday"]) == (4, 1)


def test_visitor_log_is_the_apis_live_log(client: TestClient) -> None:
    rows = _csv(client, "/web/log", "log")
    # Newest first (reporting_site's docstring, Hong Kong times = UTC + 8): V5 03-03 09:00,
    # V4 03-02 14:00, V3 11:00, V2 10:00, V1 09:00; started, country, actions, seconds,
    # entry and exit page (a visit with one page view enters and leaves on it)
    found = [(r[0], r[2], int(r[7]), int(r[8]), r[9], r[10]) for r in rows[1:]]
    assert found == [
        ("2026-03-03T01:00:00", "", 3, 360, f"{SITE}/", f"{SITE}/plans"),
        ("2026-03-02T06:00:00", "HK", 1, 0, "http://m.watch.example.com/watch/1",
         "http://m.watch.example.com/watch/1"),
        ("2026-03-02T03:00:00", "HK", 4, 1200, f"{SITE}/", f"{SITE}/watch/1"),
        ("2026-03-02T02:00:00", "SG", 1, 60, f"{SITE}/shows?genre=drama",
         f"{SITE}/shows?genre=drama"),
        ("2026-03-02T01:00:00", "HK", 4, 360, f"{SITE}/", f"{SITE}/#top"),
    ]  # fmt: skip
    api = call(_store(client), "Live.getLastVisitsDetails", {**SPAN, "filter_limit": "200"})
    assert [int(r[8]) for r in rows[1:]] == [visit["visitDuration"] for visit in api]


def test_segment_narrows_every_report(client: TestClient) -> None:
    rows = _csv(client, "/web/log", "log", segment="countryCode==sg")
    assert len(rows) == 2 and rows[1][2] == "SG"  # only V2 came from Singapore
    bad = client.get("/web/overview", params={**SPAN, "segment": "nonsense==1"})
    assert bad.status_code == 400


def test_realtime_widget_counts(client: TestClient) -> None:
    answer = client.get("/web/realtime/widget", params={"idSite": "1"})
    assert answer.status_code == 200
    assert 'data-minutes="30"' in answer.text and 'data-minutes="1440"' in answer.text


def test_locations_show_countries_and_providers_side_by_side(client: TestClient) -> None:
    store = _store(client)
    # The fixture's hits carry no provider; give the Hong Kong and Singapore visits the
    # providers their addresses would have (the loader's part is tested in
    # tests/web/test_reporting_provider.py). V1, V3, V4 are HK; V2 is SG; V5 has no country.
    store.execute(
        "UPDATE web.visits SET provider = CASE country WHEN 'HK' THEN 'HKT Limited' "
        "WHEN 'SG' THEN 'Starhub Ltd' END"
    )
    page = client.get("/web/locations", params=SPAN)
    assert page.status_code == 200
    # countries and providers share a row (half-width panels); no city is known: no panel
    assert 'class="panel" id="panel-countries"' in page.text
    assert 'class="panel" id="panel-providers"' in page.text
    assert 'data-panel="cities"' not in page.text
    rows = _csv(client, "/web/locations", "providers")
    assert [(r[0], int(r[1])) for r in rows[1:]] == [
        ("HKT Limited", 3),
        ("Starhub Ltd", 1),
        ("Unknown", 1),
    ]
    log = _csv(client, "/web/log", "log")
    assert log[0][3] == "provider" and {r[3] for r in log[1:]} == {"HKT Limited", "Starhub Ltd", ""}
    # the real-time list at 09:30 in Hong Kong on 3 March (01:30 UTC), newest first: V5 (no
    # provider, ended 09:06), V4 (14:00 the day before), V3 (11:20), V2 (10:01); V1 ended at
    # 09:06 on 2 March, more than 24 hours before
    day = Span("day", dt.date(2026, 3, 3), dt.date(2026, 3, 3))
    view = View(store, Site(1, "Watch", "Asia/Hong_Kong"), "day", "2026-03-03", "", day)
    latest = realtime_figures(view, now=dt.datetime(2026, 3, 3, 1, 30))["latest"]
    assert [row[2] for row in latest] == [None, "HKT Limited", "HKT Limited", "Starhub Ltd"]


def test_behaviour_panels_on_each_backend(warehouse: Warehouse) -> None:
    load_site(warehouse)
    span = Span("range", dt.date(2026, 3, 2), dt.date(2026, 3, 3))
    view = View(
        warehouse, Site(1, "Watch", "Asia/Hong_Kong"), "range", "2026-03-02,2026-03-03", "", span
    )
    assert len(users_flow(view)[0].rows) == 4  # the four links of test_users_flow_is_the_apis
    after = [r for r in transitions(view, f"{SITE}/")[0].rows if r[0] == "after"]
    assert [r[3] for r in after] == [1, 1, 1, 1, 1]  # three pages, the outlink, the exit
    counts = evolution(view)
    assert (counts["2026-03-02"]["nb_visits"], counts["2026-03-03"]["nb_visits"]) == (4, 1)
    # the Reporting API's own rows (summary_by_period), equal to asking it day by day
    for day in ("2026-03-02", "2026-03-03"):
        asked = call(warehouse, "VisitsSummary.get", {"idSite": "1", "period": "day", "date": day})
        assert counts[day] == asked


def test_custom_variables_and_dimensions(request: pytest.FixtureRequest) -> None:
    # The Flow site (tests/web/reporting_flow_site.py), 10 March: plan=premium on W1 and W4,
    # plan=free on W2; dimension 1 is gold on W1 and W4 (one hit each), silver on W3.
    store = shared_site("duckdb", request)
    day = dt.date(2026, 3, 10)
    view = View(
        store, Site(1, "Flow", "Asia/Hong_Kong"), "day", str(day), "", Span("day", day, day)
    )
    with store.session():
        panels = custom_variables(view)
    assert [panel.key for panel in panels] == ["custom-variables", "dimension-1"]
    assert panels[0].rows == [["plan", "premium", 2, 2], ["plan", "free", 1, 1]]
    assert panels[0].chart["data"][0]["x"] == [3]  # three visits carry "plan"
    assert panels[1].rows == [["gold", 2, 2], ["silver", 1, 1]]


def test_goals_page_names_ecommerce_and_lists_the_products(shop: Warehouse) -> None:  # noqa: F811
    """The shop of tests/web/test_reporting_ecommerce.py: orders O-1 (115) and O-2 (20), an
    abandoned cart (15); SKU1 100 (2 ordered), SKU2 30 (6 in 2 orders)."""
    span = Span("day", dt.date(2026, 3, 10), dt.date(2026, 3, 10))
    view = View(shop, Site(1, "Shop", "UTC"), "day", "2026-03-10", "", span)
    overview, products = goals(view)
    assert [row[:4] for row in overview.rows] == [
        ["Ecommerce orders", 2, 2, 135.0],
        ["Abandoned carts", 1, 1, 15.0],
    ]
    for row, goal in zip(overview.rows, ("ecommerceOrder", "ecommerceAbandonedCart"), strict=True):
        api = call(shop, "Goals.get", {**view.params(), "idGoal": goal})
        assert row[1:] == [
            api["nb_conversions"], api["nb_visits_converted"], api["revenue"],
            api["conversion_rate"],
        ]  # fmt: skip
    assert products.rows == [["SKU1", 2, 1, 100, 50], ["SKU2", 6, 2, 30, 5]]
    api = call(shop, "Goals.getItemsSku", view.params())
    assert products.rows == [
        [r["label"], r["quantity"], r["orders"], r["revenue"], r["avg_price"]] for r in api
    ]


def test_goals_panel_is_the_apis(request: pytest.FixtureRequest) -> None:
    # The Flow site, 10 March: four visits (W1-W4); W1 reached /signup/done (goal 1
    # "Signup", revenue 10), W2 played a video (goal 2 "Play", no revenue). A goal's rate
    # is its conversions per visit: 1 / 4 = 25 %. No order and no cart: no ecommerce rows.
    store = shared_site("duckdb", request)
    day = dt.date(2026, 3, 10)
    view = View(
        store, Site(1, "Flow", "Asia/Hong_Kong"), "day", str(day), "", Span("day", day, day)
    )
    with store.session():
        panel = goals(view)[0]
        api = call(store, "Goals.getConversions", view.params())
    assert panel.rows == [["Signup", 1, 1, 10, "25%"], ["Play", 1, 1, 0, "25%"]]
    assert panel.rows == [
        [r["label"], r["nb_conversions"], r["nb_visits_converted"], r["revenue"],
         r["conversion_rate"]]
        for r in api
    ]  # fmt: skip
