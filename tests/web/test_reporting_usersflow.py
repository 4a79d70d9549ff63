"""UsersFlow.getUsersFlow on the Flow site of ``reporting_flow_site`` (read its docstring for
the visits W0-W4), on both backends, counted by hand.

Page views of 10 March, in order (the site search is not a page view):
  W1 /index, /shows, /shows, /shows, /signup/done    W2 /shows, /watch/1
  W3 /shows, /index                                   W4 /shows
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pytest
from tests.web.reporting_flow_site import plain_hits, site_fixture

from tally.errors import BadInputError
from tally.warehouse import Warehouse
from tally.web.reporting import usersflow
from tally.web.reporting.api import call
from tally.web.reporting.usersflow import _sorted, _summed, _tallied
from tally.web.sessions import sessionize
from tally.web.sites import add_site

DAY = {"idSite": "1", "period": "day", "date": "2026-03-10"}
# every page of every step (Matomo's default keeps each step's 5 busiest)
ALL = {**DAY, "limitActionsPerStep": "-1"}


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def site(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    yield from site_fixture(request)


def pages(step: dict) -> list[tuple[object, ...]]:
    return [
        (r["label"], r["nb_visits"], r["nb_proceeded"], r["nb_exits"],
         [(n["label"], n["nb_visits"]) for n in r["subtable"]])
        for r in step["subtable"]
    ]  # fmt: skip


def test_every_page_of_each_step_without_a_limit(site: Warehouse) -> None:
    flow = call(site, "UsersFlow.getUsersFlow", ALL)
    # no step has more than 5 pages: Matomo's default limit of 5 leaves the flow whole
    assert call(site, "UsersFlow.getUsersFlow", DAY) == flow
    # step 1: all 4 visits; W4 left. Step 2: W1, W2, W3; W2 and W3 left. Steps 3-5: W1 only.
    assert [(s["label"], s["nb_visits"], s["nb_proceeded"], s["nb_exits"]) for s in flow] == [
        ("1", 4, 3, 1),
        ("2", 3, 1, 2),
        ("3", 1, 1, 0),
        ("4", 1, 1, 0),
        ("5", 1, 0, 1),
    ]
    # step 1: /shows opened W2 (then /watch/1), W3 (then /index) and W4 (left);
    # /index opened W1 (then /shows)
    assert pages(flow[0]) == [
        ("/shows", 3, 2, 1, [("/index", 1), ("/watch/1", 1)]),
        ("/index", 1, 1, 0, [("/shows", 1)]),
    ]
    # step 2: W3 left from /index, W2 from /watch/1; W1 reloaded /shows
    assert pages(flow[1]) == [
        ("/index", 1, 0, 1, []),
        ("/shows", 1, 1, 0, [("/shows", 1)]),
        ("/watch/1", 1, 0, 1, []),
    ]
    # step 3: W1 on /shows again, on to /shows (after its search)
    assert pages(flow[2]) == [("/shows", 1, 1, 0, [("/shows", 1)])]
    assert pages(flow[4]) == [("/signup/done", 1, 0, 1, [])]


def test_others_past_the_limit_of_pages_per_step(site: Warehouse) -> None:
    flow = call(site, "UsersFlow.getUsersFlow", {**DAY, "limitActionsPerStep": "1"})
    # step 1 keeps /shows (3 visits); /index (W1) becomes Others. Step 2 keeps /index (the
    # first of three pages with 1 visit, by name), so /shows and /watch/1 are Others there,
    # and so are the next pages that point at them.
    assert pages(flow[0]) == [
        ("/shows", 3, 2, 1, [("/index", 1), ("Others", 1)]),
        ("Others", 1, 1, 0, [("Others", 1)]),
    ]
    # each "Others" tells how many pages it holds: /index at step 1, two at step 2
    assert [step["subtable"][-1]["nb_pages_in_group"] for step in flow[:2]] == [1, 2]
    assert "nb_pages_in_group" not in flow[0]["subtable"][0]
    assert pages(flow[1]) == [
        ("/index", 1, 0, 1, []),
        ("Others", 2, 1, 1, [("/shows", 1)]),
    ]
    # the step totals do not change with grouping
    assert [s["nb_visits"] for s in flow] == [4, 3, 1, 1, 1]
    # a segment narrows the flow: Google's visit W3 only
    search = call(site, "UsersFlow.getUsersFlow", {**DAY, "segment": "referrerType==search"})
    assert [pages(step) for step in search] == [
        [("/shows", 1, 1, 0, [("/index", 1)])],
        [("/index", 1, 0, 1, [])],
    ]
    with pytest.raises(BadInputError, match="limitActionsPerStep"):
        call(site, "UsersFlow.getUsersFlow", {**DAY, "limitActionsPerStep": "0"})


def test_a_day_without_page_views_has_no_steps(site: Warehouse) -> None:
    # 11 March has no visits, and no visit of the 10th came from a campaign: both are empty
    # (on PostgreSQL an empty result's columns have no type, which the building must allow)
    assert call(site, "UsersFlow.getUsersFlow", {**DAY, "date": "2026-03-11"}) == []
    campaign = {**DAY, "segment": "referrerType==campaign"}
    assert call(site, "UsersFlow.getUsersFlow", campaign) == []


# -- a generated site against a straightforward count ---------------------------------------

# Labels chosen so byte order matters for ties: upper case sorts before lower case, and an
# accented letter (two UTF-8 bytes) after both; "/" is reported as /index.
GENERATED_PAGES = ["/", "/Zoo", "/a", "/b", "/b/1", "/é", "/shop?x=1"]


def generated_visits(count: int) -> list[list[str]]:
    """``count`` visits, each a list of 1-6 page paths, from a fixed seed."""
    chooser = random.Random(7)
    return [
        [chooser.choice(GENERATED_PAGES) for _ in range(chooser.randint(1, 6))]
        for _ in range(count)
    ]


def load_generated(warehouse: Warehouse, visits: list[list[str]]) -> None:
    """One visitor per visit, its page views a minute apart on 2026-03-10 (Hong Kong)."""
    add_site(warehouse, "Generated", ["https://gen.example.com"], "Asia/Hong_Kong")
    times, visitors, urls = [], [], []
    for number, paths in enumerate(visits):
        start = dt.datetime(2026, 3, 10, 1, 0) + dt.timedelta(seconds=number)
        for place, path in enumerate(paths):
            times.append(start + dt.timedelta(minutes=place))
            visitors.append(f"{number:016x}")
            urls.append(f"https://gen.example.com{path}")
    count = len(times)
    table = {
        **plain_hits("gen-0001", times),
        "visitor_id": pa.array(visitors),
        "kind": pa.array(["pageview"] * count),
        "url": pa.array(urls),
        "referrer_type": pa.array(["direct"] * count),
    }
    warehouse.append("web.hits", pa.table(table))
    sessionize(warehouse)


def reference_flow(visits: list[list[str]], limit: int | None = None) -> list[tuple[object, ...]]:
    """The flow counted visit by visit: per step, pages by visits then name, each with its
    next pages by visits then name (Python compares text by code point, which is UTF-8's
    byte order); with a ``limit``, pages outside a step's ``limit`` busiest are "Others",
    listed last, as a page and as a next page."""
    walks = [["/index" if path == "/" else path for path in paths] for paths in visits]
    seen: Counter[tuple[int, str]] = Counter(
        (step, label) for labels in walks for step, label in enumerate(labels, start=1)
    )
    kept = {
        (step, label)
        for step in {step for step, _ in seen}
        for label in sorted(
            (label for number, label in seen if number == step),
            key=lambda label: (-seen[step, label], label),
        )[:limit]
    }

    def named(step: int, label: str) -> str:
        return label if limit is None or (step, label) in kept else "Others"

    pages: dict[int, dict[str, tuple[int, int, Counter[str]]]] = {}
    for labels in walks:
        for step, label in enumerate(labels, start=1):
            name = named(step, label)
            visited, exits, following = pages.setdefault(step, {}).get(name, (0, 0, Counter()))
            if step < len(labels):
                following[named(step + 1, labels[step])] += 1
            else:
                exits += 1
            pages[step][name] = (visited + 1, exits, following)
    flow = []
    for step in sorted(pages):
        rows = []
        for label, (visited, exits, following) in sorted(
            pages[step].items(), key=lambda item: (item[0] == "Others", -item[1][0], item[0])
        ):
            nexts = sorted(
                following.items(), key=lambda item: (item[0] == "Others", -item[1], item[0])
            )
            rows.append((label, visited, visited - exits, exits, nexts))
        flow.append((str(step), rows))
    return flow


def test_a_generated_site_matches_a_visit_by_visit_count(warehouse: Warehouse) -> None:
    visits = generated_visits(400)
    load_generated(warehouse, visits)
    flow = call(warehouse, "UsersFlow.getUsersFlow", ALL)
    expected = reference_flow(visits)
    assert [(step["label"], pages(step)) for step in flow] == expected
    # every visit has a first step, and each step's visits either proceed or exit
    assert flow[0]["nb_visits"] == 400
    for step, after in zip(flow, flow[1:], strict=False):
        assert step["nb_proceeded"] == after["nb_visits"]
    assert flow[-1]["nb_proceeded"] == 0
    # with a limit: each step's 2 busiest pages by name, the rest "Others"
    folded = call(warehouse, "UsersFlow.getUsersFlow", {**DAY, "limitActionsPerStep": "2"})
    assert [(step["label"], pages(step)) for step in folded] == reference_flow(visits, 2)
    # 7 labels over the first step's 400 visits: some are folded, and the totals stay
    assert [row[0] for row in pages(folded[0])][-1] == "Others"
    assert [step["nb_visits"] for step in folded] == [step["nb_visits"] for step in flow]
    # by default, Matomo's 5 busiest pages per step
    default = call(warehouse, "UsersFlow.getUsersFlow", DAY)
    assert [(step["label"], pages(step)) for step in default] == reference_flow(visits, 5)


def test_packed_tally_and_grouping_give_the_same_flow(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On DuckDB the flow is counted from packed (step, page, next page) numbers in numpy;
    # with no site small enough for packing, DuckDB groups the triples itself (as
    # PostgreSQL always does). Both must give the visit-by-visit answer.
    visits = generated_visits(300)
    load_generated(warehouse, visits)
    packed = call(warehouse, "UsersFlow.getUsersFlow", ALL)
    monkeypatch.setattr(usersflow, "MOST_PACKED_PAGES", 0)
    grouped = call(warehouse, "UsersFlow.getUsersFlow", ALL)
    assert packed == grouped
    assert [(step["label"], pages(step)) for step in grouped] == reference_flow(visits)


def test_packed_numbers_past_32_bits_are_asked_again_in_64(warehouse: Warehouse) -> None:
    # The packed numbers come over as 32-bit integers when they fit. A page id of 60,000
    # makes every number (step * 60,001 + page) * 60,001 + next page at least 60,001² =
    # 3.6e9, past 2^31: they come back null, are asked again as 64-bit numbers, and the
    # flow is the visit-by-visit one all the same.
    visits = generated_visits(200)
    load_generated(warehouse, visits)
    before = call(warehouse, "UsersFlow.getUsersFlow", ALL)
    warehouse.execute(
        "INSERT INTO web.pages (idsite, page_id, label) VALUES (1, 60000, '/never-viewed')"
    )
    after = call(warehouse, "UsersFlow.getUsersFlow", ALL)
    assert after == before
    assert [(step["label"], pages(step)) for step in after] == reference_flow(visits)


def test_rows_sort_the_same_packed_or_key_by_key() -> None:
    # Three rows sorted by (a, b): (1, 5) < (2, 0) < (2, 3).
    small = [np.array([2, 2, 1]), np.array([0, 3, 5])]
    assert [key.tolist() for key in _sorted(small)] == [[1, 2, 2], [5, 0, 3]]
    # Keys 40 bits wide each do not fit one 64-bit number together: sorted key by key, the
    # same order comes out.
    wide = [key << 40 for key in small]
    assert [(key >> 40).tolist() for key in _sorted(wide)] == [[1, 2, 2], [5, 0, 3]]


def test_sums_per_key_the_same_counted_or_sorted() -> None:
    # keys 3, 1, 3 with values 10, 20, 5: key 1 sums to 20, key 3 to 10 + 5 = 15
    few = _summed(np.array([3, 1, 3]), np.array([10, 20, 5]))
    assert [part.tolist() for part in few] == [[1, 3], [20, 15]]
    # keys far apart (past 4 slots a row) are sorted, not counted: the same sums come out
    far = _summed(np.array([3, 1, 3]) << 40, np.array([10, 20, 5]))
    assert [(far[0] >> 40).tolist(), far[1].tolist()] == [[1, 3], [20, 15]]


def test_keys_tally_the_same_as_32_or_64_bit_numbers() -> None:
    # keys 3, 1, 3, 3: key 1 occurs once, key 3 three times
    small = _tallied(np.array([3, 1, 3, 3]))
    assert [part.tolist() for part in small] == [[1, 3], [1, 3]]
    # keys past 32 bits stay 64-bit numbers: the same tally comes out, nothing cut off
    wide = _tallied(np.array([3, 1, 3, 3]) << 40)
    assert [wide[0].tolist(), wide[1].tolist()] == [[1 << 40, 3 << 40], [1, 3]]


def test_packed_numbers_are_tallied_the_same_dense_or_sparse() -> None:
    # dense (the largest key under twice their number): counted one slot per key
    dense = _tallied(np.array([3, 1, 3, 0, 1, 3], dtype=np.int32))
    assert [part.tolist() for part in dense] == [[0, 1, 3], [1, 2, 3]]
    # sparse: sorted, the runs counted
    sparse = _tallied(np.array([100, 5, 100], dtype=np.int64))
    assert [part.tolist() for part in sparse] == [[5, 100], [1, 2]]


# -- Matomo's parameters, worked by hand -----------------------------------------------------

# Ten visits (V1-V10), page paths in order. Step 1 has seven pages: /a 3 (V1-V3), /b 2 (V4,
# V5), and /c, /d, /e, /f, /g 1 each. Step 2 has /b 3 (V1, V2, V9), /a 2 (V4, V6), /c 2 (V3,
# V10) and /g 1 (V7). No visit has a third page view.
TEN_VISITS = [
    ["/a", "/b"], ["/a", "/b"], ["/a", "/c"], ["/b", "/a"], ["/b"],
    ["/c", "/a"], ["/d", "/g"], ["/e"], ["/f", "/b"], ["/g", "/c"],
]  # fmt: skip


def totals(flow: list[dict]) -> list[tuple[object, ...]]:
    return [(s["label"], s["nb_visits"], s["nb_proceeded"], s["nb_exits"]) for s in flow]


def test_others_by_default_and_with_a_limit_worked_by_hand(warehouse: Warehouse) -> None:
    load_generated(warehouse, TEN_VISITS)
    # Matomo's default, 5 a step: step 1 keeps /a (3), /b (2) and, of the five pages with 1
    # visit, /c, /d, /e by name; /f (V9, on to /b) and /g (V10, on to /c) are "Others": 2
    # visits, both proceeded, 2 pages in the group. Step 2's 4 pages are all kept, so no
    # next page is folded. V5 (/b) and V8 (/e) left at step 1; every visit left at step 2.
    flow = call(warehouse, "UsersFlow.getUsersFlow", DAY)
    assert totals(flow) == [("1", 10, 8, 2), ("2", 8, 0, 8)]
    assert pages(flow[0]) == [
        ("/a", 3, 3, 0, [("/b", 2), ("/c", 1)]),
        ("/b", 2, 1, 1, [("/a", 1)]),
        ("/c", 1, 1, 0, [("/a", 1)]),
        ("/d", 1, 1, 0, [("/g", 1)]),
        ("/e", 1, 0, 1, []),
        ("Others", 2, 2, 0, [("/b", 1), ("/c", 1)]),
    ]
    assert flow[0]["subtable"][-1]["nb_pages_in_group"] == 2
    assert pages(flow[1]) == [
        ("/b", 3, 0, 3, []), ("/a", 2, 0, 2, []), ("/c", 2, 0, 2, []), ("/g", 1, 0, 1, []),
    ]  # fmt: skip
    # A limit of 2: step 1 keeps /a and /b; "Others" holds /c, /d, /e, /f, /g (5 pages, 5
    # visits: V6-V10; V8 left). Step 2 keeps /b (3) and, of /a and /c (2 each), /a by name;
    # "Others" there holds /c and /g (3 visits). So a next page /c or /g is "Others": /a's V3
    # (/c), and of step 1's "Others", V7 (/g) and V10 (/c); V6 went to /a, V9 to /b.
    folded = call(warehouse, "UsersFlow.getUsersFlow", {**DAY, "limitActionsPerStep": "2"})
    assert totals(folded) == totals(flow)
    assert pages(folded[0]) == [
        ("/a", 3, 3, 0, [("/b", 2), ("Others", 1)]),
        ("/b", 2, 1, 1, [("/a", 1)]),
        ("Others", 5, 4, 1, [("/a", 1), ("/b", 1), ("Others", 2)]),
    ]
    assert pages(folded[1]) == [("/b", 3, 0, 3, []), ("/a", 2, 0, 2, []), ("Others", 3, 0, 3, [])]
    assert [step["subtable"][-1]["nb_pages_in_group"] for step in folded] == [5, 2]
    # a limit past every step's pages lists them all, as -1 does
    every = call(warehouse, "UsersFlow.getUsersFlow", {**DAY, "limitActionsPerStep": "1000"})
    assert every == call(warehouse, "UsersFlow.getUsersFlow", ALL)
    assert [len(step["subtable"]) for step in every] == [7, 4]


def test_explore_keeps_the_visits_through_a_page_and_three_steps_after(site: Warehouse) -> None:
    # exploreStep=1, exploreUrl=/index: only W1 opened on /index. Steps 1 to 4 are shown
    # (Matomo: exploreStep + 3); W1's step 4 /shows went on to /signup/done at step 5, not
    # shown: it proceeded (no exit), to no listed page.
    explore = {**DAY, "exploreStep": "1", "exploreUrl": "https://flow.example.com/"}
    flow = call(site, "UsersFlow.getUsersFlow", explore)
    assert totals(flow) == [("1", 1, 1, 0), ("2", 1, 1, 0), ("3", 1, 1, 0), ("4", 1, 1, 0)]
    assert [pages(step) for step in flow] == [
        [("/index", 1, 1, 0, [("/shows", 1)])],
        [("/shows", 1, 1, 0, [("/shows", 1)])],
        [("/shows", 1, 1, 0, [("/shows", 1)])],
        [("/shows", 1, 1, 0, [])],
    ]
    # every page (no fold) gives the same: W1 alone has at most one page a step
    assert call(site, "UsersFlow.getUsersFlow", {**explore, "limitActionsPerStep": "-1"}) == flow
    # the label as the report gives it explores the same visits
    assert call(site, "UsersFlow.getUsersFlow", {**explore, "exploreUrl": "/index"}) == flow
    # exploreStep=2, /shows: W1 only again (W2 went to /watch/1, W3 to /index); steps 1-5
    second = call(
        site, "UsersFlow.getUsersFlow", {**DAY, "exploreStep": "2", "exploreUrl": "/shows"}
    )
    assert totals(second) == [("1", 1, 1, 0), ("2", 1, 1, 0), ("3", 1, 1, 0), ("4", 1, 1, 0),
                              ("5", 1, 0, 1)]  # fmt: skip
    # a page no visit had there (/signup/done came fifth), or a URL the site never saw: no
    # visits
    done = {**DAY, "exploreStep": "2", "exploreUrl": "/signup/done"}
    assert call(site, "UsersFlow.getUsersFlow", done) == []
    assert call(site, "UsersFlow.getUsersFlow", {**explore, "exploreUrl": "/nowhere"}) == []
    # Matomo explores only when both are given ("0" counts as not given)
    whole = call(site, "UsersFlow.getUsersFlow", DAY)
    assert call(site, "UsersFlow.getUsersFlow", {**DAY, "exploreUrl": "/index"}) == whole
    assert call(site, "UsersFlow.getUsersFlow", {**explore, "exploreStep": "0"}) == whole
    with pytest.raises(BadInputError, match="exploreStep"):
        call(site, "UsersFlow.getUsersFlow", {**explore, "exploreStep": "first"})


def test_page_titles_as_the_data_source(site: Warehouse) -> None:
    # Titles of 10 March: W1 Home, Shows, Shows, Shows, Signup done; W2 Shows, Episode 1;
    # W3 Shows, Home; W4 Shows. Step 2's three pages have 1 visit each: by name.
    titles = {**DAY, "dataSource": "page_title"}
    flow = call(site, "UsersFlow.getUsersFlow", titles)
    assert totals(flow) == totals(call(site, "UsersFlow.getUsersFlow", DAY))
    assert pages(flow[0]) == [
        ("Shows", 3, 2, 1, [("Episode 1", 1), ("Home", 1)]),
        ("Home", 1, 1, 0, [("Shows", 1)]),
    ]
    assert pages(flow[1]) == [
        ("Episode 1", 1, 0, 1, []), ("Home", 1, 0, 1, []), ("Shows", 1, 1, 0, [("Shows", 1)]),
    ]  # fmt: skip
    assert pages(flow[4]) == [("Signup done", 1, 0, 1, [])]
    # Matomo reads the source in any case; anything else is page URLs
    assert call(site, "UsersFlow.getUsersFlow", {**DAY, "dataSource": "PAGE_TITLE"}) == flow
    assert call(site, "UsersFlow.getUsersFlow", {**DAY, "dataSource": "nonsense"}) == call(
        site, "UsersFlow.getUsersFlow", DAY
    )
    # explored by title: the visits that opened on Shows (W2, W3, W4); a limit of 1 makes
    # step 2's Home (W3, after Episode 1 by name) "Others", as a page and as a next page
    explored = {**titles, "exploreStep": "1", "exploreUrl": "Shows", "limitActionsPerStep": "1"}
    assert [pages(step) for step in call(site, "UsersFlow.getUsersFlow", explored)] == [
        [("Shows", 3, 2, 1, [("Episode 1", 1), ("Others", 1)])],
        [("Episode 1", 1, 0, 1, []), ("Others", 1, 0, 1, [])],
    ]
