"""Store figures beside tally's in the subscription workbook: hand-worked rows."""

from __future__ import annotations

import datetime as dt

import openpyxl

from tally.reports.fact import TABLE
from tally.reports.stores import HEADER, store_sheets
from tally.reports.subscription import write_subscription_report
from tally.server.ui.subscriptions import Filters, reconciliation_panel

MARTS = """
CREATE TABLE marts.reconciliation_app_store AS SELECT * FROM (VALUES
    (DATE '2017-01-09', 'HK', 'iOS IAP', 100, 98, 2),
    (DATE '2017-01-10', 'HK', 'iOS IAP', 103, 104, -1),
    (DATE '2017-01-17', 'HK', 'iOS IAP', 110, 110, 0)
) AS t(day, country, platform, tally_active, apple_active, difference);
CREATE TABLE marts.store_fact_apple AS SELECT * FROM (VALUES
    ('store_apple_event', 'weekly', 'HK', 'iOS IAP', DATE '2017-01-09', '1', 'M', 'Renew', 7.0),
    ('store_apple_event', 'weekly', 'HK', 'iOS IAP', DATE '2017-01-09', '1', 'M', 'Cancel', 2.0),
    ('store_apple_event', 'weekly', 'HK', 'iOS IAP', DATE '2017-01-16', '1', 'M', 'Renew', 5.0)
) AS t(type, resolution_type, country, platform, start_date, meta_1, meta_2, meta_3, value)
"""


def test_store_figures_beside_tallys(loaded_duckdb) -> None:
    """Weekly HK. Week of Jan 9: Apple's newest day is Jan 10 (tally 103, Apple 104: -1),
    Apple counted 7 + 2 events. Week of Jan 16: Jan 17 (110 both), 5 events. No Google
    marts: its columns are empty; tally's Android rows in the fixture: none (0)."""
    for statement in MARTS.split(";"):
        loaded_duckdb.execute(statement)
    store, events = store_sheets(loaded_duckdb, "HK", "weekly", dt.date(2017, 1, 25))
    assert store.header == HEADER
    rows = {row[0]: row[1:] for row in store.rows}
    assert min(rows) == dt.date(2017, 1, 9)  # nothing before the data starts
    assert rows[dt.date(2017, 1, 9)] == [103, 104, -1, 9, None, None, None, None, 0, None, 0]
    assert rows[dt.date(2017, 1, 16)][:4] == [110, 110, 0, 5]
    assert rows[dt.date(2017, 1, 23)][:4] == [None, None, None, 0]
    assert events.header == ["period", "Cancel", "Renew"]
    assert events.rows == [[dt.date(2017, 1, 9), 2, 7], [dt.date(2017, 1, 16), 0, 5]]


def test_no_store_marts_no_sheet_and_the_workbook_shows_them(loaded_duckdb, settings) -> None:
    assert store_sheets(loaded_duckdb, "HK", "weekly", dt.date(2017, 1, 25)) == []
    for statement in MARTS.split(";"):
        loaded_duckdb.execute(statement)
    assert loaded_duckdb.table_exists(TABLE)
    written = write_subscription_report(
        loaded_duckdb, settings, "HK", "weekly", dt.date(2017, 1, 25)
    )
    book = openpyxl.load_workbook(written.location, read_only=True)
    assert {"Store figures", "Apple events"} <= set(book.sheetnames)


def test_the_dashboard_reads_the_reconciliation_mart(loaded_duckdb) -> None:
    """The subscriptions dashboard's reconciliation panel shows the mart's rows and its
    difference as the mart says it (the comparison is defined once, in the mart)."""
    for statement in MARTS.split(";"):
        loaded_duckdb.execute(statement)
    loaded_duckdb.execute(
        "UPDATE marts.reconciliation_app_store SET difference = 5 WHERE day = DATE '2017-01-17'"
    )
    filters = Filters("daily", dt.date(2017, 1, 9), dt.date(2017, 1, 17), "HK", "")
    panel = reconciliation_panel(loaded_duckdb, filters)
    assert panel is not None
    assert [row[:6] for row in panel.rows] == [
        [dt.date(2017, 1, 9), "iOS IAP", "HK", 98.0, 100.0, 2.0],
        [dt.date(2017, 1, 10), "iOS IAP", "HK", 104.0, 103.0, -1.0],
        [dt.date(2017, 1, 17), "iOS IAP", "HK", 110.0, 110.0, 5.0],  # the mart's figure
    ]
