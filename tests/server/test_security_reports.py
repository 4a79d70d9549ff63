"""Security: the Reporting API refuses requests that would hold a worker for long.

Each limit answers 400 with Matomo's error body naming the limit, before any SQL runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from pathlib import Path

import pytest
from starlette.testclient import TestClient
from tests.web.reporting_site import load_site

from tally.config import load_settings
from tally.errors import QueryTimeoutError
from tally.server.app import create_app
from tally.server.auth import create_token
from tally.server.reports import ReportCall, ReportRunner
from tally.warehouse import connect
from tally.web.reporting.filters import MOST_PATTERN_DEPTH, apply_filters
from tally.web.reporting.segments import MOST_CONDITIONS

QUERY = {"module": "API", "idSite": "1", "period": "day", "date": "2026-03-02", "format": "json"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory):
    settings = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path_factory.mktemp("data"))})
    warehouse = connect(settings.warehouse_url)
    warehouse.migrate()
    load_site(warehouse)
    token = create_token(warehouse, "analyst")
    warehouse.close()
    with TestClient(create_app(settings, run_loader=False, stream=False)) as client:
        yield client, token


def test_a_segment_over_the_condition_limit_is_a_400_naming_the_limit(served) -> None:
    client, token = served
    segment = ";".join(f"browserName!=B{i}" for i in range(MOST_CONDITIONS + 1))
    params = {**QUERY, "method": "VisitsSummary.get", "token_auth": token, "segment": segment}
    answer = client.get("/index.php", params=params)
    assert answer.status_code == 400
    body = answer.json()
    assert body["result"] == "error"  # Matomo's error body
    assert f"{MOST_CONDITIONS + 1} conditions" in body["message"]
    assert f"the limit is {MOST_CONDITIONS}" in body["message"]


def test_a_segment_at_the_limit_still_answers(served) -> None:
    client, token = served
    # 32 conditions, none of which matches a browser of the fixture: every visit is kept,
    # so the day's four visits (tests/web/reporting_site.py) are counted
    segment = ";".join(f"browserName!=B{i}" for i in range(MOST_CONDITIONS))
    params = {**QUERY, "method": "VisitsSummary.get", "token_auth": token, "segment": segment}
    answer = client.get("/index.php", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.json()["nb_visits"] == 4


@pytest.mark.parametrize(
    ("pattern", "named"),
    [
        ("(" * 500, f"the limit is {MOST_PATTERN_DEPTH}"),
        ("(" * 20 + "a" + ")" * 20, "nests groups 20 deep"),
        ("a" * 600, "the limit is 512"),
        ("[", "not a regular expression"),
    ],
)
def test_a_bad_filter_pattern_is_a_400_not_a_500(served, pattern: str, named: str) -> None:
    client, token = served
    params = {**QUERY, "method": "Actions.getPageUrls", "flat": "1", "token_auth": token}
    answer = client.get("/index.php", params={**params, "filter_pattern": pattern})
    assert answer.status_code == 400, answer.text
    assert named in answer.json()["message"]


def test_escaped_and_bracketed_parentheses_do_not_count_as_nesting() -> None:
    rows = [{"label": "a(b"}, {"label": "c"}]
    pattern = "\\(" * 40 + "|[(((((((((((((((((((]"  # 40 escaped, 20 inside a class
    assert apply_filters(rows, {"filter_pattern": pattern}) == [{"label": "a(b"}]


def test_catastrophic_backtracking_stops_at_the_time_limit() -> None:
    # (x+x+)+y against 5,000 rows of 30 x's: each miss backtracks exponentially; the
    # filter must give up after about PATTERN_SECONDS with a 400, not run for hours
    rows = [{"label": "x" * 30}] * 5000
    with pytest.raises(Exception, match="filter_pattern took over"):
        apply_filters(rows, {"filter_pattern": "(x+x+)+y"})


# -- time limit, disconnects, shutdown ------------------------------------------------------

# Summing hashes of three billion numbers takes DuckDB minutes on this machine: a stand-in
# for a worst-case report that only an interrupt can end early.
ENDLESS = "SELECT sum(hash(i)) FROM range(3000000000) AS t(i)"


class Client:
    """The ASGI receive side of a request whose client leaves after ``leaves_after`` s."""

    def __init__(self, leaves_after: float | None = None) -> None:
        self.leaves_after = leaves_after

    async def receive(self) -> dict[str, object]:
        if self.leaves_after is None:
            await asyncio.Event().wait()  # never
        await asyncio.sleep(self.leaves_after)
        return {"type": "http.disconnect"}


def runner_for(tmp_path: Path, timeout: float, workers: int = 1) -> ReportRunner:
    settings = load_settings(
        environ={
            "TALLY_DATA_DIR": str(tmp_path),
            "TALLY_SERVER__REPORT_TIMEOUT_SECONDS": str(timeout),
            "TALLY_SERVER__REPORT_WORKERS": str(workers),
        }
    )
    return ReportRunner(settings, connect(settings.warehouse_url))


def endless(warehouse) -> object:
    return warehouse.rows(ENDLESS)


def test_a_report_past_its_time_limit_is_interrupted_and_frees_its_thread(tmp_path) -> None:
    runner = runner_for(tmp_path, timeout=0.5)

    async def scenario() -> None:
        with pytest.raises(QueryTimeoutError, match="report_timeout_seconds"):
            await runner(Client(), endless)
        # the one report thread is free again: a quick report gets it (a longer limit, as
        # the interrupted query may take a moment to return on a busy machine; without the
        # interrupt it would hold the thread for minutes)
        runner.timeout = 60
        assert await runner(Client(), lambda w: w.rows("SELECT 6 * 7")) == [(42,)]

    asyncio.run(scenario())
    assert runner.interrupted == 1
    runner.close()


def test_a_report_whose_client_leaves_is_interrupted(tmp_path) -> None:
    runner = runner_for(tmp_path, timeout=600)

    async def scenario() -> None:
        with pytest.raises(QueryTimeoutError, match="client disconnected"):
            await runner(Client(leaves_after=0.3), endless)
        assert await runner(Client(), lambda w: w.rows("SELECT 1")) == [(1,)]

    asyncio.run(scenario())
    runner.close()


def test_shutdown_interrupts_running_reports(tmp_path) -> None:
    runner = runner_for(tmp_path, timeout=600)
    call = ReportCall(runner.warehouse)
    runner.running.add(call)
    thread = threading.Thread(target=lambda: _swallow(call.run, endless))
    thread.start()
    while call.connection is None:  # its query is under way
        time.sleep(0.01)
    time.sleep(0.2)
    runner.close()
    thread.join(30)
    assert not thread.is_alive() and call.finished.is_set()


def _swallow(function, *arguments) -> None:
    with contextlib.suppress(QueryTimeoutError):
        function(*arguments)


def test_tracking_answers_while_every_report_thread_is_busy(tmp_path) -> None:
    """One report thread, held by an endless report: a hit is still acknowledged, and the
    report is still running when it is (its own threads and connection)."""
    settings = load_settings(
        environ={"TALLY_DATA_DIR": str(tmp_path), "TALLY_SERVER__REPORT_WORKERS": "1"}
    )
    warehouse = connect(settings.warehouse_url)
    warehouse.migrate()
    load_site(warehouse)
    warehouse.close()
    app = create_app(settings, run_loader=False, stream=False)
    with TestClient(app) as client:
        runner = app.state.reports
        call = ReportCall(runner.warehouse)
        runner.running.add(call)
        busy = runner.executor.submit(_swallow, call.run, endless)
        while call.connection is None:
            time.sleep(0.01)
        hit = client.get(
            "/matomo.php", params={"idsite": "1", "rec": "1", "url": "https://watch.example.com/"}
        )
        assert hit.status_code == 200
        assert not busy.done()  # the report was running all along
    assert busy.result(timeout=30) is None  # shutdown interrupted it


def test_a_stop_interrupts_reports_and_refuses_new_ones(tmp_path) -> None:
    """What `tally serve` does on SIGTERM before uvicorn waits for open requests."""
    runner = runner_for(tmp_path, timeout=600)

    async def scenario() -> None:
        running = asyncio.create_task(runner(Client(), endless))
        while not runner.running or next(iter(runner.running)).connection is None:
            await asyncio.sleep(0.01)
        runner.stop_all()
        with pytest.raises(QueryTimeoutError, match="interrupted"):
            await running
        with pytest.raises(QueryTimeoutError, match="stopping"):
            await runner(Client(), lambda w: w.rows("SELECT 1"))

    asyncio.run(scenario())
    runner.close()
