"""App Store Connect Subscription report: fetched with the shared Apple client from a local
server, Apple's old and new headers, bad rows, demo data that agrees with the world, and
the pipeline into staging."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import SecretStr
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tally.config import Settings
from tally.errors import BadInputError, NotReadyError, RateLimitedError
from tally.lake import Lake
from tally.pipeline.build import build, read_model
from tally.pipeline.context import Context
from tally.pipeline.ingest import ingest, land
from tally.pipeline.load import load
from tally.sources import get_dataset
from tally.sources.demo import DemoWorld
from tally.sources.itunes_subscription import report_date
from tally.sources.settings import ItunesSettings
from tally.sources.viu_premium import status_row

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources" / "itunes"
DAY = dt.date(2016, 10, 23)
NAME = "Subscription_85082573_20161023.txt.gz"
MODELS = Path(__file__).parents[2] / "src" / "tally" / "models" / "staging"
dataset = get_dataset("itunes", "active-subscription")


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def apple(httpserver: HTTPServer, settings: Settings) -> tuple[Settings, list[dict]]:
    """Settings for a local App Store Connect that checks the token and answers the report."""
    private = ec.generate_private_key(ec.SECP256R1())
    settings.section(ItunesSettings).api_url = httpserver.url_for("").rstrip("/")
    settings.section(ItunesSettings).issuer_id = "57246542-96fe-1a63-e053-0824d011072a"
    settings.section(ItunesSettings).key_id = "2X9R4HXF34"
    settings.section(ItunesSettings).private_key = SecretStr(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
    )
    seen: list[dict] = []

    def report(request: Request) -> Response:
        token = request.headers["Authorization"].removeprefix("Bearer ")
        jwt.decode(token, private.public_key(), algorithms=["ES256"], audience="appstoreconnect-v1")
        seen.append(dict(request.args))
        if request.args["filter[reportDate]"] != DAY.isoformat():
            body = {
                "errors": [
                    {
                        "status": "404",
                        "code": "NOT_FOUND",
                        "detail": "There were no sales for the date specified.",
                    }
                ]
            }
            return Response(json.dumps(body), status=404, content_type="application/json")
        data = gzip.compress(fixture("Subscription_85082573_20161023.txt"))
        return Response(data, content_type="application/a-gzip")

    httpserver.expect_request("/v1/salesReports").respond_with_handler(report)
    return settings, seen


def test_fetch_asks_for_the_daily_subscription_report(apple) -> None:
    settings, seen = apple
    files = dataset.fetch(DAY, settings)
    assert list(files) == [NAME]
    assert gzip.decompress(files[NAME]) == fixture("Subscription_85082573_20161023.txt")
    assert seen[0]["filter[reportType]"] == "SUBSCRIPTION"
    assert seen[0]["filter[frequency]"] == "DAILY"
    assert seen[0]["filter[reportSubType]"] == "SUMMARY"


def test_a_day_apple_has_not_published_is_not_ready(apple) -> None:
    settings, _ = apple
    with pytest.raises(NotReadyError, match="no sales for the date"):
        dataset.fetch(DAY + dt.timedelta(days=1), settings)


def test_rate_limit_is_transient(httpserver: HTTPServer, apple, monkeypatch) -> None:
    import functools

    from tally.sources.http import HttpClient

    settings, _ = apple
    waits: list[float] = []
    monkeypatch.setattr(
        "tally.sources.itunes.HttpClient", functools.partial(HttpClient, sleep=waits.append)
    )
    httpserver.clear_all_handlers()
    httpserver.expect_request("/v1/salesReports").respond_with_json(
        {"errors": [{"code": "RATE_LIMIT_EXCEEDED", "detail": "too many"}]},
        status=429,
        headers={"Retry-After": "30"},
    )
    with pytest.raises(RateLimitedError) as raised:
        dataset.fetch(DAY, settings)
    assert raised.value.retry_after == 30.0
    assert waits == [30.0] * 4  # retried as Apple's Retry-After asks, then given up


def test_parse_reads_counts_typed_with_the_report_date() -> None:
    parsed = dataset.parse(gzip.compress(fixture("Subscription_85082573_20161023.txt")), NAME)
    assert not parsed.bad_rows and parsed.rows_read == 3
    rows = parsed.table.to_pylist()
    assert {r["report_date"] for r in rows} == {DAY}
    assert [r["active_standard_price_subscriptions"] for r in rows] == [1200, 310, 97]
    assert [r["active_free_trial_introductory_offer_subscriptions"] for r in rows] == [85, 22, 0]
    assert [r["billing_retry"] for r in rows] == [14, 4, 2]
    assert rows[2]["subscription_offer_name"] == "Winter Promo"
    assert rows[1]["customer_price"] == pytest.approx(11.98)
    assert rows[0]["subscription_apple_id"] == 1400012345
    assert [r["_line"] for r in rows] == [2, 3, 4]


def test_older_header_spellings_land_in_the_same_columns() -> None:
    parsed = dataset.parse(fixture("Subscription_85082573_20161023_old.txt"), NAME)
    assert not parsed.bad_rows and not parsed.unknown_columns
    rows = parsed.table.to_pylist()
    # "Introductory Price" and "Pay as You Go" (old case) read into the new names
    assert [r["active_free_trial_introductory_offer_subscriptions"] for r in rows] == [85, 22]
    assert "subscribers" not in parsed.table.column_names  # 1_3 added it


def test_bad_rows_name_line_and_field() -> None:
    parsed = dataset.parse(fixture("Subscription_bad_20161023.txt"), NAME)
    # line 2: count "1,2OO"; line 4: 10 fields of 32; line 5: price "eighty"
    assert [(b.line, b.field) for b in parsed.bad_rows] == [
        (2, "Active Standard Price Subscriptions"),
        (4, None),
        (5, "Customer Price"),
    ]
    assert parsed.table.column("_line").to_pylist() == [3]


def test_missing_required_column_fails_the_file() -> None:
    with pytest.raises(BadInputError, match="'Active Standard Price Subscriptions' is missing"):
        dataset.parse(fixture("Subscription_missing_column.txt"), NAME)


def test_file_name_without_a_date_is_refused() -> None:
    with pytest.raises(BadInputError, match="Subscription_<vendor>_YYYYMMDD"):
        report_date("report.txt")


def test_sample_agrees_with_the_premium_status_export() -> None:
    """Apple's counts for the demo are the subscription system's statuses, seen from Apple."""
    world = DemoWorld(seed=5, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 20), scale=0.3)
    ios = [s for s in world.subscriptions if s.plan.platform == "iOS IAP"]
    for day in (dt.date(2026, 10, d) for d in range(1, 21)):
        ((name, data),) = dataset.sample(day, world).items()
        parsed = dataset.parse(data, name)
        assert not parsed.bad_rows and parsed.table.num_rows > 0
        table = parsed.table
        statuses = [r for r in (status_row(s, day) for s in ios) if r]
        trial = sum(
            1 for r in statuses if r["status"] == "active" and r["payment_status"] == "free_trial"
        )
        paying = sum(
            1 for r in statuses if r["status"] == "active" and r["payment_status"] == "paying"
        )
        grace = sum(1 for r in statuses if r["status"] == "grace_period")
        retry = sum(1 for r in statuses if r["status"] == "billing_retry")

        columns = (
            "active_free_trial_introductory_offer_subscriptions",
            "active_standard_price_subscriptions",
            "grace_period",
            "billing_retry",
            "subscribers",
        )
        total = {column: sum(table.column(column).to_pylist()) for column in columns}
        assert total["active_free_trial_introductory_offer_subscriptions"] == trial
        assert total["active_standard_price_subscriptions"] == paying
        assert total["grace_period"] == grace and total["billing_retry"] == retry
        assert total["subscribers"] == trial + paying + grace


def test_fetch_land_and_load_into_staging(apple, duckdb_warehouse) -> None:
    settings, _ = apple
    context = Context(settings, duckdb_warehouse, Lake(settings.lake_url))
    ingest(context, dataset, DAY)
    assert context.lake.exists(f"thirdparty/external/itunes/active-subscription/2016/10/23/{NAME}")
    load(context, dataset, DAY)
    rows = duckdb_warehouse.rows(
        "SELECT count(*), sum(active_standard_price_subscriptions), min(report_date) "
        "FROM staging.itunes_active_subscriptions WHERE _partition_date = ?",
        [DAY],
    )
    assert rows == [(3, 1200 + 310 + 97, DAY)]


def test_check_says_the_key_is_accepted(apple) -> None:
    settings, seen = apple
    # the fixture server answers 404 for any day but DAY: the key was still accepted
    assert "accepted the key; no Subscription report" in dataset.check(settings)
    assert seen[0]["filter[reportType]"] == "SUBSCRIPTION"


def test_the_subscription_report_version_can_differ_from_the_events(apple) -> None:
    settings, seen = apple
    settings.configure("sources.itunes", {"subscription_report_version": "1_3"})
    dataset.fetch(DAY, settings)
    assert (
        seen[0]["filter[version]"] == "1_3"
        and settings.section(ItunesSettings).report_version == "1_4"
    )


def test_active_subscriptions_are_named_with_the_plan_map(settings, warehouse) -> None:
    context = Context(settings, warehouse, Lake(settings.lake_url))
    world = DemoWorld(seed=2, start=DAY, end=DAY, scale=0.2)
    plan_map = get_dataset("google-drive", "iap-plan-map")
    for source in (plan_map, dataset):
        land(context, source, DAY, source.sample(DAY, world))
        load(context, source, DAY)
    models = [
        read_model(MODELS / f"{name}.sql", "staging")
        for name in ("iap_plan_map", "itunes_active_subscription_plans")
    ]
    assert set(build(context, models).values()) == {"ok"}
    rows = warehouse.rows(
        "SELECT DISTINCT subscription_name, product_id, plan_code "
        "FROM staging.itunes_active_subscription_plans ORDER BY 1"
    )
    # Apple names subscriptions by Apple ID only; the map's Apple ID column finds the plan
    assert rows == [
        ("Premium HD Monthly", "com.tally.video.monthly.hd", "PREMIUM_HD_M"),
        ("Premium Monthly", "com.tally.video.monthly", "PREMIUM_M"),
    ]
