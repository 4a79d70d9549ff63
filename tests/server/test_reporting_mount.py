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
