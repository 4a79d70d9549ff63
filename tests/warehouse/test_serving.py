"""One slow statement in the server does not hold up /login or a tracking request.

The real app (dashboards and tracking) runs on the ``warehouse`` fixture; a thread runs a
statement of ten billion rows on the app's own warehouse, as a dashboard request would, in
an interactive block (stopped by its limit). Meanwhile a user logs in and a hit is tracked:
both answer while the slow statement still runs. Figures (login p99 while a 30 s query
runs) are measured by benchmarks/serving_bench.py, not asserted here.
"""

from __future__ import annotations

import threading

from starlette.testclient import TestClient

from tally.config import Settings
from tally.errors import QueryTimeoutError
from tally.server import users
from tally.warehouse import Warehouse

ENDLESS = (
    "SELECT count(*) FROM range(100000) AS a(x), range(100000) AS b(y) WHERE a.x * b.y % 7 = 3"
)


def test_a_slow_query_does_not_delay_login_or_tracking(
    warehouse: Warehouse, settings: Settings, monkeypatch
) -> None:
    from argon2 import PasswordHasher
    from tests.server.ui_support import dashboard_app, log_in  # the real app with the UI

    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    warehouse.execute(
        "INSERT INTO web.sites VALUES (1, 'Shop', 'https://shop.example', '[]', 'UTC', "
        "TIMESTAMP '2026-01-01 00:00:00')"
    )
    users.add_user(warehouse, "ana", "correct horse battery", admin=True)
    app = dashboard_app(settings, warehouse)
    running, finished = threading.Event(), threading.Event()
    stopped: list[bool] = []

    def slow_request() -> None:
        try:
            with warehouse.interactive(10):
                running.set()
                warehouse.rows(ENDLESS)
        except QueryTimeoutError:
            stopped.append(True)
        finally:
            finished.set()

    with TestClient(app) as client:
        slow = threading.Thread(target=slow_request)
        slow.start()
        running.wait(10)
        answered = log_in(client, "ana")
        tracked = client.get("/matomo.php?idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2F")
        during = not finished.is_set()
        slow.join(60)
    assert answered.status_code == 303 and answered.headers["location"] == "/"
    assert tracked.status_code == 200
    assert during, "login and tracking waited for the slow query to end"
    assert stopped == [True]  # and the slow one was stopped by its limit, not finished
