"""A second hand-made site for the reporting tests: loops, a site search, goals, devices,
cities, custom variables and a returning visitor (tests/fixtures/web/reporting_flow_hits.csv).

Site 1, "Flow", Asia/Hong_Kong (UTC+8, no daylight saving); times are Hong Kong wall-clock.
Goal 1 "Signup": page URL contains /signup/done, revenue 10. Goal 2 "Play": event action is
exactly Play, no revenue. Sessionized with tally's own code, the hits make these visits
(pages by their report label: / is /index):

2026-03-07 (Saturday)
  W0  visitor R, Google, desktop Windows/Chrome, Kowloon HK: /shows 14:00. A bounce, 0 s.
2026-03-10 (Tuesday)
  W1  visitor P, direct, Apple iPhone, iOS/Mobile Safari, Hong Kong HK, local hour 9, custom
      variable plan=premium, dimension 1 = gold: /index 09:00, /shows 09:01, /shows 09:02
      (a reload), site search "drama" 09:04, /shows 09:05, /signup/done 09:07 (goal 1,
      revenue 10). 6 actions (5 page views and a search), 420 s.
  W2  visitor Q, from news.example.org (referrer URL https://news.example.org/today), Samsung
      Galaxy S23, Android/Chrome Mobile, Singapore SG, local hour 2, plan=free: /shows 10:00,
      outlink www.imdb.com 10:02, /watch/1 10:03, event Video/Play 10:05 (goal 2). 4 actions,
      300 s.
  W3  visitor R again (3 days after W0), Google, desktop without a brand, Windows/Chrome,
      Kowloon HK, local hour 14, dimension 1 = silver: /shows 14:00, download
      cdn.example.com/guide.pdf 14:10, /index 14:11. 3 actions, 660 s.
  W4  visitor P again (7 h after W1), direct, the iPhone, local hour 16, plan=premium,
      gold: /shows 16:00. A bounce, 0 s.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from tests.conftest import _fresh_postgres_schema_url, service_url

from tally.warehouse import Warehouse, connect
from tally.web.sessions import sessionize
from tally.web.sites import add_goal, add_site

HITS = Path(__file__).parents[1] / "fixtures" / "web" / "reporting_flow_hits.csv"
HONG_KONG = dt.timezone(dt.timedelta(hours=8))
COLUMNS = {
    # web.hits column: (CSV column, Arrow type)
    "visitor_id": ("visitor", pa.string()),
    "kind": ("kind", pa.string()),
    "url": ("url", pa.string()),
    "action_name": ("title", pa.string()),
    "link_url": ("link", pa.string()),
    "event_category": ("category", pa.string()),
    "event_action": ("action", pa.string()),
    "search_keyword": ("search", pa.string()),
    "referrer_type": ("referrer_type", pa.string()),
    "referrer_name": ("referrer_name", pa.string()),
    "urlref": ("urlref", pa.string()),
    "device_type": ("device", pa.string()),
    "device_brand": ("brand", pa.string()),
    "device_model": ("model", pa.string()),
    "os_name": ("os", pa.string()),
    "browser_name": ("browser", pa.string()),
    "country": ("country", pa.string()),
    "city": ("city", pa.string()),
    "latitude": ("latitude", pa.float64()),
    "longitude": ("longitude", pa.float64()),
    "local_hour": ("local_hour", pa.int32()),
    "custom_variables": ("cvars", pa.string()),
    "dimensions": ("dimensions", pa.string()),
}
NUMBERS = {pa.float64(): float, pa.int32(): int}


def hong_kong(day: str, clock: str) -> dt.datetime:
    """A Hong Kong wall-clock time as naive UTC, as web.hits stores it."""
    local = dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=HONG_KONG)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def timestamp(day: str, clock: str) -> int:
    """A Hong Kong wall-clock time as Unix seconds (Matomo's *Timestamp fields)."""
    return int(hong_kong(day, clock).replace(tzinfo=dt.UTC).timestamp())


def load_site(warehouse: Warehouse) -> None:
    """Create the site and its two goals, insert the fixture's hits, and sessionize them."""
    add_site(warehouse, "Flow", ["https://flow.example.com"], "Asia/Hong_Kong")
    add_goal(warehouse, 1, "Signup", "url", "contains", "/signup/done", revenue=10.0)
    add_goal(warehouse, 1, "Play", "event_action", "exact", "Play")
    with HITS.open(encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    columns: dict[str, list[object]] = {name: [] for name in COLUMNS}
    times = []
    for record in records:
        times.append(hong_kong(record["day"], record["time"]))
        for column, (source, kind) in COLUMNS.items():
            text = record[source] or None
            columns[column].append(NUMBERS[kind](text) if text and kind in NUMBERS else text)
    columns["referrer_type"] = [value or "direct" for value in columns["referrer_type"]]
    table = {
        **plain_hits("seg-0001", times),
        **{name: pa.array(values, COLUMNS[name][1]) for name, values in columns.items()},
    }
    warehouse.append("web.hits", pa.table(table))
    sessionize(warehouse)


# One loaded warehouse per backend for the whole test run: every reporting module only reads
# the site, and loading it (sessionize on two backends) costs seconds each time.
_LOADED: dict[str, Warehouse] = {}


def shared_site(backend: str, request: pytest.FixtureRequest) -> Warehouse:
    """The Flow site on ``backend``, loaded once per test run and dropped at its end."""
    if backend in _LOADED:
        return _LOADED[backend]
    if backend == "duckdb":
        folder: Path = request.getfixturevalue("tmp_path_factory").mktemp("reporting_flow")
        store = connect(f"duckdb:///{folder}/warehouse.duckdb")
        request.config.add_cleanup(store.close)
    else:
        database = _fresh_postgres_schema_url(service_url("postgres"))
        store = connect(next(database))
        request.config.add_cleanup(database.close)  # runs its finally: DROP DATABASE
        request.config.add_cleanup(store.close)
    store.migrate()
    load_site(store)
    _LOADED[backend] = store
    return store


def site_fixture(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    """Body of a module's ``site`` fixture: the shared site, one connection for the module."""
    store = shared_site(request.param, request)
    with store.session():
        yield store


def plain_hits(prefix: str, times: list[dt.datetime]) -> dict[str, pa.Array]:
    """The columns every fixture hit of site 1 shares: an id under ``prefix``, its time
    (also its arrival), a GET of no particular kind from no bot."""
    count = len(times)
    return {
        "hit_id": pa.array([f"{prefix}:{number:06d}" for number in range(count)]),
        "idsite": pa.array([1] * count, pa.int32()),
        "received_at": pa.array(times, pa.timestamp("us")),
        "hit_time": pa.array(times, pa.timestamp("us")),
        "new_visit": pa.array([False] * count),
        "is_bot": pa.array([False] * count),
        "transport": pa.array(["get"] * count),
        "raw_query": pa.array(["idsite=1&rec=1"] * count),
    }
