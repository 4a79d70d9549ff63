"""Provider.getProvider: visits by the visitor's provider (internet service provider).

The loader names a visit's provider from the database bundled with geoip2fast: the
organisation its network (autonomous system) is registered to, looked up from the full
address before it is anonymised. Matomo instead names the domain of the address's
reverse-DNS host name; docs/web.md says why tally differs and what that changes.
"""

from __future__ import annotations

from urllib.parse import quote

from tally.web.reporting.methods import Query, Report, by_visit_dimension, method

UNKNOWN = "Unknown"  # private, reserved and unlisted addresses, as Matomo labels them


@method("Provider.getProvider")
def providers(query: Query) -> Report:
    """Visits by provider, most visits first, with the segment that selects each row's."""
    return [
        {
            "label": provider or UNKNOWN,
            **metrics,
            "segment": f"provider=={quote(str(provider), safe='')}" if provider else "provider==",
        }
        for provider, metrics in by_visit_dimension(query, "v.provider")
    ]
