"""VisitorInterest: visits by length, by number of actions, by how many visits the visitor
had made, and by days since the visitor's previous visit, in Matomo's ranges.

Every range is listed, empty ones with 0 visits. A returning visitor is known by its visitor
key (user id, else cookie id, else the day's salted hash), from visits tally holds: cookieless
visitors are new again each day, and Matomo's client-side visit counter (``_idvc``) is not
used.
"""

from __future__ import annotations

from collections.abc import Sequence

from tally.web.reporting.methods import Query, Report, method, scoped_visits
from tally.web.reporting.queries import report_sql

Range = tuple[int, int | None, str]  # low, high (None: no upper end), label


def _ranges(bounds: Sequence[tuple[int, int | None]], one: str, many: str) -> list[Range]:
    """Matomo's labels: ``1 page``, ``2 pages``, ``6-7 pages``, ``51+ pages``."""
    ranges: list[Range] = []
    for low, high in bounds:
        if high is None:
            ranges.append((low, None, f"{low}+ {many}"))
        elif low == high:
            ranges.append((low, high, f"{low} {one if low == 1 else many}"))
        else:
            ranges.append((low, high, f"{low}-{high} {many}"))
    return ranges


# The ranges are Matomo's (plugins/VisitorInterest/Archiver.php).
DURATIONS: list[Range] = [
    # Matomo writes the seconds ranges with an en dash, the minutes ones with a hyphen
    (0, 10, "0\u201310s"),
    (11, 30, "11\u201330s"),
    (31, 60, "31\u201360s"),
    (61, 120, "1-2 min"),
    (121, 240, "2-4 min"),
    (241, 420, "4-7 min"),
    (421, 600, "7-10 min"),
    (601, 900, "10-15 min"),
    (901, 1800, "15-30 min"),
    (1801, None, "30+ min"),
]
PAGES = _ranges(
    [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 7), (8, 10), (11, 14), (15, 20), (21, None)],
    "page",
    "pages",
)  # fmt: skip
VISIT_COUNTS = _ranges(
    [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (8, 8), (9, 14), (15, 25),
     (26, 50), (51, 100), (101, 200), (201, None)],
    "visit",
    "visits",
)  # fmt: skip
DAYS = _ranges(
    [(0, 0), (1, 1), (2, 2), (3, 3), (4, 4), (5, 5), (6, 6), (7, 7), (8, 14), (15, 30),
     (31, 60), (61, 120), (121, 364), (365, None)],
    "day",
    "days",
)  # fmt: skip


def _bucketed(counts: Sequence[tuple[object, object]], ranges: list[Range]) -> Report:
    """(value, visits) pairs summed into ``ranges``: one row per range, in order."""
    totals = [0] * len(ranges)
    for value, visits in counts:
        if value is None:
            continue
        number = int(value)  # type: ignore[call-overload]
        for index, (low, high, _) in enumerate(ranges):
            if number >= low and (high is None or number <= high):
                totals[index] += int(visits)  # type: ignore[call-overload]
                break
    return [
        {"label": label, "nb_visits": total}
        for (_, _, label), total in zip(ranges, totals, strict=True)
    ]


def _per_visit(query: Query, expression: str) -> list[tuple[object, object]]:
    visits, params = scoped_visits(query)
    sql = report_sql("per_visit", expression=expression, visits=visits)
    return query.warehouse.rows(sql, params)


@method("VisitorInterest.getNumberOfVisitsPerVisitDuration")
def per_duration(query: Query) -> Report:
    """Visits by length (first to last hit, pings included), 0-10 s up to 30+ min."""
    return _bucketed(_per_visit(query, "v.duration_seconds"), DURATIONS)


@method("VisitorInterest.getNumberOfVisitsPerPage")
def per_page(query: Query) -> Report:
    """Visits by their number of actions (page views, searches, events, links)."""
    return _bucketed(_per_visit(query, "v.actions"), PAGES)


@method("VisitorInterest.getNumberOfVisitsByVisitCount")
def by_visit_count(query: Query) -> Report:
    """Visits by which visit of its visitor each was (1st, 2nd, ...), over all held days."""
    visits, params = scoped_visits(query)
    sql = report_sql("visit_count", visits=visits)
    return _bucketed(query.warehouse.rows(sql, params), VISIT_COUNTS)


@method("VisitorInterest.getNumberOfVisitsByDaysSinceLast")
def by_days_since_last(query: Query) -> Report:
    """Returning visits by whole days from the visitor's previous visit's last hit to this
    visit's first, after a "New visits" row of the visits with no previous one (Matomo's
    first row)."""
    visits, params = scoped_visits(query)
    sql = report_sql("days_since_last", visits=visits)
    counts = query.warehouse.rows(sql, params)
    new = sum(int(visits) for days, visits in counts if days is None)
    return [{"label": "New visits", "nb_visits": new}, *_bucketed(counts, DAYS)]
