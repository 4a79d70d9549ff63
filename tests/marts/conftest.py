"""Helpers for the mart tests: load viu-premium staging rows and build the subscriber marts."""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from tests.conftest import backend_names, scratch_warehouse

from tally.config import Settings, load_settings
from tally.lake import Lake
from tally.models.countries import write_countries
from tally.models.sets import SUBSCRIBER_MODELS
from tally.pipeline.build import build, discover_models
from tally.pipeline.context import Context
from tally.sources.demo import DemoWorld
from tally.sources.viu_premium import (
    STATUS_COLUMNS,
    TRANSACTION_COLUMNS,
    SubscriberStatus,
    Transactions,
    parse_csv,
)
from tally.warehouse import Warehouse, connect

FIXTURES = Path(__file__).parent.parent / "fixtures" / "marts"
STATUS_TABLE = "staging.viu_premium_subscriber_status"
TRANSACTIONS_TABLE = "staging.viu_premium_transactions"


def load_fixture_csv(warehouse: Warehouse, path: Path, table: str) -> int:
    """A fixture CSV in the export's columns plus ``_partition_date``, loaded by partition."""
    columns = STATUS_COLUMNS if table == STATUS_TABLE else TRANSACTION_COLUMNS
    parsed = parse_csv(path.read_bytes(), path.name, columns)
    assert not parsed.bad_rows, parsed.bad_rows
    with path.open(encoding="utf-8") as handle:
        days = [dt.date.fromisoformat(row["_partition_date"]) for row in csv.DictReader(handle)]
    return load_rows(warehouse, table, parsed.table, days)


def load_rows(
    warehouse: Warehouse,
    table: str,
    rows: pa.Table,
    days: list[dt.date],
    lines: list[int] | None = None,
) -> int:
    """Rows of one staging table, each with its partition day, as the loader would: a file
    per day (``<table>-<day>.csv``) and each row's line in it (default: in the given order,
    from line 2, after the header)."""
    if "_line" in rows.column_names:  # parsed from a file: its own lines
        lines = rows.column("_line").to_pylist()
        rows = rows.drop_columns(["_line"])
    if lines is None:
        seen: dict[dt.date, int] = {}
        lines = []
        for day in days:
            seen[day] = seen.get(day, 1) + 1
            lines.append(seen[day])
    files = [f"{table.split('.')[-1]}-{day.isoformat()}.csv" for day in days]
    rows = rows.append_column("_partition_date", pa.array(days, pa.date32()))
    rows = rows.append_column("_file", pa.array(files, pa.string()))
    rows = rows.append_column("_line", pa.array(lines, pa.int64()))
    return warehouse.append(table, rows)


def build_marts(warehouse: Warehouse, settings: Settings, tmp_path: Path) -> dict[str, str]:
    """Write the country table and build the subscriber marts with the pipeline's runner."""
    write_countries(warehouse, settings)
    models = [m for m in discover_models() if m.table in SUBSCRIBER_MODELS]
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    outcome = build(context, models)
    assert all(status == "ok" for status in outcome.values()), outcome
    return outcome


@pytest.fixture(scope="module", params=backend_names())
def module_warehouse(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Warehouse]:
    """Like the ``warehouse`` fixture (every registered backend), but shared by one
    module's tests (builds are slow)."""
    folder = tmp_path_factory.mktemp(f"marts-{request.param}")
    yield from scratch_warehouse(request.param, folder)


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    folder = tmp_path_factory.mktemp("settings")
    return load_settings(environ={"TALLY_DATA_DIR": str(folder / "data")})


def load_world(warehouse: Warehouse, world: DemoWorld, days: list[dt.date]) -> None:
    """Both viu-premium exports of each day, parsed and loaded as the loader would."""
    for dataset in (SubscriberStatus(), Transactions()):
        tables, partitions = [], []
        for day in days:
            for name, data in dataset.sample(day, world).items():
                parsed = dataset.parse(data, name)
                assert not parsed.bad_rows, parsed.bad_rows[:3]
                tables.append(parsed.table)
                partitions.extend([day] * parsed.table.num_rows)
        load_rows(warehouse, dataset.staging_table, pa.concat_tables(tables), partitions)


def memory_warehouse() -> Warehouse:
    """A migrated in-memory DuckDB (hypothesis examples cannot share function fixtures)."""
    store = connect("duckdb:///:memory:")
    store.migrate()
    return store
