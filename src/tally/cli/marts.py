"""Mart commands: ``tally backfill`` (reload from the lake and rebuild) and ``tally scheduler``."""

from __future__ import annotations

import datetime as dt
import signal
import threading
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tally.cli._grammar import DatasetArgument, OldSourceOption, SourceArgument, chosen_datasets
from tally.cli.core import console, context, errors, fail, say_reports
from tally.errors import TallyError


def backfill_command(
    start: Annotated[
        dt.datetime,
        typer.Option("--from", formats=["%Y-%m-%d"], help="First day, YYYY-MM-DD."),
    ],
    end: Annotated[
        dt.datetime,
        typer.Option("--to", formats=["%Y-%m-%d"], help="Last day (included), YYYY-MM-DD."),
    ],
    source: SourceArgument = None,
    dataset: DatasetArgument = None,
    old_source: OldSourceOption = None,
    reports: Annotated[
        bool, typer.Option(help="Rewrite the reports on record whose figures changed.")
    ] = True,
) -> None:
    """Reload days from the lake into staging and rebuild every model that depends on them.

    Raw files are kept forever, so nothing is fetched: each landed partition is parsed and
    replaced again, then the marts downstream are rebuilt, and every report on record dated
    --from or later whose figures changed is written again (named; the others are left
    alone). Exit code 1 if any partition failed.
    Example: tally backfill viu-premium --from 2016-10-01 --to 2016-10-31
    """
    from tally.pipeline.backfill import backfill

    chosen = chosen_datasets(source, dataset, old_source)
    ctx = context()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task("backfill", total=None)

        def progress(what: str, done: int, total: int) -> None:
            bar.update(task, description=what, completed=done, total=total)

        try:
            outcome = backfill(ctx, start.date(), end.date(), None, progress, chosen)
        except TallyError as error:
            raise fail(error, 2) from None
    console.print(
        f"reloaded {len(outcome.loaded)} partition(s), {sum(outcome.loaded.values()):,} rows; "
        f"{len(outcome.skipped)} had nothing landed (run {outcome.run_id})"
    )
    for name, reason in outcome.failed.items():
        errors.print(f"[red]failed[/red] {name}: {reason}")
    for model, state in outcome.models.items():
        console.print(f"model {model}: {state}")
    if reports and outcome.loaded and ctx.warehouse.table_exists("marts.report_fact"):
        from tally.reports.subscription import rewrite_changed

        checked, left = rewrite_changed(ctx.warehouse, ctx.settings, start.date())
        say_reports(checked, left)
    if not outcome.ok:
        raise typer.Exit(1)


def scheduler_command(
    once: Annotated[
        bool, typer.Option("--once", help="Run what is due now (and missed days), then exit.")
    ] = False,
    catch_up_days: Annotated[
        int, typer.Option(help="How far back to look for missed days.", min=0)
    ] = 7,
    poll_seconds: Annotated[
        float, typer.Option(help="Longest sleep between checks.", min=1)
    ] = 60.0,
) -> None:
    """Start each source's daily job when its schedule (cron + time zone) says.

    Days missed while the scheduler was down are run first; a partition is never run twice
    at once (an OS lock per partition; with server.scheduler_lease_url, one scheduler of
    several leads by a lease in JetStream). Stop with Ctrl-C.
    Example: tally scheduler --catch-up-days 3
    """
    from tally.pipeline.scheduler import ScheduledRun, run_due, run_forever, schedules
    from tally.server.settings import ServerSettings

    ctx = context()
    try:
        plans = schedules(ctx.settings)
    except TallyError as error:
        raise fail(error, 2) from None
    for plan in plans:
        console.print(f"{plan.source}: '{plan.cron}' {plan.timezone} (loads day - {plan.lag_days})")
    if not plans:
        console.print('no source has a schedule (set [sources.<name>] schedule = "...")')

    def report(run: ScheduledRun) -> None:
        colour = {"ok": "green", "failed": "red"}.get(run.status, "yellow")
        console.print(f"[{colour}]{run.status}[/{colour}] {run.source} {run.day} {run.detail}")

    if once:
        runs = run_due(ctx, catch_up_days=catch_up_days)
        for run in runs:
            report(run)
        if any(run.status == "failed" for run in runs):
            raise typer.Exit(1)
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        lease = ctx.settings.section(ServerSettings).scheduler_lease()
        run_forever(ctx, stop, poll_seconds, report, catch_up_days, lease)
    except KeyboardInterrupt:
        stop.set()


def register(app: typer.Typer) -> None:
    app.command("backfill")(backfill_command)
    app.command("scheduler")(scheduler_command)
