"""App Store Connect: the Subscription Event report (``SUBSCRIPTION_EVENT``).

Origin: ``GET /v1/salesReports`` of the App Store Connect API, authenticated with an ES256
JWT signed by the team's ``.p8`` key; the answer is a gzip'd tab-separated file. Rows are
aggregates: ``Quantity`` is how many identical events happened that day.
Apple's report day is Pacific time for worldwide agreements.
"""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import jwt

from tally.errors import ConfigError, NotReadyError
from tally.sources import csvtools
from tally.sources.base import Dataset, Parsed
from tally.sources.delimited import Column, Layout, read_delimited
from tally.sources.http import HttpClient
from tally.sources.settings import ItunesSettings

if TYPE_CHECKING:
    from tally.config import Settings
    from tally.sources.demo import DemoWorld, Subscription

TOKEN_LIFETIME_SECONDS = 19 * 60  # Apple refuses tokens that live longer than 20 minutes

# Apple's column names for report version 1_3/1_4, with older spellings accepted too.
EVENT_COLUMNS = (
    Column("Event Date", "event_date", "date"),
    Column("Event", "event", "text", required=True),
    Column("App Name", "app_name", "text"),
    Column("App Apple ID", "app_apple_id", "int"),
    Column("Subscription Name", "subscription_name", "text"),
    Column("Subscription Apple ID", "subscription_apple_id", "int"),
    Column("Subscription Group ID", "subscription_group_id", "int"),
    Column("Standard Subscription Duration", "standard_subscription_duration", "text"),
    Column(
        "Subscription Offer Type",
        "subscription_offer_type",
        "text",
        aliases=("Introductory Price Type",),
    ),
    Column(
        "Subscription Offer Duration",
        "subscription_offer_duration",
        "text",
        aliases=("Introductory Price Duration",),
    ),
    Column("Marketing Opt-In", "marketing_opt_in", "text"),
    Column("Marketing Opt-In Duration", "marketing_opt_in_duration", "text"),
    Column("Preserved Pricing", "preserved_pricing", "text"),
    Column("Proceeds Reason", "proceeds_reason", "text"),
    Column(
        "Subscription Offer Name",
        "subscription_offer_name",
        "text",
        aliases=("Promotional Offer Name",),
    ),
    Column("Promotional Offer ID", "promotional_offer_id", "text"),
    Column("Consecutive Paid Periods", "consecutive_paid_periods", "int"),
    Column("Original Start Date", "original_start_date", "date"),
    Column("Device", "device", "text"),
    Column("Client", "client", "text"),
    Column("State", "state", "text"),
    Column("Country", "country", "text", required=True),
    Column("Previous Subscription Name", "previous_subscription_name", "text"),
    Column("Previous Subscription Apple ID", "previous_subscription_apple_id", "int"),
    Column("Days Before Canceling", "days_before_canceling", "int"),
    Column("Cancellation Reason", "cancellation_reason", "text"),
    Column("Days Canceled", "days_canceled", "int"),
    Column("Quantity", "quantity", "int", required=True),
)

APP_NAME = "tally Video"
APP_APPLE_ID = 1123456789
GROUP_ID = 20345678


# -- the real client -------------------------------------------------------------------


def make_token(settings: ItunesSettings, now: float | None = None) -> str:
    """An App Store Connect API token: ES256, ``kid`` header, at most 20 minutes' life."""
    if not settings.issuer_id or not settings.key_id:
        raise ConfigError("sources.itunes.issuer_id and key_id are required to call Apple")
    key = _private_key(settings)
    issued = int(now if now is not None else time.time())
    claims = {
        "iss": settings.issuer_id,
        "iat": issued,
        "exp": issued + TOKEN_LIFETIME_SECONDS,
        "aud": "appstoreconnect-v1",
    }
    return jwt.encode(
        claims, key, algorithm="ES256", headers={"kid": settings.key_id, "typ": "JWT"}
    )


def _private_key(settings: ItunesSettings) -> str:
    if settings.private_key is not None:
        return settings.private_key.get_secret_value()
    if settings.private_key_path:
        path = Path(settings.private_key_path)
        if not path.exists():
            raise ConfigError(f"sources.itunes.private_key_path {path} does not exist")
        return path.read_text(encoding="utf-8")
    raise ConfigError(
        "set sources.itunes.private_key (env TALLY_SOURCES__ITUNES__PRIVATE_KEY) "
        "or private_key_path"
    )


def download_sales_report(
    settings: ItunesSettings,
    report_type: str,
    report_sub_type: str,
    day: dt.date,
    *,
    sleep: Callable[[float], None] | None = None,
) -> bytes:
    """One daily report from ``/v1/salesReports``, gzip bytes as Apple sends them.

    Retried on 429 and 5xx with backoff (a fresh token each attempt); a 404 is Apple's
    "not available yet" and raises ``NotReadyError``.
    """
    params = {
        "filter[frequency]": "DAILY",
        "filter[reportDate]": day.isoformat(),
        "filter[reportType]": report_type,
        "filter[reportSubType]": report_sub_type,
        "filter[vendorNumber]": settings.vendor_number,
        "filter[version]": settings.report_version,
    }

    def headers() -> dict[str, str]:
        return {"Authorization": f"Bearer {make_token(settings)}", "Accept": "application/a-gzip"}

    label = f"App Store Connect {report_type} for {day}"
    # Without ``sleep`` the client keeps its own default, which a test may have replaced
    # (tests wait on a list, not the clock).
    client = (
        HttpClient(label, headers=headers)
        if sleep is None
        else HttpClient(label, headers=headers, sleep=sleep)
    )
    try:
        return client.get(f"{settings.api_url}/v1/salesReports", params=params).content
    finally:
        client.close()


# -- the dataset -----------------------------------------------------------------------


def gunzip_if_needed(data: bytes) -> bytes:
    """Unpacked if gzip'd; raises what gzip raises (see csvtools.GZIP_ERRORS)."""
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


class SubscriptionEvents(Dataset):
    source = "itunes"
    name = "subscription-events"
    zone = "external"
    staging_table = "staging.itunes_subscription_events"
    layout = Layout(EVENT_COLUMNS, delimiter="\t")

    def file_names(self, day: dt.date, settings: Settings) -> list[str]:
        return [
            f"Subscription_Event_{settings.section(ItunesSettings).vendor_number}_{day:%Y%m%d}.txt.gz"
        ]

    def fetch(self, day: dt.date, settings: Settings) -> dict[str, bytes]:
        data = download_sales_report(
            settings.section(ItunesSettings), "SUBSCRIPTION_EVENT", "SUMMARY", day
        )
        return {self.file_names(day, settings)[0]: data}

    def check(self, settings: Settings) -> str:
        """Apple accepts the key: a report two days back is asked for (404 still proves it)."""
        day = dt.date.today() - dt.timedelta(days=2)
        try:
            download_sales_report(
                settings.section(ItunesSettings), "SUBSCRIPTION_EVENT", "SUMMARY", day
            )
        except NotReadyError:
            return f"App Store Connect accepted the key; no Subscription Event report for {day}"
        return f"App Store Connect accepted the key; Subscription Event report for {day} available"

    def parse(self, data: bytes, file_name: str) -> Parsed:
        text = csvtools.gunzip(data, file_name)
        return read_delimited(text, file_name, EVENT_COLUMNS, delimiter="\t")

    def sample(self, day: dt.date, world: DemoWorld) -> dict[str, bytes]:
        name = f"Subscription_Event_{DEMO_VENDOR}_{day:%Y%m%d}.txt.gz"
        return {name: gzip.compress(render_events(day, world).encode(), mtime=0)}


DEMO_VENDOR = "85082573"  # the vendor number the seed's file names carry


def apple_id(product_id: str) -> int:
    """The demo's stand-in for the Apple ID App Store Connect gives a product."""
    return 1400000000 + sum(ord(c) * (i + 1) for i, c in enumerate(product_id)) % 99991


def day_events(day: dt.date, world: DemoWorld) -> collections.Counter[tuple[str, ...]]:
    """Apple's events of one day for the world's iOS subscriptions, counted by row key."""
    counts: collections.Counter[tuple[str, ...]] = collections.Counter()
    for subscription in world.subscriptions:
        if subscription.plan.platform != "iOS IAP" or subscription.start > day:
            continue
        for event, offer, paid_periods, cancel_days in _events_of(subscription, day):
            counts[
                (
                    event,
                    subscription.plan.product_id,
                    subscription.country,
                    offer,
                    str(paid_periods),
                    str(cancel_days),
                )
            ] += 1
    return counts


def _events_of(subscription: Subscription, day: dt.date) -> list[tuple[str, str, int, str]]:
    events = []
    paid = 0
    for index, period in enumerate(subscription.periods):
        paid += period.kind == "paid"
        if period.start == day:
            events.append(
                (
                    _start_event(subscription, index),
                    "Free Trial" if period.kind == "trial" else "",
                    paid,
                    "",
                )
            )
        if period.refunded_on == day:
            events.append(("Refund", "", paid, ""))
    if subscription.churn_reason and subscription.end == day:
        if subscription.churn_reason == "billing":
            events.append(("Billing Retry from Paid Subscription", "", paid, ""))
        else:
            before = (
                (subscription.end - subscription.auto_renew_off_on).days
                if (subscription.auto_renew_off_on)
                else 0
            )
            events.append(("Cancel", "", paid, str(before)))
    return events


def _start_event(subscription: Subscription, index: int) -> str:
    period = subscription.periods[index]
    if index == 0:
        if period.kind == "trial":
            return "Start Introductory Offer"
        return "Reactivate" if subscription.reactivation else "Subscribe"
    previous = subscription.periods[index - 1]
    if previous.kind == "trial":
        return "Paid Subscription from Introductory Offer"
    if period.billing_retry_days:
        return "Renewal from Billing Retry"
    return "Renew"


def render_events(day: dt.date, world: DemoWorld) -> str:
    """One day of Apple's Subscription Event report (version 1_3 headers) as text."""
    lines = ["\t".join(column.header for column in EVENT_COLUMNS)]
    for key, quantity in sorted(day_events(day, world).items()):
        event, product_id, country, offer, paid_periods, cancel_days = key
        plan = world.plan_for_product(product_id)
        lines.append(
            "\t".join(
                [
                    day.isoformat(),
                    event,
                    APP_NAME,
                    str(APP_APPLE_ID),
                    plan.plan_name,
                    str(apple_id(product_id)),
                    str(GROUP_ID),
                    "1 Month",
                    offer,
                    "7 Days" if offer else "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    "",
                    paid_periods,
                    "",
                    "iPhone",
                    "",
                    "",
                    country,
                    "",
                    "",
                    cancel_days,
                    "Other" if cancel_days else "",
                    "",
                    str(quantity),
                ]
            )
        )
    return "\n".join(lines) + "\n"


DATASETS = [SubscriptionEvents()]
