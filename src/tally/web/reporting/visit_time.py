"""VisitTime: visits by hour of the day, in the site's time zone ("server time", as Matomo
shows it) and in the visitor's own clock (the tracker's ``h`` parameter)."""

from __future__ import annotations

from tally.web.reporting.methods import Query, Report, method
from tally.web.reporting.queries import report_expression
from tally.web.reporting.visit_groups import add_into, empty_metrics, visit_groups


def _by_hour(query: Query, expression: str) -> Report:
    """All 24 hours ("00" to "23", Matomo 5's labels), each with the visits that started
    in it."""
    hours = [empty_metrics() for _ in range(24)]
    for (hour,), metrics in visit_groups(query, [expression]):
        if hour is not None and 0 <= int(hour) <= 23:
            add_into(hours[int(hour)], metrics)
    return [{"label": f"{hour:02d}", **hours[hour]} for hour in range(24)]


@method("VisitTime.getVisitInformationPerServerTime")
def per_site_time(query: Query) -> Report:
    """Visits by the hour they started, on the site's clock (web.actions.local_time)."""
    return _by_hour(query, report_expression("first_hit_hour"))


@method("VisitTime.getVisitInformationPerLocalTime")
def per_local_time(query: Query) -> Report:
    """Visits by the hour on the visitor's clock when they started (unknown: not counted)."""
    return _by_hour(query, "h.local_hour")
