"""UserCountry.getCity: visits by city, as the tracker (or a GeoIP lookup) gave it.

The bundled geoip2fast databases know countries and providers (provider.py), not cities, so
a city is known when the tracking request carried it (``city``, with a token) or a city
database is configured upstream.
"""

from __future__ import annotations

from tally.web.reporting.methods import Query, Report, Row, method, rounded
from tally.web.reporting.visit_groups import visit_groups

UNKNOWN = "Unknown"


@method("UserCountry.getCity")
def cities(query: Query) -> Report:
    """Visits by city and country, with the city's average coordinates."""
    rows: list[Row] = []
    for (city, country, region, latitude, longitude), metrics in visit_groups(
        query,
        ["h.city", "upper(v.country)"],
        aggregates=["min(h.region)", "avg(h.latitude)", "avg(h.longitude)"],
    ):
        rows.append(
            {
                "label": f"{city}, {country}" if city and country else city or UNKNOWN,
                **metrics,
                "city_name": city or UNKNOWN,
                "region": region,
                "country": str(country).lower() if country else "xx",
                "lat": rounded(float(latitude), 4) if latitude is not None else None,
                "long": rounded(float(longitude), 4) if longitude is not None else None,
            }
        )
    return rows
