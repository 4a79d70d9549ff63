"""The store-only facts (marts.store_fact_apple, marts.store_fact_google) on tiny store files.

Fixtures (tests/fixtures/marts/):
- store_apple_events.txt, Apple's SUBSCRIPTION_EVENT layout, each row loaded in the partition
  of its Event Date:
    30 Oct  Start Introductory Offer  Premium Monthly (1400028440)     HK  3 (iPhone) + 2 (iPad)
    30 Oct  Cancel                    Premium Monthly                  SG  1
     1 Nov  Start Introductory Offer  Premium Monthly                  HK  4
     1 Nov  Renew                     Premium HD Monthly (1400031337)  HK  7
     2 Nov  Start Introductory Offer  Premium Monthly                  HK  1
     2 Nov  Renew                     Premium HD Monthly               HK  2
- store_google_*.csv, Google's monthly statistics files as landed on three days
  (new, cancelled per date and country, product tally_video_monthly):
    landed 31 Oct (October file): 30 Oct HK 10, 2; 31 Oct HK 6, 0; 31 Oct SG 3, 1
    landed  1 Nov (October file rewritten): 31 Oct HK revised to 8, 1 (others unchanged)
    landed  2 Nov (November file): 1 Nov HK 5, 2; 2 Nov HK 4, 3; 2 Nov SG 0, 0
Weeks are ISO: 30 Oct (Fri), 31 Oct and 1 Nov (Sun) fall in the week of Monday 26 Oct;
2 Nov opens the next week. Months: 30 and 31 Oct in October; 1 and 2 Nov in November.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pytest

from tally.config import Settings
from tally.lake import Lake
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context
from tally.pipeline.incremental import build_day
from tally.sources.google_play import SubscriptionStatistics
from tally.sources.itunes import SubscriptionEvents
from tally.sources.viu_premium import STATUS_COLUMNS, TRANSACTION_COLUMNS, parse_csv
from tally.warehouse import Warehouse

from .conftest import (
    FIXTURES,
    STATUS_TABLE,
    SUBSCRIBER_MODELS,
    TRANSACTIONS_TABLE,
    load_rows,
    memory_warehouse,
)

D = dt.date
APPLE = "marts.store_fact_apple"
GOOGLE = "marts.store_fact_google"
STORE_MODELS = (
    "marts.itunes_daily_subscription_events",
    "staging.google_play_subscriptions",
    APPLE,
    GOOGLE,
)
GOOGLE_FILES = {
    D(2026, 10, 31): "store_google_202610_landed_2026-10-31.csv",
    D(2026, 11, 1): "store_google_202610_landed_2026-11-01.csv",
    D(2026, 11, 2): "store_google_202611_landed_2026-11-02.csv",
}


def load_apple(warehouse: Warehouse, days: set[dt.date] | None = None) -> None:
    """The Apple fixture's rows, each in its Event Date's partition (one file per day)."""
    path = FIXTURES / "store_apple_events.txt"
    parsed = SubscriptionEvents().parse(path.read_bytes(), path.name)
    assert not parsed.bad_rows, parsed.bad_rows
    dates = parsed.table.column("event_date").to_pylist()
    keep = [days is None or day in days for day in dates]
    rows = parsed.table.filter(pa.array(keep))
    load_rows(
        warehouse,
        SubscriptionEvents.staging_table,
        rows,
        [d for d in dates if days is None or d in days],
    )


def load_google(warehouse: Warehouse, days: set[dt.date] | None = None) -> None:
    """Google's statistics files, each in the partition of the day it landed."""
    for landed, name in GOOGLE_FILES.items():
        if days is not None and landed not in days:
            continue
        parsed = SubscriptionStatistics().parse((FIXTURES / name).read_bytes(), name)
        assert not parsed.bad_rows, parsed.bad_rows
        table = SubscriptionStatistics.staging_table
        load_rows(warehouse, table, parsed.table, [landed] * parsed.table.num_rows)


def models(*tables: str) -> list:
    return [m for m in discover_models() if m.table in tables]


def facts(warehouse: Warehouse, table: str) -> list[tuple]:
    rows = warehouse.rows(
        f"SELECT type, resolution_type, country, platform, start_date, meta_1, meta_2, meta_3, "
        f"value FROM {table} ORDER BY type, resolution_type, country, meta_3, meta_1, start_date"
    )
    return [(*row[:-1], float(row[-1])) for row in rows]


@pytest.fixture
def built(warehouse: Warehouse, settings: Settings, tmp_path: Path) -> Warehouse:
    load_apple(warehouse)
    load_google(warehouse)
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    outcome = build(context, models(*STORE_MODELS))
    assert outcome == dict.fromkeys(STORE_MODELS, "ok")
    return warehouse


def test_apple_events_by_day_week_and_month(built: Warehouse) -> None:
    monthly, renew = ("1400028440", "Premium Monthly"), ("1400031337", "Premium HD Monthly")
    start = "Start Introductory Offer"
    event = "store_apple_event"
    assert facts(built, APPLE) == [
        # daily: 30 Oct HK starts 3 (iPhone) + 2 (iPad) = 5 (Device is not a dimension)
        (event, "daily", "HK", "iOS IAP", D(2026, 11, 1), *renew, "Renew", 7.0),
        (event, "daily", "HK", "iOS IAP", D(2026, 11, 2), *renew, "Renew", 2.0),
        (event, "daily", "HK", "iOS IAP", D(2026, 10, 30), *monthly, start, 5.0),
        (event, "daily", "HK", "iOS IAP", D(2026, 11, 1), *monthly, start, 4.0),
        (event, "daily", "HK", "iOS IAP", D(2026, 11, 2), *monthly, start, 1.0),
        (event, "daily", "SG", "iOS IAP", D(2026, 10, 30), *monthly, "Cancel", 1.0),
        # monthly: Renew November 7 + 2 = 9; starts October 5, November 4 + 1 = 5
        (event, "monthly", "HK", "iOS IAP", D(2026, 11, 1), *renew, "Renew", 9.0),
        (event, "monthly", "HK", "iOS IAP", D(2026, 10, 1), *monthly, start, 5.0),
        (event, "monthly", "HK", "iOS IAP", D(2026, 11, 1), *monthly, start, 5.0),
        (event, "monthly", "SG", "iOS IAP", D(2026, 10, 1), *monthly, "Cancel", 1.0),
        # weekly: Renew week of 26 Oct 7 (1 Nov), week of 2 Nov 2; starts week of 26 Oct
        # 5 + 4 = 9 (across the month boundary), week of 2 Nov 1
        (event, "weekly", "HK", "iOS IAP", D(2026, 10, 26), *renew, "Renew", 7.0),
        (event, "weekly", "HK", "iOS IAP", D(2026, 11, 2), *renew, "Renew", 2.0),
        (event, "weekly", "HK", "iOS IAP", D(2026, 10, 26), *monthly, start, 9.0),
        (event, "weekly", "HK", "iOS IAP", D(2026, 11, 2), *monthly, start, 1.0),
        (event, "weekly", "SG", "iOS IAP", D(2026, 10, 26), *monthly, "Cancel", 1.0),
    ]


def test_google_new_and_cancelled_by_day_week_and_month(built: Warehouse) -> None:
    rows = {
        (r[0], r[1], r[2], r[4]): r[-1]
        for r in facts(built, GOOGLE)
        if r[3:4] == ("Android IAP",) and r[5:8] == ("tally_video_monthly", "com.tally.video", None)
    }
    assert len(rows) == len(facts(built, GOOGLE))  # every row: Android IAP, the one product
    new, cancelled = "store_google_new", "store_google_cancelled"
    assert rows == {
        # daily; 31 Oct HK is the revision landed on 1 Nov (8 new, 1 cancelled), not 6 and 0;
        # 2 Nov SG (0, 0) is left out
        (new, "daily", "HK", D(2026, 10, 30)): 10.0,
        (new, "daily", "HK", D(2026, 10, 31)): 8.0,
        (new, "daily", "HK", D(2026, 11, 1)): 5.0,
        (new, "daily", "HK", D(2026, 11, 2)): 4.0,
        (new, "daily", "SG", D(2026, 10, 31)): 3.0,
        (cancelled, "daily", "HK", D(2026, 10, 30)): 2.0,
        (cancelled, "daily", "HK", D(2026, 10, 31)): 1.0,
        (cancelled, "daily", "HK", D(2026, 11, 1)): 2.0,
        (cancelled, "daily", "HK", D(2026, 11, 2)): 3.0,
        (cancelled, "daily", "SG", D(2026, 10, 31)): 1.0,
        # weekly: week of 26 Oct = 30 Oct + 31 Oct + 1 Nov; week of 2 Nov = 2 Nov
        (new, "weekly", "HK", D(2026, 10, 26)): 10.0 + 8.0 + 5.0,
        (new, "weekly", "HK", D(2026, 11, 2)): 4.0,
        (new, "weekly", "SG", D(2026, 10, 26)): 3.0,
        (cancelled, "weekly", "HK", D(2026, 10, 26)): 2.0 + 1.0 + 2.0,
        (cancelled, "weekly", "HK", D(2026, 11, 2)): 3.0,
        (cancelled, "weekly", "SG", D(2026, 10, 26)): 1.0,
        # monthly: October = 30 + 31 Oct; November = 1 + 2 Nov
        (new, "monthly", "HK", D(2026, 10, 1)): 10.0 + 8.0,
        (new, "monthly", "HK", D(2026, 11, 1)): 5.0 + 4.0,
        (new, "monthly", "SG", D(2026, 10, 1)): 3.0,
        (cancelled, "monthly", "HK", D(2026, 10, 1)): 2.0 + 1.0,
        (cancelled, "monthly", "HK", D(2026, 11, 1)): 2.0 + 3.0,
        (cancelled, "monthly", "SG", D(2026, 10, 1)): 1.0,
    }
    # report_fact's columns, in its order, so consumers can UNION ALL the tables
    expected = ["type", "resolution_type", "country", "platform", "start_date"]
    expected += [f"meta_{n}" for n in range(1, 9)] + ["value"]
    for table in (APPLE, GOOGLE):
        assert built.query(f"SELECT * FROM {table} LIMIT 0").column_names == expected


def test_a_store_not_loaded_skips_only_its_facts(
    warehouse: Warehouse, settings: Settings, tmp_path: Path
) -> None:
    load_apple(warehouse)
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    outcome = build(context, models(*STORE_MODELS))
    assert outcome[APPLE] == "ok"
    assert outcome[GOOGLE].startswith("skipped: inputs not loaded yet")
    assert warehouse.rows(f"SELECT sum(value) FROM {APPLE} WHERE resolution_type = 'daily'") == [
        (5.0 + 1 + 4 + 7 + 1 + 2,)
    ]


def test_daily_build_equals_full_build(settings: Settings, tmp_path: Path) -> None:
    # the subscriber fixture up to 7 Nov and the store files up to 1 Nov, a full build; then
    # 8 Nov's exports and 2 Nov's store files, the daily (incremental) build: the store facts
    # must equal what a full build gives (DuckDB only: the daily build rebuilds the store
    # facts whole, the same SQL the full build runs, which the tests above check on both)
    warehouse = memory_warehouse()
    last, store_last = D(2026, 11, 8), D(2026, 11, 2)
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    chosen = models(*SUBSCRIBER_MODELS, *STORE_MODELS)
    with warehouse.session():
        _load_subscribers(warehouse, lambda day: day < last)
        early = {D(2026, 10, 30), D(2026, 10, 31), D(2026, 11, 1)}
        load_apple(warehouse, early)
        load_google(warehouse, early)
        build(context, chosen)
        _load_subscribers(warehouse, lambda day: day == last)
        load_apple(warehouse, {store_last})
        load_google(warehouse, {store_last})
        outcome = build_day(context, last, chosen=chosen)
        assert outcome["marts.subscriber_total"].startswith("incremental from")
        assert outcome[APPLE] == outcome[GOOGLE] == "ok"
        incremental = {table: facts(warehouse, table) for table in (APPLE, GOOGLE)}
        build(context, chosen)
        assert incremental == {table: facts(warehouse, table) for table in (APPLE, GOOGLE)}
        # and the daily build did see 2 Nov: HK's Renew that day (2) is there
        assert (
            "store_apple_event",
            "daily",
            "HK",
            "iOS IAP",
            store_last,
            "1400031337",
            "Premium HD Monthly",
            "Renew",
            2.0,
        ) in incremental[APPLE]


def _load_subscribers(warehouse: Warehouse, wanted: Callable[[dt.date], bool]) -> None:
    """The subscriber fixture's rows of the partition days ``wanted`` accepts."""
    for name, table in (("transactions.csv", TRANSACTIONS_TABLE), ("status.csv", STATUS_TABLE)):
        path = FIXTURES / name
        columns = STATUS_COLUMNS if table == STATUS_TABLE else TRANSACTION_COLUMNS
        rows = parse_csv(path.read_bytes(), path.name, columns).table
        with path.open(encoding="utf-8") as handle:
            days = [dt.date.fromisoformat(r["_partition_date"]) for r in csv.DictReader(handle)]
        keep = [wanted(day) for day in days]
        load_rows(warehouse, table, rows.filter(pa.array(keep)), [d for d in days if wanted(d)])
