"""``tally web-report``: any Reporting API method from the command line, as the HTTP API."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from tally.config import load_settings
from tally.errors import TallyError
from tally.warehouse import from_settings

errors = Console(stderr=True)


def web_report(
    method: Annotated[str, typer.Argument(help="Matomo method, e.g. VisitsSummary.get.")],
    site: Annotated[str, typer.Option("--site", help="idSite: 1, a list 1,2, or all.")],
    period: Annotated[
        str, typer.Option("--period", help="day, week, month, year or range.")
    ] = "day",
    date: Annotated[
        str,
        typer.Option("--date", help="YYYY-MM-DD, today, yesterday, lastN, previousN or D1,D2."),
    ] = "yesterday",
    segment: Annotated[
        str, typer.Option("--segment", help="Matomo segment, e.g. 'referrerType==search'.")
    ] = "",
    output: Annotated[str, typer.Option("--format", help="json, csv, tsv or xml.")] = "json",
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", help="Another API parameter as NAME=VALUE (filter_limit=10, flat=1, ...)."
        ),
    ] = None,
) -> None:
    """Run one Reporting API method against the warehouse and print its answer.

    Example: tally web-report VisitsSummary.get --site 1 --period day --date yesterday

    Example: tally web-report Actions.getPageUrls --site 1 --period month --date today
    --segment "deviceType==smartphone" --param filter_limit=10 --format csv
    """
    from tally.web.reporting.api import call
    from tally.web.reporting.formats import plain, render

    params = {"idSite": site, "period": period, "date": date, "segment": segment}
    for item in param or []:
        name, found, value = item.partition("=")
        if not found or not name:
            errors.print(f"[red]error:[/red] --param {item!r} is not NAME=VALUE")
            raise typer.Exit(2)
        params[name] = value
    try:
        answer = call(from_settings(load_settings()), method, params)
        if output == "json":
            text = json.dumps(plain(answer), indent=2, ensure_ascii=False)
        else:
            text = render(answer, output, unicode_bom=False).body.decode("utf-8")
    except TallyError as error:
        errors.print(f"[red]error:[/red] {error}", highlight=False)
        raise typer.Exit(1) from None
    typer.echo(text)


def register(app: typer.Typer) -> None:
    """Add ``tally web-report`` to the CLI."""
    app.command("web-report")(web_report)
