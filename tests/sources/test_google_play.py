"""Google Play through the Cloud Storage JSON API of a local server, with a real
service-account token flow; the reports' real encodings; the pipeline into staging."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from tests.sources.google_service import ACCESS_TOKEN, google_key

from tally.config import Settings
from tally.errors import BadInputError, ConfigError, NotReadyError
from tally.lake import Lake
from tally.pipeline.build import build, read_model
from tally.pipeline.context import Context
from tally.pipeline.ingest import ingest, land
from tally.pipeline.load import load
from tally.sources import get_dataset
from tally.sources.demo import DemoWorld
from tally.sources.google_play import CloudStorage, order_number, slice_sales
from tally.sources.settings import GooglePlaySettings
from tally.sources.viu_premium import status_row, subscription_transactions

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources" / "google-play"
BUCKET = "pubsite_prod_rev_01234567890987654321"
STATISTICS = "subscriptions_com.tally.video_201610_country.csv"
MODELS = Path(__file__).parents[2] / "src" / "tally" / "models" / "staging"
DAY = dt.date(2016, 10, 23)

statistics = get_dataset("google-play", "subscription-statistics")
sales = get_dataset("google-play", "subscription-sales")


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def month_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr("salesreport_201610.csv", fixture("salesreport_201610.csv"))
    return buffer.getvalue()


@pytest.fixture
def play(httpserver: HTTPServer, settings: Settings, tmp_path: Path) -> tuple[Settings, list]:
    """Settings pointing at the local server, holding the month's two reports."""
    key, claims = google_key(httpserver, tmp_path)
    settings.configure(
        "sources.google-play",
        {
            "bucket": BUCKET,
            "packages": ["com.tally.video"],
            "credentials_file": str(key),
            "storage_url": httpserver.url_for("").rstrip("/"),
        },
    )
    objects = {
        f"financial-stats/subscriptions/{STATISTICS}": fixture(STATISTICS),
        "sales/salesreport_201610.zip": month_zip(),
    }
    # the client sends the object name %2F-encoded, as the JSON API wants; the server decodes it
    for name, data in objects.items():
        httpserver.expect_request(
            f"/storage/v1/b/{BUCKET}/o/{name}",
            query_string={"alt": "media"},
            headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        ).respond_with_data(data, content_type="application/octet-stream")
    return settings, claims


def test_fetch_statistics_with_a_service_account_token(play) -> None:
    settings, claims = play
    files = statistics.fetch(DAY, settings)
    assert files == {STATISTICS: fixture(STATISTICS)}  # landed as Google wrote it (UTF-16)
    assert claims[0]["scope"] == "https://www.googleapis.com/auth/devstorage.read_only"
    assert claims[0]["iss"] == "tally-reader@tally-test.iam.gserviceaccount.com"


def test_fetch_sales_keeps_only_the_day(play) -> None:
    settings, _ = play
    files = sales.fetch(DAY, settings)
    parsed = sales.parse(files["sales_20161023.csv"], "sales_20161023.csv")
    # the fixture's month has 5 orders: one on the 22nd, three on the 23rd, one on the 24th
    assert parsed.table.column("order_number").to_pylist() == [
        "GPA.3312-0001-0007-00002..0",
        "GPA.3312-0001-0007-00003",
        "GPA.3312-0001-0007-00004..2",
    ]
    assert parsed.table.column("charged_amount").to_pylist() == [68.0, 1288.0, -11.98]


def test_a_month_that_does_not_reach_the_day_is_not_ready() -> None:
    with pytest.raises(NotReadyError, match="no sales for 2016-10-25 yet .latest: 2016-10-24"):
        slice_sales(month_zip(), dt.date(2016, 10, 25), "salesreport_201610.zip")


def test_missing_object_is_not_ready(play, httpserver: HTTPServer) -> None:
    settings, _ = play
    httpserver.expect_request(
        f"/storage/v1/b/{BUCKET}/o/financial-stats/subscriptions/"
        "subscriptions_com.tally.video_201611_country.csv",
    ).respond_with_json({"error": {"code": 404, "message": "No such object"}}, status=404)
    with pytest.raises(NotReadyError, match="404 .not available yet.: No such object"):
        statistics.fetch(dt.date(2016, 11, 1), settings)  # November's file is not there


def test_refused_token_says_which_account(
    httpserver: HTTPServer, tmp_path: Path, settings: Settings
) -> None:
    key, _ = google_key(httpserver, tmp_path)
    httpserver.clear_all_handlers()
    httpserver.expect_request("/token", method="POST").respond_with_json(
        {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, status=400
    )
    storage = CloudStorage(
        {"bucket": BUCKET, "credentials_file": str(key), "storage_url": httpserver.url_for("")}
    )
    with pytest.raises(ConfigError, match="tally-reader@tally-test.iam.gserviceaccount.com"):
        storage.download("sales/salesreport_201610.zip")


def test_bucket_without_access_is_a_config_error(httpserver: HTTPServer) -> None:
    httpserver.expect_request(f"/storage/v1/b/{BUCKET}/o/x").respond_with_json(
        {"error": {"code": 403, "message": "reader does not have storage.objects.get access"}},
        status=403,
    )
    storage = CloudStorage({"bucket": BUCKET, "storage_url": httpserver.url_for("")})
    with pytest.raises(ConfigError, match="storage.objects.get access"):
        storage.download("x")


def test_rate_limit_is_retried_after_the_servers_wait(httpserver: HTTPServer) -> None:
    path = f"/storage/v1/b/{BUCKET}/o/x"
    httpserver.expect_ordered_request(path).respond_with_data(
        "", status=429, headers={"Retry-After": "3"}
    )
    httpserver.expect_ordered_request(path).respond_with_data(b"report")
    sleeps: list[float] = []
    storage = CloudStorage(
        {"bucket": BUCKET, "storage_url": httpserver.url_for("")}, sleep=sleeps.append
    )
    assert storage.download("x") == b"report" and sleeps == [3.0]


def test_emulator_host_needs_no_credentials(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", f"localhost:{httpserver.port}")
    httpserver.expect_request(f"/storage/v1/b/{BUCKET}/o/a/b.csv").respond_with_data(b"x")
    assert CloudStorage({"bucket": BUCKET}).download("a/b.csv") == b"x"


def test_no_credentials_outside_an_emulator_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    with pytest.raises(ConfigError, match="credentials_file"):
        CloudStorage({"bucket": BUCKET})


def test_utf16_and_utf8_statistics_read_the_same() -> None:
    utf16 = statistics.parse(fixture(STATISTICS), STATISTICS)
    utf8 = statistics.parse(fixture(STATISTICS.replace(".csv", ".utf8.csv")), STATISTICS)
    assert utf16.table.equals(utf8.table)
    assert utf16.table.num_rows == 4 and not utf16.bad_rows
    first = utf16.table.slice(0, 1).to_pylist()[0]
    assert first["date"] == dt.date(2016, 10, 22) and first["active_subscriptions"] == 1040
    assert first["_line"] == 2


def test_missing_column_fails_the_file_naming_it() -> None:
    with pytest.raises(BadInputError, match="'Active Subscriptions' is missing"):
        statistics.parse(fixture("subscriptions_missing_column.csv"), "s.csv")


def test_bad_utf16_names_the_line() -> None:
    with pytest.raises(BadInputError, match=r"s.csv, line 3: not valid UTF-16-LE"):
        statistics.parse(fixture("subscriptions_bad_encoding.csv"), "s.csv")


def test_bad_sales_rows_are_reported_and_good_rows_kept() -> None:
    parsed = sales.parse(fixture("sales_20161023_bad.csv"), "sales_20161023.csv")
    assert parsed.table.column("_line").to_pylist() == [2]
    problems = {(b.line, b.field) for b in parsed.bad_rows}
    # line 3 writes the amount with letter O's, line 4 has month 13, line 5 lacks 2 fields
    assert problems == {(3, "Charged Amount"), (4, "Order Charged Date"), (5, None)}
    assert parsed.rows_read == 4
    # the older format without Base Plan ID / Offer ID is accepted
    assert "base_plan_id" not in parsed.table.column_names


def test_order_numbers_follow_googles_renewal_suffix() -> None:
    assert order_number("S00000123", 0) == "GPA.3323-0001-0861-00123"
    assert order_number("S00000123", 3) == "GPA.3323-0001-0861-00123..2"


@pytest.fixture(scope="module")
def world() -> DemoWorld:
    return DemoWorld(seed=3, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 20), scale=0.3)


def test_samples_parse_back_cleanly_and_agree_with_the_premium_export(world: DemoWorld) -> None:
    """Google's figures for the demo are the subscription system's own, seen from Google."""
    android = [s for s in world.subscriptions if s.plan.channel == "Google Play"]
    for day in (dt.date(2026, 10, d) for d in range(1, 21)):
        ((name, data),) = statistics.sample(day, world).items()
        assert data[:2] == b"\xff\xfe"  # UTF-16LE with BOM, as Google writes it
        parsed = statistics.parse(data, name)
        assert not parsed.bad_rows and parsed.table.num_rows == day.day * 2  # days x HK, SG
        rows = {(r["date"], r["country"]): r for r in parsed.table.to_pylist()}
        statuses = [status_row(s, day) for s in android if s.country == "HK"]
        with_access = sum(1 for r in statuses if r and r["status"] in ("active", "grace_period"))
        assert rows[(day, "HK")]["active_subscriptions"] == with_access
        ((name, data),) = sales.sample(day, world).items()
        parsed = sales.parse(data, name)
        assert not parsed.bad_rows
        billed = [
            t
            for s in android
            for t in subscription_transactions(s)
            if t["transaction_time"].date() == day
        ]
        statuses = parsed.table.column("financial_status").to_pylist()
        assert statuses.count("Charged") == sum(
            1 for t in billed if t["type"] in ("purchase", "renewal")
        )
        assert statuses.count("Refund") == sum(1 for t in billed if t["type"] == "refund")
        assert sum(parsed.table.column("charged_amount").to_pylist()) == pytest.approx(
            sum(t["amount"] for t in billed)
        )


def test_fetch_land_load_and_keep_the_latest_figures(play, warehouse) -> None:
    settings, _ = play
    context = Context(settings, warehouse, Lake(settings.lake_url))
    ingest(context, statistics, DAY)
    ingest(context, sales, DAY)
    key = f"thirdparty/external/google-play/subscription-statistics/2016/10/23/{STATISTICS}"
    assert context.lake.get(key) == fixture(STATISTICS)
    load(context, statistics, DAY)
    load(context, sales, DAY)
    rows = warehouse.rows(
        "SELECT count(*), sum(active_subscriptions) FROM "
        "staging.google_play_subscription_statistics WHERE _partition_date = ?",
        [DAY],
    )
    assert rows == [(4, 1040 + 410 + 1045 + 416)]
    amounts = warehouse.rows(
        "SELECT sum(charged_amount) FROM staging.google_play_subscription_sales"
    )
    assert amounts[0][0] == pytest.approx(68.0 + 1288.0 - 11.98)
    # a later day's copy of the month file revises the 23rd: the model keeps the newest
    revised = fixture(STATISTICS.replace(".csv", ".utf8.csv")).replace(b",1045", b",1050")
    land(context, statistics, DAY + dt.timedelta(days=1), {STATISTICS: revised})
    load(context, statistics, DAY + dt.timedelta(days=1))
    model = Path(__file__).parents[2] / "src/tally/models/staging/google_play_subscriptions.sql"
    outcome = build(context, [read_model(model, "staging")])
    assert outcome == {"staging.google_play_subscriptions": "ok"}
    latest = warehouse.rows(
        "SELECT count(*), max(active_subscriptions) FILTER (WHERE date = '2016-10-23' "
        "AND country = 'HK') FROM staging.google_play_subscriptions"
    )
    assert latest == [(4, 1050)]


def test_check_lists_the_bucket(play, httpserver: HTTPServer) -> None:
    settings, _ = play
    httpserver.expect_request(
        f"/storage/v1/b/{BUCKET}/o", query_string={"prefix": "sales/", "maxResults": "1"}
    ).respond_with_json(
        {"kind": "storage#objects", "items": [{"name": "sales/salesreport_201610.zip"}]}
    )
    assert sales.check(settings) == (
        f"gs://{BUCKET} readable (sales/: e.g. sales/salesreport_201610.zip)"
    )


def test_check_names_a_bucket_that_does_not_exist(play, httpserver: HTTPServer) -> None:
    settings, _ = play
    httpserver.expect_request(f"/storage/v1/b/{BUCKET}/o").respond_with_json(
        {"error": {"code": 404, "message": "The specified bucket does not exist."}}, status=404
    )
    with pytest.raises(ConfigError, match=f"gs://{BUCKET} does not exist"):
        statistics.check(settings)


def test_an_unknown_new_column_is_kept() -> None:
    header, row = fixture("salesreport_201610.csv").decode().splitlines()[:2]
    data = f"{header},Promotion ID\n{row},PROMO-7\n".encode()
    parsed = sales.parse(data, "sales_20161022.csv")
    assert parsed.unknown_columns == ["Promotion ID"] and not parsed.bad_rows
    assert parsed.table.column("x_promotion_id").to_pylist() == ["PROMO-7"]


def test_statistics_need_the_packages_named(play) -> None:
    settings, _ = play
    settings.section(GooglePlaySettings).packages = []
    with pytest.raises(ConfigError, match="sources.google-play.packages is required"):
        statistics.fetch(DAY, settings)


def test_sales_are_named_with_the_plan_map(play, warehouse) -> None:
    settings, _ = play
    context = Context(settings, warehouse, Lake(settings.lake_url))
    world = DemoWorld(seed=1, start=DAY, end=DAY, scale=0.05)
    plan_map = get_dataset("google-drive", "iap-plan-map")
    land(context, plan_map, DAY, plan_map.sample(DAY, world))
    load(context, plan_map, DAY)
    ingest(context, sales, DAY)
    load(context, sales, DAY)
    models = [
        read_model(MODELS / f"{name}.sql", "staging")
        for name in ("iap_plan_map", "google_play_sales_plans")
    ]
    assert set(build(context, models).values()) == {"ok"}
    rows = warehouse.rows(
        "SELECT sku_id, plan_code, channel_name FROM staging.google_play_sales_plans "
        "ORDER BY order_number"
    )
    # the yearly SKU of the fixture is not in the demo's map: kept, with no plan
    assert rows == [
        ("tally_video_monthly", "PREMIUM_M", "Google Play"),
        ("tally_video_yearly", None, None),
        ("tally_video_monthly", "PREMIUM_M", "Google Play"),
    ]


def test_a_damaged_month_zip_is_a_clear_error() -> None:
    archive = bytearray(month_zip())
    start = archive.index(b"salesreport_201610.csv") + len("salesreport_201610.csv")
    archive[start + 5 : start + 40] = b"\x00" * 35  # the deflate data of the member, zeroed
    with pytest.raises(BadInputError, match="salesreport_201610.zip: not a readable zip file"):
        slice_sales(bytes(archive), DAY, "salesreport_201610.zip")
