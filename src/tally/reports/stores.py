"""The store-reported figures beside tally's own, as sheets of the subscription workbook.

"Store figures" has one row per period of the Summary:
- App Store: tally's iOS IAP active subscribers and Apple's count on the period's newest
  day with both (``marts.reconciliation_app_store``), their difference (tally - Apple), and
  the subscription events Apple counted in the period (``marts.store_fact_apple``);
- Google Play: the same for Android IAP (``marts.reconciliation_google_play``), and Google's
  new and cancelled subscriptions (``marts.store_fact_google``) beside tally's Android IAP
  New subscriber and Churn (``marts.report_fact``).
"Apple events" lists Apple's counts per event in each period. A store whose marts are not
built (its reports not loaded yet) leaves its columns empty; with neither, no sheet.
Apple's day is Pacific time, tally's the country's: small differences are expected.
"""

from __future__ import annotations

import datetime as dt

from tally.reports.analytics import Sheet
from tally.reports.fact import last_periods, period_end, period_start
from tally.warehouse import Warehouse
from tally.warehouse.sqlfiles import sql_file

PERIODS_SHOWN = {"daily": 14, "weekly": 13, "monthly": 12}
HEADER = [
    "period",
    "iOS: tally active",
    "iOS: Apple active",
    "iOS: difference",
    "Apple events",
    "Android: tally active",
    "Android: Google active",
    "Android: difference",
    "Google new",
    "tally Android new",
    "Google cancelled",
    "tally Android churn",
]


def store_sheets(warehouse: Warehouse, country: str, period: str, day: dt.date) -> list[Sheet]:
    """The store sheets of one country's workbook (none before any store mart is built)."""
    has = {t: warehouse.table_exists(f"marts.{t}") for t in _TABLES}
    if not any(has.values()):
        return []
    starts = last_periods(day, period, PERIODS_SHOWN[period])
    first, last = starts[0], period_end(starts[-1], period)
    ios = _active(warehouse, "reconciliation_app_store", "apple_active", country, period, last)
    android = _active(
        warehouse, "reconciliation_google_play", "google_active", country, period, last
    )
    apple = _events(warehouse, "store_fact_apple", "meta_3", country, period, first, last)
    google = _events(warehouse, "store_fact_google", "type", country, period, first, last)
    ours = _tally_android(warehouse, country, period, first, last)
    known = [*ios, *android, *apple, *google, *(start for start, _ in ours)]
    rows = []
    for start in starts:
        if not known or start < min(known):
            continue  # before the data starts: no row, rather than zeros
        tally_ios, store_ios = ios.get(start, (None, None))
        tally_android, store_android = android.get(start, (None, None))
        events = apple.get(start, {})
        rows.append(
            [start, tally_ios, store_ios, _difference(tally_ios, store_ios)]
            + [sum(events.values()) if has["store_fact_apple"] else None]
            + [tally_android, store_android, _difference(tally_android, store_android)]
            + [google.get(start, {}).get("store_google_new") if has["store_fact_google"] else None]
            + [ours.get((start, "New subscriber"), 0)]
            + [
                google.get(start, {}).get("store_google_cancelled")
                if has["store_fact_google"]
                else None
            ]
            + [ours.get((start, "Churn"), 0)]
        )
    sheets = [Sheet("Store figures", _NOTE.format(period=period), HEADER, rows)]
    if apple:
        sheets.append(_apple_sheet(apple, period))
    return sheets


_TABLES = (
    "reconciliation_app_store",
    "reconciliation_google_play",
    "store_fact_apple",
    "store_fact_google",
)
_NOTE = (
    "What the stores report beside tally's own figures, {period}. Active: the period's "
    "newest day with both counts; difference = tally - store. Flows are the period's sums."
)


def _difference(ours: int | None, theirs: int | None) -> int | None:
    return None if ours is None or theirs is None else ours - theirs


def _active(
    warehouse: Warehouse, table: str, column: str, country: str, period: str, last: dt.date
) -> dict[dt.date, tuple[int, int]]:
    """Period start → (tally, store) active on the newest day of the period with a row."""
    if not warehouse.table_exists(f"marts.{table}"):
        return {}
    found = warehouse.rows(
        f"SELECT day, tally_active, {column} FROM marts.{table} "
        "WHERE country = ? AND day <= ? ORDER BY day",
        [country, last],
    )
    newest: dict[dt.date, tuple[int, int]] = {}
    for day, ours, theirs in found:  # in day order: a period keeps its newest day
        newest[period_start(day, period)] = (int(ours), int(theirs))
    return newest


def _events(
    warehouse: Warehouse,
    table: str,
    key: str,
    country: str,
    period: str,
    first: dt.date,
    last: dt.date,
) -> dict[dt.date, dict[str, float]]:
    """Period start → the store's counts per ``key`` (Apple's event, Google's type)."""
    if not warehouse.table_exists(f"marts.{table}"):
        return {}
    found = warehouse.rows(
        sql_file("tally.reports", "queries/store_counts.sql", table=table, key=key),
        [country, period, first, last],
    )
    counts: dict[dt.date, dict[str, float]] = {}
    for start, name, value in found:
        counts.setdefault(start, {})[str(name)] = int(value)
    return counts


def _tally_android(
    warehouse: Warehouse, country: str, period: str, first: dt.date, last: dt.date
) -> dict[tuple[dt.date, str], int]:
    found = warehouse.rows(
        sql_file("tally.reports", "queries/android_counts.sql"),
        [country, period, first, last],
    )
    return {(start, metric): int(value) for start, metric, value in found}


def _apple_sheet(apple: dict[dt.date, dict[str, float]], period: str) -> Sheet:
    events = sorted({name for counts in apple.values() for name in counts})
    rows = [[start, *[apple[start].get(e, 0) for e in events]] for start in sorted(apple)]
    note = f"Apple's subscription events (SUBSCRIPTION_EVENT report), {period}, per event."
    return Sheet("Apple events", note, ["period", *events], rows)


__all__ = ["store_sheets"]
