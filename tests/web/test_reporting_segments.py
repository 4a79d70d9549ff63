"""Segments: one test per operator on the fixture site's 2 March visits (V1-V4, see
``reporting_site``), AND/OR, URL-encoded values, and SQL in a value treated as data."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.web.reporting_site import BACKENDS, loaded_site

from tally.errors import BadInputError
from tally.warehouse import Warehouse
from tally.web.reporting.api import call
from tally.web.reporting.segments import compile_segment, parse

DAY = {"idSite": "1", "period": "day", "date": "2026-03-02"}


@pytest.fixture(scope="module", params=BACKENDS)
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    for store in loaded_site(request.param, tmp_path_factory):
        with store.session():  # one connection for the module's many calls
            yield store


def visits(site: Warehouse, segment: str) -> int:
    answer = call(site, "VisitsSummary.get", {**DAY, "segment": segment})
    assert isinstance(answer, dict)
    return int(answer["nb_visits"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("segment", "expected", "why"),
    [
        ("referrerType==direct", 2, "== : V1 and V4"),
        ("referrerType==DIRECT", 2, "== on a type ignores case"),
        ("referrerName!=news.example.org", 3, "!= : V1, V3, V4 (no referrer name counts)"),
        ("actions>=4", 2, ">= : V1 and V3 have 4 actions"),
        ("actions<=1", 2, "<= : V2 and V4"),
        ("actions>1", 2, "> : V1 and V3"),
        ("actions<4", 2, "< : V2 and V4"),
        ("visitDuration>60", 2, "> on duration: V1 360 s and V3 1200 s"),
        ("referrerName=@example", 1, "=@ : news.example.org (V2)"),
        ("referrerName!@example", 3, "!@ : every visit but V2"),
        ("referrerKeyword=^drama", 1, "=^ : 'drama series' (V3)"),
        ("referrerKeyword=$series", 1, "=$ : 'drama series' (V3)"),
        ("referrerKeyword=$drama", 0, "=$ : nothing ends with drama"),
        ("userId==", 3, "empty value: visits without a user"),
        ("userId!=", 1, "empty value: visits with a user (V3)"),
    ],
)
def test_each_operator_on_visit_dimensions(
    site: Warehouse, segment: str, expected: int, why: str
) -> None:
    assert visits(site, segment) == expected, why


@pytest.mark.parametrize(
    ("segment", "expected", "why"),
    [
        ("pageUrl=@watch%2F1", 2, "a visit with a page containing watch/1: V3, V4"),
        ("pageUrl!@watch%2F1", 2, "visits with no such page: V1, V2"),
        ("pageUrl=^https%3A%2F%2Fwatch.example.com%2Fshows", 2, "V1 and V2 saw /shows"),
        ("pageUrl=$%2Fwatch%2F1", 2, "V3 and V4"),
        ("pageUrl==https%3A%2F%2Fwatch.example.com%2Fshows%3Fgenre%3Ddrama", 2, "V1, V2"),
        ("pageUrl!=https%3A%2F%2Fwatch.example.com%2Fshows%3Fgenre%3Ddrama", 2, "V3, V4"),
        ("pageTitle==Episode%201", 2, "V3 and V4; %20 is a space"),
        ("eventCategory==Video", 1, "only V3 played a video that day"),
        ("outlinkUrl=@imdb", 1, "V1"),
        ("downloadUrl=$.pdf", 1, "V3"),
    ],
)
def test_action_dimensions_select_visits_holding_a_matching_action(
    site: Warehouse, segment: str, expected: int, why: str
) -> None:
    assert visits(site, segment) == expected, why


def test_and_or_and_encoded_separators(site: Warehouse) -> None:
    # OR binds tighter than AND: (website OR search) AND smartphone = V2, V3
    assert visits(site, "referrerType==website,referrerType==search;deviceType==smartphone") == 2
    assert visits(site, "deviceType==smartphone;countryCode==hk") == 1  # V3
    assert visits(site, "deviceType==smartphone;countryCode==hk,countryCode==sg") == 2
    # %2C and %3B inside a value are data, not separators: no keyword holds them
    assert visits(site, "referrerKeyword==drama%2Cseries%3Bx") == 0
    assert parse("referrerKeyword==a%2Cb%3Bc") == parse("referrerKeyword==a%2Cb%3Bc")
    assert parse("referrerKeyword==a%2Cb%3Bc")[0][0].value == "a,b;c"


def test_sql_in_a_value_is_data(site: Warehouse) -> None:
    hostile = "x%27%20OR%20%271%27%3D%271"  # x' OR '1'='1
    compiled = compile_segment(f"referrerName=={hostile}")
    harmless = compile_segment("referrerName==harmless")
    assert compiled.sql == harmless.sql  # the query text does not depend on the value
    assert compiled.params == ["x' OR '1'='1"]
    assert visits(site, f"referrerName=={hostile}") == 0
    dropping = "1%27%3B%20DROP%20TABLE%20web.visits%3B%20--"
    assert visits(site, f"pageUrl=@{dropping}") == 0
    assert visits(site, "") == 4  # the visits are all still there


@pytest.mark.parametrize(
    ("segment", "message"),
    [
        ("visits==1", "unknown segment dimension"),
        ("referrerType~direct", "is not NAME OPERATOR VALUE"),
        ("v.idsite==1", "unknown segment dimension"),
        ("actions>=many", "must be a number"),
        ("referrerName>b", "compares numbers"),
        ("actions=@1", "matches text"),
        ("referrerType==direct;", "is not NAME OPERATOR VALUE"),
    ],
)
def test_bad_segments_are_refused(segment: str, message: str) -> None:
    with pytest.raises(BadInputError, match=message) as caught:
        compile_segment(segment)
    assert caught.value.field == "segment"
