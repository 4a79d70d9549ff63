"""The report fixture: a small ``marts.report_fact`` loaded into a warehouse."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as csv
import pytest

from tally.reports.fact import COLUMNS, SCHEMA, TABLE
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


@pytest.fixture
def partial_rows() -> pa.Table:
    """SG, data from November 2016, loaded to 2017-01-03 (January is partial).

    daily New subscriber (Web, W1): Dec 1: 2, Dec 2: 3, Dec 3: 4, Dec 10: 100;
    Jan 1: 1, Jan 2: 1, Jan 3: 5. monthly: Nov 50, Dec 109, Jan 7.
    daily Active subscriber: Dec 3: 40, Jan 3: 45; monthly (end of month): Nov 30, Dec 42,
    Jan 45. Revenue in January: 10.5 SGD and 3 USD (never added together).
    """
    records = []

    def add(metric, resolution, day, value, currency=""):
        records.append(
            [metric, resolution, "SG", "Web", day, "W1", "Web", "Direct", "Paying", currency]
            + ["", "", "", float(value)]
        )

    for day, value in ((1, 2), (2, 3), (3, 4), (10, 100)):
        add("New subscriber", "daily", dt.date(2016, 12, day), value)
    for day, value in ((1, 1), (2, 1), (3, 5)):
        add("New subscriber", "daily", dt.date(2017, 1, day), value)
    for month, value in ((dt.date(2016, 11, 1), 50), (dt.date(2016, 12, 1), 109)):
        add("New subscriber", "monthly", month, value)
    add("New subscriber", "monthly", dt.date(2017, 1, 1), 7)
    add("Active subscriber", "daily", dt.date(2016, 12, 3), 40)
    add("Active subscriber", "daily", dt.date(2017, 1, 3), 45)
    for month, value in ((dt.date(2016, 11, 1), 30), (dt.date(2016, 12, 1), 42)):
        add("Active subscriber", "monthly", month, value)
    add("Active subscriber", "monthly", dt.date(2017, 1, 1), 45)
    add("Revenue", "monthly", dt.date(2017, 1, 1), 10.5, "SGD")
    add("Revenue", "monthly", dt.date(2017, 1, 1), 3, "USD")
    return pa.table({c: [r[i] for r in records] for i, c in enumerate(COLUMNS)})
