"""The subscription report of one country and period: warehouse → workbook (or CSV/Parquet).

Files go to ``<root>/subscription-report/<period>/subscription-<cc>-<date>.<ext>`` where the
root is ``<data_dir>/reports`` unless another (a directory or an ``s3://`` URL) is given.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc

from tally.config import Settings
from tally.errors import ConfigError, NotFoundError
from tally.lake.publish import publish
from tally.reports.analytics import analytics_sheets
from tally.reports.export import FORMATS, write_csv, write_parquet
from tally.reports.fact import PERIODS, check_period, freshness, report_rows
from tally.reports.summary import build_summary
from tally.reports.workbook import write_workbook
from tally.warehouse import Warehouse


@dataclass(frozen=True)
class Written:
    """One report written: where, and how many data rows per metric type."""

    location: str
    country: str
    period: str
    rows: dict[str, int]
    notes: tuple[str, ...] = ()  # e.g. template cells answered with an Excel error, and why


def report_location(root: str, period: str, country: str, day: dt.date, suffix: str) -> str:
    name = f"subscription-{country.lower()}-{day.isoformat()}.{suffix}"
    return f"{root.rstrip('/')}/subscription-report/{period}/{name}"


def default_root(settings: Settings) -> str:
    return f"{settings.data_dir.rstrip('/')}/reports"


def write_subscription_report(
    warehouse: Warehouse,
    settings: Settings,
    country: str,
    period: str,
    day: dt.date,
    *,
    root: str | None = None,
    template: Path | None = None,
    output_format: str = "xlsx",
    period_count: int | None = None,
    now: dt.datetime | None = None,
) -> Written:
    """Write one country's report for the period holding ``day``; returns where it went."""
    configured = settings.country(country)
    check_period(period)
    if output_format not in FORMATS:
        raise ConfigError(f"format {output_format!r} is not one of {', '.join(FORMATS)}")
    if template is not None and output_format != "xlsx":
        raise ConfigError("a template gives an .xlsx workbook; leave --format at xlsx")
    rows = report_rows(warehouse, configured.code, period, day)
    if rows.num_rows == 0:
        raise NotFoundError(
            f"marts.report_fact has no {period} rows for {configured.code} up to {day}; "
            "build the marts first (tally run)"
        )
    location = report_location(
        root or default_root(settings), period, configured.code, day, output_format
    )
    notes: tuple[str, ...] = ()
    with tempfile.TemporaryDirectory(prefix="tally-report-") as scratch:
        local = Path(scratch) / Path(location).name
        if output_format == "csv":
            write_csv(local, rows)
        elif output_format == "parquet":
            write_parquet(local, rows)
        elif template is not None:
            from tally.reports.template import fill_template

            filled = fill_template(template, local, warehouse, rows, configured.code, period, day)
            notes = tuple(f"{cell}: {reason}" for cell, reason in filled.errors.items())
        else:
            summary = build_summary(
                warehouse,
                configured.code,
                configured.name,
                period,
                day,
                pc.unique(rows["type"]).to_pylist(),
                freshness(warehouse, configured.code),
                period_count,
            )
            extra = analytics_sheets(warehouse, configured.code, period, day)
            write_workbook(local, rows, summary, now or dt.datetime.now(dt.UTC), extra)
        publish(local, location, s3_endpoint_url=settings.s3_endpoint_url)
    counts = rows.group_by("type").aggregate([("value", "count")]).to_pylist()
    return Written(
        location,
        configured.code,
        period,
        {c["type"]: c["value_count"] for c in counts},
        notes,
    )


def write_all_reports(
    warehouse: Warehouse,
    settings: Settings,
    day: dt.date,
    *,
    root: str | None = None,
    output_format: str = "xlsx",
) -> tuple[list[Written], list[str]]:
    """Every configured country × period; returns the reports written and the ones skipped
    for lack of data (with the reason)."""
    written, skipped = [], []
    for country in settings.countries:
        for period in PERIODS:
            try:
                written.append(
                    write_subscription_report(
                        warehouse,
                        settings,
                        country.code,
                        period,
                        day,
                        root=root,
                        output_format=output_format,
                    )
                )
            except NotFoundError as error:
                skipped.append(str(error))
    return written, skipped
