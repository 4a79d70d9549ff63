"""Where reports go, which formats, and the errors for bad requests."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as parquet
import pytest

from tally.errors import ConfigError, NotFoundError
from tally.reports.subscription import report_location, write_all_reports, write_subscription_report

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
