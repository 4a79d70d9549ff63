"""The dashboards in Debian's Chromium against the real server on loopback.

Data: one day of the demo pipeline (subscriptions, ELT ledger) and web hits sent by this
test through the real tracking endpoint, loaded and sessionized as live traffic is. Three
visitors on site 1 (two from Hong Kong, one from Singapore) make three visits today; site 2
has no traffic. Screenshots of each area go to test-artifacts/.

Speed: one server, one browser and one logged-in context for the admin for the whole module
(bob, who has fewer rights, gets a second one); the refresh tests move the page's clock
instead of waiting for it.
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from tests.browser import launch_chromium, require_chromium
from tests.server.ui_support import PASSWORD, cheap_hashes, dashboard_app

from tally.config import Settings
from tally.pipeline.context import open_context
from tally.pipeline.demo import run_demo
from tally.server.auth import create_token
from tally.server.ui.web_map import REFRESH_SECONDS
from tally.server.users import add_user, get_user, grant
from tally.web.sessions import sessionize
from tally.web.sites import add_site

ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
SITE_URL = "https://video.example.com"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120"
# (visitor id, visitor IP, pages in order)
VISITS = [
    ("a1a1a1a1a1a1a1a1", "1.36.0.1", ["/", "/pricing", "/subscribe"]),  # Hong Kong
    ("b2b2b2b2b2b2b2b2", "1.36.0.2", ["/", "/pricing"]),  # Hong Kong
    ("c3c3c3c3c3c3c3c3", "8.128.0.1", ["/shows"]),  # Singapore
]

pytestmark = pytest.mark.browser


@dataclass
class Server:
    url: str
    token: str
    settings: Settings
    store: Any


def _wait(condition: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within the wait")
        time.sleep(0.05)


def _track(base: str, visits: list[tuple[str, str, list[str]]] = VISITS) -> None:
    # Generous timeouts: on a shared 2-core machine a first device lookup can take seconds.
    with httpx.Client(base_url=base, headers={"user-agent": USER_AGENT}, timeout=60) as client:
        for visitor, address, pages in visits:
            for number, path in enumerate(pages):
                answer = client.get(
                    "/matomo.php",
                    params={
                        "idsite": "1", "rec": "1", "_id": visitor, "url": SITE_URL + path,
                        "action_name": path, "r": str(number), "send_image": "0",
                    },
                    headers={"x-forwarded-for": address},
                )  # fmt: skip
                assert answer.status_code in (200, 204)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_chromium()
    import uvicorn

    monkeypatch = pytest.MonkeyPatch()
    cheap_hashes(monkeypatch)
    settings = Settings(data_dir=str(tmp_path_factory.mktemp("browser")))
    context = open_context(settings)
    store = context.warehouse
    store.migrate()
    run_demo(context, days=1)  # the build, not the days, is most of its cost
    add_site(store, "Video", [SITE_URL], "Asia/Hong_Kong")
    add_site(store, "Other site", ["https://other.example.com"], "UTC")
    add_user(store, "ada", PASSWORD, admin=True)
    add_user(store, "bob", PASSWORD)
    grant(store, "bob", 1, "view")
    token = create_token(store, "browser-test")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    app = dashboard_app(settings, store)
    uv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    _wait(lambda: uv.started)
    base = f"http://127.0.0.1:{listener.getsockname()[1]}"
    _track(base)
    loaded = httpx.post(
        f"{base}/api/tracking/load", headers={"authorization": f"Bearer {token}"}, timeout=60
    )
    assert loaded.json()["loaded"] == 6  # 3 + 2 + 1 page views
    sessionize(store)
    ARTIFACTS.mkdir(exist_ok=True)
    yield Server(base, token, settings, store)
    uv.should_exit = True
    thread.join(timeout=10)
    listener.close()
    store.close()
    monkeypatch.undo()


@pytest.fixture(scope="module")
def browser(server: Server) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@dataclass
class Admin:
    """ada's one browser context, and every URL it asked for."""

    context: Any
    requested: list[str]
    url: str

    def open(self, path: str) -> Any:
        page = self.context.new_page()
        page.goto(self.url + path)
        _ready(page)
        return page


@pytest.fixture(scope="module")
def admin(browser: Any, server: Server) -> Iterator[Admin]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    _log_in(context, server, "ada").close()
    yield Admin(context, requested, server.url)
    context.close()


def _log_in(context: Any, server: Server, name: str, start: str = "/elt") -> Any:
    page = context.new_page()
    page.goto(server.url + start)
    assert "/login?next=" in page.url  # no session: sent to the login page
    page.fill("input[name=username]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("form.login button[type=submit]")
    page.wait_for_selector("body[data-ready='1']")
    return page


def _ready(page: Any) -> None:
    page.wait_for_selector("body[data-ready='1']")
    if page.locator("script.figure").count():
        page.wait_for_selector(".chart .main-svg")  # plotly has drawn


def test_log_in_and_open_each_area(admin: Admin) -> None:
    # The admin fixture logged in from /elt (no session: sent to the login page first).
    page = admin.open("/elt")
    assert page.locator("#panel-datasets tbody tr").count() >= 10  # every demo dataset
    page.screenshot(path=str(ARTIFACTS / "dashboard-elt.png"), full_page=True)
    page.click("nav.areas >> text=Subscriptions")
    _ready(page)
    assert page.locator(".kpi[data-kpi='Active subscribers'] .value").inner_text() != "–"
    page.screenshot(path=str(ARTIFACTS / "dashboard-subscriptions.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.reload()
    _ready(page)
    # Usable on a phone: nothing wider than the screen (wide tables scroll in their box).
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=str(ARTIFACTS / "dashboard-subscriptions-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("nav.areas >> text=Web analytics")
    _ready(page)
    assert page.locator("h1").inner_text().startswith("Dashboard")
    page.wait_for_selector("#realtime[data-loaded]")  # the real-time widget loaded itself
    # All three visits started minutes ago, so all are in the last 30 minutes.
    assert page.locator("#realtime .kpi[data-minutes='30'] .value").inner_text() == "3"
    page.screenshot(path=str(ARTIFACTS / "dashboard-web.png"), full_page=True)
    page.close()


def test_change_period_and_site(admin: Admin) -> None:
    # date=today: the default day is yesterday in the site's zone (Matomo's), and from
    # Sunday 16:00 UTC to Monday 16:00 UTC yesterday's week in Hong Kong is not today's,
    # which holds the visits
    page = admin.open("/web/pages?date=today")
    page.select_option("select[name=period]", "week")
    page.click("form.filters button[type=submit]")
    _ready(page)
    assert "period=week" in page.url
    assert page.locator("p.note").first.inner_text().startswith("Video · week")
    # The table sits in a closed <details> under the chart: read its text, not what shows.
    assert page.locator("#panel-pages tbody td").first.text_content() == "/index"
    page.select_option("select[name=idSite]", "2")  # submits by itself
    page.wait_for_url("**idSite=2**")
    _ready(page)
    assert "Other site" in page.locator("h1").inner_text()
    assert page.locator("#panel-pages td.empty").count() == 1  # no traffic on site 2
    page.close()


def test_chart_numbers_equal_the_api_and_the_csv(admin: Admin, server: Server) -> None:
    page = admin.open("/web/overview?idSite=1&period=day&date=today")
    drawn = page.evaluate(
        "() => { const d = document.getElementById('chart-evolution').data; "
        "return {x: d[0].x, visits: d[0].y, visitors: d[1].y}; }"
    )
    answer = httpx.get(
        f"{server.url}/index.php",
        params={
            "module": "API", "method": "VisitsSummary.get", "idSite": "1", "period": "day",
            "date": f"{drawn['x'][0]},{drawn['x'][-1]}", "format": "json",
            "token_auth": server.token,
        },
        timeout=60,
    )  # fmt: skip
    api = answer.json()
    assert [api[day]["nb_visits"] for day in drawn["x"]] == drawn["visits"]
    assert [api[day]["nb_uniq_visitors"] for day in drawn["x"]] == drawn["visitors"]
    assert drawn["visits"][-1] == 3  # today's three visits
    with page.expect_download() as download:
        page.click("#panel-evolution a.csv")
    text = Path(download.value.path()).read_text(encoding="utf-8")
    last = text.strip().splitlines()[-1].split(",")
    assert last[0] == dt.datetime.now(dt.UTC).astimezone(_hong_kong()).date().isoformat()
    assert last[1] == "3"
    page.close()


def test_api_needs_a_token_even_with_a_session(admin: Admin, server: Server) -> None:
    # The context holds a session cookie; the API still wants a token and answers JSON 401.
    stats = admin.context.request.get(f"{server.url}/api/tracking/stats", max_redirects=0)
    assert stats.status == 401 and stats.json()["status"] == "error"
    api = admin.context.request.get(
        f"{server.url}/index.php?module=API&method=VisitsSummary.get&idSite=1&period=day"
        "&date=today&format=json",
        max_redirects=0,
    )
    assert api.status == 401


def test_a_user_without_rights_gets_403(browser: Any, server: Server) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = _log_in(context, server, "bob", "/web?idSite=1")
    assert "idSite=1" in page.url
    answer = page.goto(f"{server.url}/web?idSite=2")
    assert answer.status == 403
    assert "no rights to site 2" in page.content()
    options = page.locator("select[name=idSite] option")
    assert options.count() == 0  # the refusal page offers no site picker
    page.goto(f"{server.url}/web?idSite=1")
    assert page.locator("select[name=idSite] option").all_inner_texts() == ["1 · Video"]
    assert page.goto(f"{server.url}/admin/users").status == 403  # not an admin
    assert page.locator("nav.areas a[href='/admin/users']").count() == 0
    context.close()


def test_the_real_time_map_is_drawn_from_this_server_only(admin: Admin) -> None:
    page = admin.open("/web/realtime-map?idSite=1&minutes=30")
    # plotly fetched the bundled topojson and shaded Hong Kong and Singapore.
    page.wait_for_selector("#chart-map path.choroplethlocation")
    shaded = page.evaluate("() => document.getElementById('chart-map').data[0].locations")
    assert sorted(shaded) == ["HKG", "SGP"]
    cells = page.locator("#panel-map tbody tr td:nth-child(4)").all_text_contents()
    assert sorted(cells) == ["1", "2"]  # two visits from Hong Kong, one from Singapore
    page.screenshot(path=str(ARTIFACTS / "dashboard-web-map.png"), full_page=True)
    page.close()
    hosts = {urlsplit(url).hostname for url in admin.requested if url.startswith("http")}
    assert hosts == {"127.0.0.1"}, hosts  # no CDN, no font, no tile server
    assert any(url.endswith("/ui/static/topojson/world_50m.json") for url in admin.requested)


def test_the_user_page_adds_and_grants(admin: Admin, server: Server) -> None:
    page = admin.open("/admin/users")
    page.fill("#add-user input[name=name]", "cy")
    page.fill("#add-user input[name=password]", PASSWORD)
    page.click("#add-user button[type=submit]")
    page.wait_for_selector("p.done")
    row = page.locator("tr[data-user='cy']")
    row.locator("form.grant select[name=idsite]").select_option("2")
    row.locator("form.grant button").click()
    page.wait_for_selector("tr[data-user='cy'] button.revoke")
    assert get_user(server.store, "cy").sites == {2: "view"}
    page.screenshot(path=str(ARTIFACTS / "dashboard-users.png"), full_page=True)
    page.locator("tr[data-user='cy'] button.delete").click()
    page.wait_for_selector("p.done")
    assert page.locator("tr[data-user='cy']").count() == 0
    page.close()


def _hong_kong() -> dt.tzinfo:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Hong_Kong")


def _refreshed(page: Any, selector: str, expected: str, seconds: int) -> None:
    """Move the page's clock past its refresh until ``selector`` shows ``expected``."""
    for _ in range(40):
        page.clock.run_for(seconds * 1000)
        time.sleep(0.25)  # the fetch itself runs on the real clock
        if page.locator(selector).first.text_content().strip() == expected:
            return
    raise AssertionError(f"{selector} never showed {expected}")


def test_real_time_views_refresh_by_themselves(admin: Admin, server: Server) -> None:
    """Runs last: it adds a fourth visit while the pages stay open."""
    widget_page = admin.context.new_page()
    widget_page.clock.install()
    widget_page.goto(f"{server.url}/web/realtime?idSite=1")
    widget_page.clock.run_for(1000)
    widget_page.wait_for_selector("#realtime[data-loaded]")
    counter = "#realtime .kpi[data-minutes='30'] .value"
    assert widget_page.locator(counter).inner_text() == "3"
    map_page = admin.context.new_page()
    map_page.clock.install()
    map_page.goto(f"{server.url}/web/realtime-map?idSite=1&minutes=30")
    assert map_page.get_attribute("#refreshing", "data-loaded") == "server"
    _track(server.url, [("d4d4d4d4d4d4d4d4", "1.36.0.9", ["/"])])
    headers = {"authorization": f"Bearer {server.token}"}
    loaded = httpx.post(f"{server.url}/api/tracking/load", headers=headers, timeout=60)
    assert loaded.json()["loaded"] == 1
    sessionize(server.store)
    # No reload: each fetches its fragment again on its timer until it shows the visit.
    _refreshed(widget_page, counter, "4", 10)
    _refreshed(map_page, "#panel-map tbody tr td:nth-child(4)", "3", REFRESH_SECONDS)
    assert map_page.get_attribute("#refreshing", "data-loaded") != "server"
    widget_page.close()
    map_page.close()
