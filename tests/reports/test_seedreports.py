"""The seed's yellow, AD, telco and content window reports: hand-worked figures in the
workbook, every cell equal after LibreOffice recalculates it, files left alone when their
figures did not change."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import openpyxl
import pytest

from tally.errors import NotFoundError
from tally.reports.recalc import recalculate
from tally.reports.seedreports import KINDS, write_seed_report, write_seed_reports

DAY = dt.date(2017, 1, 3)

MARTS = """
CREATE TABLE marts.yellow_report AS SELECT * FROM (VALUES
    ('daily', DATE '2017-01-02', DATE '2017-01-02', 'HK', 200.0, 50.0, 40.0, 10.0, true),
    ('daily', DATE '2017-01-03', DATE '2017-01-03', 'HK', 0.0, 0.0, 0.0, 0.0, true),
    ('weekly', DATE '2017-01-02', DATE '2017-01-03', 'HK', 300.0, 60.0, 45.0, 9.0, false)
) AS t(resolution_type, start_date, period_end, country, web_uv, web_uv_with_vv,
       yahoo_leadin_uv, yahoo_leadin_uv_with_vv, complete);
CREATE TABLE marts.dim_ad_unit AS SELECT * FROM (VALUES
    ('2', 'hk_ios_pre', 'iOS', 'Pre-roll', 'HK', 'iOS / Pre-roll', DATE '2017-01-01'),
    ('1', 'hk_ios_pre_b', 'iOS', 'Pre-roll', 'HK', 'iOS / Pre-roll', DATE '2017-01-01'),
    ('3', 'hk_banner', NULL, NULL, 'HK', 'hk_banner', DATE '2017-01-01')
) AS t(ad_unit_id, ad_unit_name, platform, position, country, placement, snapshot_date);
CREATE TABLE marts.telco_performance AS SELECT * FROM (VALUES
    (DATE '2017-01-02', 'HK', 'CSL', 'CSL_M', 'HKD', 9, 8, 4, 4, 560, 558, 928.0, 920.5),
    (DATE '2017-01-03', 'HK', 'CSL', 'CSL_M', 'HKD', 5, 5, 1, 2, 564, 561, 1334.0, 1334.0)
) AS t(day, country, telco, plan_code, currency, sheet_new, tally_new, sheet_cancelled,
       tally_churn, sheet_active, tally_active, sheet_revenue, tally_revenue);
CREATE TABLE marts.content_window AS SELECT * FROM (VALUES
    ('HK', 1, 'Harbour Lights', 11, 1, DATE '2017-01-01', 10, 15, 5, 7, 3),
    ('HK', 1, 'Harbour Lights', 12, 2, DATE '2017-01-08', 0, 4, 4, 7, 0)
) AS t(country, series_id, series_title, episode_id, episode_number, release_date,
       subscribers_before, subscribers_after, uplift, days_before, days_after);
CREATE TABLE marts.content_correlation AS SELECT * FROM (VALUES
    ('HK', DATE '2016-12-01', DATE '2017-01-03', 34, 2, 0.25, NULL)
) AS t(country, first_day, last_day, days, episodes_released, correlation_same_day,
       correlation_next_day);
"""


@pytest.fixture
def marts(duckdb_warehouse):
    for statement in MARTS.split(";"):
        if statement.strip():
            duckdb_warehouse.execute(statement)
    return duckdb_warehouse


def cells(path: str, sheet: str) -> list[list]:
    book = openpyxl.load_workbook(path, data_only=True)
    return [list(row) for row in book[sheet].iter_rows(min_row=5, values_only=True)]


def test_yellow_report_ratios(marts, settings, tmp_path) -> None:
    written = write_seed_report(marts, settings, "yellow", "HK", "daily", DAY, root=str(tmp_path))
    assert written.location.endswith("yellow-report/daily/yellow-hk-2017-01-03.xlsx")
    first, second = cells(written.location, "Yellow report")
    # Jan 2: 50 of 200 web visitors watched (25 %), 10 of 40 Yahoo lead-ins (25 %), and
    # the lead-ins are 40 of 200 web visitors (20 %). Jan 3 has no visitors: ratios empty.
    assert first[3:] == [200, 50, 0.25, 40, 10, 0.25, 0.2]
    assert second[3:6] == [0, 0, None] and second[8:] == [None, None]
    weekly = write_seed_report(marts, settings, "yellow", "HK", "weekly", DAY, root=str(tmp_path))
    (week,) = cells(weekly.location, "Yellow report")
    assert week[2:6] == ["so far", 300, 60, 0.2]  # its own count, not the daily sum


def test_ad_report_counts_units_per_placement(marts, settings, tmp_path) -> None:
    written = write_seed_report(marts, settings, "ad", "HK", "daily", DAY, root=str(tmp_path))
    assert [row[0] for row in cells(written.location, "Ad units")] == ["3", "1", "2"]
    assert cells(written.location, "Placements") == [
        ["hk_banner", 1],
        ["iOS / Pre-roll", 2],
        ["Total", 3],
    ]


def test_telco_report_differences_and_totals(marts, settings, tmp_path) -> None:
    written = write_seed_report(marts, settings, "telco", "HK", "weekly", DAY, root=str(tmp_path))
    jan2, jan3, total = cells(written.location, "Telco")
    # tally - telco: new 8 - 9 = -1, churn 4 - 4 = 0, active 558 - 560 = -2, revenue -7.5
    assert jan2[4:] == [9, 8, -1, 4, 4, 0, 560, 558, -2, 928, 920.5, -7.5]
    assert jan3[4:7] == [5, 5, 0]
    # flows and money (one currency) are totalled; active, a stock, is not
    assert total[4:10] == [14, 13, -1, 5, 6, 1] and total[10:13] == [None] * 3
    assert total[13:] == [2262, 2254.5, -7.5]


def test_content_window_report_uplift(marts, settings, tmp_path) -> None:
    written = write_seed_report(
        marts, settings, "content-window", "HK", "daily", DAY, root=str(tmp_path)
    )
    (release,) = cells(written.location, "Content window")  # the Jan 8 release is after DAY
    assert release[3:] == [10, 15, 5, 0.5, 7, 3]
    (correlation,) = cells(written.location, "Correlation")
    assert correlation[2:] == [34, 2, 0.25, None]


def test_a_missing_mart_or_country_is_a_clear_error(duckdb_warehouse, marts, settings, tmp_path):
    with pytest.raises(NotFoundError, match="no rows for SG"):
        write_seed_report(marts, settings, "telco", "SG", "daily", DAY, root=str(tmp_path))
    marts.execute("DROP TABLE marts.yellow_report")
    with pytest.raises(NotFoundError, match="marts.yellow_report was not built"):
        write_seed_report(marts, settings, "yellow", "HK", "daily", DAY, root=str(tmp_path))
    with pytest.raises(NotFoundError, match="no report 'pink'"):
        write_seed_report(marts, settings, "pink", "HK", "daily", DAY, root=str(tmp_path))


def test_unchanged_figures_leave_the_files_alone(marts, settings, tmp_path) -> None:
    first, skipped = write_seed_reports(marts, settings, DAY, root=str(tmp_path), only_changed=True)
    assert len(first) == 2 + 1 + 3 + 1  # HK: yellow daily and weekly, ad, telco × 3, content
    assert len(skipped) == 1 + 8  # HK's monthly yellow report (no rows) and every SG report
    assert all("SG" in reason or "monthly rows for HK" in reason for reason in skipped)
    before = {r.location: Path(r.location).read_bytes() for r in first}
    marts.execute("UPDATE marts.telco_performance SET tally_new = 9 WHERE day = DATE '2017-01-02'")
    again, _ = write_seed_reports(marts, settings, DAY, root=str(tmp_path), only_changed=True)
    changed = {Path(r.location).name for r in again if r.changed}
    assert changed == {"telco-hk-2017-01-03.xlsx"}  # its weekly and monthly files
    assert sum(r.changed for r in again) == 2  # (the daily one shows only Jan 3)
    for report in again:
        if not report.changed:
            assert Path(report.location).read_bytes() == before[report.location]


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("soffice"), reason="LibreOffice missing")
def test_every_cell_recalculates_to_the_cached_value(marts, settings, tmp_path) -> None:
    """One LibreOffice run for one workbook of each kind: every cell of every sheet."""
    sources = []
    for kind in KINDS:
        written = write_seed_report(marts, settings, kind, "HK", "weekly", DAY, root=str(tmp_path))
        sources.append(Path(written.location))
    results = recalculate(sources, tmp_path / "recalc")
    formulas = 0
    for source, result in zip(sources, results, strict=True):
        with_formulas = openpyxl.load_workbook(source)
        cached = openpyxl.load_workbook(source, data_only=True)
        fresh = openpyxl.load_workbook(result, data_only=True)
        for sheet in cached.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    got = fresh[sheet.title][cell.coordinate].value
                    want = cell.value
                    formula = with_formulas[sheet.title][cell.coordinate].data_type == "f"
                    formulas += formula
                    if want in ("", None):
                        assert got in ("", None), (source.name, sheet.title, cell.coordinate)
                    elif isinstance(want, float | int) and not isinstance(want, bool):
                        assert got == pytest.approx(want, abs=1e-9), (sheet.title, cell.coordinate)
                    else:
                        assert got == want, (source.name, sheet.title, cell.coordinate, got, want)
    assert formulas >= 20  # ratios, differences, COUNTIFs and totals were all checked
