"""Google Play: subscription statistics and estimated sales from the Play Console bucket.

Origin: the Cloud Storage bucket ``pubsite_prod_rev_<id>`` that Play Console exports to,
read through the Cloud Storage JSON API (``GET /storage/v1/b/<bucket>/o/<object>?alt=media``)
with a service-account token. ``STORAGE_EMULATOR_HOST`` (or ``storage_url`` in config)
points the client at another server, as Google's own clients allow.

- ``financial-stats/subscriptions/subscriptions_<package>_<YYYYMM>_country.csv``: one
  monthly file per app that Google rewrites every day; landed whole under each day.
- ``sales/salesreport_<YYYYMM>.zip``: the month's estimated sales; landed as the slice of
  one day (``sales_YYYYMMDD.csv``).

Google writes these files in UTF-16LE with a BOM or in UTF-8; amounts carry thousands
separators ("1,000.00"); renewal order numbers end in ``..N``.
"""

from __future__ import annotations

import datetime as dt
import io
import os
import weakref
import zipfile
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from tally.errors import BadInputError, ConfigError, NotReadyError
from tally.sources import csvtools
from tally.sources._google import bearer_headers
from tally.sources._settings import source_settings
from tally.sources.base import Dataset, Parsed
from tally.sources.delimited import Column, Layout, read_delimited
from tally.sources.http import HttpClient
from tally.sources.viu_premium import access_end, grace_days

if TYPE_CHECKING:
    from tally.config import Settings
    from tally.sources.demo import DemoWorld, Period, Subscription

SOURCE = "google-play"
STORAGE_SCOPE = "https://www.googleapis.com/auth/devstorage.read_only"
DEMO_PACKAGE = "com.tally.video"

STATISTICS_COLUMNS = (
    Column("Date", "date", "date", required=True),
    Column("Package Name", "package_name", "text", required=True),
    Column("Product ID", "product_id", "text", required=True),
    Column("Country", "country", "text"),
    Column("New Subscriptions", "new_subscriptions", "int"),
    Column(
        "Cancelled Subscriptions",
        "cancelled_subscriptions",
        "int",
        aliases=("Canceled Subscriptions",),
    ),
    Column("Active Subscriptions", "active_subscriptions", "int", required=True),
)

SALES_COLUMNS = (
    Column("Order Number", "order_number", "text", required=True),
    Column("Order Charged Date", "order_charged_date", "date", required=True),
    Column("Order Charged Timestamp", "order_charged_timestamp", "int"),
    Column("Financial Status", "financial_status", "text", required=True),
    Column("Device Model", "device_model", "text"),
    Column("Product Title", "product_title", "text"),
    Column("Product ID", "package_name", "text"),
    Column("Product Type", "product_type", "text"),
    Column("SKU ID", "sku_id", "text", required=True),
    Column("Currency of Sale", "currency", "text", required=True),
    Column("Item Price", "item_price", "amount"),
    Column("Taxes Collected", "taxes_collected", "amount"),
    Column("Charged Amount", "charged_amount", "amount", required=True),
    Column("City of Buyer", "buyer_city", "text"),
    Column("State of Buyer", "buyer_state", "text"),
    Column("Postal Code of Buyer", "buyer_postal_code", "text"),
    Column("Country of Buyer", "buyer_country", "text", required=True),
    Column("Base Plan ID", "base_plan_id", "text"),  # added by Google in 2022
    Column("Offer ID", "offer_id", "text"),
)


# -- the Cloud Storage client ----------------------------------------------------------


class CloudStorage:
    """Object downloads from one bucket over the Cloud Storage JSON API."""

    def __init__(self, config: dict[str, Any], **client_options: Any) -> None:
        self.bucket = _required(config, "bucket")
        emulator = os.environ.get("STORAGE_EMULATOR_HOST", "")
        if emulator and "://" not in emulator:
            emulator = f"http://{emulator}"
        self.base_url = (
            config.get("storage_url") or emulator or "https://storage.googleapis.com"
        ).rstrip("/")
        headers = bearer_headers(config, SOURCE, [STORAGE_SCOPE])
        if headers is None and not emulator and not config.get("storage_url"):
            raise ConfigError(
                f"sources.{SOURCE}: set credentials_file (a service-account JSON "
                "key with access to the Play Console bucket) or credentials_json"
            )
        self.http = HttpClient(
            f"Cloud Storage gs://{self.bucket}", headers=headers, **client_options
        )

    def download(self, name: str) -> bytes:
        """The object's bytes; a missing object raises NotReadyError (not published yet)."""
        url = f"{self.base_url}/storage/v1/b/{self.bucket}/o/{quote(name, safe='')}"
        return self.http.get(url, params={"alt": "media"}).content

    def names(self, prefix: str, limit: int = 1) -> list[str]:
        """Object names under a prefix (``objects.list``); a missing bucket is a setup error."""
        url = f"{self.base_url}/storage/v1/b/{self.bucket}/o"
        try:
            body = self.http.get(url, params={"prefix": prefix, "maxResults": limit}).json()
        except NotReadyError:
            raise ConfigError(
                f"sources.{SOURCE}.bucket: gs://{self.bucket} does not exist (the Play Console "
                "names it on Download reports → Copy Cloud Storage URI)"
            ) from None
        return [item["name"] for item in body.get("items", [])]

    def close(self) -> None:
        self.http.close()


def check(settings: Settings, prefix: str) -> str:
    """Whether the key is accepted and may list the reports under ``prefix``; says so."""
    storage = CloudStorage(_config(settings))
    try:
        found = storage.names(prefix)
    finally:
        storage.close()
    if not found:
        return f"gs://{storage.bucket} readable, but nothing under {prefix} yet"
    return f"gs://{storage.bucket} readable ({prefix}: e.g. {found[0]})"


def _config(settings: Settings) -> dict[str, Any]:
    return source_settings(settings, SOURCE)


def _required(config: dict[str, Any], key: str) -> Any:
    if not config.get(key):
        raise ConfigError(
            f"sources.{SOURCE}.{key} is required (env "
            f"TALLY_SOURCES__{SOURCE.upper().replace('-', '_')}__{key.upper()})"
        )
    return config[key]


def _packages(config: dict[str, Any]) -> list[str]:
    packages = config.get("packages") or [DEMO_PACKAGE]
    return [packages] if isinstance(packages, str) else list(packages)


# -- subscription statistics -----------------------------------------------------------


def statistics_file(package: str, day: dt.date) -> str:
    return f"subscriptions_{package}_{day:%Y%m}_country.csv"


class SubscriptionStatistics(Dataset):
    source = SOURCE
    name = "subscription-statistics"
    zone = "external"
    staging_table = "staging.google_play_subscription_statistics"
    layout = Layout(STATISTICS_COLUMNS, ",", quoted=True)
    cumulative = True  # the month's file, rewritten every day with the month so far

    def file_names(self, day: dt.date, settings: Settings) -> list[str]:
        return [statistics_file(p, day) for p in _packages(_config(settings))]

    def fetch(self, day: dt.date, settings: Settings) -> dict[str, bytes]:
        _required(_config(settings), "packages")  # the demo's package is no default for Google
        storage = CloudStorage(_config(settings))
        try:
            return {
                name: storage.download(f"financial-stats/subscriptions/{name}")
                for name in self.file_names(day, settings)
            }
        finally:
            storage.close()

    def check(self, settings: Settings) -> str:
        """Credentials and bucket access, without downloading a report."""
        return check(settings, "financial-stats/subscriptions/")

    def parse(self, data: bytes, file_name: str) -> Parsed:
        text = csvtools.to_utf8(data, file_name)
        return read_delimited(text, file_name, STATISTICS_COLUMNS, delimiter=",", quoted=True)

    def sample(self, day: dt.date, world: DemoWorld) -> dict[str, bytes]:
        rows = []
        for date in _month_to_day(day):
            for (product, country), counts in sorted(_android_stats(world, date).items()):
                rows.append([date.isoformat(), DEMO_PACKAGE, product, country, *counts])
        header = [c.header for c in STATISTICS_COLUMNS]
        # Google's subscription statistics arrive as UTF-16LE with a BOM
        return {
            statistics_file(DEMO_PACKAGE, day): csvtools.write_csv(
                header, rows, encoding="utf-16", line_end="\r\n"
            )
        }


def _month_to_day(day: dt.date) -> list[dt.date]:
    return [day.replace(day=d) for d in range(1, day.day + 1)]


_stats_cache: weakref.WeakKeyDictionary[
    DemoWorld, dict[dt.date, dict[tuple[str, str], tuple[int, int, int]]]
] = weakref.WeakKeyDictionary()


def _android_stats(world: DemoWorld, day: dt.date) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(product, country) → (new, cancelled, active) for the world's Google Play subscribers.

    New counts subscriptions whose first period (trial or paid) starts that day; cancelled
    counts auto-renew turned off that day, and subscriptions lost to failed billing on
    their last day; active counts subscriptions with access that day.
    """
    cache = _stats_cache.setdefault(world, {})
    if day not in cache:
        counts: dict[tuple[str, str], list[int]] = {}
        for subscription in world.subscriptions:
            if subscription.plan.channel != "Google Play" or subscription.start > day:
                continue
            row = counts.setdefault((subscription.plan.product_id, subscription.country), [0, 0, 0])
            row[0] += subscription.start == day
            row[1] += _cancelled_on(subscription, day)
            row[2] += any(p.start <= day < access_end(p) for p in subscription.periods)
        cache[day] = {
            key: (new, cancelled, active) for key, (new, cancelled, active) in counts.items()
        }
    return cache[day]


def _cancelled_on(subscription: Subscription, day: dt.date) -> bool:
    if subscription.auto_renew_off_on == day:
        return True
    return subscription.churn_reason == "billing" and subscription.end == day


# -- estimated sales -------------------------------------------------------------------


def sales_file(day: dt.date) -> str:
    return f"sales_{day:%Y%m%d}.csv"


class SubscriptionSales(Dataset):
    source = SOURCE
    name = "subscription-sales"
    zone = "external"
    staging_table = "staging.google_play_subscription_sales"
    layout = Layout(SALES_COLUMNS, ",", quoted=True)
    # an order's charge and its refund share the order number
    event_key = ("order_number", "financial_status")

    def file_names(self, day: dt.date, settings: Settings) -> list[str]:
        return [sales_file(day)]

    def fetch(self, day: dt.date, settings: Settings) -> dict[str, bytes]:
        storage = CloudStorage(_config(settings))
        try:
            archive = storage.download(f"sales/salesreport_{day:%Y%m}.zip")
        finally:
            storage.close()
        return {sales_file(day): slice_sales(archive, day, f"salesreport_{day:%Y%m}.zip")}

    def check(self, settings: Settings) -> str:
        """Credentials and bucket access, without downloading a report."""
        return check(settings, "sales/")

    def parse(self, data: bytes, file_name: str) -> Parsed:
        text = csvtools.to_utf8(data, file_name)
        return read_delimited(text, file_name, SALES_COLUMNS, delimiter=",", quoted=True)

    def sample(self, day: dt.date, world: DemoWorld) -> dict[str, bytes]:
        header = [c.header for c in SALES_COLUMNS]
        return {sales_file(day): csvtools.write_csv(header, sales_rows(world, day))}


def slice_sales(archive: bytes, day: dt.date, archive_name: str) -> bytes:
    """The rows of one Order Charged Date from the month's zip, as UTF-8 CSV with the header.

    A month file that does not reach the day yet means Google has not published it.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
            members = [n for n in bundle.namelist() if n.lower().endswith(".csv")]
            if not members:
                raise BadInputError("the zip holds no .csv file", file=archive_name)
            data = bundle.read(members[0])
    except (zipfile.BadZipFile, *csvtools.GZIP_ERRORS, NotImplementedError, RuntimeError) as error:
        # a damaged member (zlib.error, EOFError), an unknown method or an encrypted one
        raise BadInputError(f"not a readable zip file: {error}", file=archive_name) from None
    header, rows = csvtools.rows_of(data, archive_name)
    folded = [h.strip().lower() for h in header]
    if "order charged date" not in folded:
        raise BadInputError(
            "missing required column 'Order Charged Date'",
            file=archive_name,
            line=1,
            field="Order Charged Date",
        )
    position = folded.index("order charged date")
    wanted = day.isoformat()
    dates = {row[position] for row in rows if len(row) > position}
    if not any(date >= wanted for date in dates):
        latest = max(dates) if dates else "no rows"
        raise NotReadyError(f"{archive_name}: no sales for {day} yet (latest: {latest})")
    picked = [row for row in rows if len(row) > position and row[position] == wanted]
    return csvtools.write_csv(header, picked)


def sales_rows(world: DemoWorld, day: dt.date) -> list[list[str]]:
    """Google Play charges and refunds of one day, in the sales report's columns."""
    rows = []
    for subscription in world.subscriptions:
        if subscription.plan.channel != "Google Play" or subscription.start > day:
            continue
        for index, period in enumerate(subscription.periods):
            if period.kind == "paid" and charged_on(subscription, period) == day:
                rows.append(_sale(subscription, index, day, "Charged", period.price))
            if period.refunded_on == day:
                rows.append(_sale(subscription, index, day, "Refund", -period.price))
    return rows


def charged_on(subscription: Subscription, period: Period) -> dt.date:
    """The charge day: a renewal after a grace period is paid when the card works again
    (the same day the viu-premium demo export records the renewal)."""
    if period.grace:
        return period.start + dt.timedelta(days=grace_days(subscription, period))
    return period.start


def order_number(subscription_id: str, index: int) -> str:
    """Google's order id: the purchase's own, then ``..0``, ``..1`` for each renewal."""
    number = int(subscription_id.lstrip("S"))
    base = (
        f"GPA.33{number % 100:02d}-{number // 100 % 10000:04d}-{number * 7 % 10000:04d}-"
        f"{number % 100000:05d}"
    )
    return base if index == 0 else f"{base}..{index - 1}"


def _sale(
    subscription: Subscription, index: int, day: dt.date, status: str, amount: float
) -> list[str]:
    previous = subscription.periods[index - 1] if index else None
    moment = dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(
        seconds=int(subscription.subscription_id.lstrip("S")) * 37 % 86400
    )
    plan = subscription.plan
    return [
        order_number(subscription.subscription_id, index),
        day.isoformat(),
        str(int(moment.timestamp())),
        status,
        "Pixel 7",
        f"{plan.plan_name} (tally Video)",
        DEMO_PACKAGE,
        "subscription",
        plan.product_id,
        subscription.currency,
        f"{abs(amount):,.2f}",
        "0.00",
        f"{amount:,.2f}",
        "",
        "",
        "",
        subscription.country,
        "monthly",
        "freetrial" if previous is not None and previous.kind == "trial" else "",
    ]


DATASETS = [SubscriptionStatistics(), SubscriptionSales()]
