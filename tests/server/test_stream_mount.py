"""The assembled server takes real-time events at POST /api/events, behind an API token."""

import time

from starlette.testclient import TestClient

from tally.config import load_settings
from tally.server.app import create_app
from tally.server.auth import create_token
from tally.warehouse import connect


def test_events_endpoint_needs_a_token_and_accepts_a_batch(tmp_path):
    settings = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path)})
    warehouse = connect(settings.warehouse_url)
    warehouse.migrate()
    token = create_token(warehouse, "sensors")
    warehouse.close()
    app = create_app(settings, run_loader=False, stream=True)
    now = time.time()
    batch = [
        {"source": "sensor", "key": "s1", "time": now, "values": {"temperature": 21.5}},
        {"source": "sensor", "key": "s2", "time": now, "values": {"temperature": 22.0}},
    ]
    with TestClient(app) as client:
        assert client.post("/api/events", json=batch).status_code == 401
        answer = client.post(
            "/api/events", json=batch, headers={"Authorization": f"Bearer {token}"}
        )
        assert answer.status_code == 202, answer.text
        assert answer.json()["accepted"] == 2
        alerts = client.get("/api/alerts", headers={"Authorization": f"Bearer {token}"})
        assert alerts.status_code == 200 and "alerts" in alerts.json()
