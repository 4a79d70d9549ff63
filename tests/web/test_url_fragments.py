"""Page URL fragments (the part after '#') by Matomo's per-site "keep page URL fragments"
setting (its site column keep_url_fragment; core/Tracker/PageUrl.php): dropped from tracked
page URLs by default, kept (and shown in page labels) when the site asks for it. URL goals
match the URL as sent, fragment included, either way (GoalManager.php: getActionUrlRaw).

Two sites get the same hits from one visitor (cookie 1111111111111111), 10 March 2026, UTC:
  12:00 https://app.example/#/home
  12:01 https://app.example/#/cart
  12:02 https://app.example/#/cart
  12:03 https://app.example/shop?x=1#/done#   (a trailing '#', as some routers leave)
and a URL goal "contains #/done". Site 1 drops fragments (the default), site 2 keeps them.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

import pytest

from tally.config import Settings
from tally.warehouse import Warehouse
from tally.web.hitlog import frame
from tally.web.loader import load_hits, sessionize_alone
from tally.web.reporting.api import call
from tally.web.reporting.transitions import label_of
from tally.web.sites import add_goal, add_site, edit_site, get_site

PAGES = [
    ("12:00:00", "https://app.example/#/home"),
    ("12:01:00", "https://app.example/#/cart"),
    ("12:02:00", "https://app.example/#/cart"),
    ("12:03:00", "https://app.example/shop?x=1#/done#"),
]
DAY = {"period": "day", "date": "2026-03-10"}


def _record(idsite: int, clock: str, url: str) -> bytes:
    query = (
        f"idsite={idsite}&rec=1&_id=1111111111111111&cdt={quote('2026-03-10 ' + clock)}"
        f"&url={quote(url, safe='')}"
    )
    fields = {"q": query, "t": "2026-03-10T12:10:00", "ip": "1.1.1.1", "auth": True}
    return frame(json.dumps(fields).encode())


@pytest.fixture
def loaded(warehouse: Warehouse, settings: Settings) -> Warehouse:
    dropping = add_site(warehouse, "Drops", ["https://app.example"], "UTC")
    keeping = add_site(warehouse, "Keeps", ["https://app.example"], "UTC", keep_url_fragment=True)
    for site in (dropping, keeping):
        add_goal(warehouse, site.idsite, "Done", "url", "contains", "#/done")
    directory = Path(settings.web.hit_log_dir)
    directory.mkdir(parents=True, exist_ok=True)
    payload = b"".join(
        _record(site.idsite, clock, url) for site in (dropping, keeping) for clock, url in PAGES
    )
    (directory / "0000000001-test0001.hitlog").write_bytes(payload)
    load_hits(warehouse, settings)
    sessionize_alone(warehouse, settings)
    return warehouse


def _views(warehouse: Warehouse, idsite: int) -> dict[str, int]:
    rows = call(warehouse, "Actions.getPageUrls", {"idSite": str(idsite), "flat": "1", **DAY})
    assert isinstance(rows, list)
    return {row["label"]: row["nb_hits"] for row in rows}


def test_fragments_are_dropped_by_default(loaded: Warehouse) -> None:
    # the three views of '/' are one page; the fragment is gone from the stored URL too
    assert _views(loaded, 1) == {"/index": 3, "/shop?x=1": 1}
    urls = loaded.rows("SELECT url FROM web.hits WHERE idsite = 1 ORDER BY hit_time")
    assert [row[0] for row in urls] == ["https://app.example/"] * 3 + [
        "https://app.example/shop?x=1"
    ]


def test_a_site_that_keeps_fragments_has_a_page_per_fragment(loaded: Warehouse) -> None:
    # Matomo's label is the path and '#' and the fragment, one trailing '#' removed
    # (plugins/Actions/ArchivingHelper.php, parseNameFromPageUrl)
    assert _views(loaded, 2) == {"/index#/home": 1, "/index#/cart": 2, "/shop?x=1#/done": 1}


def test_url_goals_see_the_fragment_on_both_sites(loaded: Warehouse) -> None:
    # one conversion each: the 12:03 view, whose URL as sent contains '#/done'
    for idsite in (1, 2):
        goals = call(loaded, "Goals.get", {"idSite": str(idsite), **DAY})
        assert isinstance(goals, dict)
        assert goals["nb_conversions"] == 1, idsite


def test_the_setting_is_kept_edited_and_rebuilds_labels(loaded: Warehouse) -> None:
    assert get_site(loaded, 2).keep_url_fragment
    assert not get_site(loaded, 1).keep_url_fragment
    # switched off: the site's visits are rebuilt, the labels lose the fragment (the hits
    # loaded while it was on keep theirs in the stored URL, as in Matomo's log tables)
    edit_site(loaded, 2, keep_url_fragment=False)
    sessionize_alone(loaded)
    assert _views(loaded, 2) == {"/index": 3, "/shop?x=1": 1}


def test_transitions_find_the_page_by_the_same_label() -> None:
    assert label_of("https://app.example/#/cart", keep_fragment=True) == "/index#/cart"
    assert label_of("https://app.example/a?b=1#x#", keep_fragment=True) == "/a?b=1#x"
    assert label_of("https://app.example/#/cart") == "/index"
