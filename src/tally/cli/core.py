"""Core commands: config, lake, ingest, load, build, query, status, demo."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tally.cli._errors import exit_code, one_line
from tally.cli._grammar import DatasetArgument, OldSourceOption, SourceArgument, chosen_datasets
from tally.cli._steps import Steps
from tally.cli._tables import print_json, wide_table
from tally.config import Settings, load_settings
from tally.errors import TallyError
from tally.pipeline.context import Context, open_context
from tally.warehouse.meta import lake_files

if TYPE_CHECKING:
    import pyarrow as pa

    from tally.pipeline.demo import DemoSummary
    from tally.reports.subscription import Written


console = Console()
errors = Console(stderr=True)

DateOption = Annotated[
    dt.datetime | None,
    typer.Option("--date", "-d", formats=["%Y-%m-%d"], help="Partition date, YYYY-MM-DD."),
]


def settings() -> Settings:
    try:
        return load_settings()
    except TallyError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None


def context() -> Context:
    try:
        return open_context(settings())
    except TallyError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None


def fail(error: Exception, code: int | None = None) -> typer.Exit:
    """One line and the exit code of the error's kind (2 bad input, 3 transient)."""
    errors.print(f"[red]error:[/red] {one_line(error)}", highlight=False, soft_wrap=True)
    return typer.Exit(code if code is not None else exit_code(error))


def _day(value: dt.datetime | None, name: str = "--date") -> dt.date:
    if value is None:
        raise typer.BadParameter(f"{name} is required (YYYY-MM-DD)")
    return value.date()


def config_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the effective settings, secrets masked.

    Example: tally config --json
    """
    values = settings().masked()
    if as_json:
        console.print_json(json.dumps(values, default=str))
        return
    table = wide_table("setting", "value")
    for key, value in _flatten(values):
        table.add_row(key, str(value))
    console.print(table)


def _flatten(values: dict[str, object], prefix: str = "") -> list[tuple[str, object]]:
    flat: list[tuple[str, object]] = []
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.extend(_flatten(value, name + "."))
        else:
            flat.append((name, value))
    return flat


lake_app = typer.Typer(help="Look at the raw lake.", no_args_is_help=True)


@lake_app.command("ls")
def lake_ls(
    source: SourceArgument = None,
    dataset: DatasetArgument = None,
    date: DateOption = None,
    old_source: OldSourceOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List landed raw files from the manifest.

    Example: tally lake ls itunes subscription-events --date 2016-10-23
    """
    chosen = chosen_datasets(source, dataset, old_source)
    ctx = context()
    keys = [d.key for d in chosen] if source or dataset or old_source else None
    rows = lake_files.current_files(ctx.warehouse, keys, date.date() if date else None)
    if as_json:
        names = ("key", "size", "sha256", "source", "dataset", "partition_date", "landed_at")
        print_json([dict(zip(names, row, strict=True)) for row in rows])
        return
    table = wide_table("key", "bytes", "sha256", "landed at")
    for key, size, digest, *_rest, landed in rows:
        table.add_row(key, f"{size:,}", digest[:12], str(landed)[:19])
    console.print(table)
    console.print(f"{len(rows)} file(s) under {ctx.lake.url}")


def ingest_command(
    source: Annotated[str, typer.Argument(help="Source, e.g. itunes.")],
    dataset: Annotated[str, typer.Argument(help="Dataset, e.g. subscription-events.")],
    date: DateOption = None,
    file: Annotated[
        list[Path] | None, typer.Option("--file", help="Land this local file instead of fetching.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace different bytes (old kept).")] = False,
) -> None:
    """Land one day of a dataset in the lake, from its API or a local file.

    Example: tally ingest itunes subscription-events --date 2016-10-23 --file report.txt.gz
    """
    from tally.pipeline.ingest import ingest
    from tally.sources import get_dataset

    ctx = context()
    try:
        results = ingest(ctx, get_dataset(source, dataset), _day(date), file or None, force)
    except TallyError as error:
        raise fail(error) from None
    for result in results:
        console.print(f"{result.status:9} {result.key} ({result.size:,} bytes)")


def load_command(
    source: SourceArgument = None,
    dataset: DatasetArgument = None,
    date: DateOption = None,
    old_source: OldSourceOption = None,
) -> None:
    """Load the landed files of a day into staging tables.

    Example: tally load itunes --date 2016-10-23
    """
    from tally.pipeline.ledger import new_run_id
    from tally.pipeline.load import load

    chosen = chosen_datasets(source, dataset, old_source)
    day = _day(date)
    ctx = context()
    run_id, failed = new_run_id(), 0
    for each in chosen:
        try:
            loaded = load(ctx, each, day, run_id)
        except TallyError as error:
            failed += 1
            errors.print(f"[red]failed[/red] {each.key}: {error}")
            continue
        note = f", {len(loaded.bad_rows)} quarantined" if loaded.bad_rows else ""
        console.print(f"loaded {each.key} {day}: {loaded.rows} rows{note}")
    if failed:
        raise typer.Exit(1)


def build_command(date: DateOption = None) -> None:
    """Run the SQL models in dependency order.

    Example: tally build --date 2016-10-23
    """
    from tally.pipeline.build import build

    for table, outcome in build(context()).items():
        console.print(f"{table}: {outcome}")


def query_command(
    sql: Annotated[str, typer.Argument(help="SQL in DuckDB's dialect; - reads standard input.")],
    output: Annotated[str, typer.Option("--format", "-f", help="table, csv or json.")] = "table",
    write: Annotated[
        bool, typer.Option("--write", help="Allow changes (INSERT, UPDATE, CREATE, ...).")
    ] = False,
    external: Annotated[
        bool,
        typer.Option(
            "--external-access", help="Allow SQL to read and write files and the network."
        ),
    ] = False,
) -> None:
    """Run a query on the warehouse, for administrators: it reads every table, password and
    token hashes included. Read-only unless --write; no file or network access from SQL
    (read_csv, COPY ... TO, ATTACH of a file) unless --external-access.

    Example: tally query "select count(*) from staging.itunes_subscription_events"
    """
    import pyarrow.csv as pacsv

    text = sys.stdin.read() if sql == "-" else sql
    try:
        result = console_query(settings(), text, write=write, external_access=external)
    except Exception as error:  # the database's own message is the useful one
        raise fail(error) from None
    if output == "csv":
        pacsv.write_csv(result, sys.stdout.buffer)
    elif output == "json":
        print(json.dumps(result.to_pylist(), default=str, indent=1))
    elif output == "table":
        table = wide_table(*result.column_names)
        for row in result.to_pylist():
            table.add_row(*(("" if v is None else str(v)) for v in row.values()))
        console.print(table)
    else:
        raise typer.BadParameter("--format must be table, csv or json")


def console_query(
    settings: Settings, sql: str, *, write: bool = False, external_access: bool = False
) -> pa.Table:
    """``sql``'s result, on a connection that can change nothing unless ``write`` and reach
    no file or network unless ``external_access``.

    DuckDB: a read-only connection with ``enable_external_access`` off (read_csv, COPY TO,
    ATTACH of a file and extension installs are refused). PostgreSQL: a READ ONLY
    transaction, rolled back; file access there is the role's (``pg_read_server_files``),
    which tally's role should not hold.
    """
    from tally.warehouse import connect

    warehouse = connect(settings.warehouse_url, settings.lock_wait_seconds)
    try:
        return warehouse.console(sql, write=write, external_access=external_access)
    finally:
        warehouse.close()


def status_command(
    limit: Annotated[int, typer.Option(help="How many steps.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the most recent pipeline steps from the run ledger.

    Example: tally status --limit 50 --json
    """
    from tally.pipeline.ledger import Ledger

    steps = Ledger(context().warehouse).recent(limit)
    if as_json:
        print(json.dumps(steps, default=str, indent=1))
        return
    table = wide_table(
        "started", "job", "source/dataset", "date", "status", "in", "out", "bad", "error / note"
    )
    for s in steps:
        colours = {
            "ok": "green",
            "failed": "red",
            "skipped": "yellow",
            "not_ready": "yellow",
            "abandoned": "magenta",
        }
        colour = colours.get(str(s["status"]), "white")
        table.add_row(
            str(s["started_at"])[:19],
            str(s["job"]),
            "/".join(str(x) for x in (s["source"], s["dataset"]) if x),
            str(s["partition_date"] or ""),
            f"[{colour}]{s['status']}[/{colour}]",
            _count(s["rows_in"]),
            _count(s["rows_out"]),
            _count(s["rows_quarantined"]),
            str(s["error"] or s["note"] or "")[:80],
        )
    console.print(table)


def _count(value: object) -> str:
    return "" if value is None else f"{value:,}"


def demo_command(
    days: Annotated[int, typer.Option(help="How many days of data.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed; same seed, same data.")] = 7,
    end: Annotated[
        dt.datetime | None, typer.Option(formats=["%Y-%m-%d"], help="Last day (default yesterday).")
    ] = None,
) -> None:
    """Generate demo data for every source and run the whole pipeline on it.

    Example: tally demo --days 30 --seed 7
    """
    from tally.pipeline.demo import run_demo

    ctx = context()
    with Steps(console) as steps:
        summary = run_demo(
            ctx, days=days, seed=seed, end=end.date() if end else None, progress=steps
        )
        # the traffic comes before the reports: its subscribers' visits feed the
        # attribution, which the workbooks show
        traffic = _demo_traffic(ctx, seed, summary.start, summary.end, steps)
        steps.start("reports")
        written = write_reports(ctx, summary.end, quiet=True)
        steps.finish("reports", f"{len(written)} workbooks")
    _print_summary(ctx, summary, written, traffic)


def _demo_traffic(ctx: Context, seed: int, start: dt.date, end: dt.date, steps: Steps) -> str:
    from tally.pipeline.demo import demo_signups, rebuild_web_marts
    from tally.web.demo import generate_traffic

    steps.start("web traffic")
    signups = demo_signups(seed, start, end)  # the same people as the subscription exports
    traffic = generate_traffic(ctx.warehouse, ctx.settings, seed, start, end, signups=signups)
    rebuild_web_marts(ctx)
    steps.finish("web traffic", f"{traffic.sessions.visits:,} visits")
    return (
        f"{traffic.requests:,} tracking requests → {traffic.loaded.loaded:,} hits "
        f"({traffic.loaded.bots_dropped} bot hits dropped), {traffic.sessions.visits:,} visits"
    )


def write_reports(ctx: Context, day: dt.date, quiet: bool = False) -> list[str]:
    """Every configured country × period workbook for the period holding ``day``, every
    later one on record (a rerun of an earlier day) and the seed's other reports for ``day``:
    only those whose figures changed are written, and they are named. Returns the
    workbooks checked."""
    if not ctx.warehouse.table_exists("marts.report_fact"):
        console.print("reports: skipped (marts.report_fact was not built)")
        return []
    from tally.reports.seedreports import write_seed_reports
    from tally.reports.subscription import rewrite_changed, write_all_reports

    written, skipped = write_all_reports(ctx.warehouse, ctx.settings, day, only_changed=True)
    later, left = rewrite_changed(ctx.warehouse, ctx.settings, day + dt.timedelta(days=1))
    seed, _ = write_seed_reports(ctx.warehouse, ctx.settings, day, only_changed=True)
    later += seed  # a seed report whose marts are not built is not a deliverable yet
    say_reports([*written, *later], [*skipped, *left], quiet)
    return [str(report.location) for report in [*written, *later]]


def say_reports(reports: list[Written], notes: list[str], quiet: bool = False) -> None:
    """Name the reports written (their figures changed) and count the ones left alone."""
    for note in notes:
        console.print(f"report skipped: {note}", soft_wrap=True)
    unchanged = [report for report in reports if not report.changed]
    if not quiet:
        for report in reports:
            if report.changed:
                console.print(f"report written: {report.location}", soft_wrap=True)
    if unchanged:
        console.print(f"reports unchanged: {len(unchanged)} (same figures, files left alone)")


def run_command(
    source: SourceArgument = None,
    dataset: DatasetArgument = None,
    date: DateOption = None,
    old_source: OldSourceOption = None,
    no_fetch: Annotated[
        bool, typer.Option("--no-fetch", help="Load what is already in the lake.")
    ] = False,
    reports: Annotated[bool, typer.Option(help="Write the Excel reports after the build.")] = True,
    refetch: Annotated[
        bool, typer.Option("--refetch", help="Download partitions already in the lake again.")
    ] = False,
) -> None:
    """The daily job: ingest every source, load, build, write the reports.

    One failed source does not stop the others; the exit code is 1 if any failed.
    Example: tally run --date 2016-10-23   (or: tally run itunes --date 2016-10-23)
    """
    from tally.pipeline.run import run_day

    chosen = chosen_datasets(source, dataset, old_source)
    day = _day(date)
    ctx = context()
    outcome = run_day(ctx, day, fetch=not no_fetch, refetch=refetch, datasets=chosen)
    for key in outcome.already_landed:
        console.print(f"[dim]landed[/dim]    {key}: already in the lake (--refetch to download)")
    for key, rows in outcome.loaded.items():
        console.print(f"[green]ok[/green]        {key}: {rows:,} rows")
    for note in outcome.not_ready:
        console.print(f"[yellow]not_ready[/yellow] {note}")
    for key, error in outcome.failed.items():
        errors.print(f"[red]failed[/red]    {key}: {error}")
    for model, state in outcome.models.items():
        console.print(f"model {model}: {state}")
    if reports:
        write_reports(ctx, outcome.day)
    if not outcome.ok:
        raise typer.Exit(1)


def _print_summary(ctx: Context, summary: DemoSummary, reports: list[str], traffic: str) -> None:
    """What the demo made and where to look at it."""
    console.print(f"[bold]demo data {summary.start} → {summary.end}[/bold]")
    table = wide_table("dataset", "rows loaded")
    for key, rows in sorted(summary.rows.items()):
        table.add_row(key, f"{rows:,}")
    console.print(table)
    skipped = {m: o for m, o in summary.models.items() if o != "ok"}
    console.print(f"models built: {len(summary.models) - len(skipped)} of {len(summary.models)}")
    for model, outcome in skipped.items():
        console.print(f"model {model}: {outcome}")
    console.print(f"quarantined rows: {summary.quarantined}")
    console.print(f"web: {traffic}")
    folders = sorted({str(Path(r).parent.parent) for r in reports})
    console.print("[bold]where to look[/bold]")
    looks = [
        ("raw files", f"{ctx.lake.url} ({summary.files} files; tally lake ls)"),
        ("warehouse", f"{ctx.settings.warehouse_url} (tally query, tally status)"),
        ("reports", f"{', '.join(folders) or 'none'} ({len(reports)} workbooks)"),
        ("dashboards", "make serve, then http://127.0.0.1:8080 (make serve PORT=8090)"),
        ("first login", ".venv/bin/tally user add NAME --admin (tally is in .venv/bin)"),
    ]
    for name, where in looks:
        console.print(f"  {name:<12}{where}", highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command("config")(config_command)
    app.add_typer(lake_app, name="lake")
    app.command("ingest")(ingest_command)
    app.command("load")(load_command)
    app.command("build")(build_command)
    app.command("query")(query_command)
    app.command("status")(status_command)
    app.command("demo")(demo_command)
    app.command("run")(run_command)
