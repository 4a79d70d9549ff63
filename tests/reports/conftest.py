"""The report fixture: a small ``marts.report_fact`` loaded into a warehouse."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as csv
import pytest

from tally.reports.fact import SCHEMA, TABLE
from tally.warehouse import Warehouse

FIXTURE = Path(__file__).parents[1] / "fixtures" / "reports" / "report_fact.csv"


def fixture_rows() -> pa.Table:
    """The CSV fixture typed as the marts' table (empty meta cells stay empty strings)."""
    options = csv.ConvertOptions(column_types=SCHEMA, strings_can_be_null=False)
    return csv.read_csv(FIXTURE, convert_options=options).select(SCHEMA.names)


@pytest.fixture
def fact_rows() -> pa.Table:
    return fixture_rows()


@pytest.fixture
def loaded(warehouse: Warehouse) -> Warehouse:
    """Both backends, holding the fixture's report_fact."""
    warehouse.replace_partition(TABLE, fixture_rows(), {})
    return warehouse


@pytest.fixture
def loaded_duckdb(duckdb_warehouse: Warehouse) -> Warehouse:
    duckdb_warehouse.replace_partition(TABLE, fixture_rows(), {})
    return duckdb_warehouse
