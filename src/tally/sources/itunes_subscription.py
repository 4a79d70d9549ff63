"""App Store Connect: the Subscription report (``SUBSCRIPTION``), active subscriptions per day.

Origin: ``GET /v1/salesReports`` with ``reportType=SUBSCRIPTION``, ``frequency=DAILY``,
through the App Store Connect client of ``tally.sources.itunes`` (ES256 JWT). The answer is
a gzip'd tab-separated snapshot: one row per subscription, price, offer and country, with
counts of active subscriptions by kind (standard price, introductory offers, promotional
offers, offer codes), Billing Retry, Grace Period and Subscribers. The report has no date
column: the day is the report date, taken from the file name.

Apple renamed columns across versions ("Introductory Price" → "Introductory Offer",
"Promotional Offer Name" → "Subscription Offer Name"); both spellings are accepted.
"""

from __future__ import annotations

import datetime as dt
import gzip
import re
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tally.errors import BadInputError, NotReadyError
from tally.sources import csvtools
from tally.sources.base import Dataset, Parsed
from tally.sources.delimited import Column, Layout, read_delimited
from tally.sources.itunes import (
    APP_APPLE_ID,
    APP_NAME,
    DEMO_VENDOR,
    GROUP_ID,
    apple_id,
    download_sales_report,
)
from tally.sources.settings import ItunesSettings
from tally.sources.viu_premium import access_end, grace_days

if TYPE_CHECKING:
    from tally.config import Settings
    from tally.sources.demo import DemoWorld, Subscription


def _count(header: str, *aliases: str, required: bool = False) -> Column:
    name = re.sub(r"[^0-9a-z]+", "_", header.lower()).strip("_")
    return Column(header, name, "int", required=required, aliases=aliases)


SUBSCRIPTION_COLUMNS = (
    Column("App Name", "app_name", "text"),
    Column("App Apple ID", "app_apple_id", "int"),
    Column("Subscription Name", "subscription_name", "text", required=True),
    Column("Subscription Apple ID", "subscription_apple_id", "int", required=True),
    Column("Subscription Group ID", "subscription_group_id", "int"),
    Column("Standard Subscription Duration", "standard_subscription_duration", "text"),
    Column(
        "Subscription Offer Name",
        "subscription_offer_name",
        "text",
        aliases=("Promotional Offer Name",),
    ),
    Column("Promotional Offer ID", "promotional_offer_id", "text"),
    Column("Customer Price", "customer_price", "amount"),
    Column("Customer Currency", "customer_currency", "text"),
    Column("Developer Proceeds", "developer_proceeds", "amount"),
    Column("Proceeds Currency", "proceeds_currency", "text"),
    Column("Preserved Pricing", "preserved_pricing", "text"),
    Column("Proceeds Reason", "proceeds_reason", "text"),
    Column("Client", "client", "text"),
    Column("Device", "device", "text"),
    Column("State", "state", "text"),
    Column("Country", "country", "text", required=True),
    _count("Active Standard Price Subscriptions", required=True),
    _count(
        "Active Free Trial Introductory Offer Subscriptions",
        "Active Free Trial Introductory Price Subscriptions",
    ),
    _count(
        "Active Pay Up Front Introductory Offer Subscriptions",
        "Active Pay Up Front Introductory Price Subscriptions",
    ),
    _count(
        "Active Pay As You Go Introductory Offer Subscriptions",
        "Active Pay As You Go Introductory Price Subscriptions",
    ),
    _count("Free Trial Promotional Offer Subscriptions"),
    _count("Pay Up Front Promotional Offer Subscriptions"),
    _count("Pay As You Go Promotional Offer Subscriptions"),
    _count("Free Trial Offer Code Subscriptions"),
    _count("Pay Up Front Offer Code Subscriptions"),
    _count("Pay As You Go Offer Code Subscriptions"),
    _count("Marketing Opt-Ins"),
    _count("Billing Retry"),
    _count("Grace Period"),
    _count("Subscribers"),  # added in version 1_3
)

PROCEEDS_SHARE = 0.70

_FILE = re.compile(r"Subscription_\d+_(\d{8})\.txt(\.gz)?$")


def subscription_file(vendor: str, day: dt.date) -> str:
    return f"Subscription_{vendor}_{day:%Y%m%d}.txt.gz"


def report_date(file_name: str) -> dt.date:
    """The report's day, from Apple's file name (the report itself has no date column)."""
    match = _FILE.search(file_name)
    if not match:
        raise BadInputError(
            "file name should be Subscription_<vendor>_YYYYMMDD.txt.gz", file=file_name
        )
    return dt.datetime.strptime(match[1], "%Y%m%d").date()


def _apple(settings: Settings) -> ItunesSettings:
    """The [itunes] settings, with the Subscription report's own version when configured
    (``[sources.itunes] subscription_report_version``): Apple versions each report apart."""
    itunes = settings.section(ItunesSettings)
    version = itunes.subscription_report_version
    if not version:
        return itunes
    return itunes.model_copy(update={"report_version": version})


class ActiveSubscriptions(Dataset):
    source = "itunes"
    name = "active-subscription"
    zone = "external"
    staging_table = "staging.itunes_active_subscriptions"
    layout = Layout(SUBSCRIPTION_COLUMNS, delimiter="\t")

    def file_names(self, day: dt.date, settings: Settings) -> list[str]:
        return [subscription_file(settings.section(ItunesSettings).vendor_number, day)]

    def fetch(self, day: dt.date, settings: Settings) -> dict[str, bytes]:
        data = download_sales_report(_apple(settings), "SUBSCRIPTION", "SUMMARY", day)
        return {self.file_names(day, settings)[0]: data}

    def check(self, settings: Settings) -> str:
        """Apple accepts the key; a report two days back is asked for (404 still proves it)."""
        day = dt.date.today() - dt.timedelta(days=2)
        try:
            download_sales_report(_apple(settings), "SUBSCRIPTION", "SUMMARY", day)
        except NotReadyError:
            return f"App Store Connect accepted the key; no Subscription report for {day}"
        return f"App Store Connect accepted the key; Subscription report for {day} available"

    def file_columns(self, file_name: str) -> dict[str, Any]:
        return {"report_date": report_date(file_name)}

    def parse(self, data: bytes, file_name: str) -> Parsed:
        day = report_date(file_name)
        text = csvtools.gunzip(data, file_name)
        parsed = read_delimited(text, file_name, SUBSCRIPTION_COLUMNS, delimiter="\t")
        dates = pa.array([day] * parsed.table.num_rows, pa.date32())
        parsed.table = parsed.table.add_column(0, "report_date", dates)
        return parsed

    def sample(self, day: dt.date, world: DemoWorld) -> dict[str, bytes]:
        text = render_subscriptions(day, world)
        return {subscription_file(DEMO_VENDOR, day): gzip.compress(text.encode(), mtime=0)}


def day_counts(day: dt.date, world: DemoWorld) -> dict[tuple[str, str], dict[str, int]]:
    """(product id, country) → Apple's counters for the world's iOS subscriptions on a day."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for subscription in world.subscriptions:
        if subscription.plan.platform != "iOS IAP" or subscription.start > day:
            continue
        state = subscription_state(subscription, day)
        if state is None:
            continue
        key = (subscription.plan.product_id, subscription.country)
        row = counts.setdefault(key, dict.fromkeys(("standard", "trial", "retry", "grace"), 0))
        row[state] += 1
    return counts


def subscription_state(subscription: Subscription, day: dt.date) -> str | None:
    """How Apple's report counts one subscription on a day: standard, trial, retry, grace.

    The same reading as the viu-premium status export of the demo world: access ends at a
    refund, a grace-period renewal is in grace until it is paid, and the gap before a
    recovered renewal is billing retry.
    """
    for index, period in enumerate(subscription.periods):
        if period.start <= day < access_end(period):
            if period.kind == "trial":
                return "trial"
            unpaid = dt.timedelta(days=grace_days(subscription, period))
            if period.grace and day < period.start + unpaid:
                return "grace"
            return "standard"
        following = (
            subscription.periods[index + 1] if index + 1 < len(subscription.periods) else None
        )
        if following and period.end <= day < following.start and following.billing_retry_days:
            return "retry"
    return None


def render_subscriptions(day: dt.date, world: DemoWorld) -> str:
    """One day of Apple's Subscription report (version 1_3 headers) as text."""
    lines = ["\t".join(column.header for column in SUBSCRIPTION_COLUMNS)]
    for (product_id, country), row in sorted(day_counts(day, world).items()):
        plan = world.plan_for_product(product_id)
        currency = "HKD" if country == "HK" else "SGD"
        price = plan.price(currency)
        counters = [
            row["standard"],
            row["trial"],
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            0,
            row["retry"],
            row["grace"],
            row["standard"] + row["trial"] + row["grace"],
        ]
        lines.append(
            "\t".join(
                [
                    APP_NAME,
                    str(APP_APPLE_ID),
                    plan.plan_name,
                    str(apple_id(product_id)),
                    str(GROUP_ID),
                    "1 Month",
                    "",
                    "",
                    f"{price:.2f}",
                    currency,
                    f"{price * PROCEEDS_SHARE:.2f}",
                    currency,
                    "No",
                    "",
                    "",
                    "iPhone",
                    "",
                    country,
                    *(str(c) for c in counters),
                ]
            )
        )
    return "\n".join(lines) + "\n"


DATASETS = [ActiveSubscriptions()]
