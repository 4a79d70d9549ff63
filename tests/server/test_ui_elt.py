"""The ELT monitoring page and a run's page, on the ledger of test_metrics."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from tests.server.test_metrics import _ledger
from tests.server.ui_support import cheap_hashes, dashboard_app, log_in

from tally.config import Settings
from tally.server.ui.elt import overview_panels
from tally.server.users import add_user
from tally.warehouse import Warehouse, connect


@pytest.fixture
def store(settings: Settings) -> Iterator[Warehouse]:
    warehouse = connect(settings.warehouse_url)
    warehouse.migrate()
    _ledger(warehouse)
    yield warehouse
    warehouse.close()


def _panel(panels: list, key: str):
    return next(panel for panel in panels if panel.key == key)


def test_panels_count_the_ledger(warehouse: Warehouse) -> None:
    """On DuckDB and PostgreSQL (the ledger may live in either)."""
    _ledger(warehouse)
    panels = overview_panels(warehouse, 90 * 400)  # every step of the fixture, whatever today is
    runs = _panel(panels, "runs")
    # Steps by partition day: 02-25 one ok; 03-01 one ok; 03-02 one failed and one ok.
    assert runs.columns == ["day", "ok", "failed"]
    assert runs.rows == [
        [dt.date(2026, 2, 25), 1, 0],
        [dt.date(2026, 3, 1), 1, 0],
        [dt.date(2026, 3, 2), 1, 1],
    ]
    failures = _panel(panels, "failures")
    assert [(row[0], row[-1]) for row in failures.rows] == [("r2", "boom")]
    quarantine = _panel(panels, "quarantine")
    assert quarantine.rows == [["itunes", "subscription-events", "bad date", 3, "f.txt", 3]]
    rows = _panel(panels, "rows")
    assert [row[1:3] for row in rows.rows if row[0] == dt.date(2026, 3, 2)] == [["itunes", 50]]


def test_pages_through_the_app(
    settings: Settings, store: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    cheap_hashes(monkeypatch)
    add_user(store, "ada", "correct horse battery", admin=True)
    with TestClient(dashboard_app(settings, store)) as client:
        log_in(client, "ada", "correct horse battery")
        page = client.get("/elt", params={"days": "90"})
        assert page.status_code == 200 and "Sources and datasets" in page.text
        assert "stale" in page.text  # google-play is five days behind its expected partition
        run = client.get("/elt/runs/r2")
        assert run.status_code == 200 and "boom" in run.text
        assert client.get("/elt/runs/nope").status_code == 404
        csv_text = client.get("/elt", params={"csv": "datasets"}).text
        assert csv_text.splitlines()[0].startswith("source,dataset,last partition")


def test_last_14_days_draws_14_days(store: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    from tally.server.ui import elt

    monkeypatch.setattr(elt, "_today", lambda: dt.date(2026, 3, 3))
    runs = _panel(overview_panels(store, 14), "runs")
    # 18 Feb .. 3 Mar is 14 days, whichever of them have steps (02-25, 03-01, 03-02)
    x = runs.chart["data"][0]["x"]
    assert len(x) == 14 and x[0] == "2026-02-18" and x[-1] == "2026-03-03"
    week = _panel(overview_panels(store, 7), "runs")
    # 25 Feb .. 3 Mar: the 02-25 step is the window's first day, still counted
    assert week.chart["data"][0]["x"][0] == "2026-02-25" and len(week.chart["data"][0]["x"]) == 7
    assert [row[0] for row in week.rows] == [
        dt.date(2026, 2, 25),
        dt.date(2026, 3, 1),
        dt.date(2026, 3, 2),
    ]


def test_page_queries_run_on_report_threads_and_time_out_as_503(
    settings: Settings, store: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dashboard page's queries run on the server's report threads (not asyncio's default
    pool, which login and tracking's site-list refresh use), and a page past the interactive
    limit answers 503 with the reason instead of a stack trace."""
    import threading

    from tally.errors import QueryTimeoutError
    from tally.server.ui import elt

    threads: list[str] = []
    real = elt.overview_panels

    def recording(*args, **kwargs):
        threads.append(threading.current_thread().name)
        if len(threads) > 1:
            raise QueryTimeoutError("statement ran past 5 s")
        return real(*args, **kwargs)

    monkeypatch.setattr(elt, "overview_panels", recording)
    cheap_hashes(monkeypatch)
    add_user(store, "ada", "correct horse battery", admin=True)
    with TestClient(dashboard_app(settings, store)) as client:
        log_in(client, "ada", "correct horse battery")
        assert client.get("/elt").status_code == 200
        slow = client.get("/elt")
    assert [name.startswith("tally-report") for name in threads] == [True, True]
    assert slow.status_code == 503
    assert "statement ran past 5 s" in slow.text and "Traceback" not in slow.text
