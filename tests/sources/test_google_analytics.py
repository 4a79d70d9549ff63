"""GA4 runReport through a local server with a real service-account token flow: the four
named queries, three date ranges each, the shared landed file, and demo uniques that are
counted, not summed."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from tests.sources.google_service import ACCESS_TOKEN, google_key
from werkzeug import Request, Response

from tally.config import Settings
from tally.errors import ConfigError, RateLimitedError
from tally.lake import Lake
from tally.pipeline.context import Context
from tally.pipeline.ingest import ingest
from tally.pipeline.load import load
from tally.sources import get_dataset, google_analytics
from tally.sources._settings import source_settings
from tally.sources.demo import DemoWorld
from tally.sources.google_analytics import DEFAULT_QUERIES, date_ranges, series_figures
from tally.sources.settings import GoogleAnalyticsSettings

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources" / "google-analytics"
DAY = dt.date(2016, 10, 26)  # a Wednesday
PROPERTY = "123456789"
RESPONSES = json.loads((FIXTURES / "responses.json").read_text(encoding="utf-8"))

web_uv = get_dataset("google-analytics", "web-uv")
web_uv_vv = get_dataset("google-analytics", "web-uv-vv")
yahoo_uv_vv = get_dataset("google-analytics", "yahoo-leadin-uv-vv")


@pytest.fixture(autouse=True)
def fresh_fetches() -> None:
    """Each test talks to GA itself (the module keeps a run's fetch for the other series)."""
    google_analytics._recent.clear()


def series_of(body: dict) -> str:
    """Which named query a request is, by its metrics and filter (as GA would see it)."""
    for name, query in DEFAULT_QUERIES.items():
        metrics = [m["name"] for m in body["metrics"]]
        if metrics == query["metrics"] and body["dimensionFilter"] == query["dimensionFilter"]:
            return name
    raise AssertionError(f"unexpected request {body}")


@pytest.fixture
def ga(httpserver: HTTPServer, settings: Settings, tmp_path: Path) -> tuple[Settings, list]:
    key, _ = google_key(httpserver, tmp_path)
    settings.configure(
        "sources.google-analytics",
        {
            "property_id": PROPERTY,
            "credentials_file": str(key),
            "api_url": httpserver.url_for("").rstrip("/"),
        },
    )
    bodies: list[dict] = []

    def run_report(request: Request) -> Response:
        assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
        body = request.get_json()
        bodies.append(body)
        return Response(json.dumps(RESPONSES[series_of(body)]), content_type="application/json")

    httpserver.expect_request(
        f"/v1beta/properties/{PROPERTY}:runReport", method="POST"
    ).respond_with_handler(run_report)
    return settings, bodies


def test_date_ranges_are_day_week_so_far_and_month_so_far() -> None:
    assert date_ranges(DAY) == [
        {"name": "daily", "startDate": "2016-10-26", "endDate": "2016-10-26"},
        {"name": "weekly", "startDate": "2016-10-24", "endDate": "2016-10-26"},  # Monday
        {"name": "monthly", "startDate": "2016-10-01", "endDate": "2016-10-26"},
    ]


def test_fetch_runs_every_named_query_into_one_file(ga) -> None:
    settings, bodies = ga
    files = web_uv.fetch(DAY, settings)
    assert list(files) == ["third-party-data.gz"]
    lines = [json.loads(x) for x in gzip.decompress(files["third-party-data.gz"]).splitlines()]
    assert [x["series"] for x in lines] == sorted(DEFAULT_QUERIES)
    assert len(bodies) == 4 and all(b["dateRanges"] == date_ranges(DAY) for b in bodies)
    yahoo = next(b for b in bodies if series_of(b) == "yahoo-leadin-uv")
    assert {
        "filter": {
            "fieldName": "sessionSource",
            "stringFilter": {"matchType": "CONTAINS", "value": "yahoo", "caseSensitive": False},
        }
    } in (yahoo["dimensionFilter"]["andGroup"]["expressions"])


def test_each_series_reads_its_own_rows(ga) -> None:
    settings, _ = ga
    data = web_uv.fetch(DAY, settings)["third-party-data.gz"]
    rows = web_uv.parse(data, "third-party-data.gz").table.to_pylist()
    by_key = {(r["country"], r["resolution"]): r for r in rows}
    assert len(rows) == 6 and by_key[("HK", "weekly")]["value"] == 1630
    assert by_key[("HK", "weekly")]["period_start"] == dt.date(2016, 10, 24)
    assert by_key[("SG", "monthly")]["period_end"] == DAY
    vv = web_uv_vv.parse(data, "third-party-data.gz").table.to_pylist()
    assert [(r["country"], r["metric"], r["value"]) for r in vv] == [
        ("HK", "totalUsers", 160),
        ("HK", "eventCount", 390),
        ("SG", "totalUsers", 61),
        ("SG", "eventCount", 140),
    ]
    empty = yahoo_uv_vv.parse(data, "third-party-data.gz")  # GA sent no rows at all
    assert empty.table.num_rows == 0 and not empty.bad_rows


def test_quota_exhausted_is_rate_limited(ga, httpserver: HTTPServer) -> None:
    settings, _ = ga
    httpserver.clear_all_handlers()
    google_key(httpserver, Path(settings.section(GoogleAnalyticsSettings).credentials_file).parent)
    httpserver.expect_request(f"/v1beta/properties/{PROPERTY}:runReport").respond_with_json(
        {
            "error": {
                "code": 429,
                "message": "Exhausted property tokens per hour",
                "status": "RESOURCE_EXHAUSTED",
            }
        },
        status=429,
    )
    from tally.sources.google_analytics import AnalyticsData

    client = AnalyticsData(
        source_settings(settings, "google-analytics"), attempts=2, sleep=lambda s: None
    )
    with pytest.raises(RateLimitedError, match="Exhausted property tokens"):
        client.run_report({"metrics": [{"name": "totalUsers"}]})


def test_property_is_required(settings: Settings) -> None:
    settings.configure("sources.google-analytics", {})
    with pytest.raises(ConfigError, match="property_id"):
        web_uv.fetch(DAY, settings)


def test_bad_lines_are_reported_by_line_and_good_rows_kept() -> None:
    data = gzip.compress((FIXTURES / "third-party-data-bad.jsonl").read_bytes())
    parsed = web_uv.parse(data, "third-party-data.gz")
    # line 1: SG's value "(other)"; line 2: a date range nobody asked for; line 3: cut JSON;
    # line 4: no response; line 5: a relative date ("today") the file cannot place
    assert [(b.line, b.field) for b in parsed.bad_rows] == [
        (1, "totalUsers"),
        (2, "dateRange"),
        (3, None),
        (4, None),
        (5, "dateRange"),
    ]
    # line 6 asked for one unnamed range: GA sends no dateRange dimension, the row is its
    rows = parsed.table.to_pylist()
    assert [(r["country"], r["value"], r["_line"]) for r in rows] == [("HK", 410, 1), ("SG", 7, 6)]
    assert rows[1]["resolution"] == "date_range_0" and rows[1]["period_start"] == DAY


@pytest.fixture(scope="module")
def world() -> DemoWorld:
    return DemoWorld(seed=9, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 14), scale=0.2)


def test_demo_uniques_are_counted_over_the_range(world: DemoWorld) -> None:
    day = dt.date(2026, 10, 14)  # a Wednesday
    daily = series_figures(world, "web-uv", day, day, "HK")["totalUsers"]
    weekly = series_figures(world, "web-uv", dt.date(2026, 10, 12), day, "HK")["totalUsers"]
    days = [
        series_figures(world, "web-uv", dt.date(2026, 10, d), dt.date(2026, 10, d), "HK")[
            "totalUsers"
        ]
        for d in (12, 13, 14)
    ]
    # the same visitor on two days counts once: the week is at least the biggest day and
    # less than the three days added up
    assert daily == days[2] and max(days) <= weekly < sum(days)
    yahoo = series_figures(world, "yahoo-leadin-uv", day, day, "HK")["totalUsers"]
    watched = series_figures(world, "web-uv-vv", day, day, "HK")
    assert 0 < yahoo < daily and 0 < watched["totalUsers"] < daily
    assert watched["eventCount"] >= watched["totalUsers"]


def test_sample_parses_back_for_every_series(world: DemoWorld) -> None:
    day = dt.date(2026, 10, 14)
    ((name, data),) = web_uv.sample(day, world).items()
    for series in DEFAULT_QUERIES:
        parsed = get_dataset("google-analytics", series).parse(data, name)
        metrics = 2 if series.endswith("-vv") else 1
        assert not parsed.bad_rows and parsed.table.num_rows == 2 * 3 * metrics


def test_fetch_land_and_load_two_series(ga, duckdb_warehouse) -> None:
    settings, bodies = ga
    context = Context(settings, duckdb_warehouse, Lake(settings.lake_url))
    ingest(context, web_uv, DAY)
    ingest(context, web_uv_vv, DAY)  # the same file again: identical bytes, a no-op
    assert len(bodies) == 4  # one runReport per series, asked once for the four datasets
    assert context.lake.list("thirdparty/external/google-analytics/") == [
        "thirdparty/external/google-analytics/2016/10/26/third-party-data.gz"
    ]
    load(context, web_uv, DAY)
    load(context, web_uv_vv, DAY)
    assert duckdb_warehouse.rows(
        "SELECT sum(value) FROM staging.google_analytics_web_uv WHERE resolution = 'daily'"
    ) == [(410 + 150,)]
    assert duckdb_warehouse.rows("SELECT count(*) FROM staging.google_analytics_web_uv_vv") == [
        (4,)
    ]


def test_check_verifies_the_querys_fields(ga, httpserver: HTTPServer) -> None:
    settings, _ = ga
    fields = {
        "dimensions": [{"apiName": "countryId"}, {"apiName": "platform"}],
        "metrics": [{"apiName": "totalUsers"}],
    }
    httpserver.expect_request(f"/v1beta/properties/{PROPERTY}/metadata").respond_with_json(fields)
    assert "web-uv asks for known fields" in web_uv.check(settings)
    # eventCount is not in this property's metadata
    with pytest.raises(
        ConfigError, match="queries.web-uv-vv: .* no dimension or metric eventCount"
    ):
        web_uv_vv.check(settings)


def test_a_machine_booted_minutes_ago_still_fetches(ga, monkeypatch) -> None:
    # time.monotonic() counts from boot: five seconds after boot, nothing fetched yet must not
    # look like a fetch made "just now" (this returned an empty file on fresh CI machines).
    settings, bodies = ga
    monkeypatch.setattr(google_analytics.time, "monotonic", lambda: 5.0)
    files = web_uv.fetch(DAY, settings)
    lines = gzip.decompress(files["third-party-data.gz"]).splitlines()
    assert len(lines) == len(DEFAULT_QUERIES) and len(bodies) == len(DEFAULT_QUERIES)


def test_an_invalid_byte_or_deep_nesting_costs_that_line_only(world: DemoWorld) -> None:
    day = dt.date(2026, 10, 14)
    ((name, data),) = web_uv.sample(day, world).items()
    lines = gzip.decompress(data).split(b"\n")
    mine = [i for i, line in enumerate(lines) if b'"web-uv"' in line]
    broken = list(lines)
    broken[mine[0]] = broken[mine[0]].replace(b"{", b"{\xff", 1)  # not UTF-8
    broken.insert(0, b"[" * 100_000 + b"]" * 100_000)  # json.loads: RecursionError
    parsed = web_uv.parse(gzip.compress(b"\n".join(broken)), name)
    assert [b.line for b in parsed.bad_rows] == [1, mine[0] + 2]  # one line inserted above
    assert parsed.bad_rows[1].reason.startswith("not JSON: 'utf-8' codec can't decode")
    assert parsed.table.num_rows == 0  # web-uv's one report was on the broken line
    # the other series in the same file land whole (the file once failed for all four)
    other = get_dataset("google-analytics", "web-uv-vv")
    kept = other.parse(gzip.compress(b"\n".join(broken)), name).table.drop_columns("_line")
    assert kept.num_rows > 0 and kept == other.parse(data, name).table.drop_columns("_line")
