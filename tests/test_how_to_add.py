"""docs/ARCHITECTURE.md's "How to add …" recipes, followed: each test does a recipe's code
steps in-process (a method, a notifier kind, a report format, a settings block, a query on
tally's own tables), checks the addition works, and checks that the guard the recipe names
fails, naming the addition, until its docs step is done. "Adding a backend" is followed by
tests/warehouse/test_example_backend.py. A source and a model are followed on disk: the
source module is written to a folder added to ``tally.sources``' path (found as any source
module is), its settings block added to ``sources.settings``' ``SECTIONS``, and its
export fetched, landed, loaded; the model is a SQL file in a models folder, built over the
loaded rows; the guards of tests/test_sources_and_models_documented.py and the settings
reference name both until their docs and test steps are done."""

from __future__ import annotations

import datetime as dt
import sys
import typing
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import Field

import tally.sources
from tally import config
from tally.config import Section, SourceSettings, load_settings, settings_reference
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import open_context
from tally.pipeline.incremental import build_day
from tally.pipeline.ingest import ingest
from tally.pipeline.load import load
from tally.sources import all_datasets, get_dataset
from tally.sources import settings as source_sections
from tally.sources.demo import DemoWorld
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


def test_a_report_format(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The report recipe for a new format: a writer in reports/export.py named in
    ``WRITERS`` (so ``FORMATS`` lists it); write_subscription_report writes the rows with it
    and publishes the file. The recipe's guard: docs/reports.md's usage line lists every
    format of ``FORMATS``."""
    from tests import test_docs_reference
    from tests.reports.conftest import fixture_rows

    from tally.reports import export
    from tally.reports.fact import TABLE
    from tally.reports.subscription import write_subscription_report

    def write_tsv(path: Path, rows: typing.Any) -> int:
        lines = ["\t".join(export.HEADERS)]
        lines += [
            "\t".join("" if v is None else str(v) for v in row.values()) for row in rows.to_pylist()
        ]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return int(rows.num_rows)

    monkeypatch.setitem(export.WRITERS, "tsv", write_tsv)
    monkeypatch.setattr(export, "FORMATS", ("xlsx", *export.WRITERS))
    warehouse.replace_partition(TABLE, fixture_rows(), {})
    settings = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path / "data")})
    day = dt.date(2017, 1, 25)
    written = write_subscription_report(
        warehouse, settings, "HK", "weekly", day, output_format="tsv"
    )
    published = Path(written.location)
    assert published.name == "subscription-hk-2017-01-25.tsv"
    lines = published.read_text(encoding="utf-8").splitlines()
    # the fixture's weekly HK rows: Active subscriber 4 + 4 + 3, New subscriber 2 + 2 + 2,
    # Churn 2 + 2, Revenue 1 = 22, under the workbook's headers
    assert lines[0].split("\t")[:3] == ["Type", "Resolution Type", "Country"]
    assert len(lines) == 1 + 22
    test_docs_reference.test_report_periods_and_formats_and_the_docs_agree()
    monkeypatch.setattr(test_docs_reference, "FORMATS", export.FORMATS)
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


# -- "A source" and "A model", followed on disk ---------------------------------------------

# The recipe's module, sources/<name>.py, as a newcomer writes it: DATASETS, each a Dataset
# with fetch (the real origin: here a folder the shop exports to, named by its settings
# block), parse (Arrow + bad rows, through read_delimited) and sample (drawn on DemoWorld).
SOURCE_MODULE = '''"""example-shop: the shop's daily order export, a CSV in a folder."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from tally.config import Settings
from tally.sources._settings import source_settings
from tally.sources.base import Dataset, Parsed
from tally.sources.delimited import Column, Layout, read_delimited
from tally.sources.demo import DemoWorld

SOURCE = "example-shop"
LAYOUT = Layout(
    (
        Column("Order", "order_id", required=True),
        Column("Country", "country", required=True),
        Column("Amount", "amount", "amount", required=True),
    )
)


class Orders(Dataset):
    source = SOURCE
    name = "orders"
    zone = "external"
    staging_table = "staging.example_shop_orders"
    layout = LAYOUT
    event_key = ("order_id",)

    def file_names(self, day: dt.date, settings: Settings) -> list[str]:
        return [f"orders_{day:%Y%m%d}.csv"]

    def fetch(self, day: dt.date, settings: Settings) -> dict[str, bytes]:
        folder = Path(source_settings(settings, SOURCE)["folder"])
        return {name: (folder / name).read_bytes() for name in self.file_names(day, settings)}

    def parse(self, data: bytes, file_name: str) -> Parsed:
        return read_delimited(data, file_name, LAYOUT.columns)

    def sample(self, day: dt.date, world: DemoWorld) -> dict[str, bytes]:
        lines = ["Order,Country,Amount"] + [
            f"{s.subscription_id},{s.country},{s.plan.price(s.currency):.2f}"
            for s in world.subscriptions
            if s.start == day
        ]
        return {f"orders_{day:%Y%m%d}.csv": ("\\n".join(lines) + "\\n").encode()}


DATASETS = [Orders()]
'''

# The recipe's model, models/marts/<name>.sql: one SELECT, its definition in a comment on
# top; its rows are keyed by a day and a new day's orders reach only that day, so it
# declares its range and the rows of its input that can reach it ("How a model declares
# its range").
MODEL = """-- Orders and sales per day and country of the example shop: a flow, each order counted
-- on the day of the export that listed it.
-- @range day day
-- @reads staging.example_shop_orders WHERE _partition_date >= {since}
SELECT _partition_date AS day, country, count(*) AS orders, sum(amount) AS sales
FROM staging.example_shop_orders
GROUP BY 1, 2
"""


class ExampleShopSettings(SourceSettings):
    """The recipe's settings block, as it would stand in sources/settings.py."""

    source = "example-shop"

    folder: str = Field(default="", description="the folder the shop exports to")


@pytest.fixture
def example_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The module written beside the real ones (a folder on ``tally.sources``' path) and
    its settings block in ``SECTIONS`` (and ``BY_SOURCE``, which sources/settings.py
    derives from it at import)."""
    package = tmp_path / "plugins"
    package.mkdir()
    (package / "example_shop.py").write_text(SOURCE_MODULE, encoding="utf-8")
    monkeypatch.setattr(tally.sources, "__path__", [*tally.sources.__path__, str(package)])
    monkeypatch.setattr(
        source_sections, "SECTIONS", [*source_sections.SECTIONS, ExampleShopSettings]
    )
    monkeypatch.setitem(source_sections.BY_SOURCE, "example-shop", ExampleShopSettings)
    all_datasets.cache_clear()
    config.settings_model.cache_clear()
    try:
        yield tmp_path
    finally:
        all_datasets.cache_clear()
        config.settings_model.cache_clear()
        monkeypatch.delitem(sys.modules, "tally.sources.example_shop", raising=False)


DAY = dt.date(2026, 12, 1)
NEXT_DAY = dt.date(2026, 12, 2)


def test_a_source_and_a_model(example_source: Path) -> None:
    from tests.test_sources_and_models_documented import (
        dataset_keys,
        documented_datasets,
        undocumented_marts,
        untested_sources,
    )

    exports = example_source / "exports"
    exports.mkdir()
    (exports / "orders_20261201.csv").write_text(
        "Order,Country,Amount\no-1,HK,100.00\no-2,SG,25.50\no-3,HK,12.25\n", encoding="utf-8"
    )
    settings = load_settings(
        environ={
            "TALLY_DATA_DIR": str(example_source / "data"),
            "TALLY_SOURCES__EXAMPLE_SHOP__FOLDER": str(exports),
        }
    )
    orders = get_dataset("example-shop", "orders")  # found as every source module is
    context = open_context(settings)
    try:
        (landed,) = ingest(context, orders, DAY)
        assert landed.key.endswith("example-shop/orders/2026/12/01/orders_20261201.csv")
        assert load(context, orders, DAY).rows == 3
        # the model, in a models folder of its own (marts/<name>.sql), built over the rows
        models = example_source / "models"
        (models / "marts").mkdir(parents=True)
        (models / "marts" / "example_shop_daily_sales.sql").write_text(MODEL, encoding="utf-8")
        built = build(context, discover_models(models))
        assert built == {"marts.example_shop_daily_sales": "ok"}
        sales = context.warehouse.rows(
            "SELECT country, orders, sales FROM marts.example_shop_daily_sales ORDER BY 1"
        )
        # HK: o-1 100.00 + o-3 12.25 = 112.25 in 2 orders; SG: o-2 25.50
        assert [(c, int(n), float(v)) for c, n, v in sales] == [("HK", 2, 112.25), ("SG", 1, 25.5)]
        # the next day, by the daily build: the declared range rebuilds the new day alone
        (exports / "orders_20261202.csv").write_text(
            "Order,Country,Amount\no-4,SG,10.00\n", encoding="utf-8"
        )
        ingest(context, orders, NEXT_DAY)
        load(context, orders, NEXT_DAY)
        daily = build_day(context, NEXT_DAY, chosen=discover_models(models))
        # rebuilt whole ("ok", not "incremental from …"): the daily build extends the
        # range up to marts.subscription_bounds' horizon, which a warehouse without the
        # subscriber marts has not (ARCHITECTURE, "How a model declares its range")
        assert daily == {"marts.example_shop_daily_sales": "ok"}
        by_day = (
            "SELECT day, country, orders, sales FROM marts.example_shop_daily_sales ORDER BY 1, 2"
        )
        after_daily = context.warehouse.rows(by_day)
        build(context, discover_models(models))  # the full build gives the same rows
        assert context.warehouse.rows(by_day) == after_daily
        assert [(str(d), c, int(n), float(v)) for d, c, n, v in after_daily] == [
            ("2026-12-01", "HK", 2, 112.25),
            ("2026-12-01", "SG", 1, 25.5),
            ("2026-12-02", "SG", 1, 10.0),
        ]
    finally:
        context.warehouse.close()
    # sample: demo files in the real format, read back by parse without a bad row
    world = DemoWorld(7, DAY - dt.timedelta(days=3), DAY)
    sampled = orders.sample(DAY, world)
    started = sum(1 for s in world.subscriptions if s.start == DAY)
    assert started > 0  # 98 subscriptions start on the day in this world (seed 7)
    parsed = orders.parse(sampled["orders_20261201.csv"], "orders_20261201.csv")
    assert (parsed.table.num_rows, parsed.bad_rows) == (started, [])
    # the recipe's guards name each addition until its docs and test steps are done
    assert "| `sources.example_shop.folder` | `TALLY_SOURCES__EXAMPLE_SHOP__FOLDER` |" in (
        settings_reference()
    )
    assert dataset_keys() - documented_datasets() == {"example-shop / orders"}
    assert untested_sources() == {"example_shop"}
    assert undocumented_marts(models) == {"example_shop_daily_sales"}
