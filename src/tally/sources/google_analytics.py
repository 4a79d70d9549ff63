"""Google Analytics: unique visitors (and video views) of the web site, from GA4.

Origin: the GA4 Data API ``POST /v1beta/properties/<id>:runReport`` with a service-account
token (add the account as a Viewer of the property). Each of the seed's four series is a
named query in config (dimensions, metrics, dimension filter); UV means users
(``totalUsers``), VV video views (``eventCount`` of the video start event). Uniques do not
add up across days, so each query asks for three date ranges at once: the day, the week so
far (ISO, Monday first) and the month so far; the week's (month's) figure on its last day is
the week's (month's) uniques.

All four series land in one file per day, ``third-party-data.gz``: gzip'd JSON lines, one
per series, holding the request and GA's response as sent. Each series is its own dataset
and staging table, read from that shared file.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from tally.errors import BadInputError, ConfigError
from tally.sources import csvtools
from tally.sources._google import bearer_headers
from tally.sources._settings import source_settings
from tally.sources.base import BadRow, Dataset, Parsed
from tally.sources.http import HttpClient

if TYPE_CHECKING:
    from tally.config import Settings
    from tally.sources.demo import DemoWorld

SOURCE = "google-analytics"
FILE_NAME = "third-party-data.gz"
ANALYTICS_SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
VIDEO_EVENT = "video_start"


def _string_filter(field: str, value: str, match: str = "EXACT") -> dict[str, Any]:
    return {
        "filter": {
            "fieldName": field,
            "stringFilter": {"matchType": match, "value": value, "caseSensitive": False},
        }
    }


_WEB = _string_filter("platform", "web")
_YAHOO = _string_filter("sessionSource", "yahoo", "CONTAINS")
_VIDEO = _string_filter("eventName", VIDEO_EVENT)

# The seed's four series; settings.sources["google-analytics"].queries.<name> overrides one.
DEFAULT_QUERIES: dict[str, dict[str, Any]] = {
    "web-uv": {
        "dimensions": ["countryId"],
        "metrics": ["totalUsers"],
        "dimensionFilter": _WEB,
    },
    "web-uv-vv": {
        "dimensions": ["countryId"],
        "metrics": ["totalUsers", "eventCount"],
        "dimensionFilter": {"andGroup": {"expressions": [_WEB, _VIDEO]}},
    },
    "yahoo-leadin-uv": {
        "dimensions": ["countryId"],
        "metrics": ["totalUsers"],
        "dimensionFilter": {"andGroup": {"expressions": [_WEB, _YAHOO]}},
    },
    "yahoo-leadin-uv-vv": {
        "dimensions": ["countryId"],
        "metrics": ["totalUsers", "eventCount"],
        "dimensionFilter": {"andGroup": {"expressions": [_WEB, _YAHOO, _VIDEO]}},
    },
}

SCHEMA = pa.schema(
    [
        ("series", pa.string()),
        ("resolution", pa.string()),
        ("period_start", pa.date32()),
        ("period_end", pa.date32()),
        ("country", pa.string()),
        ("dimensions", pa.string()),  # other dimensions of a configured query, as JSON
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("_line", pa.int64()),
    ]
)


def date_ranges(day: dt.date) -> list[dict[str, str]]:
    """The day, the ISO week so far and the month so far, named by resolution."""
    week_start = day - dt.timedelta(days=day.weekday())
    return [
        {"name": "daily", "startDate": day.isoformat(), "endDate": day.isoformat()},
        {"name": "weekly", "startDate": week_start.isoformat(), "endDate": day.isoformat()},
        {
            "name": "monthly",
            "startDate": day.replace(day=1).isoformat(),
            "endDate": day.isoformat(),
        },
    ]


def report_request(query: dict[str, Any], day: dt.date) -> dict[str, Any]:
    """A runReport body for one named query and day."""
    body: dict[str, Any] = {
        "dateRanges": date_ranges(day),
        "dimensions": [{"name": name} for name in query.get("dimensions", [])],
        "metrics": [{"name": name} for name in query["metrics"]],
        "keepEmptyRows": False,
        "limit": 100000,
    }
    if query.get("dimensionFilter"):
        body["dimensionFilter"] = query["dimensionFilter"]
    return body


# -- the client ------------------------------------------------------------------------


class AnalyticsData:
    """``properties.runReport`` of the GA4 Data API."""

    def __init__(self, config: dict[str, Any], **client_options: Any) -> None:
        self.property_id = str(config.get("property_id") or "")
        if not self.property_id:
            raise ConfigError(
                f"sources.{SOURCE}.property_id is required (the GA4 property's "
                "number, env TALLY_SOURCES__GOOGLE_ANALYTICS__PROPERTY_ID)"
            )
        self.base_url = (config.get("api_url") or "https://analyticsdata.googleapis.com").rstrip(
            "/"
        )
        headers = bearer_headers(config, SOURCE, [ANALYTICS_SCOPE])
        if headers is None:
            raise ConfigError(
                f"sources.{SOURCE}: set credentials_file (a service-account key "
                "added as Viewer of the property) or credentials_json"
            )
        self.http = HttpClient(
            "GA4 Data API", headers=headers, not_found_is_not_ready=False, **client_options
        )

    def run_report(self, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.base_url}/v1beta/properties/{self.property_id}:runReport"
        answer: dict[str, Any] = self.http.post(url, json=body).json()
        return answer

    def metadata(self) -> dict[str, Any]:
        """The property's dimensions and metrics (``properties.getMetadata``)."""
        url = f"{self.base_url}/v1beta/properties/{self.property_id}/metadata"
        answer: dict[str, Any] = self.http.get(url).json()
        return answer

    def close(self) -> None:
        self.http.close()


def check(settings: Settings, series: str) -> str:
    """The key may read the property and the series' query names known fields."""
    client = AnalyticsData(source_settings(settings, SOURCE))
    try:
        metadata = client.metadata()
    finally:
        client.close()
    known = {f["apiName"] for kind in ("dimensions", "metrics") for f in metadata.get(kind, [])}
    query = queries(settings)[series]
    unknown = [n for n in [*query.get("dimensions", []), *query["metrics"]] if n not in known]
    if unknown:
        raise ConfigError(
            f"sources.{SOURCE}.queries.{series}: property {client.property_id} has no "
            f"dimension or metric {', '.join(unknown)}"
        )
    return f"property {client.property_id} readable; {series} asks for known fields"


def queries(settings: Settings) -> dict[str, dict[str, Any]]:
    configured = dict(source_settings(settings, SOURCE).get("queries") or {})
    return {**DEFAULT_QUERIES, **configured}


# The four series share one landed file, so one run fetches it once: the datasets after the
# first get the same bytes (a lake no-op) instead of GA's possibly revised figures, which
# would conflict with the file just landed.
REUSE_SECONDS = 15 * 60
_recent: dict[tuple[str, str, dt.date], tuple[float, bytes]] = {}


def fetch_all(day: dt.date, settings: Settings) -> bytes:
    """Every named query for one day, as the landed file's gzip'd JSON lines."""
    config = source_settings(settings, SOURCE)
    client = AnalyticsData(config)
    key = (client.base_url, client.property_id, day)
    # Only a fetch actually made counts: the monotonic clock starts near 0 at boot, so a
    # default "fetched at 0" would look recent for a machine's first 15 minutes.
    if key in _recent:
        fetched_at, data = _recent[key]
        if time.monotonic() - fetched_at < REUSE_SECONDS:
            client.close()
            return data
    lines = []
    try:
        for name, query in sorted(queries(settings).items()):
            body = report_request(query, day)
            response = client.run_report(body)
            lines.append(
                {
                    "series": name,
                    "property": client.property_id,
                    "request": body,
                    "response": response,
                }
            )
    finally:
        client.close()
    data = _pack(lines)
    _recent[key] = (time.monotonic(), data)
    return data


def _pack(lines: list[dict[str, Any]]) -> bytes:
    text = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)
    return gzip.compress(text.encode(), mtime=0)


# -- parsing ---------------------------------------------------------------------------


def read_series(data: bytes, file_name: str, series: str) -> Parsed:
    """The rows of one series from the landed file, one row per metric value."""
    try:
        text = gzip.decompress(data)
    except csvtools.GZIP_ERRORS as error:
        raise BadInputError(f"not a readable gzip file: {error}", file=file_name) from None
    columns: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    bad: list[BadRow] = []
    read = 0
    # one line, one report: a line that is not UTF-8 or not JSON is a bad row of its own
    for number, raw_line in enumerate(text.split(b"\n"), start=1):
        rows, line_bad, line_read = line_rows(raw_line, number, file_name, series)
        for values in rows:
            for name, value in zip(SCHEMA.names, values, strict=True):
                columns[name].append(value)
        bad += line_bad
        read += line_read
    table = pa.table(
        {name: pa.array(columns[name], SCHEMA.field(name).type) for name in SCHEMA.names}
    )
    return Parsed(table, bad, read)


def line_rows(
    raw_line: bytes, number: int, file_name: str, series: str
) -> tuple[list[tuple[Any, ...]], list[BadRow], int]:
    """One line's rows of the series (values in ``SCHEMA``'s order), its bad rows, and
    how many rows it holds (good and bad)."""
    rows: list[tuple[Any, ...]] = []
    bad: list[BadRow] = []
    if not raw_line.strip():
        return rows, bad, 0
    line = raw_line.decode("utf-8", errors="replace")
    try:
        record = json.loads(raw_line.decode("utf-8"))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        return rows, [BadRow(file_name, number, None, f"not JSON: {error}", line[:500])], 1
    if not isinstance(record, dict):
        return rows, [BadRow(file_name, number, None, "not a JSON object", line[:500])], 1
    if record.get("series") != series:
        return rows, bad, 0
    read = 0
    for values, problem in _rows(record):
        read += 1
        if values is None:
            field, reason = problem or (None, "no values")
            bad.append(BadRow(file_name, number, field, reason, line[:500]))
            continue
        rows.append((*values, number))
    return rows, bad, read


# the part of a landed line the cluster reads (Spark's from_json; other fields ignored, as
# ``_rows`` ignores them)
_LINE_SCHEMA = (
    "series STRING, request STRUCT<dateRanges: ARRAY<STRUCT<name: STRING, startDate: STRING, "
    "endDate: STRING>>>, response STRUCT<dimensionHeaders: ARRAY<STRUCT<name: STRING>>, "
    "metricHeaders: ARRAY<STRUCT<name: STRING>>, rows: ARRAY<STRUCT<dimensionValues: "
    "ARRAY<STRUCT<value: STRING>>, metricValues: ARRAY<STRUCT<value: STRING>>>>>"
)
# a line whose report ``_rows`` surely reads as the cluster does: every range named (once)
# and dated, dimensions only countryId and dateRange, every value present and a plain number
_SURE_REPORT = [
    "size(r.request.dateRanges) > 0",
    "forall(r.request.dateRanges, d -> d.name IS NOT NULL AND TRY_CAST(d.startDate AS DATE) "
    "IS NOT NULL AND TRY_CAST(d.endDate AS DATE) IS NOT NULL AND d.startDate RLIKE "
    "'^[0-9]{4}-[0-9]{2}-[0-9]{2}$' AND d.endDate RLIKE '^[0-9]{4}-[0-9]{2}-[0-9]{2}$')",
    "size(array_distinct(r.request.dateRanges.name)) = size(r.request.dateRanges)",
    "forall(r.response.metricHeaders, h -> h.name IS NOT NULL)",
    "forall(r.response.dimensionHeaders, h -> h.name IN ('countryId', 'dateRange'))",
    "size(array_distinct(r.response.dimensionHeaders.name)) = size(r.response.dimensionHeaders)",
    "r.response.rows IS NOT NULL",
    "forall(r.response.rows, w -> size(w.dimensionValues) = size(r.response.dimensionHeaders) "
    "AND forall(w.dimensionValues, v -> v.value IS NOT NULL) AND w.metricValues IS NOT NULL "
    "AND forall(w.metricValues, m -> m.value RLIKE '^-?[0-9]+([.][0-9]+)?([eE][-+]?[0-9]+)?$'))",
    "forall(r.response.rows, w -> NOT array_contains(r.response.dimensionHeaders.name, "
    "'dateRange') OR array_contains(r.request.dateRanges.name, "
    "w.dimensionValues[array_position(r.response.dimensionHeaders.name, 'dateRange') - 1].value))",
]


def read_on_cluster(spark: Any, url: str, key: str, compressed: bool, series: str) -> Any:
    """The series' rows of a landed file read by a Spark cluster, as ``read_series`` reads
    them: the lines whose report is surely read alike (``_SURE_REPORT``) are exploded into
    rows there; the other lines (few: none in what GA sends) come back and ``line_rows``
    names their bad rows (a line it finds good rows in leaves the file to Python).

    Known gap: Spark's JSON reader may take a line with text after its object, which
    ``json.loads`` refuses (a bad row in Python); tally's own fetch never writes one.
    """
    from pyspark.sql import functions as f

    from tally.sources.delimited_spark import ClusterRead, _numbered_lines, cluster_counts
    from tally.sources.delimited_sql import NativeReadError

    if not (compressed and key.endswith(".gz")):
        raise NativeReadError(f"{key}: Spark reads the file only gzip'd and named .gz")
    options = {"allowSingleQuotes": "false", "mode": "PERMISSIVE"}
    lines = _numbered_lines(spark, url).where("trim(BOTH ' \t\n\r\u000b\f' FROM _text) <> ''")
    parsed = lines.select(
        "_line", "_text", "_odd", f.from_json("_text", _LINE_SCHEMA, options).alias("r")
    )
    shaped = "_text RLIKE '^[ \t\r]*[{](?s:.*)[}][ \t\r]*$' AND r.series IS NOT NULL"
    sure = " AND ".join(f"coalesce({check}, false)" for check in _SURE_REPORT)
    classified = parsed.selectExpr(
        "_line",
        "_text",
        "_odd",
        "r",
        f"{shaped} AND r.series <> {_spark_literal(series)} AS _other",
        f"{shaped} AND r.series = {_spark_literal(series)} AND {sure} AS _sure",
    )
    counts = cluster_counts(
        classified,
        key,
        "count_if(_odd) AS unreadable",
        "count_if(NOT _other AND NOT _sure) AS back",
        "sum(CASE WHEN _sure THEN aggregate(r.response.rows, 0L, (n, w) -> n + "
        "least(size(w.metricValues), size(r.response.metricHeaders))) END) AS good",
    )
    bad_rows: list[BadRow] = []
    read = int(counts["good"] or 0)
    for number, text in (
        classified.where("NOT _other AND NOT _sure").select("_line", "_text").collect()
    ):
        rows, bad, line_read = line_rows(text.encode(), number, key, series)
        if rows:
            raise NativeReadError(f"{key}: line {number} is read in Python only")
        bad_rows += bad
        read += line_read
    return ClusterRead(
        _exploded(classified.where("_sure"), key), int(counts["good"] or 0), read, bad_rows
    )


def _exploded(sure: Any, key: str) -> Any:
    """One row per metric value of the sure lines, in ``SCHEMA``'s columns."""
    rows = sure.selectExpr("_line", "r", "explode(r.response.rows) AS w")
    ranged = rows.selectExpr(
        "_line",
        "r",
        "w",
        f"coalesce({_dimension('dateRange')}, r.request.dateRanges[0].name) AS resolution",
        f"{_dimension('countryId')} AS country",
    )
    cells = ranged.selectExpr(
        "_line",
        "r.series AS series",
        "resolution",
        "filter(r.request.dateRanges, d -> d.name = resolution)[0] AS period",
        "country",
        "posexplode(slice(w.metricValues, 1, size(r.response.metricHeaders))) AS (i, m)",
        "r.response.metricHeaders AS headers",
    )
    return cells.selectExpr(
        "series",
        "resolution",
        "CAST(period.startDate AS DATE) AS period_start",
        "CAST(period.endDate AS DATE) AS period_end",
        "country",
        "CAST(NULL AS STRING) AS dimensions",
        "headers[i].name AS metric",
        "CAST(m.value AS DOUBLE) AS value",
        "_line",
        f"{_spark_literal(key)} AS _file",
    )


def _dimension(name: str) -> str:
    """The row's value of a dimension of the response, NULL where it has none."""
    names = "r.response.dimensionHeaders.name"
    return (
        f"CASE WHEN array_contains({names}, '{name}') "
        f"THEN w.dimensionValues[array_position({names}, '{name}') - 1].value END"
    )


def _spark_literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _rows(
    record: dict[str, Any],
) -> Iterator[tuple[tuple[Any, ...] | None, tuple[str | None, str] | None]]:
    """(values, None) per metric value of a report, or (None, (field, reason)) when bad."""
    try:
        ranges = {
            r.get("name", f"date_range_{i}"): r
            for i, r in enumerate(record["request"]["dateRanges"])
        }
        response = record["response"]
        dimensions = [h["name"] for h in response.get("dimensionHeaders", [])]
        metrics = [h["name"] for h in response["metricHeaders"]]
    except (KeyError, TypeError) as error:
        yield None, (None, f"request or response lacks {error}")
        return
    for row in response.get("rows", []):
        try:
            cells = dict(zip(dimensions, (v["value"] for v in row["dimensionValues"]), strict=True))
            metric_cells = row["metricValues"]
        except (KeyError, TypeError, ValueError):
            yield None, (None, "a row does not match the response's dimension headers")
            continue
        # with one date range GA sends no dateRange dimension: the row is that range's
        resolution = cells.pop("dateRange", next(iter(ranges), None))
        period = ranges.get(resolution) or {}
        try:
            start, end = (dt.date.fromisoformat(period[k]) for k in ("startDate", "endDate"))
        except (TypeError, KeyError, ValueError):
            yield None, ("dateRange", f"unknown or undated date range {resolution!r}")
            continue
        country = cells.pop("countryId", None)
        for metric, cell in zip(metrics, metric_cells, strict=False):
            try:
                value = float(cell["value"])
            except (KeyError, ValueError):
                yield None, (metric, f"not a number: {cell.get('value')!r}")
                continue
            yield (
                (
                    record["series"],
                    resolution,
                    start,
                    end,
                    country,
                    json.dumps(cells, sort_keys=True) if cells else None,
                    metric,
                    value,
                ),
                None,
            )


# -- demo: a pool of web visitors drawn around the world's subscribers ------------------

VISITORS_PER_ACTIVE = 2.0  # web visitors in the pool per active subscriber at the start
DAILY_VISIT_SHARE = 0.12
YAHOO_SHARE = 0.15
WATCH_SHARE = 0.40

_visits_cache: weakref.WeakKeyDictionary[
    DemoWorld, dict[tuple[dt.date, str], list[tuple[int, bool, int]]]
] = weakref.WeakKeyDictionary()


def visits(world: DemoWorld, day: dt.date, country: str) -> list[tuple[int, bool, int]]:
    """(visitor, came from Yahoo, video views) per visitor who came to the site that day."""
    cache = _visits_cache.setdefault(world, {})
    if (day, country) not in cache:
        pool = _pool_size(world, country)
        rng = random.Random(f"{world.seed}-web-{country}-{day.isoformat()}")
        found = []
        for visitor in range(pool):
            if rng.random() < DAILY_VISIT_SHARE:
                views = rng.randint(1, 4) if rng.random() < WATCH_SHARE else 0
                found.append((visitor, rng.random() < YAHOO_SHARE, views))
        cache[(day, country)] = found
    return cache[(day, country)]


def _pool_size(world: DemoWorld, country: str) -> int:
    active = sum(
        1 for s in world.subscriptions if s.country == country and s.active_on(world.start)
    )
    return max(50, int(active * VISITORS_PER_ACTIVE))


def series_figures(
    world: DemoWorld, series: str, start: dt.date, end: dt.date, country: str
) -> dict[str, int]:
    """totalUsers (and eventCount) of one series over a date range, counted exactly."""
    users: set[int] = set()
    views = 0
    day = start
    while day <= end:
        for visitor, yahoo, watched in visits(world, day, country):
            if series.startswith("yahoo") and not yahoo:
                continue
            if series.endswith("-vv") and not watched:
                continue
            users.add(visitor)
            views += watched
        day += dt.timedelta(days=1)
    figures = {"totalUsers": len(users)}
    if series.endswith("-vv"):
        figures["eventCount"] = views
    return figures


def demo_response(world: DemoWorld, series: str, body: dict[str, Any]) -> dict[str, Any]:
    """GA's runReport answer, shaped as the API sends it, for the demo world."""
    metrics = [m["name"] for m in body["metrics"]]
    rows = []
    for country in ("HK", "SG"):
        for period in body["dateRanges"]:
            figures = series_figures(
                world,
                series,
                dt.date.fromisoformat(period["startDate"]),
                dt.date.fromisoformat(period["endDate"]),
                country,
            )
            rows.append(
                {
                    "dimensionValues": [{"value": country}, {"value": period["name"]}],
                    "metricValues": [{"value": str(figures[m])} for m in metrics],
                }
            )
    return {
        "dimensionHeaders": [{"name": "countryId"}, {"name": "dateRange"}],
        "metricHeaders": [{"name": m, "type": "TYPE_INTEGER"} for m in metrics],
        "rows": rows,
        "rowCount": len(rows),
        "metadata": {"currencyCode": "HKD", "timeZone": "Asia/Hong_Kong"},
        "kind": "analyticsData#runReport",
    }


# -- the datasets ----------------------------------------------------------------------


class AnalyticsSeries(Dataset):
    """One of the seed's GA series; all four share the day's landed file."""

    source = SOURCE
    zone = "external"
    in_dataset_folder = False

    def __init__(self, name: str) -> None:
        self.name = name
        self.staging_table = f"staging.google_analytics_{name.replace('-', '_')}"

    def file_names(self, day: dt.date, settings: Settings) -> list[str]:
        return [FILE_NAME]

    def fetch(self, day: dt.date, settings: Settings) -> dict[str, bytes]:
        return {FILE_NAME: fetch_all(day, settings)}

    def check(self, settings: Settings) -> str:
        return check(settings, self.name)

    def parse(self, data: bytes, file_name: str) -> Parsed:
        return read_series(data, file_name, self.name)

    cluster_reader = True

    def read_on_cluster(self, spark: Any, url: str, key: str, compressed: bool, head: bytes) -> Any:
        return read_on_cluster(spark, url, key, compressed, self.name)

    def sample(self, day: dt.date, world: DemoWorld) -> dict[str, bytes]:
        return {FILE_NAME: demo_file(world, day)}


_file_cache: weakref.WeakKeyDictionary[DemoWorld, dict[dt.date, bytes]] = (
    weakref.WeakKeyDictionary()
)


def demo_file(world: DemoWorld, day: dt.date) -> bytes:
    """The day's landed file for the demo world; built once, shared by the four series."""
    cache = _file_cache.setdefault(world, {})
    if day not in cache:
        lines = []
        for name, query in sorted(DEFAULT_QUERIES.items()):
            body = report_request(query, day)
            response = demo_response(world, name, body)
            lines.append(
                {"series": name, "property": "000000000", "request": body, "response": response}
            )
        cache[day] = _pack(lines)
    return cache[day]


DATASETS = [AnalyticsSeries(name) for name in DEFAULT_QUERIES]
