"""viu-premium: the subscription system's two daily exports, read from a file drop.

``viu-premium-YYYYMMDD.csv.gz`` (subscriber-status) has one row per subscription as it
stands at the end of the export day; ``viu-premium-YYYYMMDD_transaction_subscription_<channel>
.csv.gz`` (transactions) has one row per billing event of that day, one file per billing
channel (``ios_iap``, ``android_iap``, ``csl``). The seed keys both under
``thirdparty/internal/viu-premium/YYYY/MM/DD/`` with no dataset folder. Columns, types and
value sets are documented in ``docs/sources.md`` (section "viu-premium").

The files come from a drop folder or S3 prefix configured as
``[sources.viu-premium] url = "s3://bucket/exports"`` (env ``TALLY_SOURCES__VIU_PREMIUM__URL``;
optionally ``path_template`` with
``{yyyy}``, ``{mm}``, ``{dd}`` and ``{file}``, and ``storage_options`` for fsspec).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import fsspec
import pyarrow as pa

from tally.errors import BadInputError, ConfigError, NotReadyError
from tally.sources import csvtools
from tally.sources._settings import source_settings
from tally.sources.base import BadRow, Dataset, Parsed
from tally.sources.delimited import MAX_LINE_BYTES

if TYPE_CHECKING:
    from tally.config import Settings
    from tally.sources.demo import DemoWorld, Period, Subscription

SOURCE = "viu-premium"
CHANNELS = ("ios_iap", "android_iap", "csl")
CHANNEL_OF_PLATFORM = {"iOS IAP": "ios_iap", "Android IAP": "android_iap", "Telco": "csl"}
STATUSES = ("active", "grace_period", "billing_retry", "expired", "refunded")
PAYMENT_STATUSES = ("free_trial", "paying", "none")
TRANSACTION_TYPES = (
    "trial_start",
    "purchase",
    "renewal",
    "refund",
    "grace_period_start",
    "billing_retry_start",
    "auto_renew_off",
)
GRACE_WINDOW_DAYS = 6  # access kept while the store retries a failed renewal
STATUS_KEEP_DAYS = 7  # an ended subscription stays in the export this long, then drops out
UTC = dt.UTC


# -- columns ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    read: Callable[[str], Any]
    required: bool = True  # a required column missing from the header fails the file
    nullable: bool = False  # an empty value is allowed (None)
    # on Spark: SQL over the trimmed value, its typed value where ``read`` surely gives the
    # same, else NULL (such rows come back and ``read`` names them)
    sure: str = "{value}"


def _text(value: str) -> str:
    return value


def _choice(allowed: tuple[str, ...]) -> Callable[[str], str]:
    def read(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return read


def _country(value: str) -> str:
    if len(value) != 2 or not value.isalpha() or not value.isupper():
        raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 code")
    return value


def _timestamp(value: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError(f"{value!r} has no UTC offset (expected e.g. 2026-11-01T10:00:00+08:00)")
    return moment.astimezone(UTC)


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ValueError(f"{value!r} is not a boolean (true/false)")


def _number(value: str) -> float:
    return float(value.replace(",", ""))


TIMESTAMP = pa.timestamp("us", tz="UTC")


def _spark_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _sure_choice(allowed: tuple[str, ...]) -> str:
    return f"CASE WHEN {{value}} IN ({', '.join(map(_spark_literal, allowed))}) THEN {{value}} END"


# what each read function surely takes, as Java patterns (stricter than Python: a value
# Python takes that these refuse leaves its file to Python)
_ISO_MOMENT = _spark_literal(
    r"^\d{4}-\d{2}-\d{2}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{3}|\.\d{6})?"
    r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)\z"
)
_NUMBER = _spark_literal(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?\z")
_COUNTRY = _spark_literal(r"^[A-Z]{2}\z")
_TRUE, _FALSE = _spark_literal(r"^(?i)(true|1|yes)\z"), _spark_literal(r"^(?i)(false|0|no)\z")
_CLEANED = "replace({value}, ',', '')"
SURE_COUNTRY = f"CASE WHEN {{value}} RLIKE {_COUNTRY} THEN {{value}} END"
SURE_TIMESTAMP = (
    f"CASE WHEN {{value}} RLIKE {_ISO_MOMENT} THEN TRY_CAST({{value}} AS TIMESTAMP_LTZ) END"
)
SURE_BOOLEAN = (
    f"CASE WHEN {{value}} RLIKE {_TRUE} THEN true WHEN {{value}} RLIKE {_FALSE} THEN false END"
)
SURE_NUMBER = (
    f"CASE WHEN {_CLEANED} RLIKE {_NUMBER} AND abs(TRY_CAST({_CLEANED} AS DOUBLE)) <> "
    f"CAST('Infinity' AS DOUBLE) THEN TRY_CAST({_CLEANED} AS DOUBLE) END"
)

STATUS_COLUMNS = (
    Column("user_id", pa.string(), _text),
    Column("subscription_id", pa.string(), _text),
    Column("country", pa.string(), _country, sure=SURE_COUNTRY),
    Column("platform", pa.string(), _text),
    Column("plan_code", pa.string(), _text),
    Column("product_id", pa.string(), _text),
    Column("channel", pa.string(), _text),
    Column("channel_sector", pa.string(), _text),
    Column("status", pa.string(), _choice(STATUSES), sure=_sure_choice(STATUSES)),
    Column(
        "payment_status",
        pa.string(),
        _choice(PAYMENT_STATUSES),
        sure=_sure_choice(PAYMENT_STATUSES),
    ),
    Column("start_time", TIMESTAMP, _timestamp, sure=SURE_TIMESTAMP),
    Column("current_period_start", TIMESTAMP, _timestamp, sure=SURE_TIMESTAMP),
    Column("expiry_time", TIMESTAMP, _timestamp, sure=SURE_TIMESTAMP),
    Column("auto_renew", pa.bool_(), _boolean, sure=SURE_BOOLEAN),
)

TRANSACTION_COLUMNS = (
    Column("transaction_id", pa.string(), _text),
    Column("subscription_id", pa.string(), _text),
    Column("user_id", pa.string(), _text),
    Column("country", pa.string(), _country, sure=SURE_COUNTRY),
    Column("platform", pa.string(), _text),
    Column("plan_code", pa.string(), _text),
    Column("product_id", pa.string(), _text),
    Column("channel", pa.string(), _text),
    Column("channel_sector", pa.string(), _text),
    Column("type", pa.string(), _choice(TRANSACTION_TYPES), sure=_sure_choice(TRANSACTION_TYPES)),
    Column("transaction_time", TIMESTAMP, _timestamp, sure=SURE_TIMESTAMP),
    Column("period_start", TIMESTAMP, _timestamp, sure=SURE_TIMESTAMP),
    Column("period_end", TIMESTAMP, _timestamp, sure=SURE_TIMESTAMP),
    Column("amount", pa.float64(), _number, sure=SURE_NUMBER),
    Column("currency", pa.string(), _text),
    Column("proceeds", pa.float64(), _number, sure=SURE_NUMBER),
)


def parse_csv(data: bytes, file_name: str, columns: tuple[Column, ...]) -> Parsed:
    """Typed rows of a (gzipped) export; bad rows named by file, line and field."""
    try:
        data = csvtools.gunzip(data, file_name)
    except BadInputError as error:
        # an unreadable file is one bad row standing for the whole file (counts as read)
        return Parsed(_empty(columns), [BadRow(file_name, 0, None, error.reason)], rows_read=1)
    # bytes that are not UTF-8 survive decoding as lone surrogates, found again per record
    # (its row quarantined, the others kept)
    text = data.decode("utf-8-sig", errors="surrogateescape")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [name.strip().lower() for name in next(reader, [])]
    except csv.Error as error:
        return Parsed(_empty(columns), [BadRow(file_name, 1, None, f"header: {error}")], 1)
    missing = [c.name for c in columns if c.required and c.name not in header]
    if missing:
        reason = f"missing required column(s) {', '.join(missing)}; header has {header}"
        return Parsed(_empty(columns), [BadRow(file_name, 1, missing[0], reason)], rows_read=1)
    known = {c.name for c in columns}
    unknown = [name for name in header if name not in known]
    position = {name: index for index, name in enumerate(header)}
    values: dict[str, list[Any]] = {c.name: [] for c in columns}
    # each good row's line in the file: which copy of a repeated transaction_id came last
    # (staging/viu_premium_transactions_latest.sql)
    lines: list[int] = []
    bad_rows: list[BadRow] = []
    rows_read = 0
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as error:  # e.g. a field over csv.field_size_limit(): that row only
            rows_read += 1
            bad_rows.append(BadRow(file_name, reader.line_num, None, f"not CSV: {error}"))
            continue
        if not record:
            continue
        rows_read += 1
        screened = _screened(record, file_name, reader.line_num)
        row = (
            screened
            if screened is not None
            else _read_row(record, columns, position, len(header), file_name, reader.line_num)
        )
        if isinstance(row, BadRow):
            bad_rows.append(row)
            continue
        for name, value in row.items():
            values[name].append(value)
        lines.append(reader.line_num)
    table = pa.table({c.name: pa.array(values[c.name], type=c.type) for c in columns})
    table = table.append_column("_line", pa.array(lines, pa.int64()))
    return Parsed(table, bad_rows, rows_read=rows_read, unknown_columns=unknown)


_SPARK_TYPES = {"string": "STRING", "double": "DOUBLE", "bool": "BOOLEAN"}


def read_on_cluster(
    spark: Any, url: str, key: str, compressed: bool, head: bytes, columns: tuple[Column, ...]
) -> Any:
    """An export read by a Spark cluster with ``parse_csv``'s result: the rows every
    column's ``sure`` types stay there; the others come back and ``_read_row`` names them
    (``delimited_spark.read_records_on_cluster``)."""
    from tally.sources.delimited_spark import RecordColumn, read_records_on_cluster
    from tally.sources.delimited_sql import NativeReadError

    if compressed != key.endswith(".gz"):
        raise NativeReadError(f"{key}: Spark un-gzips by the name's .gz, the bytes disagree")
    text = head[3:] if head.startswith(b"\xef\xbb\xbf") else head
    header = [
        name.strip().lower() for name in next(csv.reader([text.decode(errors="replace")]), [])
    ]
    if any(c.required and c.name not in header for c in columns):
        raise NativeReadError(f"{key}: a required column is missing (named in Python)")
    position = {name: index for index, name in enumerate(header)}

    def name_record(record: list[str], line: int) -> BadRow | dict[str, Any]:
        screened = _screened(record, key, line)
        if screened is not None:
            return screened
        return _read_row(record, columns, position, len(header), key, line)

    readable = [
        RecordColumn(
            c.name,
            "TIMESTAMP_LTZ" if pa.types.is_timestamp(c.type) else _SPARK_TYPES[str(c.type)],
            c.sure,
            c.nullable or not c.required,
        )
        for c in columns
    ]
    return read_records_on_cluster(spark, url, key, head, readable, name_record)


def _screened(record: list[str], file_name: str, line: int) -> BadRow | None:
    """A bad row for a record over the line limit or holding bytes that are not UTF-8."""
    size = sum(len(value) for value in record)
    if size > MAX_LINE_BYTES:
        reason = f"record of {size:,} characters, over the limit of {MAX_LINE_BYTES:,}"
        return BadRow(file_name, line, None, reason)
    text = ",".join(record)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        byte = ord(error.object[error.start]) - 0xDC00  # surrogateescape kept it as U+DCxx
        reason = f"not valid UTF-8 (byte 0x{byte:02x} in the record)"
        return BadRow(file_name, line, None, reason, text.encode("utf-8", "replace").decode())
    return None


def _read_row(
    record: list[str],
    columns: tuple[Column, ...],
    position: dict[str, int],
    width: int,
    file_name: str,
    line: int,
) -> dict[str, Any] | BadRow:
    if len(record) != width:  # the header's width: a name may be repeated in it
        reason = f"{len(record)} fields, header has {width}"
        return BadRow(file_name, line, None, reason, ",".join(record))
    row: dict[str, Any] = {}
    for column in columns:
        index = position.get(column.name)
        text = record[index].strip() if index is not None else ""
        if not text:
            if column.nullable or not column.required:
                row[column.name] = None
                continue
            return BadRow(file_name, line, column.name, "empty value", ",".join(record))
        try:
            row[column.name] = column.read(text)
        except ValueError as error:
            return BadRow(file_name, line, column.name, str(error), ",".join(record))
    return row


def _empty(columns: tuple[Column, ...]) -> pa.Table:
    fields = [pa.field(c.name, c.type) for c in columns] + [pa.field("_line", pa.int64())]
    return pa.schema(fields).empty_table()


def write_csv(rows: Iterable[dict[str, Any]], columns: tuple[Column, ...]) -> bytes:
    """Rows as a gzipped CSV in the export's format (ISO timestamps with offsets)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    for row in rows:
        writer.writerow([_format(row[c.name]) for c in columns])
    # mtime=0 so the same day always gives the same bytes (the lake refuses changed bytes)
    return gzip.compress(buffer.getvalue().encode("utf-8"), mtime=0)


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:.2f}"
    return "" if value is None else str(value)


# -- the file drop -----------------------------------------------------------------------


def fetch_files(day: dt.date, names: list[str], settings: Settings) -> dict[str, bytes]:
    """Read one day's export files from the configured folder or S3 prefix."""
    config = source_settings(settings, SOURCE)
    url = str(config.get("url", "")).rstrip("/")
    if not url:
        raise ConfigError(
            f"sources.{SOURCE}.url is not set: the drop folder or S3 prefix of the exports "
            "(env TALLY_SOURCES__VIU_PREMIUM__URL)"
        )
    template = str(config.get("path_template", "{file}"))
    protocol = url.split("://", 1)[0] if "://" in url else "file"
    options = dict(config.get("storage_options") or {})
    if protocol == "s3" and settings.s3_endpoint_url:
        options.setdefault("client_kwargs", {"endpoint_url": settings.s3_endpoint_url})
    filesystem = fsspec.filesystem(protocol, **options)
    root = url.split("://", 1)[1] if "://" in url else url
    found: dict[str, bytes] = {}
    for name in names:
        relative = template.format(yyyy=f"{day:%Y}", mm=f"{day:%m}", dd=f"{day:%d}", file=name)
        path = f"{root}/{relative}"
        try:
            found[name] = filesystem.cat_file(path)
        except FileNotFoundError as error:
            raise NotReadyError(f"{SOURCE}: {url}/{relative} is not there yet") from error
    return found


# -- datasets -----------------------------------------------------------------------------


class SubscriberStatus(Dataset):
    """One row per subscription as it stands at the end of the export day."""

    source = SOURCE
    name = "subscriber-status"
    zone = "internal"
    staging_table = "staging.viu_premium_subscriber_status"
    in_dataset_folder = False
    columns = STATUS_COLUMNS

    def file_names(self, day: dt.date, settings: Settings) -> list[str]:
        return [f"viu-premium-{day:%Y%m%d}.csv.gz"]

    def fetch(self, day: dt.date, settings: Settings) -> dict[str, bytes]:
        return fetch_files(day, self.file_names(day, settings), settings)

    def parse(self, data: bytes, file_name: str) -> Parsed:
        return parse_csv(data, file_name, self.columns)

    cluster_reader = True

    def read_on_cluster(self, spark: Any, url: str, key: str, compressed: bool, head: bytes) -> Any:
        return read_on_cluster(spark, url, key, compressed, head, self.columns)

    def sample(self, day: dt.date, world: DemoWorld) -> dict[str, bytes]:
        rows = [r for s in world.subscriptions if (r := status_row(s, day)) is not None]
        rows.sort(key=lambda row: row["subscription_id"])
        return {f"viu-premium-{day:%Y%m%d}.csv.gz": write_csv(rows, self.columns)}


class Transactions(Dataset):
    """One row per billing event of the day, one file per billing channel."""

    source = SOURCE
    name = "transactions"
    zone = "internal"
    staging_table = "staging.viu_premium_transactions"
    in_dataset_folder = False
    event_key = ("transaction_id",)
    columns = TRANSACTION_COLUMNS

    def file_names(self, day: dt.date, settings: Settings) -> list[str]:
        return [transaction_file(day, channel) for channel in CHANNELS]

    def fetch(self, day: dt.date, settings: Settings) -> dict[str, bytes]:
        return fetch_files(day, self.file_names(day, settings), settings)

    def parse(self, data: bytes, file_name: str) -> Parsed:
        return parse_csv(data, file_name, self.columns)

    cluster_reader = True

    def read_on_cluster(self, spark: Any, url: str, key: str, compressed: bool, head: bytes) -> Any:
        return read_on_cluster(spark, url, key, compressed, head, self.columns)

    def sample(self, day: dt.date, world: DemoWorld) -> dict[str, bytes]:
        events = _transactions_by_day(world).get(day, [])
        files = {}
        for channel in CHANNELS:
            rows = [row for key, row in events if key == channel]
            rows.sort(key=lambda row: (row["transaction_time"], row["transaction_id"]))
            files[transaction_file(day, channel)] = write_csv(rows, self.columns)
        return files


def transaction_file(day: dt.date, channel: str) -> str:
    return f"viu-premium-{day:%Y%m%d}_transaction_subscription_{channel}.csv.gz"


DATASETS: list[Dataset] = [SubscriberStatus(), Transactions()]


# -- demo data: how the subscription system would export DemoWorld ---------------------------

# both business zones are UTC+8 all year (no DST)
ZONE_OFFSET = {"HK": dt.timezone(dt.timedelta(hours=8)), "SG": dt.timezone(dt.timedelta(hours=8))}
DEFAULT_OFFSET = dt.timezone(dt.timedelta(hours=8))


def _number_of(subscription: Subscription) -> int:
    return int(subscription.subscription_id.lstrip("S") or 0)


def moment(subscription: Subscription, day: dt.date, extra_minutes: int = 0) -> dt.datetime:
    """A deterministic local time of day on ``day`` for this subscription's events."""
    offset = ZONE_OFFSET.get(subscription.country, DEFAULT_OFFSET)
    number = _number_of(subscription)
    minutes = (8 + number % 14) * 60 + number % 60 + extra_minutes
    return dt.datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=offset)


def grace_days(subscription: Subscription, period: Period) -> int:
    """Days a grace-period renewal stayed unpaid (1–5): derived, so DemoWorld's draws stay put."""
    return 1 + (_number_of(subscription) + period.start.toordinal()) % 5


def access_end(period: Period) -> dt.date:
    """A refund ends access on the refund day; otherwise the period's own end."""
    if period.refunded_on is not None and period.refunded_on < period.end:
        return period.refunded_on
    return period.end


def status_row(subscription: Subscription, day: dt.date) -> dict[str, Any] | None:
    """The subscription as the export of ``day`` shows it, or None when not listed."""
    known = [p for p in subscription.periods if p.start <= day]
    if not known:
        return None
    current = known[-1]
    upcoming = subscription.periods[len(known)] if len(known) < len(subscription.periods) else None
    end = access_end(current)
    expiry = moment(subscription, end)
    if day < end:
        grace = current.grace and day < current.start + dt.timedelta(
            days=grace_days(subscription, current)
        )
        status = "grace_period" if grace else "active"
        if grace:
            expiry = moment(subscription, current.start + dt.timedelta(days=GRACE_WINDOW_DAYS))
    elif upcoming is not None and upcoming.billing_retry_days:
        status = "billing_retry"
    elif (day - end).days > STATUS_KEEP_DAYS:
        return None
    else:
        status = "refunded" if end != current.end else "expired"
    plan = subscription.plan
    ongoing = status in ("active", "grace_period")
    return {
        "user_id": subscription.user_id,
        "subscription_id": subscription.subscription_id,
        "country": subscription.country,
        "platform": plan.platform,
        "plan_code": plan.plan_code,
        "product_id": plan.product_id,
        "channel": plan.channel,
        "channel_sector": plan.sector,
        "status": status,
        "payment_status": "free_trial" if current.kind == "trial" else "paying",
        "start_time": moment(subscription, subscription.start),
        "current_period_start": moment(subscription, current.start),
        "expiry_time": expiry,
        "auto_renew": ongoing
        and not (
            subscription.auto_renew_off_on is not None and subscription.auto_renew_off_on <= day
        ),
    }


_CACHE: weakref.WeakKeyDictionary[DemoWorld, dict[dt.date, list[tuple[str, dict[str, Any]]]]]
_CACHE = weakref.WeakKeyDictionary()


def _transactions_by_day(world: DemoWorld) -> dict[dt.date, list[tuple[str, dict[str, Any]]]]:
    if world not in _CACHE:
        index: dict[dt.date, list[tuple[str, dict[str, Any]]]] = {}
        for subscription in world.subscriptions:
            channel = CHANNEL_OF_PLATFORM.get(subscription.plan.platform)
            if channel is None:  # redemptions are not billed: they appear in the status only
                continue
            for row in subscription_transactions(subscription):
                index.setdefault(row["transaction_time"].date(), []).append((channel, row))
        _CACHE[world] = index
    return _CACHE[world]


def subscription_transactions(subscription: Subscription) -> list[dict[str, Any]]:
    """Every billing event of one demo subscription, in the export's row shape."""
    rows: list[dict[str, Any]] = []
    previous: Period | None = None

    def add(kind: str, on: dt.date, period: Period, end: dt.date, amount: float) -> None:
        when = moment(subscription, on, extra_minutes=len(rows))
        rows.append(_transaction(subscription, kind, when, period.start, end, amount, len(rows)))

    for period in subscription.periods:
        if period.kind == "trial":
            add("trial_start", period.start, period, period.end, 0.0)
        elif previous is None:
            add("purchase", period.start, period, period.end, period.price)
        elif period.billing_retry_days:
            add("billing_retry_start", previous.end, previous, previous.end, 0.0)
            add("renewal", period.start, period, period.end, period.price)
        elif period.grace:
            grace_end = period.start + dt.timedelta(days=GRACE_WINDOW_DAYS)
            add("grace_period_start", period.start, period, grace_end, 0.0)
            paid_on = period.start + dt.timedelta(days=grace_days(subscription, period))
            add("renewal", paid_on, period, period.end, period.price)
        else:
            add("renewal", period.start, period, period.end, period.price)
        if period.refunded_on is not None:
            add("refund", period.refunded_on, period, period.end, -period.price)
        previous = period
    off = subscription.auto_renew_off_on
    if off is not None and previous is not None:
        current = next((p for p in subscription.periods if p.start <= off < p.end), previous)
        add("auto_renew_off", off, current, current.end, 0.0)
    if subscription.churn_reason == "billing" and previous is not None:
        add("billing_retry_start", previous.end, previous, previous.end, 0.0)
    return rows


def _transaction(
    subscription: Subscription,
    kind: str,
    when: dt.datetime,
    start: dt.date,
    end: dt.date,
    amount: float,
    sequence: int,
) -> dict[str, Any]:
    plan = subscription.plan
    share = 0.85 if plan.sector == "Telco" else 0.70  # stores keep 30 %, the telco 15 %
    return {
        "transaction_id": f"T{subscription.subscription_id[1:]}-{sequence:03d}",
        "subscription_id": subscription.subscription_id,
        "user_id": subscription.user_id,
        "country": subscription.country,
        "platform": plan.platform,
        "plan_code": plan.plan_code,
        "product_id": plan.product_id,
        "channel": plan.channel,
        "channel_sector": plan.sector,
        "type": kind,
        "transaction_time": when,
        "period_start": moment(subscription, start),
        "period_end": moment(subscription, end),
        "amount": round(amount, 2),
        "currency": subscription.currency,
        "proceeds": round(amount * share, 2),
    }
