"""Where reports go, which formats, and the errors for bad requests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as parquet
import pytest

from tally.errors import ConfigError, NotFoundError
from tally.reports.subscription import (
    report_location,
    rewrite_changed,
    write_all_reports,
    write_subscription_report,
)

DAY = dt.date(2017, 1, 25)


def test_default_location_under_data_dir(loaded_duckdb, settings) -> None:
    written = write_subscription_report(loaded_duckdb, settings, "hk", "weekly", DAY)
    expected = Path(settings.data_dir) / "reports/subscription-report/weekly"
    assert Path(written.location) == expected / "subscription-hk-2017-01-25.xlsx"
    assert Path(written.location).exists()
    # Weekly HK rows in the fixture: 11 active, 6 new, 4 churn, 1 revenue.
    assert written.rows == {"Active subscriber": 11, "New subscriber": 6, "Churn": 4, "Revenue": 1}


def test_parquet_holds_the_same_rows(loaded_duckdb, settings, tmp_path) -> None:
    written = write_subscription_report(
        loaded_duckdb, settings, "SG", "weekly", DAY, root=str(tmp_path), output_format="parquet"
    )
    assert written.location == report_location(str(tmp_path), "weekly", "SG", DAY, "parquet")
    rows = parquet.read_table(written.location)
    assert rows.to_pylist()[0]["value"] == 70 and rows.num_rows == 1


def test_all_writes_every_country_and_period_with_data(loaded_duckdb, settings, tmp_path) -> None:
    written, skipped = write_all_reports(loaded_duckdb, settings, DAY, root=str(tmp_path))
    # The fixture has daily and weekly rows for both countries, no monthly rows.
    assert sorted((w.country, w.period) for w in written) == [
        ("HK", "daily"),
        ("HK", "weekly"),
        ("SG", "daily"),
        ("SG", "weekly"),
    ]
    assert len(skipped) == 2 and all("monthly" in reason for reason in skipped)
    assert all(Path(w.location).exists() for w in written)


def test_bad_requests(loaded_duckdb, settings, tmp_path) -> None:
    with pytest.raises(ConfigError, match="country 'FR'"):
        write_subscription_report(loaded_duckdb, settings, "FR", "weekly", DAY)
    with pytest.raises(ConfigError, match="period 'yearly'"):
        write_subscription_report(loaded_duckdb, settings, "HK", "yearly", DAY)
    with pytest.raises(ConfigError, match="format 'pdf'"):
        write_subscription_report(loaded_duckdb, settings, "HK", "weekly", DAY, output_format="pdf")
    with pytest.raises(NotFoundError, match="no weekly rows for HK up to 2016-12-31"):
        write_subscription_report(loaded_duckdb, settings, "HK", "weekly", dt.date(2016, 12, 31))


def test_s3_root_uploads_the_workbook(loaded_duckdb, settings, s3_endpoint, s3_bucket) -> None:
    import io

    import openpyxl
    import s3fs

    on_s3 = settings.model_copy(update={"s3_endpoint_url": s3_endpoint})
    written = write_subscription_report(
        loaded_duckdb, on_s3, "HK", "weekly", DAY, root=f"s3://{s3_bucket}/reports"
    )
    key = f"{s3_bucket}/reports/subscription-report/weekly/subscription-hk-2017-01-25.xlsx"
    assert written.location == f"s3://{key}"
    fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": s3_endpoint})
    book = openpyxl.load_workbook(io.BytesIO(fs.cat_file(key)))
    assert book.sheetnames[:2] == ["Summary", "Active subscriber"]


def test_the_same_figures_again_leave_every_file_alone(loaded_duckdb, settings, tmp_path) -> None:
    root = str(tmp_path)
    for output_format in ("xlsx", "csv"):
        first, _ = write_all_reports(
            loaded_duckdb, settings, DAY, root=root, output_format=output_format, only_changed=True
        )
        before = {r.location: Path(r.location).read_bytes() for r in first}
        again, _ = write_all_reports(
            loaded_duckdb, settings, DAY, root=root, output_format=output_format, only_changed=True
        )
        assert [r.changed for r in first] == [True] * 4  # HK and SG, daily and weekly
        assert [r.changed for r in again] == [False] * 4
        assert {r.location: Path(r.location).read_bytes() for r in again} == before


def test_a_correction_rewrites_exactly_the_reports_whose_figures_changed(
    loaded_duckdb, settings, tmp_path
) -> None:
    """HK's daily rows are on Jan 24 (1 row) and Jan 25 (7 rows); Jan 25's New subscriber is
    corrected. The daily report of Jan 25 shows it; the daily report of Jan 24 and the weekly
    ones do not (weekly rows are their own, and the week of Jan 23 has no daily rows a week
    before to compare with); the weekly report of Jan 18 is dated before the correction."""
    root = str(tmp_path)
    made = {
        (period, day): write_subscription_report(
            loaded_duckdb, settings, country, period, day, root=root, only_changed=True
        ).location
        for country, period, day in (
            ("HK", "daily", dt.date(2017, 1, 24)),
            ("HK", "daily", DAY),
            ("HK", "weekly", DAY),
            ("HK", "weekly", dt.date(2017, 1, 18)),
        )
    }
    old = {location: Path(location).read_bytes() for location in made.values()}
    loaded_duckdb.execute(
        "UPDATE marts.report_fact SET value = value + 1 WHERE country = 'HK' AND "
        "resolution_type = 'daily' AND start_date = DATE '2017-01-25' AND type = 'New subscriber'"
    )
    checked, left = rewrite_changed(loaded_duckdb, settings, dt.date(2017, 1, 24), root=root)
    assert left == []
    assert {r.location: r.changed for r in checked} == {
        made["daily", dt.date(2017, 1, 24)]: False,
        made["daily", DAY]: True,
        made["weekly", DAY]: False,
    }
    for location, content in old.items():
        assert (Path(location).read_bytes() == content) == (location != made["daily", DAY])


def test_a_report_written_later_states_its_own_period_as_fresh(loaded_duckdb, settings) -> None:
    """The HK data runs to Jan 25; the week of Jan 16–22 is complete, so its report says so
    instead of naming a day it does not show."""
    from tally.reports.fact import report_rows
    from tally.reports.subscription import _summary

    day = dt.date(2017, 1, 18)
    rows = report_rows(loaded_duckdb, "HK", "weekly", day)
    summary = _summary(loaded_duckdb, settings.country("HK"), "weekly", day, rows, None)
    assert summary.fresh_until == dt.date(2017, 1, 22) and summary.partial is None
