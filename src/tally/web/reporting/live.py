"""``Live.getLastVisitsDetails`` (the visitor log) and the real-time map's visits by place.

The visitor log lists visits newest first, each with its actions in order (``actionDetails``)
and the goals it converted. Pings are not listed; they only lengthen the time spent on the
action before them, as in Matomo.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any

from tally.errors import BadInputError
from tally.web.reporting.devices import generic_model
from tally.web.reporting.methods import Query, Report, Row, device_type_label, method, rounded
from tally.web.reporting.periods import resolve
from tally.web.reporting.queries import report_sql
from tally.web.sites import get_site

# The log shows this many visits unless filter_limit says otherwise (-1: all), with or
# without a period: Matomo's default (plugins/Live/API.php, getLastVisitsDetails).
LATEST_VISITS = 10
ACTION_TYPES = {
    "pageview": "action",
    "outlink": "outlink",
    "download": "download",
    "event": "event",
    "search": "search",
    "goal": "goal",
}


def unix(moment: object) -> int:
    """Unix seconds of a naive UTC timestamp (as web.visits and web.actions hold them)."""
    if not isinstance(moment, dt.datetime):
        moment = dt.datetime.fromisoformat(str(moment))
    return calendar.timegm(moment.timetuple())


def _whole(query: Query, name: str, default: int) -> int:
    raw = query.params.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadInputError(f"{name} must be a whole number, not {raw!r}", field=name) from None


def _local_dates(query: Query) -> tuple[dt.date, dt.date] | None:
    """The local dates ``period``/``date`` cover (several periods make one stretch)."""
    period, date = query.params.get("period", ""), query.params.get("date", "")
    if not period and not date:
        return None
    timezone = get_site(query.warehouse, query.idsite).timezone
    spans = resolve(period, date, timezone, query.now).spans
    return min(span.start for span in spans), max(span.end for span in spans)


def chosen_visits(query: Query) -> tuple[str, list[object]]:
    """SQL of the visits the log shows (period, minTimestamp, segment, offset and limit)."""
    limit = _whole(query, "filter_limit", -1)
    offset = _whole(query, "filter_offset", 0)
    if limit < -1 or offset < 0:
        raise BadInputError("filter_limit must be -1 or more, filter_offset 0 or more")
    dates = _local_dates(query)
    if "filter_limit" not in query.params:
        limit = LATEST_VISITS
    where = ["v.idsite = ?"]
    params: list[object] = [query.idsite]
    if dates is not None:
        where.append("v.local_date >= ? AND v.local_date <= ?")
        params.extend(dates)
    since = _whole(query, "minTimestamp", -1)
    if since >= 0:
        where.append("v.ended_at > ?")
        params.append(dt.datetime.fromtimestamp(since, dt.UTC).replace(tzinfo=None))
    where.append(f"({query.segment.sql})")
    params.extend(query.segment.params)
    sql = (
        "SELECT v.* FROM web.visits AS v WHERE "
        + " AND ".join(where)
        + " ORDER BY v.started_at DESC, v.idvisit"
    )
    if limit >= 0:
        sql += f" LIMIT {int(limit)}"  # int(): a number, never request text
    if offset:
        sql += f" OFFSET {int(offset)}"
    return sql, params


# Matomo's visitEcommerceStatus by (orders, abandoned cart) of the visit
ECOMMERCE_STATUS = {
    (False, False): "none",
    (True, False): "ordered",
    (False, True): "abandonedCart",
    (True, True): "orderedThenAbandonedCart",
}


@method("Live.getLastVisitsDetails", periodless=True)
def last_visits(query: Query) -> Report:
    """The visitor log: visits newest first, each with its actions and conversions.

    ``period``/``date`` are optional (without them: the latest 100 visits); ``minTimestamp``
    keeps visits whose last action came after it; ``filter_limit``/``filter_offset`` page;
    ``doNotFetchActions=1`` leaves every ``actionDetails`` empty.
    """
    chosen, params = chosen_visits(query)
    visits = query.warehouse.query(report_sql("visitor_log", chosen=chosen), params).to_pylist()
    if not visits:
        return []
    if query.params.get("doNotFetchActions", "0") in ("1", "true"):
        details: dict[str, list[Row]] = {}  # Matomo's switch for a lighter log
    else:
        details = _action_details(query, chosen, params)
    return [_visit(query.idsite, visit, details.get(str(visit["idvisit"]), [])) for visit in visits]


def _visit(idsite: int, visit: Row, actions: list[Row]) -> Row:
    return {
        "idSite": idsite,
        "idVisit": visit["idvisit"],
        "visitorId": visit["visitor_id"] or visit["visitor_key"],
        "userId": visit["user_id"],
        "serverDate": str(visit["local_date"]),
        "firstActionTimestamp": unix(visit["started_at"]),
        "lastActionTimestamp": unix(visit["ended_at"]),
        "visitDuration": int(visit["duration_seconds"]),  # type: ignore[call-overload]
        "actions": int(visit["actions"]),  # type: ignore[call-overload]
        "interactions": int(visit["pageviews"]) + int(visit["searches"]),  # type: ignore[call-overload]
        "referrerType": visit["referrer_type"] or "direct",
        "referrerName": visit["referrer_name"],
        "referrerKeyword": visit["referrer_keyword"],
        "campaignName": visit["campaign_name"],
        "campaignKeyword": visit["campaign_keyword"],
        # Matomo names the type as its reports do ("Desktop", "Smartphone", "Unknown")
        "deviceType": device_type_label(visit["device_type"]),
        # Matomo names what detection left empty (plugins/DevicesDetection/functions.php):
        # "Unknown" brand and browser, "Generic <type>" model of a known type
        "deviceBrand": visit["device_brand"] or "Unknown",
        "deviceModel": visit["device_model"] or generic_model(visit["device_type"]),
        # a bot's operating system is Matomo's "Bot" (plugins/DevicesDetection/Columns/Os.php)
        "operatingSystemName": visit["os_name"]
        or ("Bot" if visit["device_type"] == "bot" else None),
        "browserName": visit["browser_name"] or "Unknown",
        "countryCode": str(visit["country"]).lower() if visit["country"] else "xx",
        "region": visit["region"],
        "city": visit["city"],
        "latitude": visit["latitude"],
        "longitude": visit["longitude"],
        # Matomo's raw value and display name (its "Unknown" when the network is not known)
        "provider": visit["provider"],
        "providerName": visit["provider"] or "Unknown",
        "visitLocalHour": visit["local_hour"],
        "visitConverted": 1 if int(visit["conversions"]) else 0,  # type: ignore[call-overload]
        "goalConversions": int(visit["goal_count"]),  # type: ignore[call-overload]
        "visitEcommerceStatus": ECOMMERCE_STATUS[
            (bool(visit["order_count"]), bool(visit["cart_count"]))
        ],
        "revenue": rounded(float(visit["revenue"] or 0), 2),  # type: ignore[arg-type]
        "actionDetails": actions,
    }


# Matomo's action types of ecommerce conversions in the visitor log
CONVERSION_TYPES = {0: "ecommerceOrder", -1: "ecommerceAbandonedCart"}


def _action_details(query: Query, chosen: str, params: list[object]) -> dict[str, list[Row]]:
    """Each chosen visit's actions in order, with the goals converted after their hit."""
    hits = query.warehouse.rows(report_sql("visit_actions", chosen=chosen), params)
    conversions: dict[str, list[Row]] = {}
    for hit_id, idgoal, name, converted_at, revenue in query.warehouse.rows(
        report_sql("visit_conversions", chosen=chosen), params
    ):
        detail: Row = {"type": CONVERSION_TYPES.get(int(idgoal), "goal")}
        if detail["type"] == "goal":
            detail.update(goalId=int(idgoal), goalName=name)
        detail.update(revenue=rounded(float(revenue or 0), 2), timestamp=unix(converted_at))
        conversions.setdefault(str(hit_id), []).append(detail)
    by_visit: dict[str, list[tuple[Any, ...]]] = {}
    for hit in hits:
        by_visit.setdefault(str(hit[0]), []).append(hit)
    return {
        idvisit: _visit_actions(visit_hits, conversions) for idvisit, visit_hits in by_visit.items()
    }


def _visit_actions(hits: list[tuple[Any, ...]], conversions: dict[str, list[Row]]) -> list[Row]:
    details: list[Row] = []
    for index, hit in enumerate(hits):
        (_, hit_id, kind, url, title, link, category, action, name, value, keyword, at, *_) = hit
        following = hits[index + 1][11] if index + 1 < len(hits) else at
        if kind in ACTION_TYPES and kind != "goal":
            detail: Row = {"type": ACTION_TYPES[kind], "url": link or url}
            if kind == "pageview":
                detail["pageTitle"] = title
            if kind == "event":
                detail.update(eventCategory=category, eventAction=action, eventName=name)
                detail["eventValue"] = rounded(float(value), 2) if value is not None else None
            if kind == "search":
                # as typed, as the keywords report and Transitions show it
                detail["siteSearchKeyword"] = keyword
            detail["timestamp"] = unix(at)
            detail["timeSpent"] = unix(following) - unix(at)  # to the next hit, pings included
            details.append(detail)
        details.extend(conversions.get(str(hit_id), []))
    return details


@method("UserCountryMap.getRealTimeVisits", periodless=True)
def real_time_map(query: Query) -> Report:
    """Visits of the last ``lastMinutes`` minutes by country and city, with coordinates.

    tally's own method for the real-time map (Matomo's widget reads the visitor log, which
    also works: Live.getLastVisitsDetails with minTimestamp).
    """
    minutes = query.params.get("lastMinutes", "")
    if not minutes.isdigit() or not 1 <= int(minutes) <= 2880:
        raise BadInputError(
            "lastMinutes must be a whole number from 1 to 2880", field="lastMinutes"
        )
    now = query.now or dt.datetime.now(dt.UTC)
    if now.tzinfo is not None:
        now = now.astimezone(dt.UTC).replace(tzinfo=None)
    since = now - dt.timedelta(minutes=int(minutes))
    sql = report_sql("real_time_map", segment=query.segment.sql)
    params = [query.idsite, (since - dt.timedelta(days=2)).date(), since, now]
    rows = []
    for country, city, visits, actions, latitude, longitude, last in query.warehouse.rows(
        sql, [*params, *query.segment.params]
    ):
        rows.append(
            {
                "label": f"{city}, {country}" if city and country else city or country or "Unknown",
                "countryCode": str(country).lower() if country else "xx",
                "city": city,
                "nb_visits": int(visits),
                "nb_actions": int(actions),
                "latitude": rounded(float(latitude), 4) if latitude is not None else None,
                "longitude": rounded(float(longitude), 4) if longitude is not None else None,
                "lastActionTimestamp": unix(last),
            }
        )
    return rows
