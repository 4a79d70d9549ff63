"""Reporting API methods about sites and the API itself, not about a site's period.

Matomo's clients call these before anything else: its log importer (``import_logs.py``)
asks ``SitesManager.getSiteFromId`` for the main URL of ``--idsite``, or
``SitesManager.getSitesIdFromSiteUrl`` for each host it meets (and ``SitesManager.addSite``
with ``--add-sites-new-hosts``); API clients ask ``API.getMatomoVersion`` and
``API.getReportMetadata`` to learn what the server offers. Each takes the request's
parameters and answers in Matomo's shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from tally.errors import BadInputError
from tally.warehouse import Warehouse
from tally.web.referrers import hosts_of
from tally.web.reporting.methods import METHODS
from tally.web.sites import Site, add_site, get_site, list_sites

# The Matomo release whose tracker (matomo.js 5.2.0) and API answers tally follows.
MATOMO_VERSION = "5.2.0"

SiteMethod = Callable[[Warehouse, Mapping[str, str]], object]


def _site_row(site: Site) -> dict[str, object]:
    """A site as Matomo's SitesManager describes one (the fields tally has)."""
    return {
        "idsite": site.idsite,
        "name": site.name,
        "main_url": site.main_url,
        "ts_created": site.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "timezone": site.timezone,
        "currency": "USD",
        "type": "website",
        # Matomo's URL settings, comma-separated as its API writes them
        "excluded_parameters": ",".join(site.excluded_parameters),
        "sitesearch": 1 if site.sitesearch else 0,
        "sitesearch_keyword_parameters": ",".join(site.search_keyword_parameters),
        "sitesearch_category_parameters": ",".join(site.search_category_parameters),
        # Matomo's values: 1 keeps page URL fragments, 2 drops them (tally: 0, Matomo's
        # global default, drops them too)
        "keep_url_fragment": 1 if site.keep_url_fragment else 0,
    }


def _site_id(params: Mapping[str, str]) -> int:
    text = params.get("idSite", "").strip()
    if not text.isdigit():
        raise BadInputError("idSite must be one site id", field="idSite")
    return int(text)


def site_from_id(warehouse: Warehouse, params: Mapping[str, str]) -> object:
    return _site_row(get_site(warehouse, _site_id(params)))


def all_sites(warehouse: Warehouse, params: Mapping[str, str]) -> object:
    """Every site keyed by its id (Matomo's JSON is an object keyed by idsite)."""
    return {str(site.idsite): _site_row(site) for site in list_sites(warehouse)}


def sites_from_url(warehouse: Warehouse, params: Mapping[str, str]) -> object:
    """Sites one of whose URLs has the host of ``url`` (scheme and ``www.`` ignored, as
    Matomo's getSitesIdFromSiteUrl tries http/https with and without www)."""
    url = params.get("url", "").strip()
    if not url:
        raise BadInputError("url is required", field="url")
    wanted = {host.removeprefix("www.") for host in hosts_of([_with_scheme(url)])}
    return [
        {"idsite": site.idsite}
        for site in list_sites(warehouse)
        if wanted & {host.removeprefix("www.") for host in hosts_of(site.urls)}
    ]


def _with_scheme(url: str) -> str:
    return url if "://" in url else "http://" + url


def new_site(warehouse: Warehouse, params: Mapping[str, str]) -> object:
    """``addSite``: ``siteName``, ``urls[0..n]`` (or ``urls``), optional ``timezone`` and
    Matomo's URL settings ``excludedQueryParameters``, ``siteSearch`` (default on),
    ``searchKeywordParameters``, ``searchCategoryParameters`` (comma-separated),
    ``keepURLFragments`` (1: keep page URL fragments; 0, the global default, or 2: drop)."""
    urls = [value for key, value in sorted(params.items()) if key.startswith("urls[")]
    if not urls and params.get("urls"):
        urls = [part for part in params["urls"].split(",") if part.strip()]
    timezone = params.get("timezone") or "UTC"  # Matomo's default time zone
    site = add_site(
        warehouse,
        params.get("siteName", ""),
        [_with_scheme(u) for u in urls],
        timezone,
        excluded_parameters=[params.get("excludedQueryParameters", "")],
        sitesearch=params.get("siteSearch", "1").strip() not in ("0", "false"),
        search_keyword_parameters=[params.get("searchKeywordParameters", "")],
        search_category_parameters=[params.get("searchCategoryParameters", "")],
        keep_url_fragment=params.get("keepURLFragments", "0").strip() == "1",
    )
    return {"value": site.idsite}


def matomo_version(_warehouse: Warehouse, _params: Mapping[str, str]) -> object:
    return {"value": MATOMO_VERSION}


def report_metadata(_warehouse: Warehouse, _params: Mapping[str, str]) -> object:
    """One entry per report method tally serves: category (Matomo's module), name (the
    method's summary), module and action, as Matomo's API.getReportMetadata lists them."""
    reports = []
    for name in sorted(METHODS):
        module, action = name.split(".", 1)
        doc = (METHODS[name].function.__doc__ or name).strip().splitlines()[0]
        reports.append(
            {
                "category": module,
                "name": doc.rstrip("."),
                "module": module,
                "action": action,
                "uniqueId": f"{module}_{action}",
            }
        )
    return reports


SITE_METHODS: dict[str, SiteMethod] = {
    "SitesManager.getSiteFromId": site_from_id,
    "SitesManager.getAllSites": all_sites,
    "SitesManager.getSitesIdFromSiteUrl": sites_from_url,
    "SitesManager.addSite": new_site,
    "API.getMatomoVersion": matomo_version,
    "API.getPiwikVersion": matomo_version,
    "API.getReportMetadata": report_metadata,
}
