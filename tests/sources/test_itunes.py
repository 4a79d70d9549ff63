"""App Store Connect Subscription Event report: the real client, the parser, the demo data."""

import datetime as dt
import gzip
import json
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from werkzeug import Response

from tally.config import load_settings
from tally.errors import BadInputError, NotReadyError, RateLimitedError, TerminalError
from tally.sources.demo import DemoWorld
from tally.sources.itunes import SubscriptionEvents, download_sales_report, make_token
from tally.sources.settings import ItunesSettings

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sources"
DAY = dt.date(2016, 10, 23)


@pytest.fixture(scope="module")
def key_pair():
    private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, private.public_key()


@pytest.fixture
def itunes(key_pair, httpserver):
    pem, _ = key_pair
    return ItunesSettings(
        api_url=httpserver.url_for("").rstrip("/"),
        vendor_number="85082573",
        issuer_id="57246542-96fe-1a63-e053-0824d011072a",
        key_id="2X9R4HXF34",
        private_key=pem,
    )


def apple(httpserver, public_key, status, body, content_type):
    """A stand-in for Apple that checks the JWT and the filters as Apple documents them."""
    seen = {}

    def handler(request):
        token = request.headers["Authorization"].removeprefix("Bearer ")
        header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, public_key, algorithms=["ES256"], audience="appstoreconnect-v1")
        seen.update(
            header=header,
            claims=claims,
            args=dict(request.args),
            accept=request.headers.get("Accept"),
        )
        return Response(body, status=status, content_type=content_type)

    httpserver.expect_request("/v1/salesReports").respond_with_handler(handler)
    return seen


def test_token_is_es256_with_kid_and_at_most_twenty_minutes(itunes, key_pair):
    token = make_token(itunes, now=1_700_000_000)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "ES256", "kid": "2X9R4HXF34", "typ": "JWT"}
    claims = jwt.decode(
        token,
        key_pair[1],
        algorithms=["ES256"],
        audience="appstoreconnect-v1",
        options={"verify_exp": False},
    )
    assert claims["iss"] == itunes.issuer_id
    assert claims["exp"] - claims["iat"] <= 20 * 60


def test_download_sends_signed_request_and_returns_gzip(itunes, key_pair, httpserver):
    report = gzip.compress((FIXTURES / "itunes_subscription_event_small.txt").read_bytes())
    seen = apple(httpserver, key_pair[1], 200, report, "application/a-gzip")
    data = download_sales_report(itunes, "SUBSCRIPTION_EVENT", "SUMMARY", DAY)
    assert data == report
    assert seen["args"] == {
        "filter[frequency]": "DAILY",
        "filter[reportDate]": "2016-10-23",
        "filter[reportType]": "SUBSCRIPTION_EVENT",
        "filter[reportSubType]": "SUMMARY",
        "filter[vendorNumber]": "85082573",
        "filter[version]": "1_4",
    }
    assert seen["accept"] == "application/a-gzip"


def apple_error(status, code, detail):
    return json.dumps(
        {"errors": [{"status": str(status), "code": code, "title": code, "detail": detail}]}
    )


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (404, "NOT_FOUND", NotReadyError),
        (429, "RATE_LIMIT_EXCEEDED", RateLimitedError),
        (401, "NOT_AUTHORIZED", TerminalError),
        (403, "FORBIDDEN_ERROR", TerminalError),
    ],
)
def test_apple_errors_map_to_retry_or_not(itunes, key_pair, httpserver, status, code, error):
    apple(
        httpserver,
        key_pair[1],
        status,
        apple_error(status, code, f"{code} detail"),
        "application/json",
    )
    waits = []
    with pytest.raises(error, match=code):
        download_sales_report(itunes, "SUBSCRIPTION_EVENT", "SUMMARY", DAY, sleep=waits.append)
    # only a rate limit is worth retrying (5 attempts, 4 waits); 401/403/404 fail at once
    assert len(waits) == (4 if status == 429 else 0)


def test_rate_limit_then_success_retries_with_a_fresh_token(itunes, key_pair, httpserver):
    tokens = []

    def limited(request):
        tokens.append(request.headers["Authorization"])
        return Response(
            apple_error(429, "RATE_LIMIT_EXCEEDED", "slow down"),
            status=429,
            headers={"Retry-After": "3"},
            content_type="application/json",
        )

    httpserver.expect_ordered_request("/v1/salesReports").respond_with_handler(limited)
    seen = apple(httpserver, key_pair[1], 200, b"report", "application/a-gzip")
    waits = []
    data = download_sales_report(itunes, "SUBSCRIPTION_EVENT", "SUMMARY", DAY, sleep=waits.append)
    assert data == b"report"
    assert waits == [3.0]  # Apple's Retry-After, honoured
    assert len(tokens) == 1 and seen["claims"]["aud"] == "appstoreconnect-v1"


def test_parse_reads_apple_columns_typed():
    data = gzip.compress((FIXTURES / "itunes_subscription_event_small.txt").read_bytes())
    parsed = SubscriptionEvents().parse(data, "Subscription_Event_85082573_20161023.txt.gz")
    assert parsed.bad_rows == [] and parsed.rows_read == 4
    rows = parsed.table.to_pylist()
    assert [r["event"] for r in rows] == [
        "Start Introductory Offer",
        "Renew",
        "Cancel",
        "Paid Subscription from Introductory Offer",
    ]
    assert [r["quantity"] for r in rows] == [3, 12, 2, 5]
    assert rows[0]["event_date"] == DAY and rows[0]["subscription_offer_type"] == "Free Trial"
    assert rows[1]["original_start_date"] == dt.date(2016, 8, 23)
    assert rows[2]["days_before_canceling"] == 4 and rows[2]["country"] == "SG"
    assert [r["_line"] for r in rows] == [2, 3, 4, 5]


def test_bad_rows_are_named_by_line_and_field_and_good_rows_kept():
    parsed = SubscriptionEvents().parse(
        (FIXTURES / "itunes_subscription_event_bad.txt").read_bytes(), "bad.txt"
    )
    # line 3: month 13; line 4: 5 fields, not 29 (Apple's 28 + 1 new); line 5: Quantity "many"
    assert [(b.line, b.field) for b in parsed.bad_rows] == [
        (3, "Event Date"),
        (4, None),
        (5, "Quantity"),
    ]
    assert "expected 29 fields, found 5" in parsed.bad_rows[1].reason
    assert parsed.rows_read == 5
    assert [r["_line"] for r in parsed.table.to_pylist()] == [2, 6]
    # older header spellings, any case, are accepted; the unknown new column is kept
    assert "subscription_offer_name" in parsed.table.column_names
    assert parsed.unknown_columns == ["Paid Service Days Recovered"]
    assert "x_paid_service_days_recovered" in parsed.table.column_names


def test_missing_required_column_fails_the_file_naming_it():
    text = "Event Date\tEvent\tCountry\n2016-10-23\tRenew\tHK\n"
    with pytest.raises(BadInputError, match="'Quantity' is missing") as caught:
        SubscriptionEvents().parse(text.encode(), "short.txt")
    assert caught.value.file == "short.txt" and caught.value.line == 1


def test_not_gzip_and_not_utf8_are_clear_errors():
    with pytest.raises(BadInputError, match="gzip"):
        SubscriptionEvents().parse(b"\x1f\x8b\x08garbage", "broken.txt.gz")
    with pytest.raises(BadInputError, match="UTF-8"):  # a header that cannot be read
        SubscriptionEvents().parse(b"Event\xff\tQuantity\n", "latin.txt")


def test_demo_files_are_deterministic_and_parse_cleanly():
    world = DemoWorld(3, dt.date(2016, 10, 1), dt.date(2016, 10, 31))
    again = DemoWorld(3, dt.date(2016, 10, 1), dt.date(2016, 10, 31))
    dataset = SubscriptionEvents()
    files = dataset.sample(DAY, world)
    assert files == dataset.sample(DAY, again)
    ((name, data),) = files.items()
    assert name == "Subscription_Event_85082573_20161023.txt.gz"
    parsed = dataset.parse(data, name)
    assert parsed.bad_rows == [] and parsed.table.num_rows > 0
    events = set(parsed.table.column("event").to_pylist())
    assert {"Renew", "Subscribe", "Start Introductory Offer"} <= events
    # Quantity adds up to the world's own count of iOS starts that day
    starts = sum(1 for s in world.by_start.get(DAY, []) if s.plan.platform == "iOS IAP")
    first_events = {"Subscribe", "Start Introductory Offer", "Reactivate"}
    counted = sum(r["quantity"] for r in parsed.table.to_pylist() if r["event"] in first_events)
    assert counted == starts


def test_fetch_uses_configured_vendor_in_the_file_name(itunes, key_pair, httpserver):
    apple(httpserver, key_pair[1], 200, gzip.compress(b"Event\tQuantity\n"), "application/a-gzip")
    settings = load_settings(environ={})
    settings.sources.itunes = itunes
    files = SubscriptionEvents().fetch(DAY, settings)
    assert list(files) == ["Subscription_Event_85082573_20161023.txt.gz"]
