"""The scheduler inside tally serve: started with the app when server.scheduler is on."""

from __future__ import annotations

import threading

from starlette.testclient import TestClient

from tally.config import Settings
from tally.server.app import create_app
from tally.server.scheduling import start_scheduler
from tally.warehouse import connect


def scheduler_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "tally-scheduler" and t.is_alive()]


def test_off_by_default(settings: Settings) -> None:
    warehouse = connect(settings.warehouse_url)
    assert settings.server.scheduler is False
    assert start_scheduler(settings, warehouse) is None
    with TestClient(create_app(settings, warehouse=warehouse, run_loader=False, stream=False)):
        assert scheduler_threads() == []
    warehouse.close()


def test_runs_while_the_app_runs_and_stops_with_it(settings: Settings) -> None:
    settings.server.scheduler = True
    settings.server.scheduler_poll_seconds = 3600  # one tick, then it waits to be stopped
    warehouse = connect(settings.warehouse_url)
    app = create_app(settings, warehouse=warehouse, run_loader=False, stream=False)
    with TestClient(app) as client:
        assert len(scheduler_threads()) == 1
        assert client.get("/health").status_code == 200  # serving while it waits
    # shutdown asked the thread to stop and waited for it, without the hour's sleep
    assert scheduler_threads() == []
    warehouse.close()
