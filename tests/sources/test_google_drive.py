"""Google Drive sheets through the Sheets API's values.get on a local server, with a real
service-account token flow, snapshots in the lake and the newest-snapshot models."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from tests.sources.google_service import ACCESS_TOKEN, google_key

from tally.config import Settings
from tally.errors import BadInputError, ConfigError, TerminalError
from tally.lake import Lake
from tally.pipeline.build import build, read_model
from tally.pipeline.context import Context
from tally.pipeline.ingest import ingest, land
from tally.pipeline.load import load
from tally.sources import get_dataset
from tally.sources.demo import PLANS, DemoWorld
from tally.sources.google_drive import rows_to_csv
from tally.sources.settings import GoogleDriveSettings, Sheet
from tally.sources.viu_premium import status_row, subscription_transactions

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources" / "google-drive"
MODELS = Path(__file__).parents[2] / "src" / "tally" / "models" / "staging"
DAY = dt.date(2016, 10, 26)
PLAN_SHEET, TELCO_SHEET = "1AbCplanMap", "1XyZtelco"

plan_map = get_dataset("google-drive", "iap-plan-map")
telco = get_dataset("google-drive", "telco-performance")
ad_units = get_dataset("google-drive", "ad-unit-id-mapping")


def values(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.values.json").read_text(encoding="utf-8"))


@pytest.fixture
def sheets(httpserver: HTTPServer, settings: Settings, tmp_path: Path) -> tuple[Settings, list]:
    key, claims = google_key(httpserver, tmp_path)
    settings.configure(
        "sources.google-drive",
        {
            "credentials_file": str(key),
            "api_url": httpserver.url_for("").rstrip("/"),
            "sheets": {
                "iap-plan-map": {"spreadsheet_id": PLAN_SHEET, "range": "Plans!A1:F"},
                "telco-performance": {"spreadsheet_id": TELCO_SHEET, "range": "Daily!A:I"},
                "ad-unit-id-mapping": {"spreadsheet_id": "1Gone", "range": "A:E"},
            },
        },
    )
    for sheet, cells, name in [
        (PLAN_SHEET, "Plans!A1:F", "iap-plan-map"),
        (TELCO_SHEET, "Daily!A:I", "telco-performance"),
    ]:
        httpserver.expect_request(
            f"/v4/spreadsheets/{sheet}/values/{cells}",
            query_string={
                "majorDimension": "ROWS",
                "valueRenderOption": "UNFORMATTED_VALUE",
                "dateTimeRenderOption": "FORMATTED_STRING",
            },
            headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        ).respond_with_json(values(name))
    httpserver.expect_request("/v4/spreadsheets/1Gone/values/A:E").respond_with_json(
        {
            "error": {
                "code": 404,
                "message": "Requested entity was not found.",
                "status": "NOT_FOUND",
            }
        },
        status=404,
    )
    return settings, claims


def test_fetch_writes_the_sheet_as_gzip_csv(sheets) -> None:
    settings, claims = sheets
    files = plan_map.fetch(DAY, settings)
    assert list(files) == ["iap-plan-map-2016-10-26.csv.gz"]
    lines = gzip.decompress(files["iap-plan-map-2016-10-26.csv.gz"]).decode().splitlines()
    assert lines[0] == "Product ID,Plan Name,Plan Code,Platform,Channel Name,Channel Sector"
    # the API leaves out trailing empty cells; the CSV pads them back
    assert lines[3] == "csl_premium_monthly,CSL Premium Monthly,CSL_M,Telco,,"
    assert claims[0]["scope"] == "https://www.googleapis.com/auth/spreadsheets.readonly"


def test_a_wrong_spreadsheet_id_is_terminal_not_not_ready(sheets) -> None:
    settings, _ = sheets
    with pytest.raises(TerminalError, match="Requested entity was not found"):
        ad_units.fetch(DAY, settings)


def test_a_sheet_without_an_id_names_the_setting(settings: Settings) -> None:
    settings.configure("sources.google-drive", {"sheets": {}})
    with pytest.raises(ConfigError, match="sheets.iap-plan-map.spreadsheet_id"):
        plan_map.fetch(DAY, settings)


def test_an_empty_range_is_bad_input() -> None:
    with pytest.raises(BadInputError, match="empty"):
        rows_to_csv([], "sheet X range A:B")


def test_telco_rows_typed_and_bad_cells_reported(sheets) -> None:
    settings, _ = sheets
    ((name, data),) = telco.fetch(DAY, settings).items()
    parsed = telco.parse(data, name)
    # line 4 has "nine" new subscriptions; line 5 revenue "HK$ 406"; line 6 is short but valid
    assert [(b.line, b.field) for b in parsed.bad_rows] == [
        (4, "New Subscriptions"),
        (5, "Revenue"),
    ]
    rows = parsed.table.to_pylist()
    assert [r["date"] for r in rows] == [
        dt.date(2016, 10, 22),
        dt.date(2016, 10, 23),
        dt.date(2016, 10, 25),
    ]
    assert [r["revenue"] for r in rows] == [812.0, 1102.5, None]
    assert rows[0]["active_subscriptions"] == 1204


def test_missing_required_column_fails_the_file() -> None:
    data = gzip.compress(b"Product ID,Plan Name\nx,y\n")
    with pytest.raises(BadInputError, match="'Plan Code' is missing"):
        plan_map.parse(data, "iap-plan-map-2016-10-26.csv.gz")


def test_demo_plan_map_covers_every_product_the_world_sells() -> None:
    world = DemoWorld(seed=1, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 3), scale=0.1)
    ((name, data),) = plan_map.sample(dt.date(2026, 10, 2), world).items()
    parsed = plan_map.parse(data, name)
    assert not parsed.bad_rows
    assert set(parsed.table.column("product_id").to_pylist()) == {row[0] for row in PLANS}
    sold = {s.plan.product_id for s in world.subscriptions}
    assert sold <= set(parsed.table.column("product_id").to_pylist())


def test_demo_telco_sheet_agrees_with_the_premium_csl_export() -> None:
    world = DemoWorld(seed=1, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 12), scale=0.3)
    day = dt.date(2026, 10, 12)
    ((name, data),) = telco.sample(day, world).items()
    parsed = telco.parse(data, name)
    assert not parsed.bad_rows and parsed.table.num_rows == 12  # 12 days x CSL in HK
    csl = [s for s in world.subscriptions if s.plan.platform == "Telco"]
    for row in parsed.table.to_pylist():
        date = row["date"]
        statuses = [status_row(s, date) for s in csl]
        assert row["active_subscriptions"] == sum(
            1 for r in statuses if r and r["status"] in ("active", "grace_period")
        )
        billed = sum(
            t["amount"]
            for s in csl
            for t in subscription_transactions(s)
            if t["transaction_time"].date() == date
            and t["type"] in ("purchase", "renewal", "refund")
        )
        assert row["revenue"] == pytest.approx(billed)
    assert sum(parsed.table.column("revenue").to_pylist()) > 0
    ((name, data),) = ad_units.sample(day, world).items()
    assert not ad_units.parse(data, name).bad_rows


def test_land_load_and_keep_the_newest_snapshot(sheets, warehouse) -> None:
    settings, _ = sheets
    settings.quarantine_threshold = 0.5  # the telco fixture holds 2 bad rows of 5 on purpose
    context = Context(settings, warehouse, Lake(settings.lake_url))
    ingest(context, plan_map, DAY)
    ingest(context, telco, DAY)
    assert context.lake.exists(
        "thirdparty/internal/google-drive/2016/10/26/iap-plan-map-2016-10-26.csv.gz"
    )
    load(context, plan_map, DAY)
    load(context, telco, DAY)
    assert warehouse.rows("SELECT count(*) FROM staging.google_drive_iap_plan_map") == [(4,)]
    assert warehouse.rows(
        "SELECT line, field FROM tally_meta.quarantine WHERE dataset = 'telco-performance' "
        "ORDER BY line"
    ) == [(4, "New Subscriptions"), (5, "Revenue")]
    # the next day someone corrects the 23rd's revenue; the model keeps the correction
    later = DAY + dt.timedelta(days=1)
    corrected = "Date,Country,Telco,Plan Code,Revenue\n2016-10-23,HK,CSL,CSL_M,1100.00\n"
    land(
        context,
        telco,
        later,
        {f"telco-performance-{later}.csv.gz": gzip.compress(corrected.encode())},
    )
    load(context, telco, later)
    models = [
        read_model(MODELS / f"{n}.sql", "staging") for n in ("iap_plan_map", "telco_performance")
    ]
    assert set(build(context, models).values()) == {"ok"}
    revenue = warehouse.rows("SELECT date, revenue FROM staging.telco_performance ORDER BY date")
    assert revenue == [
        (dt.date(2016, 10, 22), 812.0),
        (dt.date(2016, 10, 23), 1100.0),
        (dt.date(2016, 10, 25), None),
    ]
    assert warehouse.rows(
        "SELECT plan_code FROM staging.iap_plan_map WHERE product_id = 'tally_video_monthly'"
    ) == [("PREMIUM_M",)]


def test_check_reads_the_sheet_and_its_header(sheets) -> None:
    settings, _ = sheets
    assert plan_map.check(settings) == "sheet 1AbCplanMap range Plans!A1:F: 4 rows, header ok"


def test_check_names_a_missing_column(sheets) -> None:
    settings, _ = sheets
    # the telco sheet has a Plan Code column but no Product ID or Plan Name
    settings.section(GoogleDriveSettings).sheets["iap-plan-map"] = Sheet(
        spreadsheet_id=TELCO_SHEET, range="Daily!A:I"
    )
    with pytest.raises(
        ConfigError, match="lacks the column.s. Product ID, Plan Name in its first row"
    ):
        plan_map.check(settings)
