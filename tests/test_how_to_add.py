"""docs/ARCHITECTURE.md's "How to add …" recipes, followed: each test does a recipe's code
steps in-process (a method, a notifier kind, a report format, a settings block, a query on
tally's own tables), checks the addition works, and checks that the guard the recipe names
fails, naming the addition, until its docs step is done. "Adding a backend" is followed by
tests/warehouse/test_example_backend.py; a source and a model are whole modules and SQL
files, checked by the guards their recipes name (tests/sources, tests/marts)."""

from __future__ import annotations

import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import Field

from tally import config
from tally.config import Section, load_settings, settings_reference
from tally.stream import notifiers
from tally.stream.settings import ReceiverSpec
from tally.warehouse import Warehouse, connect
from tally.web.reporting import methods
from tally.web.reporting.api import call
from tally.web.sites import add_site

DOCS = Path(__file__).parent.parent / "docs"


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    store = connect(f"duckdb:///{tmp_path}/w.duckdb")
    store.migrate()
    yield store


def test_a_reporting_api_method(warehouse: Warehouse) -> None:
    from tests.test_docs_reference import documented_methods, served_methods

    name = "Example.getVisitCount"

    @methods.method(name, single_row=True)
    def visit_count(query: methods.Query) -> methods.Report:
        visits, params = methods.scoped_visits(query)
        found = query.warehouse.rows(f"SELECT count(*) FROM ({visits}) AS v", params)
        return {"nb_visits": int(found[0][0])}

    try:
        site = add_site(warehouse, "Example", ["https://example.org"], "UTC")
        answer = call(
            warehouse, name, {"idSite": str(site.idsite), "period": "day", "date": "2026-12-01"}
        )
        assert answer == {"nb_visits": 0}
        # the recipe's guard: a served method without its row in docs/reporting-api.md
        assert served_methods() - documented_methods() == {name}
    finally:
        methods.METHODS.pop(name, None)
    assert served_methods() - documented_methods() == set()


def test_a_notifier_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict[str, typing.Any]] = []

    class ListNotifier(notifiers.Notifier):
        def send(self, notification: notifiers.Notification) -> None:
            sent.append(notification)

    monkeypatch.setitem(notifiers.KINDS, "list", ListNotifier)
    receiver = ReceiverSpec.model_construct(name="audit", type="list")
    built = notifiers.KINDS[receiver.type](receiver)
    built.send({"status": "firing"})
    assert sent == [{"status": "firing"}]
    # the recipe's guard: KINDS, ReceiverSpec.type and docs/stream.md must name the same kinds
    kinds = set(typing.get_args(ReceiverSpec.model_fields["type"].annotation))
    assert set(notifiers.KINDS) - kinds == {"list"}


def test_a_report_format(monkeypatch: pytest.MonkeyPatch) -> None:
    """The recipe's guard: docs/reports.md's usage line lists every format of
    ``export.FORMATS`` (as the guard read it at import)."""
    from tests import test_docs_reference

    test_docs_reference.test_report_periods_and_formats_and_the_docs_agree()
    monkeypatch.setattr(test_docs_reference, "FORMATS", (*test_docs_reference.FORMATS, "tsv"))
    with pytest.raises(AssertionError):
        test_docs_reference.test_report_periods_and_formats_and_the_docs_agree()


class ExampleSettings(Section):
    section: typing.ClassVar[str] = "example"
    every: float = Field(default=60.0, gt=0, description="seconds between two checks")


def test_a_settings_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "_registered", {})
    config.register_section(ExampleSettings)
    try:
        loaded = load_settings(environ={"TALLY_EXAMPLE__EVERY": "5"})
        assert loaded.section(ExampleSettings).every == 5.0
        # the recipe's guard: docs/settings.md is generated from the models
        reference = settings_reference()
        assert "| `example.every` | `TALLY_EXAMPLE__EVERY` |" in reference
        assert reference != (DOCS / "settings.md").read_text(encoding="utf-8")
    finally:
        config.settings_model.cache_clear()


def test_a_query_on_tallys_own_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The recipe's guard (tests/test_read_layer.py) names a query written anywhere else."""
    from tests import test_read_layer

    source = tmp_path / "tally"
    (source / "warehouse" / "meta").mkdir(parents=True)
    (source / "server").mkdir()
    (source / "server" / "stray.py").write_text(
        'COUNT = "SELECT count(*) FROM tally_meta.runs"\n', encoding="utf-8"
    )
    (source / "warehouse" / "meta" / "runs.py").write_text(
        'COUNT = "SELECT count(*) FROM tally_meta.runs"\n', encoding="utf-8"
    )
    monkeypatch.setattr(test_read_layer, "SOURCE", source)
    monkeypatch.setattr(test_read_layer, "READ_LAYER", source / "warehouse" / "meta")
    assert test_read_layer.offenders() == [
        'server/stray.py:1: COUNT = "SELECT count(*) FROM tally_meta.runs"'
    ]
