"""Security: the Reporting API refuses requests that would hold a worker for long.

Each limit answers 400 with Matomo's error body naming the limit, before any SQL runs.
"""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient
from tests.web.reporting_site import load_site

from tally.config import load_settings
from tally.server.app import create_app
from tally.server.auth import create_token
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
