"""The Reporting API methods about sites and the API (what Matomo's log importer and API
clients call first), answered in Matomo's shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tally.errors import BadInputError, NotFoundError
from tally.warehouse import Warehouse, connect
from tally.web.reporting import call
from tally.web.sites import add_site, get_site


@pytest.fixture
def store(tmp_path: Path) -> Warehouse:
    warehouse = connect(f"duckdb:///{tmp_path}/w.duckdb")
    warehouse.migrate()
    add_site(warehouse, "Shop", ["https://www.shop.example", "https://m.shop.example"], "UTC")
    return warehouse


def test_site_from_id_and_all_sites(store: Warehouse) -> None:
    site = call(store, "SitesManager.getSiteFromId", {"idSite": "1"})
    assert isinstance(site, dict)
    assert (site["idsite"], site["name"], site["main_url"]) == (
        1,
        "Shop",
        "https://www.shop.example",
    )
    assert list(call(store, "SitesManager.getAllSites", {})) == ["1"]  # type: ignore[call-overload]
    with pytest.raises(NotFoundError):
        call(store, "SitesManager.getSiteFromId", {"idSite": "9"})
    with pytest.raises(BadInputError):
        call(store, "SitesManager.getSiteFromId", {"idSite": "x"})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("shop.example", [{"idsite": 1}]),  # import_logs.py sends the bare host
        ("http://shop.example/", [{"idsite": 1}]),  # www. and scheme do not matter
        ("m.shop.example", [{"idsite": 1}]),  # any of the site's URLs
        ("other.example", []),
    ],
)
def test_sites_from_url(store: Warehouse, url: str, expected: list[dict[str, int]]) -> None:
    assert call(store, "SitesManager.getSitesIdFromSiteUrl", {"url": url}) == expected


def test_add_site_answers_the_new_id(store: Warehouse) -> None:
    # import_logs.py --add-sites-new-hosts: siteName and urls[0]
    answer = call(
        store,
        "SitesManager.addSite",
        {"siteName": "blog.example", "urls[0]": "http://blog.example"},
    )
    assert answer == {"value": 2}
    site = get_site(store, 2)
    assert (site.name, site.main_url, site.timezone) == (
        "blog.example",
        "http://blog.example",
        "UTC",
    )


def test_version_and_report_metadata(store: Warehouse) -> None:
    assert call(store, "API.getMatomoVersion", {}) == {"value": "5.2.0"}
    reports = call(store, "API.getReportMetadata", {"idSite": "1"})
    assert isinstance(reports, list)
    found = {(report["module"], report["action"]) for report in reports}
    assert ("VisitsSummary", "get") in found and ("Referrers", "getCampaigns") in found
    summary = next(r for r in reports if r["uniqueId"] == "VisitsSummary_get")
    assert summary["category"] == "VisitsSummary" and summary["name"]
