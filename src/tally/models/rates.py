"""Exchange rates as tables the money marts join to: ``marts.dim_exchange_rate`` and, one
row per day, ``marts.dim_exchange_rate_day``.

The rates come from the exchange-rate sheet (``google-drive / exchange-rates``: units of each
currency per US dollar, a row per day and currency), an optional source; the reporting
currency from the setting ``marts.reporting_currency``. Like the countries and plan names,
the table is written before the models run, so the money marts build without a sheet (then
only money already in the reporting currency converts).

One row per currency and stretch of days with one factor:

    currency, valid_from, valid_to (exclusive), reporting_currency, to_reporting

so that ``amount * to_reporting`` is the amount in the reporting currency on any day in
``[valid_from, valid_to)``. The factor is ``per_usd(reporting) / per_usd(currency)``, each
rate the newest one quoted on or before the day (a weekend or holiday keeps the last
rate). A day before a currency's (or the reporting currency's) first rate has no row: the
marts leave its converted figure empty rather than guess. The reporting currency itself
converts at 1 on every day. The newest snapshot of the sheet is the rate history; a rate
revised for a past day reaches the days the daily build does not recompute with the next
full build (as plan names do).

The same factors one row per currency and day, ``marts.dim_exchange_rate_day``:

    currency, day, reporting_currency, to_reporting

from the day before the first quote of any currency but the reporting one to the last day
any factor changes (the reporting currency alone on that first day). The marts join it on
equality, the day clamped into that span: a later day takes the last day's factors (every
currency's last stretch runs on), an earlier one the first day's, where only the reporting
currency has a row. An equality join is a hash join; the stretches' range join sorted every
row joined (with a daily rate sheet, ``subscription_mrr`` took 7 times as long).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_right

import pyarrow as pa

from tally.config import Settings
from tally.warehouse import Warehouse
from tally.warehouse.sqlfiles import sql_file

TABLE = "marts.dim_exchange_rate"
DAY_TABLE = "marts.dim_exchange_rate_day"
SOURCE = "staging.google_drive_exchange_rates"
MODELS = "tally.models"  # the newest snapshot: staging/_exchange_rates_newest.sql
FIRST_DAY = dt.date(1, 1, 1)
LAST_DAY = dt.date(9999, 12, 31)
SCHEMA = pa.schema(
    [
        ("currency", pa.string()),
        ("valid_from", pa.date32()),
        ("valid_to", pa.date32()),
        ("reporting_currency", pa.string()),
        ("to_reporting", pa.float64()),
    ]
)

DAY_SCHEMA = pa.schema(
    [
        ("currency", pa.string()),
        ("day", pa.date32()),
        ("reporting_currency", pa.string()),
        ("to_reporting", pa.float64()),
    ]
)

Quotes = dict[str, tuple[list[dt.date], list[float]]]  # currency → (days, per USD), by day


def read_quotes(warehouse: Warehouse) -> Quotes:
    """currency → its quoted days and rates (per US dollar) from the newest sheet."""
    quotes: dict[str, dict[dt.date, float]] = {}
    if warehouse.table_exists(SOURCE):
        newest = sql_file(MODELS, "staging/_exchange_rates_newest.sql")
        for day, currency, per_usd in warehouse.rows(newest):
            quotes.setdefault(currency, {})[day] = float(per_usd)
    quotes.setdefault("USD", {}).setdefault(FIRST_DAY, 1.0)  # the base is 1 on every day
    return {
        currency: (sorted(rates), [rates[day] for day in sorted(rates)])
        for currency, rates in quotes.items()
    }


def rate_on(quotes: Quotes, currency: str, day: dt.date) -> float | None:
    """Units of ``currency`` per US dollar on ``day`` (the newest quote on or before it)."""
    if currency not in quotes:
        return None
    days, rates = quotes[currency]
    index = bisect_right(days, day) - 1
    return rates[index] if index >= 0 else None


# one stretch of days with one factor: currency, valid_from, valid_to (exclusive), factor
Stretch = tuple[str, dt.date, dt.date, float]


def factor_rows(quotes: Quotes, reporting: str) -> list[Stretch]:
    """The table's rows (but the reporting currency, the same on each): per currency, one
    row per stretch of days with one factor."""
    rows: list[Stretch] = [(reporting, FIRST_DAY, LAST_DAY, 1.0)]
    for currency in sorted(quotes):
        if currency == reporting or reporting not in quotes:
            continue
        changes = sorted({*quotes[currency][0], *quotes[reporting][0]})
        for index, day in enumerate(changes):
            own, target = rate_on(quotes, currency, day), rate_on(quotes, reporting, day)
            if own is None or target is None:
                continue
            until = changes[index + 1] if index + 1 < len(changes) else LAST_DAY
            rows.append((currency, day, until, target / own))
    return rows


def stretch_table(rows: list[Stretch], reporting: str) -> pa.Table:
    """``factor_rows``' stretches as ``marts.dim_exchange_rate``'s rows (built by column:
    a dictionary per row cost the daily build ~5 ms at two years of daily rates)."""
    currencies, starts, ends, factors = ([r[n] for r in rows] for n in range(4))
    return pa.table([currencies, starts, ends, [reporting] * len(rows), factors], schema=SCHEMA)


def day_rows(rows: list[Stretch], reporting: str) -> pa.Table:
    """``factor_rows``' stretches as one row per currency and day (module doc): from the
    day before the first stretch of a currency other than the reporting one to the last
    stretch's first day."""
    starts = [start for _, start, _, _ in rows if start != FIRST_DAY]
    first = min(starts) - dt.timedelta(days=1) if starts else FIRST_DAY
    last = max(starts, default=first)
    one = dt.timedelta(days=1)
    # plain lists, not numpy: most stretches are one day, and Arrow reading numpy object and
    # datetime64 arrays imports numpy.ma and dateutil on first use (0.07 s of the daily
    # build's CPU in a fresh process); a one-day stretch takes the short way
    currencies: list[str] = []
    days: list[dt.date] = []
    factors: list[float] = []
    for currency, start, end, factor in rows:
        begin = max(start, first)
        stop = min(end - one, last)
        if begin == stop:
            currencies.append(currency)
            days.append(begin)
            factors.append(factor)
        elif begin < stop:
            count = (stop - begin).days + 1
            currencies += [currency] * count
            days += [begin + dt.timedelta(days=offset) for offset in range(count)]
            factors += [factor] * count
    return pa.table([currencies, days, [reporting] * len(days), factors], schema=DAY_SCHEMA)


def write_rates(warehouse: Warehouse, settings: Settings) -> int:
    """Replace ``marts.dim_exchange_rate`` and ``marts.dim_exchange_rate_day``; returns the
    first's row count."""
    reporting = settings.marts.reporting_currency
    rows = factor_rows(read_quotes(warehouse), reporting)
    stretches = stretch_table(rows, reporting)
    with warehouse.transaction():
        for table, written in ((TABLE, stretches), (DAY_TABLE, day_rows(rows, reporting))):
            if warehouse.table_exists(table):
                warehouse.execute(f"DELETE FROM {table}")
            warehouse.append(table, written)
    return int(stretches.num_rows)
