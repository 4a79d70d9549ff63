"""DevicesDetection by brand, model, OS family and browser on the Flow site of
``reporting_flow_site`` (read its docstring for the visits W0-W4), on both backends.

10 March: W1 and W4 on P's Apple iPhone (iOS, Mobile Safari; 6 + 1 actions), W2 on a Samsung
Galaxy S23 (Android, Chrome Mobile; 4 actions), W3 on a desktop without a brand (Windows,
Chrome; 3 actions)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.web.reporting_flow_site import site_fixture

from tally.warehouse import Warehouse
from tally.web.reporting.api import call
from tally.web.reporting.devices import os_family

DAY = {"idSite": "1", "period": "day", "date": "2026-03-10"}


@pytest.fixture(scope="module", params=["duckdb", "postgres"])
def site(request: pytest.FixtureRequest) -> Iterator[Warehouse]:
    yield from site_fixture(request)


def table(site: Warehouse, method: str) -> list[tuple]:
    return [
        (r["label"], r["nb_visits"], r["nb_uniq_visitors"], r["nb_actions"])
        for r in call(site, method, DAY)
    ]


def test_brands_and_models(site: Warehouse) -> None:
    # the iPhone: 2 visits of 1 visitor (P), 7 actions
    assert table(site, "DevicesDetection.getBrand") == [
        ("Apple", 2, 1, 7),
        ("Samsung", 1, 1, 4),
        ("Unknown", 1, 1, 3),
    ]
    assert table(site, "DevicesDetection.getModel") == [
        ("Apple - iPhone", 2, 1, 7),
        ("Samsung - Galaxy S23", 1, 1, 4),
        ("Generic Desktop", 1, 1, 3),  # no brand, no model: Matomo's "Generic <type>"
    ]


def test_os_families_and_browsers(site: Warehouse) -> None:
    assert table(site, "DevicesDetection.getOsFamilies") == [
        ("iOS", 2, 1, 7),
        ("Android", 1, 1, 4),
        ("Windows", 1, 1, 3),
    ]
    # ties (1 visit each) by name: Chrome before Chrome Mobile
    assert table(site, "DevicesDetection.getBrowsers") == [
        ("Mobile Safari", 2, 1, 7),
        ("Chrome", 1, 1, 3),
        ("Chrome Mobile", 1, 1, 4),
    ]
    # P's visits bounced once (W4)
    assert call(site, "DevicesDetection.getBrowsers", DAY)[0]["bounce_count"] == 1


def test_os_family_names_follow_device_detector() -> None:
    assert os_family("Ubuntu") == "GNU/Linux"
    assert os_family("iPadOS") == "iOS"
    assert os_family("Windows") == "Windows"
    assert os_family(None) == "Unknown"
