"""Matomo segment strings compiled to parameterised SQL over a whitelist of dimensions.

A segment is conditions joined by ``;`` (AND) and ``,`` (OR); OR binds tighter, so
``a==1,a==2;b==3`` is ``(a=1 OR a=2) AND b=3``. A condition is ``name OPERATOR value`` with
the operators ``== != >= <= > < =@ !@ =^ =$`` (equals, differs, compares, contains, does not
contain, starts with, ends with). Values are URL-encoded, so ``;`` and ``,`` inside a value
arrive as ``%3B`` and ``%2C``.

Every name must be in ``DIMENSIONS``; only its fixed SQL expression reaches the query, and
every value travels as a ``?`` parameter, never as text of the query. The SQL applies to
``web.visits`` aliased ``v``. Action dimensions (``pageUrl``, ``eventCategory``, ...) select
visits that hold a matching action; their negative operators (``!=``, ``!@``) select visits
that hold no such action.

A segment has at most ``MOST_CONDITIONS`` conditions and ``MOST_CHARACTERS`` characters:
each condition adds a clause (an action one a correlated subquery) and DuckDB's planning
time grows faster than the count (64 conditions 0.34 s, 128 over 1 s on an empty table;
12.8 s on a demo's visits), so an unbounded segment could hold a report worker for minutes.
Matomo's own segment editor builds a handful of conditions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote_plus

from tally.errors import BadInputError
from tally.web.reporting.queries import report_expression

_CONDITION = re.compile(r"^([A-Za-z][A-Za-z0-9_.]*)(==|!=|>=|<=|=@|!@|=\^|=\$|>|<)(.*)$", re.S)
_NEGATIVE = {"!=": "==", "!@": "=@"}
_ORDERING = (">=", "<=", ">", "<")
_TEXTUAL = ("=@", "!@", "=^", "=$")
MOST_CONDITIONS = 32
MOST_CHARACTERS = 8192


@dataclass(frozen=True)
class Dimension:
    """A segment name: its SQL over ``v`` (visits) or ``a`` (actions) and how it compares."""

    expression: str
    numeric: bool = False
    lowercase: bool = False  # compared case-insensitively (codes and types)
    action_kind: str | None = None  # set: an action dimension, over actions of this kind


DIMENSIONS: dict[str, Dimension] = {
    # visit dimensions (web.visits AS v)
    "visitId": Dimension("v.idvisit"),
    "visitorId": Dimension("v.visitor_id", lowercase=True),
    "userId": Dimension("v.user_id"),
    "actions": Dimension("v.actions", numeric=True),
    # which visit of its visitor this is (1st, 2nd, ...), as VisitorInterest counts it
    "visitCount": Dimension(report_expression("segment_visit_count"), numeric=True),
    "visitDuration": Dimension("v.duration_seconds", numeric=True),
    "visitConverted": Dimension("CASE WHEN v.conversions > 0 THEN 1 ELSE 0 END", numeric=True),
    "revenue": Dimension("v.revenue", numeric=True),
    "referrerType": Dimension("v.referrer_type", lowercase=True),
    "referrerName": Dimension("v.referrer_name"),
    "referrerKeyword": Dimension("v.referrer_keyword"),
    "campaignName": Dimension("v.campaign_name", lowercase=True),
    "campaignKeyword": Dimension("v.campaign_keyword"),
    "campaignSource": Dimension("v.campaign_source"),
    "campaignMedium": Dimension("v.campaign_medium"),
    "deviceType": Dimension("v.device_type", lowercase=True),
    "operatingSystemName": Dimension("v.os_name"),
    "browserName": Dimension("v.browser_name"),
    "countryCode": Dimension("v.country", lowercase=True),
    "provider": Dimension("v.provider"),
    "entryPageUrl": Dimension("v.entry_url"),
    "entryPageTitle": Dimension("v.entry_title"),
    "exitPageUrl": Dimension("v.exit_url"),
    "exitPageTitle": Dimension("v.exit_title"),
    # action dimensions (web.actions AS a, joined to the visit)
    "pageUrl": Dimension("a.url", action_kind="pageview"),
    "pageTitle": Dimension("a.action_name", action_kind="pageview"),
    "outlinkUrl": Dimension("a.link_url", action_kind="outlink"),
    "downloadUrl": Dimension("a.link_url", action_kind="download"),
    "eventCategory": Dimension("a.event_category", action_kind="event"),
    "eventAction": Dimension("a.event_action", action_kind="event"),
    "eventName": Dimension("a.event_name", action_kind="event"),
    "siteSearchKeyword": Dimension("a.search_keyword", action_kind="search"),
}


@dataclass(frozen=True)
class Condition:
    name: str
    operator: str
    value: str


@dataclass(frozen=True)
class Compiled:
    """A WHERE fragment over ``web.visits AS v`` and its parameters, in order."""

    sql: str = "TRUE"
    params: list[object] = field(default_factory=list)


def parse(segment: str) -> list[list[Condition]]:
    """The AND-list of OR-lists of conditions in ``segment`` (values decoded)."""
    _check_size(segment)
    groups: list[list[Condition]] = []
    for part in segment.split(";"):
        alternatives = []
        for text in part.split(","):
            found = _CONDITION.match(text.strip())
            if not found:
                raise BadInputError(
                    f"segment condition {text!r} is not NAME OPERATOR VALUE "
                    "(operators: == != >= <= > < =@ !@ =^ =$)",
                    field="segment",
                )
            name, operator, value = found.groups()
            if name not in DIMENSIONS:
                raise BadInputError(
                    f"unknown segment dimension {name!r}; known: {', '.join(sorted(DIMENSIONS))}",
                    field="segment",
                )
            alternatives.append(Condition(name, operator, unquote_plus(value)))
        groups.append(alternatives)
    return groups


def _check_size(segment: str) -> None:
    """Refuse a segment past the limits before any of it is parsed or planned."""
    if len(segment) > MOST_CHARACTERS:
        raise BadInputError(
            f"segment is {len(segment)} characters long; the limit is {MOST_CHARACTERS} "
            "(segment length limit)",
            field="segment",
        )
    conditions = segment.count(";") + segment.count(",") + 1
    if conditions > MOST_CONDITIONS:
        raise BadInputError(
            f"segment has {conditions} conditions; the limit is {MOST_CONDITIONS} "
            "(segment condition limit)",
            field="segment",
        )


def compile_segment(segment: str | None) -> Compiled:
    """The SQL that keeps only the visits ``segment`` selects (everything when empty)."""
    if not segment or not segment.strip():
        return Compiled()
    clauses: list[str] = []
    params: list[object] = []
    for alternatives in parse(segment.strip()):
        parts = []
        for condition in alternatives:
            sql, values = _condition_sql(condition)
            parts.append(sql)
            params.extend(values)
        clauses.append("(" + " OR ".join(parts) + ")")
    return Compiled(" AND ".join(clauses), params)


def _condition_sql(condition: Condition) -> tuple[str, list[object]]:
    dimension = DIMENSIONS[condition.name]
    if dimension.action_kind is None:
        return _compare(dimension, condition.operator, condition.value)
    # An action dimension: does the visit hold an action that matches?
    negative = condition.operator in _NEGATIVE
    operator = _NEGATIVE.get(condition.operator, condition.operator)
    test, values = _compare(dimension, operator, condition.value)
    exists = report_expression("segment_action", test=test)
    return ("NOT " if negative else "") + exists, [dimension.action_kind, *values]


def _compare(dimension: Dimension, operator: str, raw: str) -> tuple[str, list[object]]:
    expression = dimension.expression
    value: object = raw
    if dimension.numeric:
        if operator in _TEXTUAL:
            raise BadInputError(
                f"operator {operator} matches text; {expression} is a number", field="segment"
            )
        value = _number(raw)
    elif operator in _ORDERING:
        raise BadInputError(
            f"operator {operator} compares numbers; {expression} is text", field="segment"
        )
    elif dimension.lowercase:
        expression, value = f"lower({expression})", raw.lower()
    if raw == "" and operator in ("==", "!="):
        # Matomo: an empty value means "not set"
        empty = f"({expression} IS NULL OR CAST({expression} AS VARCHAR) = '')"
        return (empty if operator == "==" else f"NOT {empty}"), []
    if operator == "==":
        return f"{expression} = ?", [value]
    if operator == "!=":
        return f"({expression} IS NULL OR {expression} <> ?)", [value]
    if operator in _ORDERING:
        return f"{expression} {operator} ?", [value]
    if operator == "=@":
        return f"strpos({expression}, ?) > 0", [value]
    if operator == "!@":
        return f"({expression} IS NULL OR strpos({expression}, ?) = 0)", [value]
    if operator == "=^":
        return f"substr({expression}, 1, ?) = ?", [len(raw), value]
    return f"right({expression}, ?) = ?", [len(raw), value]  # =$


def _number(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise BadInputError(f"segment value {raw!r} must be a number", field="segment") from None
