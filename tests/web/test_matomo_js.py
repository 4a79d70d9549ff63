"""Matomo's own matomo.js (unmodified, ../shared/clients) in Debian's Chromium against a real
``tally serve``, and the same scenario through tally.js: the two sites' reports are identical.

Two loopback page servers serve the same pages; one loads matomo.js (site 1), the other
tally.js from the tally server (site 2). Every hit goes to the tally server's /matomo.php.
The scenario, run once per tracker, one browser context per visitor:

  J  the journey: /landing.html (visit custom variable plan=gold, page custom variable
     section=shoes, dimension1=blue, heartbeat on), an event Video/Play/Trailer (3), a site
     search "Shoes" in "shop" (4 results), trackGoal(2, 5), an ecommerce cart update (100)
     and order O-1 (110: 100 + 5 tax + 5 shipping, two SKU1 at 50), a ping, a click on the
     PDF (download) and on the partner link (outlink), /signup.html (goal 1 by URL), then
     /next.html?mtm_campaign=Late: a campaign URL in a direct visit gives the visit that
     campaign (no new visit). 7 actions: 3 page views, 1 event, 1 search, 1 download,
     1 outlink (goals, ecommerce and pings are not actions).
  C0-C5  one visitor per campaign keyword parameter: /landing.html?<name>=Spring<i>&<kw>=KW<i>,
     then a click to /next.html (where matomo.js sends _rcn, and _rck only for the keyword
     parameters it knows): one visit of 2 page views each, campaign spring<i> / kw<i>.
  K  consent: /consent.html requires consent; nothing is sent until the visitor agrees,
     then the page view: 1 visit, 1 action.
  H  the heartbeat: /heartbeat.html with enableHeartBeatTimer(6), a mouse move, 7 s, then
     the window loses focus. matomo.js pings when the page is left (blur, hidden, unload)
     and 6 s passed since its last request; tally.js pings on its 6 s timer after activity.
     Either way one ping=1 request: no action (1 visit, 1 action, a bounce), but the visit
     lasts until it (>= 5 s instead of 0: the server times arrivals, and a new browser
     context's first request can leave a few hundred ms after the page asked, so each
     tracker's ping is given a second's margin over the 5 s asserted).

Hand counts per site: 9 visits (J, C0-C5, K, H), 7 + 6 * 2 + 1 + 1 = 21 actions; K and H
are the one-action visits: 2 bounces. Visit lengths depend on the browser's clock and are not
compared; the sites' own addresses (two loopback ports) are written as BASE.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import pytest
from tests.browser import launch_chromium, require_chromium
from tests.web.served import Served, matomo_clients, serve

from tally.warehouse import Warehouse
from tally.web.sites import add_goal, add_site

pytestmark = pytest.mark.browser

PAGE = (Path(__file__).parents[1] / "fixtures" / "web" / "trackers" / "page.html").read_text()
# (campaign name parameter, keyword parameter): each keyword parameter Matomo reads
# (config/global.ini.php campaign_keyword_var_name), with a name parameter of each family
CAMPAIGN_PARAMETERS = [
    ("pk_campaign", "pk_kwd"),
    ("pk_cpn", "pk_keyword"),
    ("mtm_campaign", "mtm_kwd"),
    ("mtm_campaign", "mtm_keyword"),
    ("matomo_campaign", "matomo_kwd"),
    ("utm_campaign", "utm_term"),
]
SETUP = {
    "/landing.html": (
        "_paq.push(['setCustomVariable', 1, 'plan', 'gold', 'visit']);"
        "_paq.push(['setCustomVariable', 2, 'section', 'shoes', 'page']);"
        "_paq.push(['setCustomDimension', 1, 'blue']);"
        "_paq.push(['enableHeartBeatTimer', 5]);"
    ),
    "/consent.html": "_paq.push(['requireConsent']);",
    "/heartbeat.html": "_paq.push(['enableHeartBeatTimer', 6]);",
}
DAY = {"period": "day", "date": "today"}


def _page_server(script: str, site: str, tracker: list[str]) -> ThreadingHTTPServer:
    """Serves the scenario's pages (one template) and the PDF. ``tracker[0]`` is the tally
    server's URL, known only once it started (after the sites were made with these ports)."""
    matomo_js = matomo_clients()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            path = urlsplit(self.path).path
            if path == "/matomo.js" and matomo_js is not None:
                body = (matomo_js / "matomo-js" / "matomo.js").read_bytes()
                self._send("application/javascript", body)
            elif path.endswith(".html"):
                source = "/matomo.js" if script == "matomo.js" else tracker[0] + "tally.js"
                html = (
                    PAGE.replace("{{TITLE}}", path.strip("/").removesuffix(".html").title())
                    .replace("{{SETUP}}", SETUP.get(path, ""))
                    .replace("{{TRACKER}}", tracker[0])
                    .replace("{{SITE}}", site)
                    .replace("{{SCRIPT}}", source)
                )
                self._send("text/html; charset=utf-8", html.encode())
            else:
                self._send("application/pdf", b"%PDF-1.4\n%%EOF\n")

        def _send(self, kind: str, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return ThreadingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture(scope="module")
def reports(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Served, dict[str, int], dict[str, str]]]:
    """Runs the scenario with each tracker; yields the server and {tracker: idsite}."""
    clients = matomo_clients()
    if clients is None or not (clients / "matomo-js" / "matomo.js").exists():
        pytest.skip("Matomo's matomo.js not found (../shared/clients, see its README)")
    require_chromium()
    tracker: list[str] = [""]
    sites = {"matomo.js": 1, "tally.js": 2}
    pages = {name: _page_server(name, str(idsite), tracker) for name, idsite in sites.items()}
    bases = {name: f"http://127.0.0.1:{server.server_address[1]}" for name, server in pages.items()}

    def prepare(warehouse: Warehouse) -> None:
        for name in sites:
            idsite = add_site(warehouse, name, [bases[name]], "UTC").idsite
            add_goal(warehouse, idsite, "Signup", "url", "contains", "/signup")
            add_goal(warehouse, idsite, "Manual", "manual", None, None)

    served = serve(tmp_path_factory.mktemp("matomo_js"), prepare)
    tracker[0] = served.url + "/"
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in pages.values()]
    for thread in threads:
        thread.start()
    try:
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = launch_chromium(playwright)
            for name in sites:
                _scenario(browser, bases[name], served)
            browser.close()
        _settle(served)
        served.load_now()
        yield served, sites, bases
    finally:
        for server in pages.values():
            server.shutdown()
            server.server_close()
        served.stop()


def _accepted(served: Served) -> int:
    answer = httpx.get(
        f"{served.url}/api/tracking/stats",
        headers={"Authorization": f"Bearer {served.token}"},
        timeout=10,
    )
    return int(answer.json()["accepted"])


def _wait_for(served: Served, count: int) -> None:
    """Until the server has accepted ``count`` hits (the trackers send asynchronously)."""
    deadline = time.monotonic() + 15
    while _accepted(served) < count:
        if time.monotonic() > deadline:
            stats = httpx.get(
                f"{served.url}/api/tracking/stats",
                headers={"Authorization": f"Bearer {served.token}"},
                timeout=10,
            ).json()
            raise AssertionError(f"expected {count} hits, the server has: {stats}")
        time.sleep(0.05)


# How long no hit may arrive before a page's hits count as all in: 0.2 s lost two hits of a
# journey on a loaded machine (the trackers send asynchronously; closing the page drops the rest).
QUIET = 1.0


def _settle(served: Served, quiet: float = 0.5) -> None:
    """Until no hit has arrived for ``quiet`` seconds (the trackers send asynchronously)."""
    last = -1
    while (now := _accepted(served)) != last:
        last = now
        time.sleep(quiet)


def _push(page: Any, *command: object) -> None:
    page.evaluate("command => window._paq.push(command)", list(command))


def _scenario(browser: Any, base: str, served: Served) -> None:
    # J: the journey. Waits only where order matters: the landing page view first (it
    # opens the visit), and every hit of a page in before the next page's.
    context = browser.new_context()
    page = context.new_page()
    count = _accepted(served)
    page.goto(base + "/landing.html")
    _wait_for(served, count + 1)
    _push(page, "trackEvent", "Video", "Play", "Trailer", 3)
    _push(page, "trackSiteSearch", "Shoes", "shop", 4)
    _push(page, "trackGoal", 2, 5)
    _push(page, "addEcommerceItem", "SKU1", "Shoe", "Shoes", 50, 2)
    _push(page, "trackEcommerceCartUpdate", 100)
    _push(page, "trackEcommerceOrder", "O-1", 110, 100, 5, 5, 0)
    _push(page, "ping")
    page.click("#download")
    page.click("#outlink")
    # the landing page view, then one hit each: event, search, goal, cart, order, ping,
    # download, outlink (the item rides on the cart and the order); a quiet second was not
    # enough to know they were all in on a machine at load 25
    _wait_for(served, count + 9)
    _settle(served, QUIET)
    page.click("#signup")
    page.wait_for_url("**/signup.html")
    _wait_for(served, count + 10)
    page.goto(base + "/next.html?mtm_campaign=Late")
    _wait_for(served, count + 11)
    _settle(served, QUIET)
    assert _accepted(served) == count + 11, "the journey sent more hits than counted"
    context.close()
    # C0-C5: one visitor per campaign keyword parameter
    for number, (name, keyword) in enumerate(CAMPAIGN_PARAMETERS):
        context = browser.new_context()
        page = context.new_page()
        count = _accepted(served)
        page.goto(f"{base}/landing.html?{name}=Spring{number}&{keyword}=KW{number}")
        _wait_for(served, count + 1)
        page.click("#next")
        page.wait_for_url("**/next.html")
        _wait_for(served, count + 2)
        context.close()
    # K: nothing before consent, the page view once given
    context = browser.new_context()
    page = context.new_page()
    before = _accepted(served)
    page.goto(base + "/consent.html")
    page.wait_for_function("() => !!(window.Matomo || window.tally)")
    time.sleep(0.3)
    assert _accepted(served) == before, "a hit was sent before consent"
    page.click("#agree")
    _wait_for(served, before + 1)
    context.close()
    # H: one heartbeat ping, whichever tracker (see the module's docstring)
    context = browser.new_context()
    page = context.new_page()
    count = _accepted(served)
    page.goto(base + "/heartbeat.html")
    _wait_for(served, count + 1)
    page.mouse.move(20, 20)  # activity: tally.js pings at its next tick
    time.sleep(7)  # past the 6 s matomo.js waits after its last request (and tally.js's tick)
    page.evaluate("() => window.dispatchEvent(new Event('blur'))")  # leaving: matomo.js
    _wait_for(served, count + 2)
    _settle(served, QUIET)
    assert _accepted(served) == count + 2, "one page view and one ping, nothing else"
    context.close()


# Methods compared between the two sites, with the parameters each needs.
COMPARED: list[tuple[str, dict[str, object]]] = [
    ("VisitsSummary.get", {}),
    ("Actions.getPageUrls", {"flat": 1}),
    ("Actions.getEntryPageUrls", {"flat": 1}),
    ("Actions.getExitPageUrls", {"flat": 1}),
    ("Actions.getPageTitles", {"flat": 1}),
    ("Actions.getDownloads", {"flat": 1}),
    ("Actions.getOutlinks", {"flat": 1}),
    ("Actions.getSiteSearchKeywords", {}),
    ("Events.getCategory", {}),
    ("Events.getAction", {}),
    ("Events.getName", {}),
    ("Referrers.getReferrerType", {}),
    ("Referrers.getCampaigns", {}),
    ("CustomVariables.getCustomVariables", {}),
    ("CustomDimensions.getCustomDimension", {"idDimension": 1}),
    ("Goals.get", {}),
    ("Goals.getConversions", {}),
    ("Goals.get", {"idGoal": "ecommerceOrder"}),
    ("Goals.getItemsSku", {}),
    ("Goals.getItemsCategory", {}),
    ("DevicesDetection.getType", {}),
    ("DevicesDetection.getBrowsers", {}),
]
# Fields that depend on the browser's clock, not on what was tracked.
TIMED = (
    "sum_visit_length",
    "avg_time_on_site",
    "avg_time_on_page",
    "sum_time_spent",
    "avg_time_generation",
)


def _comparable(answer: object, base: str) -> object:
    """``answer`` without clock-dependent fields, and with the site's own address (each
    tracker's pages come from their own loopback port) written as BASE."""
    if isinstance(answer, dict):
        return {
            key: _comparable(value, base)
            for key, value in answer.items()
            if not key.endswith(TIMED)
        }
    if isinstance(answer, list):
        return [_comparable(row, base) for row in answer]
    if isinstance(answer, str):
        return answer.replace(base, "BASE").replace(quote(base, safe=""), "BASE")
    return answer


@pytest.mark.parametrize(("method", "params"), COMPARED, ids=[m for m, _ in COMPARED])
def test_matomo_js_and_tally_js_give_identical_reports(
    reports: tuple[Served, dict[str, int], dict[str, str]], method: str, params: dict[str, object]
) -> None:
    served, sites, bases = reports
    by_matomo = served.api(method, idSite=sites["matomo.js"], **DAY, **params)
    by_tally = served.api(method, idSite=sites["tally.js"], **DAY, **params)
    assert by_matomo, "an empty report proves nothing"
    matomo_rows = _comparable(by_matomo, bases["matomo.js"])
    assert matomo_rows == _comparable(by_tally, bases["tally.js"])


def test_the_reports_hold_the_hand_counts(
    reports: tuple[Served, dict[str, int], dict[str, str]],
) -> None:
    served, sites, _ = reports
    summary = served.api("VisitsSummary.get", idSite=sites["matomo.js"], **DAY)
    assert (summary["nb_visits"], summary["nb_actions"], summary["bounce_count"]) == (9, 21, 2)
    campaigns = served.api("Referrers.getCampaigns", idSite=sites["matomo.js"], **DAY)
    found = {row["label"]: row["nb_visits"] for row in campaigns}
    # six campaign visits not cut in two at their second page, and the journey's direct
    # visit that took the campaign "late"
    assert found == {**{f"spring{n}": 1 for n in range(6)}, "late": 1}, found
    events = served.api("Events.getAction", idSite=sites["matomo.js"], **DAY)
    assert [(row["label"], row["nb_events"]) for row in events] == [("Play", 1)]
    searches = served.api("Actions.getSiteSearchKeywords", idSite=sites["matomo.js"], **DAY)
    # as typed: Matomo keeps a site search keyword's case
    assert [(row["label"], row["nb_visits"]) for row in searches] == [("Shoes", 1)]
    goals = served.api("Goals.getConversions", idSite=sites["matomo.js"], **DAY)
    assert {row["label"]: row["nb_conversions"] for row in goals} == {"Signup": 1, "Manual": 1}
    order = served.api("Goals.get", idSite=sites["matomo.js"], idGoal="ecommerceOrder", **DAY)
    # O-1: 110 = subtotal 100 + tax 5 + shipping 5, two SKU1 at 50
    assert (order["nb_conversions"], order["revenue"], order["items"]) == (1, 110, 2)
    pages = served.api("Actions.getPageUrls", idSite=sites["matomo.js"], flat=1, **DAY)
    views = {row["label"]: row["nb_hits"] for row in pages}
    # the campaign parameters left the landing URLs: one /landing.html row
    assert views == {
        "/landing.html": 7,
        "/next.html": 7,
        "/signup.html": 1,
        "/consent.html": 1,
        "/heartbeat.html": 1,
    }


@pytest.mark.parametrize("tracker", ["matomo.js", "tally.js"])
def test_the_heartbeat_ping_lengthens_the_visit_and_is_no_page_view(
    reports: tuple[Served, dict[str, int], dict[str, str]], tracker: str
) -> None:
    served, sites, _ = reports
    visits = served.api("Live.getLastVisitsDetails", idSite=sites[tracker], filter_limit=-1, **DAY)
    (visit,) = [
        v for v in visits if v["actionDetails"][0].get("url", "").endswith("/heartbeat.html")
    ]
    # the page view is the visit's one action: the ping added none
    assert visit["actions"] == 1
    assert [detail["type"] for detail in visit["actionDetails"]] == ["action"]
    # the ping came >= 5 s after the page view at the server (tally.js: its 6 s tick;
    # matomo.js: the blur 7 s in; the module docstring says why the margin) and the visit
    # lasts until it; without it the visit would last 0 s
    assert visit["visitDuration"] >= 5
    assert visit["actionDetails"][0]["timeSpent"] == visit["visitDuration"]
