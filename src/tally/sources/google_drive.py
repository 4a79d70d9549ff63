"""Google Drive: sheets the business keeps by hand, snapshotted once a day as CSV.

Origin: the Sheets API ``GET /v4/spreadsheets/<id>/values/<range>`` (``values.get``) with a
service-account token; share each sheet with the service account's e-mail. The answer's
``values`` (rows of formatted cells, trailing empty cells left out) are written as CSV,
gzip'd, one file per sheet: ``<name>-YYYY-MM-DD.csv.gz`` in one folder for the source.

- ``iap-plan-map``: store product id → plan name, plan code, platform, channel; the loads of
  both stores' data use it to name plans.
- ``ad-unit-id-mapping``: ad unit id → name, platform, position, country.
- ``telco-performance``: telco partners' daily figures, typed in by the partnership team.
- ``exchange-rates``: units of each currency per US dollar, one row per day and currency
  (finance keeps it, e.g. with ``=GOOGLEFINANCE("CURRENCY:USDHKD")``); the marts convert
  money to the reporting currency with it (``tally/models/rates.py``).
"""

from __future__ import annotations

import datetime as dt
import gzip
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyarrow as pa

from tally.errors import BadInputError, ConfigError
from tally.sources import csvtools
from tally.sources._google import bearer_headers
from tally.sources._settings import source_settings
from tally.sources.base import Dataset, Parsed
from tally.sources.delimited import Column, Layout, RowRule, apply_rule, read_delimited
from tally.sources.http import HttpClient
from tally.sources.itunes import apple_id
from tally.sources.viu_premium import status_row, subscription_transactions

if TYPE_CHECKING:
    from tally.config import Settings
    from tally.sources.demo import DemoWorld

SOURCE = "google-drive"
SHEETS_SCOPE = "https://www.googleapis.com/auth/spreadsheets.readonly"

PLAN_MAP_COLUMNS = (
    Column("Product ID", "product_id", "text", required=True, aliases=("SKU", "SKU ID")),
    Column("Plan Name", "plan_name", "text", required=True),
    Column("Plan Code", "plan_code", "text", required=True),
    Column("Platform", "platform", "text"),
    Column("Channel Name", "channel_name", "text", aliases=("Channel",)),
    Column("Channel Sector", "channel_sector", "text", aliases=("Sector",)),
    # App Store reports name a subscription by its Apple ID, not by the product id
    Column("Apple ID", "apple_id", "int", aliases=("Subscription Apple ID",)),
)

AD_UNIT_COLUMNS = (
    Column("Ad Unit ID", "ad_unit_id", "text", required=True),
    Column("Ad Unit Name", "ad_unit_name", "text"),
    Column("Platform", "platform", "text"),
    Column("Position", "position", "text"),
    Column("Country", "country", "text"),
)

TELCO_COLUMNS = (
    Column("Date", "date", "date", required=True),
    Column("Country", "country", "text", required=True),
    Column("Telco", "telco", "text", required=True),
    Column("Plan Code", "plan_code", "text"),
    Column("New Subscriptions", "new_subscriptions", "int"),
    Column("Cancelled Subscriptions", "cancelled_subscriptions", "int"),
    Column("Active Subscriptions", "active_subscriptions", "int"),
    Column("Revenue", "revenue", "amount"),
    Column("Currency", "currency", "text"),
)

EXCHANGE_RATE_COLUMNS = (
    Column("Date", "date", "date", required=True),
    Column("Currency", "currency", "text", required=True, aliases=("Currency Code",)),
    Column("Per USD", "per_usd", "float", required=True, aliases=("Units per USD", "Rate")),
)


# -- the Sheets client -----------------------------------------------------------------


class Sheets:
    """``values.get`` of the Sheets API v4."""

    def __init__(self, config: dict[str, Any], **client_options: Any) -> None:
        self.base_url = (config.get("api_url") or "https://sheets.googleapis.com").rstrip("/")
        headers = bearer_headers(config, SOURCE, [SHEETS_SCOPE])
        if headers is None:
            raise ConfigError(
                f"sources.{SOURCE}: set credentials_file (a service-account JSON "
                "key the sheets are shared with) or credentials_json"
            )
        # a missing spreadsheet is a wrong id, not a report still to come
        self.http = HttpClient(
            "Google Sheets", headers=headers, not_found_is_not_ready=False, **client_options
        )

    def values(self, spreadsheet_id: str, cell_range: str) -> list[list[str]]:
        """The range's rows: numbers unformatted (no "1,204"), dates as the sheet shows them."""
        url = (
            f"{self.base_url}/v4/spreadsheets/{quote(spreadsheet_id, safe='')}/values/"
            f"{quote(cell_range, safe='')}"
        )
        params = {
            "majorDimension": "ROWS",
            "valueRenderOption": "UNFORMATTED_VALUE",
            "dateTimeRenderOption": "FORMATTED_STRING",
        }
        body = self.http.get(url, params=params).json()
        return [[_cell(cell) for cell in row] for row in body.get("values", [])]

    def close(self) -> None:
        self.http.close()


def _cell(value: Any) -> str:
    """A cell as CSV text: whole floats without ".0", booleans as the sheet spells them."""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def sheet_config(settings: Settings, name: str) -> tuple[dict[str, Any], str, str]:
    """The source's config, and the spreadsheet id and range of one sheet."""
    config = source_settings(settings, SOURCE)
    sheets = config.get("sheets") or {}
    # a variable spells the name with underscores (TALLY_..._SHEETS__IAP_PLAN_MAP__...)
    sheet = sheets.get(name) or sheets.get(name.replace("-", "_")) or {}
    if not sheet.get("spreadsheet_id"):
        variable = f"TALLY_SOURCES__GOOGLE_DRIVE__SHEETS__{name.replace('-', '_').upper()}"
        raise ConfigError(
            f"sources.{SOURCE}.sheets.{name}.spreadsheet_id is required (and "
            f"range, e.g. 'Sheet1!A1:H'); env {variable}__SPREADSHEET_ID"
        )
    return config, str(sheet["spreadsheet_id"]), str(sheet.get("range") or "A:Z")


def rows_to_csv(rows: list[list[str]], where: str) -> bytes:
    """CSV with the sheet's first row as header; short rows padded (the API trims them)."""
    if not rows or not any(cell.strip() for cell in rows[0]):
        raise BadInputError("the sheet range is empty: no header row", file=where, line=1)
    width = len(rows[0])
    body = [row + [""] * (width - len(row)) for row in rows[1:]]
    return csvtools.write_csv(rows[0], body)


def with_every_column(table: pa.Table, columns: tuple[Column, ...]) -> pa.Table:
    """Optional columns a sheet leaves out added as NULLs, so the staging table and the
    models that read it always have them."""
    for column in columns:
        if column.name not in table.column_names:
            kind = ARROW_KINDS[column.kind]
            table = table.append_column(column.name, pa.nulls(table.num_rows, kind))
    return table


ARROW_KINDS = {
    "text": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "amount": pa.float64(),
    "date": pa.date32(),
}


# -- the datasets ----------------------------------------------------------------------


class SheetDataset(Dataset):
    """One sheet, snapshotted each day."""

    source = SOURCE
    zone = "internal"
    in_dataset_folder = False

    def __init__(
        self,
        name: str,
        columns: tuple[Column, ...],
        demo: Callable[[dt.date, DemoWorld], list[list[str]]],
        cumulative: bool = False,
    ) -> None:
        self.name = name
        self.cumulative = cumulative
        self.columns = columns
        self.demo = demo
        self.staging_table = f"staging.google_drive_{name.replace('-', '_')}"
        self.layout = Layout(columns, ",", quoted=True, every_column=True)

    def file_name(self, day: dt.date) -> str:
        return f"{self.name}-{day:%Y-%m-%d}.csv.gz"

    def file_names(self, day: dt.date, settings: Settings) -> list[str]:
        return [self.file_name(day)]

    def fetch(self, day: dt.date, settings: Settings) -> dict[str, bytes]:
        config, spreadsheet_id, cell_range = sheet_config(settings, self.name)
        sheets = Sheets(config)
        try:
            rows = sheets.values(spreadsheet_id, cell_range)
        finally:
            sheets.close()
        data = rows_to_csv(rows, f"sheet {spreadsheet_id} range {cell_range}")
        return {self.file_name(day): gzip.compress(data, mtime=0)}

    def check(self, settings: Settings) -> str:
        """The sheet is shared with the key and its header has the required columns."""
        config, spreadsheet_id, cell_range = sheet_config(settings, self.name)
        sheets = Sheets(config)
        try:
            rows = sheets.values(spreadsheet_id, cell_range)
        finally:
            sheets.close()
        where = f"sheet {spreadsheet_id} range {cell_range}"
        header = rows[0] if rows else []
        missing = [
            c.header for c in self.columns if c.required and not any(c.matches(h) for h in header)
        ]
        if not header or missing:
            raise ConfigError(
                f"sources.{SOURCE}.sheets.{self.name}: {where} lacks the column(s) "
                f"{', '.join(missing or [c.header for c in self.columns if c.required])} "
                f"in its first row (found: {', '.join(header) or 'nothing'})"
            )
        return f"{where}: {len(rows) - 1} rows, header ok"

    def parse(self, data: bytes, file_name: str) -> Parsed:
        text = csvtools.gunzip(data, file_name)
        text = csvtools.to_utf8(text, file_name)
        parsed = read_delimited(text, file_name, self.columns, delimiter=",", quoted=True)
        parsed.table = with_every_column(parsed.table, self.columns)
        return parsed

    def sample(self, day: dt.date, world: DemoWorld) -> dict[str, bytes]:
        header = [column.header for column in self.columns]
        data = csvtools.write_csv(header, self.demo(day, world))
        return {self.file_name(day): gzip.compress(data, mtime=0)}


def demo_plan_map(day: dt.date, world: DemoWorld) -> list[list[str]]:
    """Every product id the world sells, so both stores' rows find their plan."""
    return [
        [
            p.product_id,
            p.plan_name,
            p.plan_code,
            p.platform,
            p.channel,
            p.sector,
            str(apple_id(p.product_id)) if p.channel == "App Store" else "",
        ]
        for p in world.plans
    ]


DEMO_AD_UNITS = (
    ("21700001", "tally_hk_ios_preroll", "iOS", "Pre-roll", "HK"),
    ("21700002", "tally_hk_android_preroll", "Android", "Pre-roll", "HK"),
    ("21700003", "tally_hk_web_banner_top", "Web", "Banner top", "HK"),
    ("21700004", "tally_sg_ios_preroll", "iOS", "Pre-roll", "SG"),
    ("21700005", "tally_sg_android_midroll", "Android", "Mid-roll", "SG"),
    ("21700006", "tally_sg_web_banner_top", "Web", "Banner top", "SG"),
)


def demo_ad_units(day: dt.date, world: DemoWorld) -> list[list[str]]:
    return [list(unit) for unit in DEMO_AD_UNITS]


def demo_telco(day: dt.date, world: DemoWorld) -> list[list[str]]:
    """The month so far, one row per day and telco plan, as the team types it in."""
    rows = []
    for date in (day.replace(day=d) for d in range(1, day.day + 1)):
        for (plan_code, country, currency, telco), figures in sorted(
            telco_figures(world, date).items()
        ):
            new, cancelled, active, revenue = figures
            rows.append(
                [
                    date.isoformat(),
                    country,
                    telco,
                    plan_code,
                    str(new),
                    str(cancelled),
                    str(active),
                    f"{revenue:.2f}",
                    currency,
                ]
            )
    return rows


BILLED = ("purchase", "renewal", "refund")
# (new, cancelled, active, revenue) of a telco plan on a day
TelcoFigures = tuple[int, int, int, float]
_telco_cache: weakref.WeakKeyDictionary[
    DemoWorld, dict[dt.date, dict[tuple[str, ...], TelcoFigures]]
] = weakref.WeakKeyDictionary()


def telco_figures(world: DemoWorld, day: dt.date) -> dict[tuple[str, ...], TelcoFigures]:
    """(plan code, country, currency, telco) → (new, cancelled, active, revenue) on a day."""
    cache = _telco_cache.setdefault(world, {})
    if day not in cache:
        cache[day] = _count_telco(world, day)
    return cache[day]


def _count_telco(world: DemoWorld, day: dt.date) -> dict[tuple[str, ...], TelcoFigures]:
    figures: dict[tuple[str, ...], list[float]] = {}
    for subscription in world.subscriptions:
        plan = subscription.plan
        if plan.platform != "Telco" or subscription.start > day:
            continue
        key = (plan.plan_code, subscription.country, subscription.currency, plan.channel)
        row = figures.setdefault(key, [0, 0, 0, 0.0])
        # read as the viu-premium export reads the world, so the telco's sheet and the
        # subscription system's csl transactions agree
        status = status_row(subscription, day)
        row[0] += subscription.start == day
        row[1] += subscription.churn_reason != "" and subscription.end == day
        row[2] += status is not None and status["status"] in ("active", "grace_period")
        row[3] += sum(
            t["amount"]
            for t in subscription_transactions(subscription)
            if t["transaction_time"].date() == day and t["type"] in BILLED
        )
    return {
        key: (int(new), int(cancelled), int(active), revenue)
        for key, (new, cancelled, active, revenue) in figures.items()
    }


class ExchangeRateSheet(SheetDataset):
    """The exchange-rate sheet: a rate that is not a positive number, or a currency that is
    not a three-letter ISO 4217 code, is a bad row (a zero rate would divide by zero)."""

    def __init__(self, *arguments: Any, **options: Any) -> None:
        super().__init__(*arguments, **options)
        # on Spark, plain A-Z codes and positive rates pass; any other row is named by
        # rate_problem (and a file with a row it takes, a non-ASCII upper-case code, is
        # read in Python)
        passes = "currency RLIKE '^[A-Z]{3}$' AND per_usd > 0"
        rule = RowRule(("currency", "per_usd"), rate_problem, passes)
        self.layout = Layout(self.columns, ",", quoted=True, every_column=True, rule=rule)

    def parse(self, data: bytes, file_name: str) -> Parsed:
        assert self.layout is not None and self.layout.rule is not None
        return apply_rule(super().parse(data, file_name), self.layout.rule, file_name)


def rate_problem(code: str | None, rate: float | None) -> tuple[str | None, str | None]:
    """Why a rate row cannot be used (reason, column), or (None, None)."""
    if not code or len(code) != 3 or not code.isalpha() or not code.isupper():
        return f"{code!r} is not a three-letter ISO 4217 currency code", "Currency"
    if rate is None or not rate > 0:
        return f"{rate!r} is not a positive rate", "Per USD"
    return None, None


# units per US dollar the demo's rates start from, and how far they drift a day
# the world simulates subscriptions from 90 days before its first day: rates cover them
DEMO_RATE_HISTORY_DAYS = 120
DEMO_RATES = {"USD": (1.0, 0.0), "HKD": (7.80, 0.002), "SGD": (1.34, 0.003)}


def demo_rate(currency: str, day: dt.date) -> float:
    """A deterministic rate wandering a little around its start (a 29-day cycle)."""
    base, step = DEMO_RATES[currency]
    wobble = ((day.toordinal() * 7) % 29 - 14) / 14
    return round(base * (1 + step * wobble), 6)


def demo_exchange_rates(day: dt.date, world: DemoWorld) -> list[list[str]]:
    """Every day of the world so far (finance's sheet keeps the history), one row per
    currency; weekends repeat Friday's rate, as the markets are closed."""
    rows = []
    date = world.start - dt.timedelta(days=DEMO_RATE_HISTORY_DAYS)
    while date <= day:
        quoted = date - dt.timedelta(days=max(0, date.weekday() - 4))
        for currency in DEMO_RATES:
            rows.append([date.isoformat(), currency, f"{demo_rate(currency, quoted):.6f}"])
        date += dt.timedelta(days=1)
    return rows


DATASETS = [
    SheetDataset("ad-unit-id-mapping", AD_UNIT_COLUMNS, demo_ad_units),
    SheetDataset("telco-performance", TELCO_COLUMNS, demo_telco, cumulative=True),  # month so far
    SheetDataset("iap-plan-map", PLAN_MAP_COLUMNS, demo_plan_map),
    ExchangeRateSheet("exchange-rates", EXCHANGE_RATE_COLUMNS, demo_exchange_rates),
]
