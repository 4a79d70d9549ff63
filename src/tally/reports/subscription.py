"""The subscription report of one country and period: warehouse → workbook (or CSV/Parquet).

Files go to ``<root>/subscription-report/<period>/subscription-<cc>-<date>.<ext>`` where the
root is ``<data_dir>/reports`` unless another (a directory or an ``s3://`` URL) is given.
"""

from __future__ import annotations

import datetime as dt
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from tally.config import Country, Settings
from tally.errors import ConfigError, NotFoundError
from tally.lake.publish import publish, published, read_published
from tally.reports.analytics import analytics_sheets
from tally.reports.export import WRITERS
from tally.reports.fact import (
    PERIODS,
    check_period,
    freshness,
    period_end,
    period_start,
    report_rows,
)
from tally.reports.fingerprint import figures, of_bytes, stored
from tally.reports.stores import store_sheets
from tally.reports.summary import Summary, build_summary
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
    changed: bool = True  # False: the file there already showed these figures, left alone


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
    only_changed: bool = False,
) -> Written:
    """Write one country's report for the period holding ``day``; returns where it went.

    With ``only_changed`` a file already there that shows the same figures is left alone
    (``Written.changed`` False; see fingerprint.py). Template workbooks are always written.
    """
    configured = settings.country(country)
    check_period(period)
    if output_format != "xlsx" and output_format not in WRITERS:
        known = ", ".join(["xlsx", *WRITERS])
        raise ConfigError(f"format {output_format!r} is not one of {known}")
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
    changed = True
    with tempfile.TemporaryDirectory(prefix="tally-report-") as scratch:
        local = Path(scratch) / Path(location).name
        if output_format in WRITERS:
            WRITERS[output_format](local, rows)
            if only_changed:
                before = _read(location, settings)
                changed = before is None or of_bytes(before) != of_bytes(local.read_bytes())
        elif template is not None:
            from tally.reports.template import fill_template

            filled = fill_template(template, local, warehouse, rows, configured.code, period, day)
            notes = tuple(f"{cell}: {reason}" for cell, reason in filled.errors.items())
        else:
            summary = _summary(warehouse, configured, period, day, rows, period_count)
            extra = analytics_sheets(warehouse, configured.code, period, day)
            extra += store_sheets(warehouse, configured.code, period, day)
            digest = figures(rows, summary, extra)
            if only_changed:
                before = _read(location, settings)
                changed = before is None or stored(before) != digest
            if changed:
                generated = now or dt.datetime.now(dt.UTC)
                write_workbook(local, rows, summary, generated, extra, digest)
        if changed:
            publish(local, location, s3_endpoint_url=settings.s3_endpoint_url)
    counts = rows.group_by("type").aggregate([("value", "count")]).to_pylist()
    return Written(
        location,
        configured.code,
        period,
        {c["type"]: c["value_count"] for c in counts},
        notes,
        changed,
    )


def _summary(
    warehouse: Warehouse,
    country: Country,
    period: str,
    day: dt.date,
    rows: pa.Table,
    period_count: int | None,
) -> Summary:
    """The Summary of the report. Its freshness is the newest loaded day, but never past the
    report's own period: a report written again later shows the same complete period."""
    newest = freshness(warehouse, country.code)
    last_day = period_end(period_start(day, period), period)
    fresh = min(newest, last_day) if newest is not None else None
    types = pc.unique(rows["type"]).to_pylist()
    return build_summary(
        warehouse, country.code, country.name, period, day, types, fresh, period_count
    )


def write_all_reports(
    warehouse: Warehouse,
    settings: Settings,
    day: dt.date,
    *,
    root: str | None = None,
    output_format: str = "xlsx",
    only_changed: bool = False,
) -> tuple[list[Written], list[str]]:
    """Every configured country × period; returns the reports written (or, with
    ``only_changed``, found unchanged) and the ones skipped for lack of data (the reason)."""
    written, skipped = [], []
    for country in settings.countries:
        for period in PERIODS:
            try:
                # one session per report: on DuckDB each read outside a session opens and
                # closes the file, most of a report's time (a report is one short step, as a
                # load's partition is: docs/ARCHITECTURE.md, several processes at once)
                with warehouse.session():
                    written.append(
                        write_subscription_report(
                            warehouse,
                            settings,
                            country.code,
                            period,
                            day,
                            root=root,
                            output_format=output_format,
                            only_changed=only_changed,
                        )
                    )
            except NotFoundError as error:
                skipped.append(str(error))
    return written, skipped


@dataclass(frozen=True)
class OnRecord:
    """A report file found under the reports root, named as ``report_location`` names it."""

    location: str
    period: str
    country: str
    day: dt.date
    output_format: str


_NAME = re.compile(r"subscription-([a-z]{2})-(\d{4}-\d{2}-\d{2})\.(xlsx|csv|parquet)$")


def reports_on_record(settings: Settings, root: str | None = None) -> list[OnRecord]:
    """Every subscription report file under the root, oldest day first."""
    base = (root or default_root(settings)).rstrip("/")
    endpoint = settings.s3_endpoint_url
    found = []
    for period in PERIODS:
        for path in published(base, f"subscription-report/{period}/*", s3_endpoint_url=endpoint):
            name = _NAME.search(path)
            if name:
                country, day, suffix = name.groups()
                location = report_location(base, period, country.upper(), _date(day), suffix)
                found.append(OnRecord(location, period, country.upper(), _date(day), suffix))
    return sorted(found, key=lambda r: (r.day, r.country, PERIODS.index(r.period)))


def rewrite_changed(
    warehouse: Warehouse, settings: Settings, since: dt.date, *, root: str | None = None
) -> tuple[list[Written], list[str]]:
    """Write again each report on record dated ``since`` or later whose figures changed (a
    backfill corrected days it shows); returns every one checked (``changed`` says which
    were written) and the ones left alone, with the reason.

    A week's or month's workbook written before its period ended is rewritten with the
    period as the marts hold it now (they keep no earlier state of it)."""
    checked, left = [], []
    known = {c.code for c in settings.countries}
    for record in reports_on_record(settings, root):
        if record.day < since or record.country not in known:
            continue
        if (
            record.output_format == "xlsx"
            and stored(_read(record.location, settings) or b"") is None
        ):
            left.append(
                f"{record.location}: no figures digest (a template's workbook, or one "
                "written before digests were kept); tally report subscription rewrites it"
            )
            continue
        try:
            with warehouse.session():  # one session per report (write_all_reports)
                checked.append(
                    write_subscription_report(
                        warehouse,
                        settings,
                        record.country,
                        record.period,
                        record.day,
                        root=root,
                        output_format=record.output_format,
                        only_changed=True,
                    )
                )
        except NotFoundError as error:
            left.append(f"{record.location}: {error}")
    return checked, left


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _read(location: str, settings: Settings) -> bytes | None:
    """The bytes of the report already at ``location``, or None when there is none."""
    return read_published(location, s3_endpoint_url=settings.s3_endpoint_url)
