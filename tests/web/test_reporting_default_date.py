"""The default date: yesterday in the site's zone, or the newest day with visits.

The demo writes web traffic up to its last day in the site's zone (Hong Kong, UTC+8) and
that day is yesterday in UTC. At 23:30 UTC it is already 07:30 the day after tomorrow in Hong
Kong, so "yesterday" there is a day the demo never reached: the dashboard must open on the
demo's last day instead, say so, and show that day's visits.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from starlette.testclient import TestClient
from tests.server.ui_support import cheap_hashes, dashboard_app, log_in

from tally.server.users import add_user
from tally.warehouse import connect
from tally.web.demo import SITE_TIMEZONE, generate_traffic
from tally.web.reporting import call, periods
from tally.web.reporting.default_date import default_date

DEMO_END = dt.date(2026, 3, 3)  # the demo's last day: "yesterday" in UTC at the clock below
CLOCK = dt.datetime(2026, 3, 4, 23, 30, tzinfo=dt.UTC)  # 2026-03-05 07:30 in Hong Kong


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    from tally.config import load_settings

    folder = tmp_path_factory.mktemp("default-date")
    settings = load_settings(environ={"TALLY_DATA_DIR": str(folder)})
    store = connect(settings.warehouse_url)
    store.migrate()
    generate_traffic(store, settings, 7, DEMO_END - dt.timedelta(days=1), DEMO_END, 40)
    yield settings, store
    store.close()


def visits_on(store, day: dt.date) -> int:
    return store.rows("SELECT count(*) FROM web.visits WHERE local_date = ?", [day])[0][0]


def test_yesterday_with_no_visits_falls_back_to_the_newest_day(demo) -> None:
    _, store = demo
    # the demo's last day is complete in the site's zone: no visit runs past its midnight
    newest = store.rows("SELECT max(local_date) FROM web.visits")[0][0]
    assert newest == DEMO_END
    chosen = default_date(store, 1, SITE_TIMEZONE, "day", CLOCK)
    assert chosen.date == "2026-03-03"
    assert "2026-03-04" in chosen.note and "2026-03-03" in chosen.note
    week = default_date(store, 1, SITE_TIMEZONE, "range", CLOCK)
    assert week.date == "2026-02-25,2026-03-03"


def test_yesterday_with_visits_stays_yesterday(demo) -> None:
    _, store = demo
    # 2026-03-04 01:00 in Hong Kong: yesterday there is the demo's last day
    morning = dt.datetime(2026, 3, 3, 17, 0, tzinfo=dt.UTC)
    assert default_date(store, 1, SITE_TIMEZONE, "day", morning).date == "yesterday"
    assert default_date(store, 1, SITE_TIMEZONE, "range", morning).date == "last7"


def test_reporting_api_without_date_answers_the_newest_day(demo) -> None:
    _, store = demo
    answer = call(store, "VisitsSummary.get", {"idSite": "1", "period": "day"}, now=CLOCK)
    assert answer["nb_visits"] == visits_on(store, DEMO_END) > 0


def test_dashboard_at_2330_utc_shows_the_demos_visits(demo, monkeypatch) -> None:
    settings, store = demo
    cheap_hashes(monkeypatch)
    monkeypatch.setattr(periods, "utc_now", lambda: CLOCK)
    add_user(store, "admin", "correct horse battery", admin=True)
    with TestClient(dashboard_app(settings, store)) as client:
        log_in(client, "admin", "correct horse battery")
        first = client.get("/web")
        assert first.status_code == 200, first.text[:300]
        assert "showing 2026-03-03, the newest day with data" in first.text
        assert 'name="date" value="2026-03-03"' in first.text
        # the dashboard's visits panel, as CSV: the last day holds the demo's visits
        rows = client.get("/web", params={"csv": "evolution"}).text.splitlines()
        last = [row for row in rows if row.startswith("2026-03-03")]
        assert last and int(last[0].split(",")[1]) == visits_on(store, DEMO_END) > 0
        # and the page-level tables are that day's, not an empty one
        pages = client.get("/web", params={"csv": "pages"}).text.splitlines()
        assert len(pages) > 1 and re.search(r"\d", pages[1])
