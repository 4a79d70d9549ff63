"""tally.js in Debian's Chromium: what it sends, when, and how (beacon, image, cookies).

The pages are served by a small loopback server that also captures every tracking request,
so each test sees the exact requests the tracker made. The end-to-end test through the real
tally server and into ``web.hits`` is ``test_browser_journey_lands_in_hits``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from tests.browser import launch_chromium, require_chromium

STATIC = Path(__file__).parents[2] / "src" / "tally" / "web" / "static"
FIXTURES = Path(__file__).parents[1] / "fixtures" / "web"


@dataclass
class Capture:
    """Tracking requests seen by the page server, in arrival order."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    tracker: str = ""  # base URL the pages load tally.js from and send hits to
    site: str = "1"

    def params(self) -> list[dict[str, str]]:
        with self.lock:
            return [dict(r["params"]) for r in self.requests]


def _handler(capture: Capture, base: list[str]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def _record(self, body: bytes) -> None:
            parts = urlsplit(self.path)
            params = dict(parse_qsl(parts.query))
            if body and self.headers.get("Content-Type", "").startswith(
                "application/x-www-form-urlencoded"
            ):
                params.update(parse_qsl(body.decode()))
            with capture.lock:
                capture.requests.append({"method": self.command, "params": params, "body": body})
            self.send_response(204)
            self.send_header("Access-Control-Allow-Origin", "*")
            self.end_headers()

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            length = int(self.headers.get("Content-Length") or 0)
            self._record(self.rfile.read(length))

        def do_GET(self) -> None:  # noqa: N802
            path = urlsplit(self.path).path
            if path == "/matomo.php":
                self._record(b"")
            elif path == "/tally.js":
                self._send(200, "application/javascript", (STATIC / "tally.js").read_bytes())
            elif path.startswith("/js_") and path.endswith(".html"):
                html = (FIXTURES / path.lstrip("/")).read_text(encoding="utf-8")
                html = html.replace("{{TRACKER}}", capture.tracker or base[0] + "/")
                html = html.replace("{{SITE}}", capture.site)
                # Another hostname for the same loopback server: an outbound link.
                outside = base[0].replace("127.0.0.1", "localhost") + "/outside.html"
                html = html.replace("{{OUTSIDE}}", outside)
                self._send(200, "text/html; charset=utf-8", html.encode())
            elif path == "/outside.html":
                self._send(200, "text/html", b"<title>Outside</title><p>partner site</p>")
            elif path == "/files/schedule.pdf":
                self._send(200, "application/pdf", b"%PDF-1.4\n%%EOF\n", attachment=True)
            else:
                self._send(404, "text/plain", b"not found")

        def _send(self, status: int, kind: str, body: bytes, attachment: bool = False) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if attachment:
                self.send_header("Content-Disposition", "attachment; filename=schedule.pdf")
            self.end_headers()
            self.wfile.write(body)

    return Handler


@pytest.fixture
def pages() -> Iterator[tuple[str, Capture]]:
    """A loopback server for the fixture pages and a capture of tracking requests."""
    capture = Capture()
    base: list[str] = [""]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(capture, base))
    base[0] = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base[0], capture
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True)
    yield context.new_page()
    context.close()


def wait_until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for the browser's asynchronous requests; fails (not times) the test if never."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met within the wait")
        time.sleep(0.05)


def kind_of(params: dict[str, str]) -> str:
    for key in ("ping", "link", "download", "e_c", "search", "idgoal"):
        if key in params:
            return key
    return "pageview" if "action_name" in params else "other"


def test_minified_tracker_is_under_10_kb() -> None:
    # 8 KB until custom variables and ecommerce came in (issue 20); matomo.js is ~66 KB
    size = len((STATIC / "tally.js").read_bytes())
    assert 0 < size < 10 * 1024, size


def test_minified_build_comes_from_the_readable_source() -> None:
    # terser keeps string literals, so every configuration word of the source must appear.
    source = (STATIC / "tally.src.js").read_text(encoding="utf-8")
    built = (STATIC / "tally.js").read_text(encoding="utf-8")
    for word in re.findall(r'"([a-zA-Z_]{6,})"', source):
        assert word in built, f"tally.js is stale: {word!r} missing (run build.sh)"


@pytest.mark.browser
def test_journey_sends_pageviews_event_download_and_outbound_but_not_mailto(
    page: Any, pages: tuple[str, Capture]
) -> None:
    base, capture = pages
    page.goto(base + "/js_page.html")
    wait_until(lambda: len(capture.params()) == 1)  # the page view
    page.click("#play")
    wait_until(lambda: len(capture.params()) == 2)
    with page.expect_download():
        page.click("#download")
    wait_until(lambda: len(capture.params()) == 3)
    page.click("#mail")
    page.click("#next")
    page.wait_for_url("**/js_second.html")
    wait_until(lambda: len(capture.params()) == 4)
    page.click("#outbound")
    page.wait_for_url("http://localhost:*/outside.html")
    wait_until(lambda: len(capture.params()) == 5)
    time.sleep(0.5)  # room for a stray (wrong) mailto request to arrive before counting
    sent = capture.params()
    # Five requests: page view, event, download, page view, outbound link. The mailto:
    # click sends nothing, and the internal "Next page" link is not an outbound link.
    assert sorted(kind_of(p) for p in sent) == sorted(
        ["pageview", "e_c", "download", "pageview", "link"]
    )
    by_kind = {kind_of(p): p for p in sent}
    home, second = (p for p in sent if kind_of(p) == "pageview")
    if home["url"].endswith("js_second.html"):
        home, second = second, home
    assert home["action_name"] == "Home" and home["url"] == base + "/js_page.html"
    assert second["urlref"] == base + "/js_page.html"
    assert by_kind["e_c"]["e_c"] == "Video" and by_kind["e_c"]["e_a"] == "Play"
    assert by_kind["e_c"]["e_n"] == "Trailer" and by_kind["e_c"]["e_v"] == "3"
    assert by_kind["download"]["download"] == base + "/files/schedule.pdf"
    assert by_kind["link"]["link"].startswith("http://localhost:")
    assert by_kind["link"]["url"] == base + "/js_second.html"
    for params in sent:
        assert params["idsite"] == "1" and params["rec"] == "1"
        assert params["send_image"] == "0"  # all went by sendBeacon
        assert re.fullmatch(r"[0-9a-f]{16}", params["_id"])
        assert re.fullmatch(r"\d+x\d+", params["res"])
    assert len({p["_id"] for p in sent}) == 1  # one visitor cookie across both pages
    # The event and the download belong to the first page view, the link to the second.
    assert by_kind["e_c"]["pv_id"] == by_kind["download"]["pv_id"] == home["pv_id"]
    assert by_kind["link"]["pv_id"] == second["pv_id"] != home["pv_id"]


def _load_tracker(page: Any, base: str, commands: str) -> None:
    page.goto(base + "/js_blank.html")
    page.add_script_tag(url=base + "/tally.js")
    page.evaluate(commands.replace("BASE", base))


@pytest.mark.browser
def test_cookie_user_id_dimensions_search_and_goal(page: Any, pages: tuple[str, Capture]) -> None:
    base, capture = pages
    _load_tracker(
        page,
        base,
        """() => {
          _paq.push(['setTrackerUrl', 'BASE/matomo.php'], ['setSiteId', 7]);
          _paq.push(['setUserId', 'member-42'], ['setCustomDimension', 1, 'gold']);
          _paq.push(['trackPageView', 'Custom title']);
          _paq.push(['trackSiteSearch', 'drama', 'tv', 12]);
          _paq.push(['trackGoal', 2, 9.5]);
        }""",
    )
    wait_until(lambda: len(capture.params()) == 3)
    sent = {kind_of(p): p for p in capture.params()}
    view, search, goal = sent["pageview"], sent["search"], sent["idgoal"]
    assert view["action_name"] == "Custom title"
    assert (search["search"], search["search_cat"], search["search_count"]) == (
        "drama",
        "tv",
        "12",
    )
    assert (goal["idgoal"], goal["revenue"]) == ("2", "9.5")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    (name,) = [n for n in cookies if n.startswith("_pk_id.7.")]
    visitor, first_seen = cookies[name].split(".")
    for params in (view, search, goal):
        assert params["idsite"] == "7" and params["uid"] == "member-42"
        assert params["dimension1"] == "gold" and params["cookie"] == "1"
        assert params["_id"] == visitor and params["_idts"] == first_seen
        assert params["pv_id"] == view["pv_id"]


@pytest.mark.browser
def test_cookieless_mode_sets_no_cookie_and_sends_no_visitor_id(
    page: Any, pages: tuple[str, Capture]
) -> None:
    base, capture = pages
    _load_tracker(
        page,
        base,
        """() => {
          _paq.push(['setTrackerUrl', 'BASE/matomo.php'], ['setSiteId', 1]);
          _paq.push(['disableCookies'], ['trackPageView']);
        }""",
    )
    wait_until(lambda: len(capture.params()) == 1)
    (view,) = capture.params()
    assert "_id" not in view and view["cookie"] == "0"
    assert page.context.cookies() == []


@pytest.mark.browser
def test_without_send_beacon_falls_back_to_an_image_get(
    page: Any, pages: tuple[str, Capture]
) -> None:
    base, capture = pages
    page.add_init_script("navigator.sendBeacon = undefined;")
    _load_tracker(
        page,
        base,
        "() => { _paq.push(['setTrackerUrl', 'BASE/matomo.php'], ['setSiteId', 1], "
        "['trackEvent', 'Menu', 'Open']); }",
    )
    wait_until(lambda: len(capture.requests) == 1)
    (request,) = capture.requests
    assert request["method"] == "GET"
    assert request["params"]["e_c"] == "Menu" and "send_image" not in request["params"]


@pytest.mark.browser
def test_long_requests_go_as_a_form_post(page: Any, pages: tuple[str, Capture]) -> None:
    base, capture = pages
    long_title = "x" * 2500  # past the 2000-character URL limit
    _load_tracker(
        page,
        base,
        "() => { _paq.push(['setTrackerUrl', 'BASE/matomo.php'], ['setSiteId', 1], "
        f"['trackPageView', '{long_title}']); }}",
    )
    wait_until(lambda: len(capture.requests) == 1)
    (request,) = capture.requests
    assert request["method"] == "POST" and request["body"]
    assert request["params"]["action_name"] == long_title


@pytest.mark.browser
def test_heartbeat_pings_after_activity_only(page: Any, pages: tuple[str, Capture]) -> None:
    base, capture = pages
    _load_tracker(
        page,
        base,
        "() => { _paq.push(['setTrackerUrl', 'BASE/matomo.php'], ['setSiteId', 1], "
        "['enableHeartBeatTimer', 1], ['trackPageView']); }",
    )
    wait_until(lambda: len(capture.params()) == 1)
    time.sleep(1.5)  # a heartbeat period passes with no activity: no ping
    assert len(capture.params()) == 1
    page.mouse.move(10, 10)
    page.mouse.move(20, 20)
    wait_until(lambda: len(capture.params()) == 2)
    view, ping = capture.params()
    assert ping["ping"] == "1" and ping["pv_id"] == view["pv_id"]
    assert "action_name" not in ping  # a ping adds time, not an action


@pytest.mark.browser
def test_the_first_ping_comes_a_whole_period_after_the_page_view(
    page: Any, pages: tuple[str, Capture]
) -> None:
    """The timer is armed by enableHeartBeatTimer, 1.5 s before the page view here; the ping
    still waits the whole 3 s after the page view (as matomo.js's does), so a visit with a
    ping lasts at least the period. Armed only once, it pinged 1.5 s after the view."""
    base, capture = pages
    _load_tracker(
        page,
        base,
        "() => { _paq.push(['setTrackerUrl', 'BASE/matomo.php'], ['setSiteId', 1], "
        "['enableHeartBeatTimer', 3]); "
        "setTimeout(function () { _paq.push(['trackPageView']); }, 1500); }",
    )
    wait_until(lambda: len(capture.params()) == 1)
    viewed = time.monotonic()
    page.mouse.move(10, 10)
    page.mouse.move(20, 20)
    wait_until(lambda: len(capture.params()) == 2)
    pinged = time.monotonic()
    assert capture.params()[1]["ping"] == "1"
    assert pinged - viewed >= 2.4


@pytest.mark.browser
def test_get_tracker_object_and_queued_commands_before_load(
    page: Any, pages: tuple[str, Capture]
) -> None:
    base, capture = pages
    page.goto(base + "/js_blank.html")
    # trackPageView queued before setTrackerUrl, as the standard snippet does.
    page.evaluate(
        f"""() => {{
          window._paq = [['trackPageView'], ['setTrackerUrl', '{base}/matomo.php'],
                         ['setSiteId', 3]];
        }}"""
    )
    page.add_script_tag(url=base + "/tally.js")
    page.evaluate(f"() => Matomo.getTracker('{base}/matomo.php', 4).trackEvent('Cast', 'Start')")
    wait_until(lambda: len(capture.params()) == 2)
    sites = {kind_of(p): p["idsite"] for p in capture.params()}
    assert sites == {"pageview": "3", "e_c": "4"}


@pytest.fixture
def tally_server(tmp_path: Path) -> Iterator[tuple[str, Any]]:
    """The real tally server (create_app on uvicorn) on a free loopback port, site 1."""
    import socket

    import uvicorn

    from tally.config import load_settings
    from tally.server.app import create_app
    from tally.warehouse import from_settings
    from tally.web.sites import add_site

    settings = load_settings(
        environ={"TALLY_DATA_DIR": str(tmp_path), "TALLY_WEB__LOAD_INTERVAL_SECONDS": "0.2"}
    )
    store = from_settings(settings)
    add_site(store, "Fixture pages", ["http://127.0.0.1"], "Asia/Hong_Kong")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    app = create_app(settings, warehouse=store)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    wait_until(lambda: server.started)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}", store
    server.should_exit = True
    thread.join(timeout=10)
    listener.close()
    store.close()


@pytest.mark.browser
def test_browser_journey_lands_in_hits(
    page: Any, pages: tuple[str, Capture], tally_server: tuple[str, Any]
) -> None:
    """The journey again, with tally.js and /matomo.php served by the real tally server."""
    from tally.web.sessions import sessionize

    base, capture = pages
    tracker, store = tally_server
    capture.tracker = tracker + "/"

    def stored() -> int:
        return store.rows("SELECT count(*) FROM web.hits")[0][0]

    page.goto(base + "/js_page.html")
    wait_until(lambda: stored() == 1)
    page.click("#play")
    wait_until(lambda: stored() == 2)  # waits keep arrival order = click order
    with page.expect_download():
        page.click("#download")
    wait_until(lambda: stored() == 3)
    page.click("#mail")
    page.click("#next")
    page.wait_for_url("**/js_second.html")
    page.click("#outbound")
    page.wait_for_url("http://localhost:*/outside.html")
    wait_until(lambda: stored() >= 5)
    time.sleep(0.5)  # room for a stray (wrong) mailto hit to be loaded before counting
    assert capture.requests == []  # every hit went to the tally server, none to the pages
    rows = store.rows(
        "SELECT kind, url, action_name, link_url, event_category, event_action, transport "
        "FROM web.hits ORDER BY hit_time, hit_id"
    )
    home, second = base + "/js_page.html", base + "/js_second.html"
    outside = base.replace("127.0.0.1", "localhost") + "/outside.html"
    # Exactly five rows, in order; the mailto: click made none. All came by sendBeacon.
    assert rows == [
        ("pageview", home, "Home", None, None, None, "post"),
        ("event", home, None, None, "Video", "Play", "post"),
        ("download", home, None, base + "/files/schedule.pdf", None, None, "post"),
        ("pageview", second, "Second", None, None, None, "post"),
        ("outlink", second, None, outside, None, None, "post"),
    ]
    visitors = store.rows("SELECT DISTINCT visitor_id, browser_name FROM web.hits")
    assert len(visitors) == 1 and visitors[0][1] == "Headless Chrome"
    sessionize(store)
    visit = store.rows(
        "SELECT actions, pageviews, downloads, outlinks, events, entry_url, "
        "exit_url FROM web.visits"
    )
    assert visit == [(5, 2, 1, 1, 1, home, second)]


@pytest.mark.browser
def test_link_classification_classes_aliases_and_schemes(
    page: Any, pages: tuple[str, Capture]
) -> None:
    base, capture = pages
    _load_tracker(
        page,
        base,
        """() => {
          const links = [
            ['by-class', 'BASE/files/get?id=7', 'tally_download'],
            ['by-matomo-class', 'BASE/export', 'matomo_download'],
            ['by-extension', 'BASE/media/trailer.MP4', ''],
            ['alias', 'https://cdn.alias.example/page', ''],
            ['ignored', 'https://partner.example.org/', 'tally_ignore'],
            ['phone', 'tel:+85212345678', ''],
            ['script', 'javascript:void(0)', ''],
            ['outbound', 'https://partner.example.org/offer', ''],
          ];
          for (const [id, href, cls] of links) {
            const a = document.createElement('a');
            a.id = id; a.href = href; a.className = cls; a.textContent = id;
            // stop navigation after tally.js (a capture listener) has seen the click
            a.addEventListener('click', (event) => event.preventDefault());
            document.body.appendChild(a);
          }
          _paq.push(['setTrackerUrl', 'BASE/matomo.php'], ['setSiteId', 1]);
          _paq.push(['setDomains', ['*.alias.example']], ['enableLinkTracking']);
        }""",
    )
    for link in ("by-class", "by-matomo-class", "by-extension", "alias", "ignored", "phone"):
        page.click("#" + link)
    page.click("#script")
    page.click("#outbound")
    wait_until(lambda: len(capture.params()) >= 4)
    time.sleep(0.5)  # room for a wrong extra request before counting
    sent = [(kind_of(p), p.get("download") or p.get("link")) for p in capture.params()]
    # Downloads by class (even without a file extension) and by extension (any case); the
    # alias host counts as the page's own; ignored, tel: and javascript: links send nothing.
    assert sorted(sent) == sorted(
        [
            ("download", base + "/files/get?id=7"),
            ("download", base + "/export"),
            ("download", base + "/media/trailer.MP4"),
            ("link", "https://partner.example.org/offer"),
        ]
    )


@pytest.mark.browser
def test_require_consent_holds_requests_and_cookies_until_given(
    page: Any, pages: tuple[str, Capture]
) -> None:
    base, capture = pages
    _load_tracker(
        page,
        base,
        "() => { _paq.push(['requireConsent'], ['setTrackerUrl', 'BASE/matomo.php'], "
        "['setSiteId', 1], ['trackPageView'], ['trackEvent', 'Menu', 'Open']); }",
    )
    time.sleep(0.5)  # room for a wrong early request to arrive
    assert capture.params() == [] and page.context.cookies() == []
    page.evaluate("() => _paq.push(['rememberConsentGiven'])")
    wait_until(lambda: len(capture.params()) == 2)  # both waiting requests
    # The two held requests leave together as separate HTTP requests, so the server may
    # receive them in either order; what matters is that both arrive, once each.
    assert sorted(kind_of(p) for p in capture.params()) == ["e_c", "pageview"]
    names = {c["name"] for c in page.context.cookies()}
    assert "mtm_consent" in names and any(n.startswith("_pk_id.1.") for n in names)


@pytest.mark.browser
def test_cookie_consent_tracks_cookieless_until_given_and_function_commands(
    page: Any, pages: tuple[str, Capture]
) -> None:
    base, capture = pages
    _load_tracker(
        page,
        base,
        "() => { _paq.push(['requireCookieConsent'], ['setTrackerUrl', 'BASE/matomo.php'], "
        "['setSiteId', 1], ['trackPageView']); }",
    )
    wait_until(lambda: len(capture.params()) == 1)
    page.evaluate(
        "() => _paq.push(['setCookieConsentGiven'], [function (goal) { this.trackGoal(goal); }, 4])"
    )
    wait_until(lambda: len(capture.params()) == 2)
    before, after = capture.params()
    assert "_id" not in before and before["cookie"] == "0"  # tracked, but without a cookie
    assert after["idgoal"] == "4" and after["cookie"] == "1" and len(after["_id"]) == 16
