"""Answers of closed periods kept in memory, checked against the warehouse on every use.

A period is closed when it ended before the day of the site's newest loaded hit (in the
site's time zone). Each sessionize run stamps the site-days it rebuilt with a new version
(``web.day_versions``), and a cached answer carries the versions of every day up to the end
of its period (earlier days count too: returning-visitor reports look back). When any of
them changed (a late hit rebuilt a day, a site's days were dropped), the answer is computed
again. So the cache can make an answer faster, never different.
"""

from __future__ import annotations

import datetime as dt
import pickle
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from tally.warehouse import Warehouse
from tally.web.reporting.methods import Query, Report

# Parameters that do not change a method's report (filters are applied to the copy handed
# out; the site, period and segment are keyed separately).
IGNORED = frozenset(
    {"token_auth", "format", "module", "method", "idSite", "period", "date", "segment"}
)
# Live answers depend on the clock; Goals on goal definitions, which change without a
# sessionize run.
UNCACHED_PREFIXES = ("Live.", "Goals.")


@dataclass
class _Entry:
    versions: tuple[int, int]  # (days stamped, sum of their versions) up to the period's end
    answer: bytes  # pickled, so every caller gets its own copy to filter or change


class ReportCache:
    """At most ``size`` answers, least recently used dropped first."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.hits = 0
        self.stored = 0
        self._entries: OrderedDict[tuple[object, ...], _Entry] = OrderedDict()

    def answer(
        self, method: str, query: Query, timezone: str, compute: Callable[[Query], Report]
    ) -> Report:
        """``compute(query)``, or the kept answer when its period is closed and unchanged."""
        if method.startswith(UNCACHED_PREFIXES) or not _closed(query, timezone):
            return compute(query)
        key = _key(method, query)
        versions = _versions(query.warehouse, query.idsite, query.span.end)
        entry = self._entries.get(key)
        if entry is not None and entry.versions == versions:
            self._entries.move_to_end(key)
            self.hits += 1
            kept: Report = pickle.loads(entry.answer)
            return kept
        report = compute(query)
        self._entries[key] = _Entry(versions, pickle.dumps(report))
        self._entries.move_to_end(key)
        self.stored += 1
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return report


def _key(method: str, query: Query) -> tuple[object, ...]:
    return (
        id(query.warehouse),
        method,
        query.idsite,
        query.span.start,
        query.span.end,
        query.segment.sql,
        tuple(query.segment.params),
        _normalised(query.params),
    )


def _normalised(params: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            (name, value)
            for name, value in params.items()
            if name not in IGNORED and not name.startswith("filter_")
        )
    )


def _closed(query: Query, timezone: str) -> bool:
    """Whether the period ended before the day of the site's newest loaded hit."""
    newest = query.warehouse.rows(
        "SELECT max(hit_time) FROM web.hits WHERE idsite = ?", [query.idsite]
    )[0][0]
    if newest is None:
        return False
    day: dt.date = newest.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(timezone)).date()
    return query.span.end < day


def _versions(warehouse: Warehouse, idsite: int, end: dt.date) -> tuple[int, int]:
    count, total = warehouse.rows(
        "SELECT count(*), coalesce(sum(version), 0) FROM web.day_versions "
        "WHERE idsite = ? AND local_date <= ?",
        [idsite, end],
    )[0]
    return int(count), int(total)
