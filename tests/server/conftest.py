"""Server test fixtures shared by modules that define their own ``store``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient
from tests.server.ui_support import dashboard_app

from tally.config import Settings
from tally.warehouse import Warehouse


@pytest.fixture
def client(settings: Settings, store: Warehouse) -> Iterator[TestClient]:
    """The dashboards in-process over the module's own ``store`` fixture."""
    with TestClient(dashboard_app(settings, store), base_url="http://testserver") as client:
        yield client
