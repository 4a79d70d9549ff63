"""SubscriptionAttribution.getChannels / getCampaigns on the hand-worked attribution fixture
(tests/marts/test_attribution_marts.py explains every figure): November, site 1."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.marts.test_attribution_marts import build_attribution, load_visits
from tests.marts.test_revenue_marts import load_analytics_fixture

from tally.config import load_settings
from tally.errors import BadInputError
from tally.warehouse import Warehouse, connect
from tally.web.reporting.methods import Query, find
from tally.web.reporting.periods import Span
from tally.web.reporting.segments import Compiled

NOVEMBER = Span("month", dt.date(2026, 11, 1), dt.date(2026, 11, 30))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    folder: Path = tmp_path_factory.mktemp("attribution-api")
    warehouse = connect(f"duckdb:///{folder / 'warehouse.duckdb'}")
    warehouse.migrate()
    load_analytics_fixture(warehouse)
    load_visits(warehouse)
    settings = load_settings(environ={"TALLY_DATA_DIR": str(folder / "data")})
    build_attribution(warehouse, settings, folder / "lake")
    yield warehouse
    warehouse.close()


def call(warehouse: Warehouse, name: str, **params: str) -> list[dict]:
    report = find(name).function(Query(warehouse, 1, NOVEMBER, params=params))
    assert isinstance(report, list)
    return report


def test_campaigns_last_touch(built: Warehouse) -> None:
    """B: campaign autumn-drama -> trial -> paid -> upgrade -> churn: 7.80 USD, no MRR."""
    assert call(built, "SubscriptionAttribution.getCampaigns") == [
        {
            "label": "autumn-drama",
            "nb_subscriptions": 1,
            "nb_trials": 1,
            "nb_conversions": 1,
            "nb_trial_conversions": 1,
            "trial_conversion_rate": "100%",
            "revenue": 7.8,
            "mrr": 0,
            "ltv": 7.8,
            "ltv_paying": 7.8,
            "revenue_currency": "USD",
            "segment": "campaignName==autumn-drama",
        }
    ]


def test_channels_first_touch(built: Warehouse) -> None:
    """Site 1's visits: B's first touch is the Google search, A's the Facebook visit; the
    subscriptions with no visit have no site and are not in a site's report."""
    rows = call(built, "SubscriptionAttribution.getChannels", attributionModel="first_touch")
    found = {r["label"]: (r["nb_subscriptions"], r["revenue"], r["mrr"]) for r in rows}
    assert found == {"Search Engines": (1, 7.8, 0), "Social Networks": (1, 10, 10)}


def test_bad_model_and_segment_refused(built: Warehouse) -> None:
    with pytest.raises(BadInputError, match="attributionModel"):
        call(built, "SubscriptionAttribution.getChannels", attributionModel="linear")
    query = Query(built, 1, NOVEMBER, segment=Compiled("v.country = ?", ["hk"]))
    with pytest.raises(BadInputError, match="segment"):
        find("SubscriptionAttribution.getChannels").function(query)
