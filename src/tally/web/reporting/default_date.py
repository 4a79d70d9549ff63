"""The date a dashboard or a Reporting API call without ``date`` opens on.

Matomo opens on "yesterday" in the site's time zone. A site whose data stops earlier (the
demo, generated up to yesterday in UTC, seen after 16:00 UTC from Hong Kong; a tracker that
went quiet) would then open on an empty day, so when yesterday has no visit the default is
the newest day that has one, and the note says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from tally.warehouse import Warehouse
from tally.web.reporting import periods


@dataclass(frozen=True)
class DefaultDate:
    date: str  # a ``date`` parameter: "yesterday", "last7", "YYYY-MM-DD" or "D1,D2"
    note: str  # empty unless the default moved off yesterday


def default_date(
    warehouse: Warehouse,
    idsite: int,
    timezone: str,
    period: str = "day",
    now: dt.datetime | None = None,
) -> DefaultDate:
    """Yesterday in the site's zone, or the newest day with visits when yesterday has none."""
    usual = "last7" if period == "range" else "yesterday"
    yesterday = periods.site_today(timezone, now) - dt.timedelta(days=1)
    newest = _newest_visit_day(warehouse, idsite)
    if newest is None or newest >= yesterday or _has_visits(warehouse, idsite, yesterday):
        return DefaultDate(usual, "")
    note = (
        f"No visits yesterday ({yesterday}, {timezone}); showing {newest}, "
        "the newest day with data."
    )
    if period == "range":
        return DefaultDate(f"{newest - dt.timedelta(days=6)},{newest}", note)
    return DefaultDate(newest.isoformat(), note)


def _newest_visit_day(warehouse: Warehouse, idsite: int) -> dt.date | None:
    if not warehouse.table_exists("web.visits"):
        return None
    found = warehouse.rows("SELECT max(local_date) FROM web.visits WHERE idsite = ?", [idsite])
    return found[0][0] if found else None


def _has_visits(warehouse: Warehouse, idsite: int, day: dt.date) -> bool:
    found = warehouse.rows(
        "SELECT count(*) FROM web.visits WHERE idsite = ? AND local_date = ?", [idsite, day]
    )
    return int(found[0][0]) > 0
