"""The hand-made site the reporting tests ask about (tests/fixtures/web/reporting_hits.csv).

Site 1, "Watch", Asia/Hong_Kong (UTC+8, no daylight saving). Times in the CSV are Hong Kong
wall-clock times. Sessionized with tally's own code, the hits make these visits:

2026-03-02 (Monday)
  V1  visitor A, direct, desktop, HK: / 09:00, /shows?genre=drama 09:02, /#top 09:05,
      outlink to www.imdb.com 09:06. 4 actions, 09:00-09:06 = 360 s.
  V2  visitor B, from the website news.example.org, smartphone, SG: /shows?genre=drama
      10:00, a ping 10:01. 1 action (a ping is not one): a bounce, 60 s.
  V3  visitor C (user u-42), Google search, smartphone, HK: / 11:00, /watch/1 11:03, event
      Video/Play value 12.5 11:10, download cdn.example.com/guide.pdf 11:20. 4 actions, 1200 s.
  V4  visitor A again (4 h later: a new visit), direct, desktop, HK:
      http://m.watch.example.com/watch/1 14:00. A bounce, 0 s.
2026-03-03 (Tuesday)
  V5  visitor D, campaign "spring", tablet, no country: / 09:00, /plans 09:05, event Video/Play
      without value 09:06. 3 actions, 360 s.
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
from tally.web.sites import add_site

HITS = Path(__file__).parents[1] / "fixtures" / "web" / "reporting_hits.csv"
HONG_KONG = dt.timezone(dt.timedelta(hours=8))
COLUMNS = {
    # web.hits column: (CSV column, Arrow type)
    "visitor_id": ("visitor", pa.string()),
    "user_id": ("user", pa.string()),
    "kind": ("kind", pa.string()),
    "url": ("url", pa.string()),
    "action_name": ("title", pa.string()),
    "link_url": ("link", pa.string()),
    "event_category": ("category", pa.string()),
    "event_action": ("action", pa.string()),
    "event_value": ("value", pa.float64()),
    "referrer_type": ("referrer_type", pa.string()),
    "referrer_name": ("referrer_name", pa.string()),
    "referrer_keyword": ("keyword", pa.string()),
    "campaign_name": ("campaign", pa.string()),
    "device_type": ("device", pa.string()),
    "country": ("country", pa.string()),
}


def hong_kong(day: str, clock: str) -> dt.datetime:
    """A Hong Kong wall-clock time as naive UTC, as web.hits stores it."""
    local = dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=HONG_KONG)
    return local.astimezone(dt.UTC).replace(tzinfo=None)


def load_site(warehouse: Warehouse) -> None:
    """Create the site, insert the fixture's hits, and sessionize them."""
    add_site(warehouse, "Watch", ["https://watch.example.com"], "Asia/Hong_Kong")
    with HITS.open(encoding="utf-8", newline="") as handle:
        records = list(csv.DictReader(handle))
    hits = []
    for record in records:
        hit: dict[str, object] = {"hit_time": hong_kong(record["day"], record["time"])}
        for column, (source, kind) in COLUMNS.items():
            text = record[source] or None
            hit[column] = float(text) if text and kind == pa.float64() else text
        hits.append(hit)
    insert_hits(warehouse, hits)
    sessionize(warehouse)


def insert_hits(warehouse: Warehouse, hits: list[dict[str, object]]) -> None:
    """web.hits rows as the loader writes them (the columns reports read; site 1 by default)."""
    defaults = {"idsite": 1, "kind": "pageview", "url": "https://watch.example.com/"}
    rows = [{**defaults, **hit} for hit in hits]
    table = {
        "hit_id": pa.array([f"seg-0001:{number:06d}" for number in range(len(rows))]),
        "idsite": pa.array([row["idsite"] for row in rows], pa.int32()),
        "received_at": pa.array([row["hit_time"] for row in rows], pa.timestamp("us")),
        "hit_time": pa.array([row["hit_time"] for row in rows], pa.timestamp("us")),
        "new_visit": pa.array([False] * len(rows)),
        "is_bot": pa.array([False] * len(rows)),
        "transport": pa.array(["get"] * len(rows)),
        "raw_query": pa.array(["idsite=1&rec=1"] * len(rows)),
    }
    for column, (_, kind) in COLUMNS.items():
        values = [row.get(column) for row in rows]
        if column == "referrer_type":
            values = [value or "direct" for value in values]
        table[column] = pa.array(values, kind)
    warehouse.append("web.hits", pa.table(table))


BACKENDS = ["duckdb", "postgres"]


def loaded_site(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    """A fresh warehouse on ``backend`` holding the fixture site (for a module fixture)."""
    if backend == "duckdb":
        folder: Path = tmp_path_factory.mktemp("reporting")
        store = connect(f"duckdb:///{folder}/warehouse.duckdb")
        store.migrate()
        load_site(store)
        yield store
        store.close()
        return
    for url in _fresh_postgres_schema_url(service_url("postgres")):
        store = connect(url)
        store.migrate()
        load_site(store)
        yield store
        store.close()
