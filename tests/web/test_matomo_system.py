"""Matomo's own system tests as tally's acceptance suite.

Each ``tests/fixtures/matomo_system/<Fixture>.json`` holds the tracking calls of one of
Matomo's fixtures (tests/PHPUnit/Fixtures/*.php in matomo-org/matomo) as data: sites, goals,
and per request the visitor, time and Tracking API parameters; ``defaults`` are what
Matomo's Fixture::getTracker sets on every tracker (IP, user agent, language, local time,
resolution). ``compare`` lists the expected answers Matomo's system tests check
(tests/PHPUnit/System/expected/*.xml, copied unchanged into ``expected/``).

The requests are replayed over HTTP (bulk tracking, with a token as Matomo's fixtures send
one) into a real ``tally serve``; tally's answer to each method is compared with Matomo's
file field by field. A field both answers have must be equal, except the deliberate
differences named in DELIBERATE (each with its reason; docs/reporting-api.md has the
table). Fields Matomo has and tally does not serve are counted, not failed: they are listed
per method in the docs.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from tests.web.served import Served, serve

from tally.warehouse import Warehouse
from tally.web.sites import add_goal, add_site

FIXTURES = Path(__file__).parents[1] / "fixtures" / "matomo_system"
PORTED = sorted(FIXTURES.glob("*.json"))

UNTRANSLATED = "labels are not translated: tally answers in English, the test asks language=fr"
# (fixture, method, field) -> why tally answers differently, on purpose. "rows" names a
# different number of rows.
DELIBERATE: dict[tuple[str, str, str], str] = {
    ("TwoVisitsNoKeywordWithBot", "Referrers.getKeywords", "label"): UNTRANSLATED,
    ("TwoVisitsNoKeywordWithBot", "Referrers.getKeywords", "segment"): (
        "tally writes its own segment definition (referrerKeyword==value, percent-encoded "
        "with %20); Matomo's has a referrerType prefix and '+'. Both select the same visits."
    ),
    ("TwoVisitsNoKeywordWithBot", "Live.getLastVisitsDetails", "idVisit"): (
        "tally's visit ids are hashes of the visit's first hit, not an auto-increment"
    ),
    ("TwoVisitsNoKeywordWithBot", "Live.getLastVisitsDetails", "referrerKeyword"): UNTRANSLATED,
    ("TwoVisitsNoKeywordWithBot", "Live.getLastVisitsDetails", "deviceBrand"): UNTRANSLATED,
    ("TwoVisitsNoKeywordWithBot", "Live.getLastVisitsDetails", "deviceModel"): UNTRANSLATED,
    ("TwoVisitsNoKeywordWithBot", "Live.getLastVisitsDetails", "browserName"): UNTRANSLATED,
    ("TwoVisitsNoKeywordWithBot", "Live.getLastVisitsDetails", "countryCode"): (
        "tally locates the IP with the database bundled with geoip2fast (156.5.3.2 is in the "
        "US); Matomo's test has no GeoIP database and guesses the country from the browser "
        "language (fr)"
    ),
    ("VisitsInDifferentTimezones", "Live.getLastVisitsDetails", "rows"): (
        "Matomo's visitor log of a day also lists the visit at the next midnight (00:00:00 "
        "of the next day: its bounds are inclusive); tally's day ends before midnight, as its "
        "VisitsSummary and Matomo's do (21 visits)"
    ),
    ("VisitsInDifferentTimezones", "Live.getLastVisitsDetails", "countryCode"): (
        "as above: tally locates 156.5.3.2 in the US; Matomo's test guesses fr from the language"
    ),
    ("VisitsInDifferentTimezones", "Live.getLastVisitsDetails", "idVisit"): (
        "tally's visit ids are hashes of the visit's first hit, not an auto-increment"
    ),
}
EVENT_VISITS = (
    "Matomo's Events rows add up the visits of their sub-rows (a visit with events of 14 "
    "names counts 14 times in its category); tally counts each visit once per label"
)
PLUS_SEGMENT = (
    "tally percent-encodes a space in a row's segment as %20, Matomo writes '+'; both select "
    "the same visits"
)
for _method in ("Events.getCategory", "Events.getAction", "Events.getName"):
    DELIBERATE[("ThreeVisitsWithCustomEvents", _method, "nb_visits")] = EVENT_VISITS
    DELIBERATE[("ThreeVisitsWithCustomEvents", _method, "segment")] = PLUS_SEGMENT
# Differences found and not explained or fixed yet: listed in docs/reporting-api.md as open.
OPEN: dict[tuple[str, str, str], str] = {
    ("TwoVisitsNoKeywordWithBot", "Live.getLastVisitsDetails", "visitDuration"): (
        "Matomo 1084 s, tally 1080 s (the hits are 18 min apart)"
    ),
    ("TwoVisitsNoKeywordWithBot", "Referrers.getKeywords", "sum_visit_length"): (
        "the same 4 s as visitDuration"
    ),
    ("TwoVisitsNoKeywordWithBot", "Live.getLastVisitsDetails", "deviceType"): (
        "a bot: Matomo 'Unknown' (translated), tally 'Bot'"
    ),
    ("TwoVisitsNoKeywordWithBot", "Live.getLastVisitsDetails", "operatingSystemName"): (
        "a bot: Matomo 'Bot', tally empty"
    ),
}


@dataclass
class Outcome:
    """What one comparison found."""

    equal: int = 0
    differing: dict[str, tuple[str, str]] = field(default_factory=dict)  # field: (Matomo, tally)
    not_served: set[str] = field(default_factory=set)
    rows: tuple[int, int] = (0, 0)  # (Matomo's, tally's)


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, dict]]:
    """Every ported fixture replayed into one server; {fixture: {its idsite: tally's}}."""
    fixtures = [_load(path) for path in PORTED]
    sites: dict[str, dict[int, int]] = {}

    def prepare(warehouse: Warehouse) -> None:
        for fixture in fixtures:
            mapping = sites.setdefault(fixture["fixture"], {})
            for site in fixture["sites"]:
                created = add_site(warehouse, site["name"], site["urls"], site["timezone"])
                mapping[site["idsite"]] = created.idsite
            for goal in fixture["goals"]:
                add_goal(
                    warehouse,
                    mapping[goal["idsite"]],
                    goal["name"],
                    goal["match_attribute"],
                    goal.get("pattern_type"),
                    goal.get("pattern"),
                    revenue=goal.get("revenue"),
                    allow_multiple=goal.get("allow_multiple", False),
                )

    served = serve(tmp_path_factory.mktemp("matomo_system"), prepare)
    try:
        for fixture in fixtures:
            _replay(served, fixture, sites[fixture["fixture"]])
        served.load_now()
        yield served, sites
    finally:
        served.stop()


def _replay(served: Served, fixture: dict[str, Any], sites: dict[int, int]) -> None:
    requests = []
    for request in fixture["requests"]:
        params = {**fixture["defaults"], **request}
        visitor = params.pop("visitor")
        # Matomo's PHP tracker sends a random visitor id per tracker object: here a fixed
        # one per named visitor
        params["_id"] = hashlib.md5(f"{fixture['fixture']}/{visitor}".encode()).hexdigest()[:16]
        params["idsite"] = sites[int(params["idsite"])]
        params.update(rec="1", send_image="0")
        requests.append("?" + urlencode(params))
    answer = httpx.post(
        f"{served.url}/matomo.php",
        json={"requests": requests, "token_auth": served.token},
        timeout=60,
    )
    answer.raise_for_status()
    assert answer.json()["tracked"] == len(requests), answer.text


def _expected(name: str) -> object:
    """Matomo's XML answer as a dict (one row) or a list of row dicts; nested elements
    (subtables, goals, action details) are left out of the comparison."""
    root = ElementTree.parse(FIXTURES / "expected" / name).getroot()
    children = list(root)
    if not children:
        return [] if not (root.text or "").strip() else {"value": root.text.strip()}
    if all(child.tag == "row" for child in children):
        return [_fields(row) for row in children]
    return _fields(root)


def _fields(element: ElementTree.Element) -> dict[str, str]:
    return {child.tag: (child.text or "").strip() for child in element if not len(child)}


def _text(value: object) -> str:
    """tally's JSON value written as Matomo's XML writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return "<nested>" if value else ""
    return str(value)


def compare(expected: object, answer: object) -> Outcome:
    outcome = Outcome()
    matomo_rows = expected if isinstance(expected, list) else [expected]
    tally_rows = answer if isinstance(answer, list) else [answer]
    outcome.rows = (len(matomo_rows), len(tally_rows))
    pairs: list[tuple[dict, dict]] = []
    key = next(
        (k for k in ("label", "firstActionTimestamp") if all(k in r for r in matomo_rows)), None
    )
    if key is not None and all(isinstance(r, dict) for r in tally_rows):
        # rows by their label (or, in the visitor log, by when the visit began); rows whose
        # key differs (a label written otherwise) are paired in order with those left over
        by_key = {_text(row.get(key)): row for row in tally_rows}
        left = [
            row for row in tally_rows if _text(row.get(key)) not in {r[key] for r in matomo_rows}
        ]
        for row in matomo_rows:
            found = by_key.get(row[key])
            pairs.append((row, found if found is not None else (left.pop(0) if left else {})))
    else:
        pairs = [
            (m, t if isinstance(t, dict) else {})
            for m, t in zip(matomo_rows, tally_rows, strict=False)
        ]
    for matomo_row, tally_row in pairs:
        for name, value in matomo_row.items():
            if name not in tally_row:
                outcome.not_served.add(name)
            elif _text(tally_row[name]) == value:
                outcome.equal += 1
            else:
                outcome.differing[name] = (value, _text(tally_row[name]))
    return outcome


CASES = [
    (fixture["fixture"], case)
    for fixture in (_load(path) for path in PORTED)
    for case in fixture["compare"]
]


@pytest.mark.parametrize(
    ("fixture", "case"), CASES, ids=[f"{f}-{c['expected'][5:-4]}" for f, c in CASES]
)
def test_tally_answers_as_matomo_expects(
    replayed: tuple[Served, dict], fixture: str, case: dict[str, Any]
) -> None:
    served, sites = replayed
    params = dict(case["params"])
    params["idSite"] = sites[fixture][int(params["idSite"])]
    answer = served.api(case["method"], **params)
    local_ids = {str(tally): str(local) for local, tally in sites[fixture].items()}
    for row in answer if isinstance(answer, list) else [answer]:
        if isinstance(row, dict) and "idSite" in row:  # the fixture's own site id again
            row["idSite"] = local_ids.get(str(row["idSite"]), row["idSite"])
    outcome = compare(_expected(case["expected"]), answer)
    if (fixture, case["method"], "rows") not in DELIBERATE:
        assert outcome.rows[0] == outcome.rows[1], f"rows: Matomo {outcome.rows}, tally"
    known = DELIBERATE.keys() | OPEN.keys()
    unexplained = {
        name: values
        for name, values in outcome.differing.items()
        if (fixture, case["method"], name) not in known
    }
    # the docs' table is made from these lines (pytest -s)
    print(
        f"\nSUMMARY|{fixture}|{case['method']}|{case['expected']}|{outcome.equal}|"
        f"{sorted(outcome.differing)}|{sorted(outcome.not_served)}"
    )
    assert not unexplained, f"{case['expected']}: (Matomo, tally) {unexplained}"
    assert outcome.equal > 0, "nothing compared equal: the comparison proves nothing"
