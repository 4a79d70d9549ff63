"""Matomo's log importer (import_logs.py, unmodified) against a real ``tally serve``, with the
command lines of its own README, on access logs whose visits are counted by hand below.

README lines used (matomo-org/matomo-log-analytics, "How to use this script?"):
  1. ``import_logs.py --url=matomo.example.com /path/to/access.log`` with ``--token-auth``
     (the README's advice when Matomo runs on another server): no scheme, no trailing
     slash; no --idsite, so each line's host picks the site (SitesManager.getSitesIdFromSiteUrl).
  2. ``import_logs.py --url=http://mysite/matomo/ --idsite=1234 --recorders=4
     --enable-http-errors --enable-http-redirects --enable-static --enable-bots access.log``:
     a trailing slash, so its API calls go to ``//`` and its hits to ``//piwik.php``.

Hand counts, all on 2026-03-10 (sites in UTC):

shop_access.log (command 2, site 1 "shop.example"; every line is imported):
  S1  192.0.2.10, Firefox: / 10:00, /plans 10:05, /signup 10:10: 3 actions, 600 s
  S2  192.0.2.11, the same Firefox: /plans 10:02, /signup 10:03: 2 actions, 60 s. Anonymised
      to two bytes, S1 and S2 share 192.0.0.0; keyed by the full IP they stay two visitors.
  S3  192.0.2.10 again at 11:00 (50 min after 10:10: a new visit): /plans, a bounce
  S4  198.51.100.7, Chrome: /?pk_campaign=Spring&pk_keyword=TV 12:00, /plans 12:01, download
      /files/guide.pdf 12:02 (static files are on): 3 actions, campaign "spring"/"tv"; the
      entry page is "/" (campaign parameters leave tracked URLs)
  => 4 visits, 3 unique visitors, 9 actions (8 page views, 1 download), 1 bounce
blog_vhost_access.log (command 1, site 2 "blog.example"; host from each line):
  B1  203.0.113.5, from Google ("tally"): / 09:00, /post/1 09:03 (/style.css is static and
      not imported by default): 2 actions
  B2  203.0.113.6, from news.example.org: /post/2 09:30 (the 404 /missing is not imported
      by default): 1 action, a bounce
  => 2 visits, 3 actions, referrers: 1 search engine, 1 website
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.web.served import Served, matomo_clients, serve

from tally.warehouse import Warehouse
from tally.web.sites import add_site

LOGS = Path(__file__).parents[1] / "fixtures" / "web" / "import_logs"
DAY = {"period": "day", "date": "2026-03-10"}


def _importer() -> Path:
    clients = matomo_clients()
    script = clients / "matomo-log-analytics" / "import_logs.py" if clients else None
    if script is None or not script.exists():
        pytest.skip("Matomo's import_logs.py not found (../shared/clients, see its README)")
    return script


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    def prepare(warehouse: Warehouse) -> None:
        add_site(warehouse, "Shop", ["http://shop.example"], "UTC")
        add_site(warehouse, "Blog", ["http://blog.example"], "UTC")

    served = serve(tmp_path_factory.mktemp("import_logs"), prepare)
    yield served
    served.stop()


def run_importer(arguments: list[str]) -> str:
    found = subprocess.run(
        [sys.executable, str(_importer()), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert found.returncode == 0, found.stdout[-3000:] + found.stderr[-3000:]
    return found.stdout


def test_readme_command_with_trailing_slash_and_idsite(server: Served) -> None:
    output = run_importer(
        [
            f"--url={server.url}/",
            "--idsite=1",
            "--recorders=4",
            "--enable-http-errors",
            "--enable-http-redirects",
            "--enable-static",
            "--enable-bots",
            f"--token-auth={server.token}",
            str(LOGS / "shop_access.log"),
        ]
    )
    assert "9 requests imported successfully" in output, output
    server.load_now()
    summary = server.api("VisitsSummary.get", idSite=1, **DAY)
    assert (summary["nb_visits"], summary["nb_uniq_visitors"]) == (4, 3)
    assert (summary["nb_actions"], summary["bounce_count"]) == (9, 1)
    assert summary["sum_visit_length"] == 600 + 60 + 0 + 120
    campaigns = server.api("Referrers.getCampaigns", idSite=1, **DAY)
    assert [(row["label"], row["nb_visits"]) for row in campaigns] == [("spring", 1)]
    pages = server.api("Actions.getPageUrls", idSite=1, flat=1, **DAY)
    # "/" (Matomo's flat label "/index") once for S1 and once, without its campaign
    # parameters, for S4: one row, 2 views
    views = {row["label"]: row["nb_hits"] for row in pages}
    assert views == {"/index": 2, "/plans": 4, "/signup": 2}, views
    downloads = server.api("Actions.getDownloads", idSite=1, flat=1, **DAY)
    assert [row["nb_hits"] for row in downloads] == [1]


def test_readme_command_without_idsite_finds_the_site_by_host(server: Served) -> None:
    host_and_port = server.url.removeprefix("http://")  # the README writes no scheme
    output = run_importer(
        [
            f"--url={host_and_port}",
            f"--token-auth={server.token}",
            str(LOGS / "blog_vhost_access.log"),
        ]
    )
    assert "3 requests imported successfully" in output, output
    server.load_now()
    summary = server.api("VisitsSummary.get", idSite=2, **DAY)
    assert (summary["nb_visits"], summary["nb_actions"], summary["bounce_count"]) == (2, 3, 1)
    types = server.api("Referrers.getReferrerType", idSite=2, **DAY)
    counts = {row["label"]: row["nb_visits"] for row in types if row["nb_visits"]}
    assert counts == {"Search Engines": 1, "Websites": 1}, counts
    # nothing of the blog's log went to the shop
    assert server.api("VisitsSummary.get", idSite=1, **DAY)["nb_visits"] in (0, 4)
