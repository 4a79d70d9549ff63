"""Report commands: ``tally report subscription|all`` and ``tally pivot``."""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tally.config import Settings, load_settings
from tally.errors import TallyError
from tally.warehouse import Warehouse, from_settings

if TYPE_CHECKING:
    from rich.console import Console


@functools.cache
def _console(stderr: bool = False) -> Console:
    """Standard output (or error) through rich, imported on first use: `tally pivot`
    prints one number and does without it."""
    from rich.console import Console

    return Console(stderr=stderr)


report_app = typer.Typer(help="Excel (or CSV/Parquet) subscription reports.", no_args_is_help=True)

DateOption = Annotated[
    dt.datetime,
    typer.Option("--date", "-d", formats=["%Y-%m-%d"], help="A day of the period, YYYY-MM-DD."),
]
OutOption = Annotated[
    str | None,
    typer.Option(
        "--out",
        help="Reports root (a folder or s3://bucket/prefix); default <data_dir>/reports.",
    ),
]
FormatOption = Annotated[str, typer.Option("--format", "-f", help="xlsx, csv or parquet.")]


def _open(migrate: bool = True) -> tuple[Settings, Warehouse]:
    try:
        settings = load_settings()
        return settings, from_settings(settings, migrate=migrate)
    except TallyError as error:
        _console(stderr=True).print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None


@report_app.command("subscription")
def subscription_command(
    country: Annotated[str, typer.Option("--country", "-c", help="Country code, e.g. HK.")],
    period: Annotated[str, typer.Option("--period", "-p", help="daily, weekly or monthly.")],
    date: DateOption,
    out: OutOption = None,
    template: Annotated[
        Path | None,
        typer.Option(
            "--template", "-t", help="Analyst workbook (.xlsx, .xlsb, .xls) with pivots to refill."
        ),
    ] = None,
    output_format: FormatOption = "xlsx",
    periods: Annotated[
        int | None, typer.Option("--periods", min=2, help="Periods across the Summary.")
    ] = None,
) -> None:
    """Write one country's subscription report for the period holding --date.

    Example: tally report subscription --country HK --period weekly --date 2017-01-25
    """
    from tally.reports.subscription import write_subscription_report

    settings, warehouse = _open()
    try:
        written = write_subscription_report(
            warehouse,
            settings,
            country,
            period,
            date.date(),
            root=out,
            template=template,
            output_format=output_format,
            period_count=periods,
        )
    except TallyError as error:
        _console(stderr=True).print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    finally:
        warehouse.close()
    total = sum(written.rows.values())
    for note in written.notes:
        _console(stderr=True).print(
            f"[yellow]cell:[/yellow] {note}", soft_wrap=True, highlight=False
        )
    _console().print(
        f"wrote {written.location} ({total:,} rows, {len(written.rows)} metric types)",
        soft_wrap=True,
    )


@report_app.command("all")
def all_command(
    date: DateOption, out: OutOption = None, output_format: FormatOption = "xlsx"
) -> None:
    """Write every configured country × period (daily, weekly, monthly) for --date, and
    (as xlsx) the seed's yellow, AD, telco and content window reports.

    Example: tally report all --date 2017-01-25
    """
    from tally.reports.seedreports import write_seed_reports
    from tally.reports.subscription import write_all_reports

    settings, warehouse = _open()
    try:
        written, skipped = write_all_reports(
            warehouse, settings, date.date(), root=out, output_format=output_format
        )
        if output_format == "xlsx":
            seed, seed_skipped = write_seed_reports(warehouse, settings, date.date(), root=out)
            written, skipped = [*written, *seed], [*skipped, *seed_skipped]
    except TallyError as error:
        _console(stderr=True).print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    finally:
        warehouse.close()
    for report in written:
        _console().print(f"wrote {report.location}", soft_wrap=True)
    for reason in skipped:
        _console(stderr=True).print(f"[yellow]skipped:[/yellow] {reason}", soft_wrap=True)
    if not written:
        raise typer.Exit(1)


def pivot_command(
    formula: Annotated[str, typer.Argument(help="A GETPIVOTDATA formula, or - for stdin.")],
    sql: Annotated[bool, typer.Option("--sql", help="Print the SQL (values as comments).")] = False,
    country: Annotated[
        str | None, typer.Option("--country", "-c", help="Only this country's rows.")
    ] = None,
    resolution: Annotated[
        str | None,
        typer.Option("--resolution", "-r", help="Only daily, weekly or monthly rows."),
    ] = None,
    date_order: Annotated[
        str, typer.Option("--date-order", help="How text dates are written: MDY, DMY or YMD.")
    ] = "MDY",
) -> None:
    """Answer an Excel GETPIVOTDATA formula from the warehouse's report_fact.

    Example: tally pivot --sql 'GETPIVOTDATA("value",Churn!$A$5,"Start Date","1/16/2017")'

    Or from a file: tally pivot --sql - < formula.txt
    """
    from tally.reports.fact import check_period
    from tally.reports.pivot import PivotError, parse, resolve_type, run_query, to_query

    text = sys.stdin.read() if formula == "-" else formula
    settings, warehouse = _open(migrate=False)  # reads report_fact only: no schema change
    try:
        request = parse(text.strip(), date_order)
        scope = {}
        if country:
            scope["country"] = settings.country(country).code
        if resolution:
            scope["resolution_type"] = check_period(resolution)
        with warehouse.interactive():  # one open of the file for both queries, time-bounded
            sheet_type = resolve_type(warehouse, request.sheet, None)
            query = to_query(request, sheet_type, scope, date_order)
            if sql:
                typer.echo(query.display())
            value = run_query(warehouse, query)
    except PivotError as error:
        typer.echo(f"{error.code} {error.message}", err=True)
        raise typer.Exit(1) from None
    except TallyError as error:
        _console(stderr=True).print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    finally:
        warehouse.close()
    typer.echo(f"{value:g}")


CountryOption = Annotated[str, typer.Option("--country", "-c", help="Country code, e.g. HK.")]
# The seed's other reports (reports/seedreports.py); named here so that registering them
# imports nothing of the reports package.
SEED_REPORTS = {
    "yellow": ("Daily/Weekly/Monthly yellow report (Google Analytics UV)", True),
    "ad": ("Report related to AD (the ad unit & position map)", False),
    "telco": ("Telco performance beside tally's Telco figures", True),
    "content-window": ("Correlation between content window and subscription", False),
}


def _write_seed(kind: str, country: str, period: str, day: dt.date, out: str | None) -> None:
    from tally.reports.seedreports import write_seed_report

    settings, warehouse = _open()
    try:
        written = write_seed_report(warehouse, settings, kind, country, period, day, root=out)
    except TallyError as error:
        _console(stderr=True).print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    finally:
        warehouse.close()
    _console().print(f"wrote {written.location}", soft_wrap=True)


def _seed_command(kind: str, title: str, periodic: bool) -> Callable[..., None]:
    example = f"Example: tally report {kind} --country HK --date 2026-12-03"
    if periodic:

        def by_period(
            country: CountryOption,
            date: DateOption,
            period: Annotated[
                str, typer.Option("--period", "-p", help="daily, weekly or monthly.")
            ] = "daily",
            out: OutOption = None,
        ) -> None:
            _write_seed(kind, country, period, date.date(), out)

        by_period.__doc__ = (
            f"Write the {title} for the period holding --date.\n\n{example} -p weekly"
        )
        return by_period

    def as_of(country: CountryOption, date: DateOption, out: OutOption = None) -> None:
        _write_seed(kind, country, "daily", date.date(), out)

    as_of.__doc__ = f"Write the {title} as of --date.\n\n{example}"
    return as_of


def register(app: typer.Typer) -> None:
    for kind, (title, periodic) in SEED_REPORTS.items():
        report_app.command(kind)(_seed_command(kind, title, periodic))
    app.add_typer(report_app, name="report")
    app.command("pivot")(pivot_command)
