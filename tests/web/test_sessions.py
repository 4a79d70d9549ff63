"""Visits from hits, as Matomo counts them, on both warehouse backends.

The first tests insert rows into ``web.hits`` directly, one rule at a time; the replay test
sends matomo.js-shaped requests (query string, beacon POST, bulk JSON) through the real
tracking endpoint and loader, then checks ``web.visits`` against counts worked out by hand.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import settings as examples
from hypothesis import strategies as st
from tests.web.engines import assert_engines_agree

from tally.config import load_settings
from tally.warehouse import Warehouse
from tally.web.sessions import (
    ENGINES,
    DaySalts,
    SessionizeResult,
    day_bounds,
    draw_salts,
    forget_salts,
    model_sql,
)
from tally.web.sessions import sessionize as sessionize_on
from tally.web.sites import add_goal, add_site, edit_site

FIXTURES = Path(__file__).parents[1] / "fixtures" / "web"
HKT = dt.timezone(dt.timedelta(hours=8))  # Asia/Hong_Kong has no daylight saving time

A = "aaaaaaaaaaaaaaaa"
B = "bbbbbbbbbbbbbbbb"
C = "cccccccccccccccc"
D = "dddddddddddddddd"
E = "eeeeeeeeeeeeeeee"


def hkt(day: int, clock: str) -> dt.datetime:
    """A March 2026 wall-clock time in Hong Kong as naive UTC, as web.hits stores it."""
    hour, minute = (int(part) for part in clock.split(":"))
    local = dt.datetime(2026, 3, day, hour, minute, tzinfo=HKT)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def hit(when: dt.datetime, kind: str = "pageview", **fields: Any) -> dict[str, Any]:
    return {"hit_time": when, "kind": kind, **fields}


def insert_hits(warehouse: Warehouse, hits: list[dict[str, Any]], start: int = 0) -> None:
    """Rows shaped as the loader writes them (only the columns sessions read)."""
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "hit_id", "idsite", "received_at", "hit_time", "visitor_id", "user_id", "kind",
            "url", "action_name", "event_category", "event_action", "idgoal", "revenue",
            "new_visit", "user_agent", "ip", "is_bot", "referrer_type", "referrer_name",
            "referrer_keyword", "campaign_name", "campaign_keyword", "transport", "raw_query",
            "ip_key",
        )
    }  # fmt: skip
    for number, row in enumerate(hits, start=start):
        values = {
            "hit_id": f"seg-0001:{number:06d}",
            "idsite": 1,
            "received_at": row["hit_time"],
            "new_visit": False,
            "is_bot": False,
            "referrer_type": "campaign"
            if row.get("campaign_name")
            else "website"
            if row.get("referrer_name")
            else "direct",
            "transport": "get",
            "raw_query": "idsite=1&rec=1",
            "url": "https://watch.example.com/",
            **row,
        }
        for name in columns:
            columns[name].append(values.get(name))
    types = {"idsite": pa.int32(), "idgoal": pa.int32(), "revenue": pa.float64()}
    table = pa.table({name: pa.array(values, types.get(name)) for name, values in columns.items()})
    warehouse.append("web.hits", table)


Sessionize = Callable[..., SessionizeResult]


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    """Each rule is checked on both sessionize engines (web.sessionize_engine)."""
    return str(request.param)


@pytest.fixture
def sessionize(engine: str) -> Sessionize:
    """``sessionize`` on this run's engine."""
    return partial(sessionize_on, engine=engine)


@pytest.fixture
def site(warehouse: Warehouse, engine: str) -> Iterator[Warehouse]:
    """A Hong Kong site; after a test on the sorted engine, its hits rebuilt by both
    engines must give the same rows (``assert_engines_agree``)."""
    add_site(warehouse, "Watch", ["https://watch.example.com"], "Asia/Hong_Kong")
    yield warehouse
    if engine == "sorted":
        assert_engines_agree(warehouse)


def visits_by_key(warehouse: Warehouse) -> dict[str, list[tuple]]:
    found: dict[str, list[tuple]] = {}
    for key, day, actions, duration in warehouse.rows(
        "SELECT visitor_key, local_date, actions, duration_seconds FROM web.visits "
        "ORDER BY visitor_key, started_at"
    ):
        found.setdefault(key, []).append((str(day), actions, duration))
    return found


def test_day_bounds_are_the_sites_midnights_in_utc() -> None:
    # Hong Kong is UTC+8: its 2 March runs from 1 March 16:00 UTC to 2 March 16:00 UTC.
    assert day_bounds(dt.date(2026, 3, 2), "Asia/Hong_Kong") == (
        dt.datetime(2026, 3, 1, 16, 0),
        dt.datetime(2026, 3, 2, 16, 0),
    )
    # New York's 8 March 2026 has 23 hours (clocks jump forward at 02:00 EST).
    start, end = day_bounds(dt.date(2026, 3, 8), "America/New_York")
    assert (start, end) == (dt.datetime(2026, 3, 8, 5, 0), dt.datetime(2026, 3, 9, 4, 0))


def test_thirty_idle_minutes_and_midnight_split_visits_pings_add_time(
    site: Warehouse, sessionize: Sessionize
) -> None:
    insert_hits(
        site,
        [
            hit(hkt(2, "09:00"), visitor_id=A),
            hit(
                hkt(2, "09:10"), "event", visitor_id=A, event_category="Video", event_action="Play"
            ),
            hit(hkt(2, "09:29"), visitor_id=A),  # 19 min later: same visit
            hit(hkt(2, "10:05"), visitor_id=A),  # 36 min after 09:29: visit 2
            hit(hkt(2, "10:06"), "ping", visitor_id=A),
            hit(hkt(2, "10:20"), "ping", visitor_id=A),
            hit(hkt(2, "10:45"), visitor_id=A),  # 25 min after the 10:20 ping: still visit 2
            hit(hkt(2, "23:50"), visitor_id=A),  # visit 3
            hit(hkt(3, "00:05"), visitor_id=A),  # 15 min later but past midnight: visit 4
        ],
    )
    result = sessionize(site)
    assert result.days == [(1, dt.date(2026, 3, 2)), (1, dt.date(2026, 3, 3))]
    assert result.visits == 4 and result.actions == 9
    # visit 1: 3 actions 09:00-09:29 = 1740 s; visit 2: 2 pageviews (pings are not actions)
    # 10:05-10:45 = 2400 s; visits 3 and 4: one action, 0 s each.
    assert visits_by_key(site) == {
        "c:" + A: [
            ("2026-03-02", 3, 1740),
            ("2026-03-02", 2, 2400),
            ("2026-03-02", 1, 0),
            ("2026-03-03", 1, 0),
        ]
    }


def test_campaign_change_and_new_visit_flag_split_visits(
    site: Warehouse, sessionize: Sessionize
) -> None:
    insert_hits(
        site,
        [
            hit(hkt(2, "11:00"), visitor_id=B, campaign_name="spring"),
            hit(hkt(2, "11:05"), visitor_id=B, campaign_name="Spring"),  # same campaign
            hit(hkt(2, "11:10"), visitor_id=B, campaign_name="summer"),  # changed: visit 2
            hit(hkt(2, "11:12"), visitor_id=B),  # no campaign: stays in visit 2
            hit(hkt(2, "11:15"), visitor_id=B, new_visit=True),  # forced: visit 3 (direct)
            # visit 3 came in directly: Matomo gives it the campaign, no new visit
            # (plugins/Referrers/Columns/Campaign.php, isCurrentReferrerDirectEntry)
            hit(hkt(2, "11:20"), visitor_id=B, campaign_name="spring"),
            hit(hkt(2, "11:25"), visitor_id=B, campaign_name="autumn"),  # now a change: 4
        ],
    )
    sessionize(site)
    assert [row[1] for row in visits_by_key(site)["c:" + B]] == [2, 2, 2, 1]
    campaigns = site.rows("SELECT referrer_type, campaign_name FROM web.visits ORDER BY started_at")
    assert [tuple(row) for row in campaigns] == [
        ("campaign", "spring"),
        ("campaign", "summer"),
        ("campaign", "spring"),  # the direct visit took the campaign of its second hit
        ("campaign", "autumn"),
    ]


def test_a_new_website_referrer_opens_a_visit_where_the_site_says_so(
    site: Warehouse, sessionize: Sessionize
) -> None:
    """Matomo's create_new_visit_when_website_referrer_changes (Referrers/Columns/
    Website.php): off, one visit; on, a hit from another website opens a visit, even after a
    direct entry, and a hit from the same website does not."""
    hits = [
        hit(hkt(2, "11:00"), visitor_id=B),  # direct
        hit(hkt(2, "11:06"), visitor_id=B, referrer_name="one.example"),
        hit(hkt(2, "11:12"), visitor_id=B, referrer_name="one.example"),
        hit(hkt(2, "11:18"), visitor_id=B, referrer_name="two.example"),
        hit(hkt(2, "11:19"), visitor_id=B),  # an internal page: direct
    ]
    insert_hits(site, hits)
    sessionize(site)
    assert [row[1] for row in visits_by_key(site)["c:" + B]] == [5]
    edit_site(site, 1, new_visit_on_referrer_change=True)  # rebuilds the site's visits
    sessionize(site)
    assert [row[1] for row in visits_by_key(site)["c:" + B]] == [1, 2, 2]
    names = site.rows("SELECT referrer_name FROM web.visits ORDER BY started_at")
    assert [row[0] for row in names] == [None, "one.example", "two.example"]


def test_campaign_pages_without_keyword_stay_in_the_visit(
    site: Warehouse, sessionize: Sessionize
) -> None:
    """matomo.js sends _rcn on every later page but _rck only for the keyword parameters it
    knows; a campaign hit without keyword and with the visit's campaign name keeps the
    visit's keyword (plugins/Referrers/Columns/Base.php, detectReferrerCampaign)."""
    insert_hits(
        site,
        [
            # landed with pk_keyword: name and keyword
            hit(hkt(2, "11:00"), visitor_id=B, campaign_name="spring", campaign_keyword="tv"),
            hit(hkt(2, "11:01"), visitor_id=B, campaign_name="spring"),  # _rcn only
            hit(hkt(2, "11:02"), visitor_id=B, campaign_name="spring"),  # _rcn only
            hit(hkt(2, "11:03"), visitor_id=B, campaign_name="spring", campaign_keyword="tv"),
            # another keyword of the same campaign is another campaign: visit 2
            hit(hkt(2, "11:04"), visitor_id=B, campaign_name="spring", campaign_keyword="web"),
            hit(hkt(2, "11:05"), visitor_id=B, campaign_name="spring"),  # stays in visit 2
        ],
    )
    sessionize(site)
    assert [row[1] for row in visits_by_key(site)["c:" + B]] == [4, 2]
    keywords = site.rows("SELECT campaign_keyword FROM web.visits ORDER BY started_at")
    assert [row[0] for row in keywords] == ["tv", "web"]


def test_a_campaign_after_a_website_referrer_opens_a_visit(
    site: Warehouse, sessionize: Sessionize
) -> None:
    """Only a direct visit takes a later campaign; one from another website is left as it
    was and the campaign opens a new visit."""
    insert_hits(
        site,
        [
            hit(hkt(2, "11:00"), visitor_id=B, referrer_type="website"),
            hit(hkt(2, "11:01"), visitor_id=B),
            hit(hkt(2, "11:02"), visitor_id=B, campaign_name="spring"),  # visit 2
        ],
    )
    sessionize(site)
    assert [row[1] for row in visits_by_key(site)["c:" + B]] == [2, 1]
    types = site.rows("SELECT referrer_type FROM web.visits ORDER BY started_at")
    assert [row[0] for row in types] == ["website", "campaign"]


def test_cookieless_visitors_are_keyed_by_the_full_ip_hash(
    site: Warehouse, sessionize: Sessionize
) -> None:
    """Two people behind one anonymised /16 with the same browser: the loader's ip_key
    (salted hash of the full IP) keeps them apart (plugins/PrivacyManager/Config.php)."""
    agent = "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"
    insert_hits(
        site,
        [
            hit(hkt(2, "09:00"), user_agent=agent, ip="10.1.0.0", ip_key="k1"),
            hit(hkt(2, "09:01"), user_agent=agent, ip="10.1.0.0", ip_key="k2"),
            hit(hkt(2, "09:02"), user_agent=agent, ip="10.1.0.0", ip_key="k1"),
        ],
    )
    sessionize(site)
    counts = site.rows("SELECT actions FROM web.visits ORDER BY actions DESC")
    assert [row[0] for row in counts] == [2, 1]


def test_user_id_ties_devices_and_the_hits_before_login(
    site: Warehouse, sessionize: Sessionize
) -> None:
    insert_hits(
        site,
        [
            hit(hkt(2, "12:00"), visitor_id=C),  # not logged in yet
            hit(hkt(2, "12:02"), visitor_id=C, user_id="member-7"),  # logs in
            hit(hkt(2, "12:10"), visitor_id=D, user_id="member-7"),  # another device
            hit(hkt(2, "12:11"), visitor_id=E),  # someone else
        ],
    )
    sessionize(site)
    # The three member-7 hits are one visitor, 12:00-12:10 (gaps of 2 and 8 minutes).
    assert visits_by_key(site) == {
        "u:member-7": [("2026-03-02", 3, 600)],
        "c:" + E: [("2026-03-02", 1, 0)],
    }


def test_cookieless_visitors_are_a_daily_salted_hash(
    site: Warehouse, sessionize: Sessionize
) -> None:
    firefox, chrome = "Mozilla/5.0 Firefox/140.0", "Mozilla/5.0 Chrome/140.0"
    insert_hits(
        site,
        [
            hit(hkt(2, "14:00"), user_agent=firefox, ip="203.0.0.0"),
            hit(hkt(2, "14:01"), user_agent=chrome, ip="203.0.0.0"),  # another browser
            hit(hkt(2, "14:10"), user_agent=firefox, ip="203.0.0.0"),
            hit(hkt(3, "14:00"), user_agent=firefox, ip="203.0.0.0"),  # next day
        ],
    )
    sessionize(site)
    found = site.rows("SELECT visitor_key, local_date, actions FROM web.visits ORDER BY started_at")
    # Day one: Firefox (2 hits) and Chrome (1) are two visitors; day two's Firefox hit gets
    # another key, because the salt rotated: the same browser cannot be followed across days.
    assert [(str(day), actions) for _, day, actions in found] == [
        ("2026-03-02", 2),
        ("2026-03-02", 1),
        ("2026-03-03", 1),
    ]
    keys = [key for key, _, _ in found]
    assert all(key.startswith("h:") for key in keys) and len(set(keys)) == 3
    assert forget_salts(site, dt.date(2026, 3, 3)) == 1


def test_day_salts_draw_a_missing_day_from_their_source_once() -> None:
    """The salt of a hit's day in the site's zone: known, or drawn from the source given
    (the loader's child asks its parent), together with the days the source draws along."""
    asked: list[dt.date] = []

    def draw(day: dt.date) -> dict[dt.date, str]:
        asked.append(day)
        return {day: f"drawn-{day}", day + dt.timedelta(days=1): f"drawn-{day}-next"}

    salts = DaySalts({1: ZoneInfo("Asia/Hong_Kong")}, {dt.date(2026, 3, 2): "known"}, draw)

    def key(salt: str, ip: str) -> str:
        return hashlib.sha256(f"{salt}|{ip}".encode()).hexdigest()[:32]

    # 23:30 on the 2nd in Hong Kong (15:30 UTC): the known salt, nothing drawn
    assert salts.ip_key(1, hkt(2, "23:30"), "203.0.0.1") == key("known", "203.0.0.1")
    assert asked == []
    # 00:10 on the 3rd in Hong Kong is still the 2nd in UTC: the 3rd's salt is drawn
    assert salts.ip_key(1, hkt(3, "00:10"), "203.0.0.1") == key("drawn-2026-03-03", "203.0.0.1")
    # the 4th came with the 3rd: not asked again
    assert salts.ip_key(1, hkt(4, "09:00"), "203.0.0.1") == key(
        "drawn-2026-03-03-next", "203.0.0.1"
    )
    assert asked == [dt.date(2026, 3, 3)]
    assert salts.known() == {
        dt.date(2026, 3, 2): "known",
        dt.date(2026, 3, 3): "drawn-2026-03-03",
        dt.date(2026, 3, 4): "drawn-2026-03-03-next",
    }
    # no key without an address or for a site of unknown zone
    assert salts.ip_key(1, hkt(2, "10:00"), None) is None
    assert salts.ip_key(2, hkt(2, "10:00"), "203.0.0.1") is None


# zones with summer time, half- and quarter-hour offsets, a skipped day (Apia, 2011) and a
# date that went back (Sitka, 1867)
ZONES = ("Asia/Hong_Kong", "Europe/London", "America/Santiago", "Australia/Lord_Howe",
         "Asia/Kathmandu", "Pacific/Apia", "America/Sitka")  # fmt: skip


@given(
    st.lists(
        st.tuples(
            st.integers(0, len(ZONES)),  # the last number is a site of unknown zone
            st.datetimes(dt.datetime(1860, 1, 1), dt.datetime(2100, 1, 1)),
            st.sampled_from(["203.0.0.1", "198.51.100.7", "", None]),
        ),
        max_size=30,
    )
)
@examples(max_examples=300, deadline=None)
def test_a_batchs_ip_keys_use_each_hits_day_in_its_sites_zone(
    hits: list[tuple[int, dt.datetime, str | None]],
) -> None:
    """``ip_keys`` of a batch: for each hit the key made with the salt of its UTC time's
    date in its site's zone, as ``astimezone`` gives it; none without an address or zone."""
    salts = DaySalts(
        {site: ZoneInfo(zone) for site, zone in enumerate(ZONES)}, {}, lambda day: {day: f"s{day}"}
    )
    expected = []
    for site, when, ip in hits:
        if not ip or site == len(ZONES):
            expected.append(None)
            continue
        day = when.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(ZONES[site])).date()
        expected.append(hashlib.sha256(f"s{day}|{ip}".encode()).hexdigest()[:32])
    sites, times, addresses = ([hit[n] for hit in hits] for n in range(3))
    assert salts.ip_keys(sites, times, addresses) == expected
    assert [salts.ip_key(*hit) for hit in hits] == expected  # remembered: the same again


def test_salts_drawn_in_the_warehouse_keep_a_day_already_salted(site: Warehouse) -> None:
    site.execute("INSERT INTO web.visitor_salts VALUES (?, ?)", [dt.date(2026, 3, 5), "already"])
    drawn = draw_salts(site, dt.date(2026, 3, 3))
    # the 3rd and the 31 days after it (to April 3rd): 32 days, the 5th's salt kept
    assert min(drawn) == dt.date(2026, 3, 3) and max(drawn) == dt.date(2026, 4, 3)
    assert len(drawn) == 32 and drawn[dt.date(2026, 3, 5)] == "already"
    assert len(set(drawn.values())) == 32
    salts = DaySalts.of(site)
    assert salts.known() == drawn
    assert salts.salt(dt.date(2026, 3, 20)) == drawn[dt.date(2026, 3, 20)]


def test_a_ping_never_opens_a_visit(site: Warehouse, sessionize: Sessionize) -> None:
    insert_hits(
        site,
        [
            hit(hkt(2, "08:00"), "ping", visitor_id=A),  # nothing before it that day
            hit(hkt(2, "09:00"), visitor_id=A),
            hit(hkt(2, "09:40"), "ping", visitor_id=A),  # 40 idle minutes: ignored...
            hit(hkt(2, "09:45"), "ping", visitor_id=A),  # ...and so is the rest of the run
            hit(hkt(2, "09:50"), visitor_id=A),  # 50 min after 09:00: a new visit
        ],
    )
    result = sessionize(site)
    assert result.actions == 5  # every hit is placed, orphans with no visit
    assert visits_by_key(site) == {"c:" + A: [("2026-03-02", 1, 0), ("2026-03-02", 1, 0)]}
    orphans = site.rows("SELECT count(*) FROM web.actions WHERE idvisit IS NULL")
    assert orphans == [(3,)]


def test_goals_convert_once_per_visit_with_revenue(site: Warehouse, sessionize: Sessionize) -> None:
    add_goal(site, 1, "Thanks page", "url", "contains", "/thanks")
    add_goal(site, 1, "Plays", "event_category", "exact", "video", revenue=1.5)
    add_goal(site, 1, "Subscribed", "manual", revenue=5.0, allow_multiple=True)
    add_goal(
        site, 1, "Plans", "url", "regex", r"^https://watch\.example\.com/pla", case_sensitive=True
    )
    insert_hits(
        site,
        [
            hit(hkt(2, "09:00"), visitor_id=A, url="https://watch.example.com/THANKS?x=1"),
            hit(hkt(2, "09:01"), visitor_id=A, url="https://watch.example.com/thanks"),
            hit(
                hkt(2, "09:02"), "event", visitor_id=A, event_category="Video", event_action="Play"
            ),
            hit(hkt(2, "09:03"), "goal", visitor_id=A, idgoal=3, revenue=9.99),
            hit(hkt(2, "09:04"), "goal", visitor_id=A, idgoal=3),
            hit(hkt(2, "09:05"), visitor_id=B, url="https://watch.example.com/plans"),
        ],
    )
    sessionize(site)
    found = site.rows("SELECT visitor_key, conversions, revenue, goals FROM web.visits ORDER BY 1")
    # A: goal 1 once (two matching pages, case-insensitive, once per visit), goal 2 once
    # (1.5 default revenue), goal 3 twice (allows several): 9.99 given, then the 5.0
    # default. 4 conversions, 1.5 + 9.99 + 5.0 = 16.49. B converts goal 4 (regex), no revenue.
    assert [(k, n, round(r, 2), g) for k, n, r, g in found] == [
        ("c:" + A, 4, 16.49, "1,2,3"),
        ("c:" + B, 1, 0.0, "4"),
    ]


def test_only_days_with_new_hits_are_recomputed(site: Warehouse, sessionize: Sessionize) -> None:
    insert_hits(site, [hit(hkt(2, "09:00"), visitor_id=A), hit(hkt(3, "09:00"), visitor_id=A)])
    sessionize(site)
    before = site.rows("SELECT idvisit FROM web.visits WHERE local_date = '2026-03-02'")
    insert_hits(site, [hit(hkt(3, "09:10"), visitor_id=A)], start=100)
    result = sessionize(site)
    assert result.days == [(1, dt.date(2026, 3, 3))]  # 2 March is left alone
    assert site.rows("SELECT idvisit FROM web.visits WHERE local_date = '2026-03-02'") == before
    assert visits_by_key(site)["c:" + A] == [("2026-03-02", 1, 0), ("2026-03-03", 2, 600)]
    assert sessionize(site).days == []  # nothing new: nothing to do
    assert len(sessionize(site, full=True).days) == 2


def test_a_hit_arriving_a_day_late_reopens_only_its_local_day(
    site: Warehouse, sessionize: Sessionize
) -> None:
    # pending_days looks only at UTC days holding more hits than actions. 3 March 07:00 in
    # Hong Kong is 2 March 23:00 UTC: its UTC day (2 March) is not its local day, and that
    # UTC day already holds the placed 2 March 09:00 (01:00 UTC). Stored after 4 March was
    # sessionized, it must reopen 3 March alone, and join A's 07:10 visit there.
    insert_hits(
        site,
        [
            hit(hkt(2, "09:00"), visitor_id=A),
            hit(hkt(3, "07:10"), visitor_id=A),
            hit(hkt(4, "09:00"), visitor_id=A),
        ],
    )
    assert len(sessionize(site).days) == 3
    insert_hits(site, [hit(hkt(3, "07:00"), visitor_id=A)], start=100)
    result = sessionize(site)
    assert result.days == [(1, dt.date(2026, 3, 3))]
    # 3 March: one visit of two hits, 07:00 to 07:10 (600 s); the other days untouched
    assert visits_by_key(site)["c:" + A] == [
        ("2026-03-02", 1, 0),
        ("2026-03-03", 2, 600),
        ("2026-03-04", 1, 0),
    ]
    assert site.rows("SELECT count(*) FROM web.actions") == [(4,)]  # each hit once
    assert sessionize(site).days == []


def test_late_hits_of_days_far_apart_reopen_those_days_alone(
    site: Warehouse, sessionize: Sessionize
) -> None:
    # pending_days bounds its hit_id lookups to the times from the first unplaced UTC day
    # to the end of the last (so DuckDB skips the rest of the year): late hits on 2 and 20
    # March reopen both, and 10 March between them stays as it was. 20 March 07:59 in Hong
    # Kong is 19 March 23:59 UTC, the last minute of the last unplaced UTC day.
    insert_hits(
        site,
        [
            hit(hkt(2, "09:00"), visitor_id=A),
            hit(hkt(10, "09:00"), visitor_id=A),
            hit(hkt(20, "07:50"), visitor_id=A),
        ],
    )
    assert len(sessionize(site).days) == 3
    versions = "SELECT local_date, version FROM web.day_versions ORDER BY local_date"
    before = dict(site.rows(versions))
    insert_hits(
        site, [hit(hkt(2, "09:05"), visitor_id=A), hit(hkt(20, "07:59"), visitor_id=A)], start=100
    )
    assert sessionize(site).days == [(1, dt.date(2026, 3, 2)), (1, dt.date(2026, 3, 20))]
    after = dict(site.rows(versions))
    assert after[dt.date(2026, 3, 10)] == before[dt.date(2026, 3, 10)]
    # each reopened day: one visit of two hits, 5 and 9 minutes apart
    assert visits_by_key(site)["c:" + A] == [
        ("2026-03-02", 2, 300),
        ("2026-03-10", 1, 0),
        ("2026-03-20", 2, 540),
    ]
    assert sessionize(site).days == []


def test_each_hit_is_placed_once_and_each_visit_stored_once_however_often_its_day_runs(
    site: Warehouse, sessionize: Sessionize
) -> None:
    # No key guards web.actions or web.visits on DuckDB (migration 112): each is unique
    # because a run deletes its days' rows before writing them again. A: one visit on the
    # 2nd (09:00, 09:10), one on the 3rd; B: two on the 2nd (an hour apart).
    insert_hits(
        site,
        [
            hit(hkt(2, "09:00"), visitor_id=A),
            hit(hkt(2, "09:10"), visitor_id=A),
            hit(hkt(3, "09:00"), visitor_id=A),
            hit(hkt(2, "09:00"), visitor_id=B),
            hit(hkt(2, "10:00"), visitor_id=B),
        ],
    )
    sessionize(site)
    insert_hits(site, [hit(hkt(3, "09:20"), visitor_id=A)], start=100)  # joins A's 3rd
    sessionize(site)
    sessionize(site, full=True)
    sessionize(site, full=True, since=dt.date(2026, 3, 3))
    # 6 hits, each once; 4 visits (A on the 2nd, B twice, A on the 3rd), each once
    assert site.rows("SELECT count(*), count(DISTINCT hit_id) FROM web.actions") == [(6, 6)]
    assert site.rows("SELECT count(*), count(DISTINCT idvisit) FROM web.visits") == [(4, 4)]
    assert visits_by_key(site)["c:" + A] == [("2026-03-02", 2, 600), ("2026-03-03", 2, 1200)]


def page_ids(warehouse: Warehouse) -> dict[str, int]:
    return {label: page for page, label in warehouse.rows("SELECT page_id, label FROM web.pages")}


def page_views(warehouse: Warehouse) -> list[tuple[object, ...]]:
    """(day, page id, next page id) of each page view in time order."""
    return [
        (str(day), page, following)
        for day, page, following in warehouse.rows(
            "SELECT local_date, page_id, next_page_id FROM web.actions "
            "WHERE kind = 'pageview' ORDER BY hit_time"
        )
    ]


def pages_hits() -> list[dict[str, Any]]:
    """2 March: A views /shows then the root (reported as /index) and searches; 3 March: B
    views /shows then /watch/1."""
    url = "https://watch.example.com"
    return [
        hit(hkt(2, "09:00"), visitor_id=A, url=f"{url}/shows"),
        hit(hkt(2, "09:01"), visitor_id=A, url=f"{url}/"),
        hit(hkt(2, "09:02"), "search", visitor_id=A, url=f"{url}/search?q=x"),
        hit(hkt(3, "09:00"), visitor_id=B, url=f"{url}/shows"),
        hit(hkt(3, "09:01"), visitor_id=B, url=f"{url}/watch/1"),
    ]


def test_page_ids_are_given_once_per_label_and_kept(
    site: Warehouse, sessionize: Sessionize
) -> None:
    day_two, day_three = pages_hits()[:3], pages_hits()[3:]
    insert_hits(site, day_two)
    sessionize(site)
    # the first run's two labels get ids 1 and 2 in label order
    assert page_ids(site) == {"/index": 1, "/shows": 2}
    insert_hits(site, day_three, start=100)
    sessionize(site)
    # /shows keeps its id; /watch/1, new, gets the site's next one
    assert page_ids(site) == {"/index": 1, "/shows": 2, "/watch/1": 3}
    # each page view carries its page's id and the next view's (none after a visit's last;
    # the search is no page view)
    expected = [("2026-03-02", 2, 1), ("2026-03-02", 1, None), ("2026-03-03", 2, 3),
                ("2026-03-03", 3, None)]  # fmt: skip
    assert page_views(site) == expected
    # rebuilding every day gives no label a new id
    sessionize(site, full=True)
    assert page_ids(site) == {"/index": 1, "/shows": 2, "/watch/1": 3}
    assert page_views(site) == expected


def test_migration_gives_page_views_stored_before_it_their_ids(
    site: Warehouse, sessionize: Sessionize
) -> None:
    insert_hits(site, pages_hits())
    sessionize(site)
    # back to the schema before migration 009, the stored page views kept
    for statement in (
        "DROP TABLE web.pages",
        "ALTER TABLE web.actions DROP COLUMN page_id",
        "ALTER TABLE web.actions DROP COLUMN next_page_id",
        "DELETE FROM tally_meta.migrations WHERE name = '009_web_page_ids.sql'",
    ):
        site.execute(statement)
    assert site.migrate() == ["009_web_page_ids.sql"]
    # ids in label order over every stored label at once: /index, /shows, /watch/1
    assert page_ids(site) == {"/index": 1, "/shows": 2, "/watch/1": 3}
    assert page_views(site) == [
        ("2026-03-02", 2, 1), ("2026-03-02", 1, None), ("2026-03-03", 2, 3),
        ("2026-03-03", 3, None),
    ]  # fmt: skip


CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0"


def replay_lines() -> Iterator[tuple[dt.datetime, str, str, str]]:
    """(arrival time, form, payload, user agent) of each request in the replay fixture."""
    for line in (FIXTURES / "replay_requests.txt").read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        when, form, payload, *agent = (part.strip() for part in line.split(" | "))
        yield dt.datetime.fromisoformat(when), form, payload, agent[0] if agent else CHROME


@pytest.fixture(scope="module", params=ENGINES)
def replayed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Warehouse, list[Any]]]:
    """The replay fixture sent through the real endpoint, loaded, then sessionized (on
    each engine)."""
    from starlette.testclient import TestClient

    from tally.server.app import create_app
    from tally.server.auth import create_token
    from tally.warehouse import from_settings
    from tally.web.loader import load_hits

    data = tmp_path_factory.mktemp("replay")
    settings = load_settings(environ={"TALLY_DATA_DIR": str(data)})
    store = from_settings(settings)
    add_site(
        store, "Watch", ["https://watch.example.com", "http://com.example.watch"], "Asia/Hong_Kong"
    )
    token = create_token(store, "replay")
    app = create_app(settings, warehouse=store, run_loader=False)
    clock = [dt.datetime(2026, 3, 2)]
    app.tracking.clock = lambda: clock[0]  # the server's "now" is each line's time
    answers = []
    with TestClient(app, client=("203.0.113.77", 50000)) as client:
        for when, form, payload, agent in replay_lines():
            clock[0] = when
            headers = {"User-Agent": agent}
            if form == "GET":
                answer = client.get("/matomo.php?" + payload, headers=headers)
            elif form == "BEACON":
                answer = client.post("/matomo.php?" + payload, content=b"", headers=headers)
            else:
                body = payload.replace("TOKEN", token)
                answer = client.post("/matomo.php", content=body.encode(), headers=headers)
            answers.append(answer)
    load_hits(store, settings)
    sessionize_on(store, engine=request.param)
    if request.param == "sorted":
        assert_engines_agree(store)
    yield store, answers
    store.close()


def test_replay_of_matomo_requests_gives_the_hand_counted_visits(
    replayed: tuple[Warehouse, list[Any]],
) -> None:
    store, answers = replayed
    assert [a.status_code for a in answers] == [
        200, 204, 204, 200, 204, 204,  # visitor 1: GETs answer the GIF, beacons 204
        200, 200, 200,  # visitor 2
        200, 200,  # visitor 3: bulk answers JSON
        200, 204, 200,  # visitor 4
    ]  # fmt: skip
    # 6 + 3 + 4 (3 + 1 in bulk) + 3 requests, each one hit.
    assert store.rows("SELECT count(*) FROM web.hits") == [(16,)]
    per_day = store.rows(
        "SELECT local_date, count(*) FROM web.visits GROUP BY local_date ORDER BY local_date"
    )
    # 2 March (HKT): visitor 1 has 3 visits (09:00-09:20; 10:00, after 40 idle minutes;
    # 23:50); visitor 2 has 2 (spring, then summer: a campaign change; the 12:15 page has
    # no campaign and stays in the second); the app user 1 (the 19:00 hit sent a day late
    # with a token); the cookieless Firefox 1 (14:00 and 14:20, 20 minutes apart) = 7.
    # 3 March: visitor 1's 00:10 page (10 minutes after 23:50, but past midnight), the app's
    # three screens at 08:40-08:50, and cookieless Firefox again, under a new daily key = 3.
    assert [(str(day), count) for day, count in per_day] == [("2026-03-02", 7), ("2026-03-03", 3)]
    visits = {
        (key[:2], str(day), actions, duration, entry)
        for key, day, actions, duration, entry in store.rows(
            "SELECT visitor_key, local_date, actions, duration_seconds, entry_url FROM web.visits"
        )
    }
    home = "https://watch.example.com/"
    # visitor 1's first visit: page view, event, outbound link = 3 actions over 20 minutes.
    assert ("c:", "2026-03-02", 3, 1200, home) in visits
    # the app's 3 March visit: 2 screens and an event, 08:40 to 08:50 = 600 s, one user.
    assert ("u:", "2026-03-03", 3, 600, "http://com.example.watch/home") in visits
    assert ("h:", "2026-03-02", 2, 1200, home) in visits


def test_mobile_sdk_bulk_with_cdt_and_uid_is_accepted(
    replayed: tuple[Warehouse, list[Any]],
) -> None:
    store, answers = replayed
    fresh, late = answers[9].json(), answers[10].json()
    assert (fresh["status"], fresh["tracked"], fresh["invalid"]) == ("success", 3, 0)
    assert (late["status"], late["tracked"]) == ("success", 1)
    app_hits = store.rows(
        "SELECT hit_time, user_id, transport FROM web.hits WHERE visitor_id = ? ORDER BY 1",
        ["3333333333333333"],
    )
    # Times come from cdt, not from the arrival of the bulk request.
    assert [(str(t), u, via) for t, u, via in app_hits] == [
        ("2026-03-02 11:00:00", "member-9", "bulk"),
        ("2026-03-03 00:40:00", "member-9", "bulk"),
        ("2026-03-03 00:45:00", "member-9", "bulk"),
        ("2026-03-03 00:50:00", "member-9", "bulk"),
    ]


STEPS = (
    "visit_key, interaction, pageview_number, page_label, next_page_label, time_spent, "
    "previous_kind, previous_label, next_kind, next_label, first_view_of_page"
)


def test_actions_are_written_with_their_place_in_the_visit_as_steps_sql_gives_it(
    site: Warehouse, sessionize: Sessionize
) -> None:
    url = "https://watch.example.com"
    insert_hits(
        site,
        [
            hit(hkt(2, "08:00"), "ping", visitor_id=A),  # nothing before it: an orphan
            hit(hkt(2, "09:00"), visitor_id=A, url=f"{url}/shows"),
            hit(hkt(2, "09:01"), visitor_id=A, url=f"{url}/"),
            hit(hkt(2, "09:03"), "search", visitor_id=A, url=f"{url}/search?q=x"),
            hit(hkt(2, "09:04"), "ping", visitor_id=A),
            hit(hkt(2, "09:06"), visitor_id=A, url=f"{url}/shows"),
        ],
    )
    sessionize(site)
    found = site.rows(
        "SELECT kind, position, interaction, pageview_number, page_label, next_page_label, "
        "time_spent, previous_kind, next_kind, first_view_of_page FROM web.actions "
        "ORDER BY hit_time"
    )
    # time on page: /index's 60 s go to /shows; the search's 120 s to /index; the ping's
    # 60 s and the last view's 120 s to the search; the last view has nothing after it
    assert found == [
        ("ping", None, None, None, None, None, None, None, None, None),
        ("pageview", 1, 1, 1, "/shows", "/index", 60, None, "pageview", True),
        ("pageview", 2, 2, 2, "/index", "/shows", 120, "pageview", "search", True),
        ("search", 3, 3, 2, None, None, 180, "pageview", "pageview", None),
        ("ping", 4, 3, 2, None, None, None, "search", "pageview", None),
        ("pageview", 5, 4, 3, "/shows", None, 0, "search", None, False),
    ]
    # steps.sql (the same numbering as an UPDATE, for actions the benches write without
    # sessionize) gives every column the same value
    written = site.rows(f"SELECT hit_id, {STEPS} FROM web.actions ORDER BY hit_id")
    start, end = day_bounds(dt.date(2026, 3, 2), "Asia/Hong_Kong")
    days = {"idsite": [1], "local_date": [dt.date(2026, 3, 2)], "utc_start": [start]}
    site.append("web.dirty_days", pa.table({**days, "utc_end": [end]}))
    cleared = ", ".join(f"{column} = NULL" for column in STEPS.split(", "))
    site.execute(f"UPDATE web.actions SET {cleared}")
    site.run_model(model_sql("steps.sql"))
    assert site.rows(f"SELECT hit_id, {STEPS} FROM web.actions ORDER BY hit_id") == written
