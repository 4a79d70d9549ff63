"""Campaign to revenue: the analytics fixture's subscribers (tests/marts/test_revenue_marts.py)
with web visits (tests/fixtures/analytics/visits.csv), attributed by hand, on every backend.

Window: 30 days (the default), so visits from 3 Oct to the start day count for B (trial
started 2 Nov) and from 2 Oct for A (trial started 1 Nov). Times are UTC; days are the
site's (Hong Kong).

B's journey (UB; the story of a campaign visit that ends in a churn):
    v0 20 Sep  campaign old-promo, visitor b0b0..., no User ID     outside the window
    v1 28 Oct  search (Google), visitor b0b0..., no User ID        first touch
    v2  1 Nov  campaign autumn-drama, visitor b0b0..., no User ID  last touch (latest
                                                                   non-direct)
    v3  2 Nov  direct, visitor b0b0..., User ID UB: the sign-up; it links visitor b0b0...
               to UB, so v1 and v2 (anonymous) are UB's too ("visitor id")
    v4 10 Nov  campaign late-promo, User ID UB                     after the start: ignored
    then: trial 2 Nov, paid 9 Nov 24 HKD (3.00 USD), upgraded 15 Nov 36 HKD (4.80 USD at
    7.5), churned 22 Nov. So under both models: 1 subscription, 1 trial, 1 paid, 1 trial
    conversion, revenue 60 HKD = 7.80 USD, realised LTV 7.80 USD, MRR now 0.
A (UA): v5 30 Oct social (Facebook) with User ID UA: first and last touch; trial 1 Nov,
    paid 8 Nov 80 HKD = 10 USD, MRR on 30 Nov 10 USD.
v6 (another visitor, the same campaign, no User ID, never linked) brings nobody.
C, SD1, SD2, E and G have no visit: '(no linked visit)'. F began before the first loaded
day: not a new subscription here.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from tally.config import Settings
from tally.lake import Lake
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context
from tally.pipeline.incremental import build_day
from tally.warehouse import Warehouse

from .conftest import STATUS_TABLE, SUBSCRIBER_MODELS, TRANSACTIONS_TABLE, load_fixture_csv
from .test_revenue_marts import FIXTURES, MODELS, build_analytics, load_analytics_fixture

D = dt.date
ATTRIBUTION_MODELS = (
    *MODELS,
    "marts.subscription_revenue",
    "marts.subscription_attribution",
    "marts.attribution_channel",
    "marts.cohort_members",
    "marts.cohort_retention",
)


def load_visits(warehouse: Warehouse, path: Path = FIXTURES / "visits.csv") -> None:
    """The fixture's visits as web.visits rows (the sessionizer's output), other columns
    at neutral values."""
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            started = dt.datetime.fromisoformat(row["started_at"])
            warehouse.execute(
                "INSERT INTO web.visits (idvisit, idsite, local_date, visitor_key, visitor_id, "
                "user_id, first_hit_id, started_at, ended_at, duration_seconds, actions, "
                "pageviews, outlinks, downloads, events, searches, referrer_type, "
                "referrer_name, campaign_name, conversions, revenue) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 60, 2, 2, 0, 0, 0, 0, ?, ?, ?, 0, 0)",
                [
                    row["idvisit"],
                    int(row["idsite"]),
                    dt.date.fromisoformat(row["local_date"]),
                    row["visitor_id"],
                    row["visitor_id"] or None,
                    row["user_id"] or None,
                    f"hit-{row['idvisit']}",
                    started,
                    started + dt.timedelta(minutes=1),
                    row["referrer_type"],
                    row["referrer_name"] or None,
                    row["campaign_name"] or None,
                ],
            )


def build_attribution(warehouse: Warehouse, settings: Settings, lake: Path) -> None:
    """The attribution marts and what they read (other test modules build them this way)."""
    build_analytics(warehouse, settings, lake, ATTRIBUTION_MODELS)


@pytest.fixture(scope="module")
def marts(
    module_warehouse: Warehouse, module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    load_analytics_fixture(module_warehouse)
    load_visits(module_warehouse)
    build_attribution(module_warehouse, module_settings, tmp_path_factory.mktemp("lake"))
    with module_warehouse.session():
        yield module_warehouse


def touches(warehouse: Warehouse, subscription: str) -> dict[str, tuple]:
    """model -> (channel, campaign, source, touch day, touch visit, linked by, touches):
    subscription_attribution's one row of the subscription, a model's columns each."""
    columns = ("channel", "campaign", "source", "touch_day", "touch_visit", "linked_by")
    found = {}
    for model, prefix in (("First touch", "first"), ("Last touch", "last")):
        named = ", ".join(f"{prefix}_{column}" for column in columns)
        rows = warehouse.rows(
            f"SELECT {named}, touches FROM marts.subscription_attribution "
            "WHERE subscription_id = ?",
            [subscription],
        )
        if rows:  # one row per subscription, both models in it
            found[model] = tuple(rows[0])
    return found


def test_first_and_last_touch_of_the_campaign_journey(marts: Warehouse) -> None:
    found = touches(marts, "SB")
    assert found["First touch"] == (
        "Search Engines",
        None,
        "Google",
        D(2026, 10, 28),
        "v1",
        "visitor id",
        3,
    )
    assert found["Last touch"] == (
        "Campaigns",
        "autumn-drama",
        "yahoo",
        D(2026, 11, 1),
        "v2",
        "visitor id",
        3,
    )


def test_user_id_link_and_no_link(marts: Warehouse) -> None:
    found = touches(marts, "SA")
    social = ("Social Networks", None, "Facebook", D(2026, 10, 30), "v5", "user id", 1)
    assert found == {"First touch": social, "Last touch": social}
    assert touches(marts, "SC")["Last touch"][0] == "(no linked visit)"
    assert touches(marts, "SF") == {}  # began before the first loaded day


def channel_rows(warehouse: Warehouse, model: str, channel: str) -> tuple:
    found = warehouse.rows(
        "SELECT sum(subscriptions), sum(trials), sum(paid), sum(trial_conversions), "
        "sum(revenue_reporting), sum(mrr_reporting) FROM marts.attribution_channel "
        "WHERE model = ? AND channel = ?",
        [model, channel],
    )
    return tuple(float(v) if v is not None else None for v in found[0])


def test_campaign_to_revenue(marts: Warehouse) -> None:
    """B under the last touch: 1 subscription, 1 trial, 1 paid, 1 conversion, 7.80 USD
    (24 HKD at 8 + 36 HKD at 7.5, the upgrade included), no MRR left after the churn."""
    assert channel_rows(marts, "Last touch", "Campaigns") == (1, 1, 1, 1, 7.8, 0.0)
    assert channel_rows(marts, "First touch", "Search Engines") == (1, 1, 1, 1, 7.8, 0.0)
    assert channel_rows(marts, "First touch", "Campaigns") == (None,) * 6
    own = marts.rows(
        "SELECT campaign, currency, revenue FROM marts.attribution_channel "
        "WHERE model = 'Last touch' AND channel = 'Campaigns'"
    )
    assert [tuple(r) for r in own] == [("autumn-drama", "HKD", 60.0)]
    # A: paid 80 HKD = 10 USD and still pays 10 USD a month
    assert channel_rows(marts, "Last touch", "Social Networks") == (1, 1, 1, 1, 10.0, 10.0)


def test_unlinked_subscriptions(marts: Warehouse) -> None:
    """C, SD1, SD2, E, G: 5, none a trial, all paid; E's EUR has no USD figure, so the
    channel's USD revenue is left empty rather than summed without it."""
    found = channel_rows(marts, "Last touch", "(no linked visit)")
    assert found[:4] == (5, 0, 5, 0)
    by_currency = {
        r[0]: r[1:]
        for r in marts.rows(
            "SELECT currency, sum(subscriptions), sum(revenue), sum(revenue_reporting) "
            "FROM marts.attribution_channel WHERE model = 'Last touch' "
            "AND channel = '(no linked visit)' GROUP BY 1"
        )
    }
    # C 150 - 150 = 0 and G 10 SGD (8 USD); SD1 24 + SD2 80 HKD (3 + 10.67 USD); E 10 EUR
    assert by_currency["SGD"] == (2, 10.0, 8.0)
    assert by_currency["HKD"] == (2, 104.0, 13.67)
    assert by_currency["EUR"] == (1, 10.0, None)


def test_cohorts_by_acquisition_channel(marts: Warehouse) -> None:
    """cohort_retention's acquisition channel is the first touch's channel, 'unattributed'
    without a linked visit. November's monthly cohort: B (first touch Search Engines, first
    paid 9 Nov), A (Social Networks, 8 Nov) and five unattributed (C, SD1, SD2, E, G1; F
    began before the first loaded day: no cohort).
    B's weekly cohort (week of 9 Nov): 24 HKD a week is 24 * 52 / 12 = 104 HKD MRR (13 USD
    at 8.0 on 9 Nov); the anniversary of 16 Nov falls in the upgraded period (36 HKD a
    week: 156 HKD, 20.80 USD at 7.5 on 15 Nov); 23 and 30 Nov come after the churn of
    22 Nov: 0 of 1. A's (week of 2 Nov): 8, 15, 22 and 29 Nov all inside the month paid on
    8 Nov, 80 HKD = 10 USD each."""
    sizes = marts.rows(
        "SELECT acquisition_channel, sum(cohort_size) FROM marts.cohort_retention "
        "WHERE cohort_resolution = 'monthly' AND age = 0 GROUP BY 1 ORDER BY 1"
    )
    assert [(c, int(n)) for c, n in sizes] == [
        ("Search Engines", 1),
        ("Social Networks", 1),
        ("unattributed", 5),
    ]
    weekly = marts.rows(
        "SELECT acquisition_channel, cohort_start, age, eligible, retained, mrr_retained, "
        "mrr_retained_reporting FROM marts.cohort_retention WHERE cohort_resolution = "
        "'weekly' AND acquisition_channel <> 'unattributed' ORDER BY 1, 2, 3"
    )
    search, social = "Search Engines", "Social Networks"
    assert [(r[0], r[1], r[2], r[3], r[4], r[5], r[6]) for r in weekly] == [
        (search, D(2026, 11, 9), 0, 1, 1, 104.0, 13.0),
        (search, D(2026, 11, 9), 1, 1, 1, 156.0, 20.8),
        (search, D(2026, 11, 9), 2, 1, 0, 0.0, 0.0),
        (search, D(2026, 11, 9), 3, 1, 0, 0.0, 0.0),
        *[(social, D(2026, 11, 2), age, 1, 1, 80.0, 10.0) for age in range(4)],
    ]


def _arrived(path: Path, column: str, after: dt.date, until: dt.date, folder: Path) -> Path:
    """A copy of a fixture CSV with the rows whose ``column`` day is after ``after`` and on
    or before ``until`` (what arrived between two builds)."""
    with path.open(encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        kept = [r for r in reader if after < dt.date.fromisoformat(r[column][:10]) <= until]
        fields = reader.fieldnames or []
    copy = folder / f"{path.stem}-{until}.csv"
    with copy.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fields)
        writer.writeheader()
        writer.writerows(kept)
    return copy


# the days a daily build runs on (after a full build on 1 Nov): B's start and the sign-up
# visit that links its earlier anonymous visits (2 Nov), the first payments, B's upgrade
# and churn, the month's end
DAILY_DAYS = (
    D(2026, 11, 2),
    D(2026, 11, 3),
    D(2026, 11, 9),
    D(2026, 11, 15),
    D(2026, 11, 22),
    D(2026, 11, 30),
)
# with every subscriber mart: the daily build's fast path for the periods reads some
COMPARED = tuple(
    dict.fromkeys(
        (
            *SUBSCRIBER_MODELS,
            *ATTRIBUTION_MODELS,
            "marts.cohort_ltv",
            "marts.trial_periods",
            "marts.trial_cohorts",
        )
    )
)


def test_daily_builds_with_visits_equal_the_full_build(
    warehouse: Warehouse, settings: Settings, tmp_path: Path
) -> None:
    """The fixture's exports and visits arriving day by day (each day's partitions, and the
    visits of that day, sessionized by then), built by the daily build from 2 Nov on, give
    the full build's attribution and cohort marts. On 2 Nov the daily build attributes B
    through the visitor its sign-up visit links (v1, v2: anonymous, loaded days before),
    from its user's visits alone (subscription_attribution is rebuilt by user)."""
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    models = [m for m in discover_models() if m.table in COMPARED]
    with warehouse.session():
        load_analytics_fixture(warehouse)  # for its exchange rates: the exports arrive below
        for table in (TRANSACTIONS_TABLE, STATUS_TABLE):
            warehouse.execute(f"DELETE FROM {table}")
        loaded = D(2026, 9, 1)
        for day in (D(2026, 11, 1), *DAILY_DAYS):
            for name, table in (("transactions", TRANSACTIONS_TABLE), ("status", STATUS_TABLE)):
                rows = _arrived(FIXTURES / f"{name}.csv", "_partition_date", loaded, day, tmp_path)
                load_fixture_csv(warehouse, rows, table)
            load_visits(
                warehouse, _arrived(FIXTURES / "visits.csv", "local_date", loaded, day, tmp_path)
            )
            if loaded == D(2026, 9, 1):
                build(context, models)
            else:
                outcome = build_day(context, day, chosen=models)
                # (Spark replaces tables whole, never row by row: its daily build is the
                # full one, and only the rows are compared below)
                if warehouse.capabilities.rewrites_rows:
                    assert outcome["marts.subscription_attribution"].startswith("incremental")
                    assert outcome["marts.cohort_retention"].startswith("incremental")
            loaded = day
        daily = {t: sorted(warehouse.rows(f"SELECT * FROM {t}"), key=repr) for t in COMPARED}
        build(context, models)
        for table in COMPARED:
            full = sorted(warehouse.rows(f"SELECT * FROM {table}"), key=repr)
            assert daily[table] == full, table
        # B attributed to its first touch (v1, search) by the daily build of 2 Nov
        first = warehouse.rows(
            "SELECT first_channel, first_touch_visit, first_linked_by "
            "FROM marts.subscription_attribution WHERE subscription_id = 'SB'"
        )
        assert first == [("Search Engines", "v1", "visitor id")]
