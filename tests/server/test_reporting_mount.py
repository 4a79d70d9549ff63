"""The assembled server answers Matomo's Reporting API at /index.php, behind token_auth."""

from starlette.testclient import TestClient
from tests.web.reporting_site import load_site

from tally.config import load_settings
from tally.server.app import create_app
from tally.server.auth import create_token
from tally.warehouse import connect

QUERY = "/index.php?module=API&method=VisitsSummary.get&idSite=1&period=day&date=2026-03-02"


def test_reporting_api_is_served_with_a_token_and_refused_without(tmp_path):
    settings = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path)})
    warehouse = connect(settings.warehouse_url)
    warehouse.migrate()
    load_site(warehouse)
    token = create_token(warehouse, "analyst")
    warehouse.close()
    app = create_app(settings, run_loader=False, stream=False)
    with TestClient(app) as client:
        refused = client.get(QUERY + "&format=json")
        assert refused.status_code == 401
        answer = client.get(QUERY + f"&format=json&token_auth={token}")
        assert answer.status_code == 200, answer.text
        summary = answer.json()
    # the fixture's 2026-03-02: four visits (V1-V4) by three visitors, two bounces (V2, V4),
    # 4 + 1 + 4 + 1 = 10 actions (see tests/web/reporting_site.py)
    assert (summary["nb_visits"], summary["nb_uniq_visitors"], summary["nb_actions"]) == (4, 3, 10)
    assert summary["bounce_count"] == 2


def test_the_api_answers_at_root_and_with_doubled_slashes_as_matomo_does(tmp_path):
    """import_logs.py POSTs its API calls to --url + "/", and with a trailing slash in --url
    to "//" and "//piwik.php"; Matomo answers all of them (index.php is its default page)."""
    settings = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path)})
    warehouse = connect(settings.warehouse_url)
    warehouse.migrate()
    load_site(warehouse)
    token = create_token(warehouse, "importer")
    warehouse.close()
    app = create_app(settings, run_loader=False, stream=False)
    form = {"module": "API", "format": "json", "method": "SitesManager.getSiteFromId"}
    with TestClient(app) as client:
        for path in ("http://testserver/", "http://testserver//"):
            answer = client.post(path, data={**form, "idSite": "1", "token_auth": token})
            assert answer.status_code == 200, answer.text
            assert answer.json()["idsite"] == 1
        # no token: refused at / too
        assert client.post("/", data={**form, "idSite": "1"}).status_code == 401
        got = client.get(QUERY.replace("/index.php", "/") + f"&format=json&token_auth={token}")
        assert got.json()["nb_visits"] == 4
        # a plain GET of / is still the dashboard (the login wall sends it to the form)
        home = client.get("/", follow_redirects=False)
        assert home.status_code in (302, 303, 307) and "login" in home.headers["location"]
        tracked = client.get(
            "http://testserver//piwik.php?idsite=1&rec=1&url=https://x.example/&send_image=0"
        )
        assert tracked.status_code == 204, (tracked.status_code, tracked.text[:300])
