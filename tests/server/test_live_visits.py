"""Hits loaded by the server become visits without a separate job."""

from starlette.testclient import TestClient

from tally.config import load_settings
from tally.server.app import create_app
from tally.server.auth import create_token
from tally.warehouse import connect
from tally.web.sites import add_site


def test_a_load_sessionizes_the_days_it_touched(tmp_path):
    settings = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path)})
    warehouse = connect(settings.warehouse_url)
    warehouse.migrate()
    site = add_site(warehouse, "Watch", ["https://watch.example.com"], "Asia/Hong_Kong")
    token = create_token(warehouse, "ops")
    warehouse.close()
    app = create_app(settings, run_loader=False, stream=False)
    visitor = "&".join(["rec=1", f"idsite={site.idsite}", "_id=0123456789abcdef"])
    with TestClient(app) as client:
        for page in ("/", "/plans", "/watch/1"):
            url = f"https://watch.example.com{page}"
            assert client.get(f"/matomo.php?{visitor}&url={url}").status_code == 200
        loaded = client.post("/api/tracking/load", headers={"Authorization": f"Bearer {token}"})
        assert loaded.json()["loaded"] == 3
        # one visitor, three pageviews seconds apart: one visit of three actions
        visits = app.state.warehouse.rows("SELECT idsite, actions FROM web.visits")
    assert visits == [(site.idsite, 3)]
