"""``tally sources``: every dataset with its last landed partition and status; ``check``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from tally.cli._grammar import DatasetArgument, OldSourceOption, SourceArgument, chosen_datasets
from tally.cli._tables import wide_table
from tally.cli.core import console, context, settings
from tally.errors import TallyError
from tally.warehouse import Warehouse
from tally.warehouse.meta import lake_files, runs

sources_app = typer.Typer(
    help="Every source and dataset, what has landed, and whether it is reachable.",
    invoke_without_command=True,
)


def dataset_status(warehouse: Warehouse) -> list[dict[str, object]]:
    """Per dataset: last landed partition, files, last load's status and its error."""
    from tally.sources import all_datasets

    landed = {
        (source, dataset): (last, files)
        for source, dataset, last, files in lake_files.partitions_per_dataset(warehouse)
    }
    loads = {
        (source, dataset): (status, day, error)
        for source, dataset, status, day, error in runs.latest_finished_loads(warehouse)
    }
    found = []
    for dataset in all_datasets().values():
        key = (dataset.source, dataset.name)
        last, files = landed.get(key, (None, 0))
        status, day, error = loads.get(key, (None, None, None))
        found.append(
            {
                "source": dataset.source,
                "dataset": dataset.name,
                "zone": dataset.zone,
                "staging_table": dataset.staging_table,
                "last_landed": last,
                "files": files,
                "last_load": status,
                "last_load_date": day,
                "error": error,
            }
        )
    return found


@sources_app.callback()
def sources_command(
    typer_context: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List every source and dataset: last landed partition, files, last load's status.

    Example: tally sources --json
    """
    if typer_context.invoked_subcommand:
        return
    rows = dataset_status(context().warehouse)
    if as_json:
        print(json.dumps(rows, default=str, indent=1))
        return
    table = wide_table("source", "dataset", "last landed", "files", "last load", "staging table")
    for row in rows:
        state = row["last_load"] or "never"
        colour = {"ok": "green", "failed": "red"}.get(str(state), "yellow")
        table.add_row(
            str(row["source"]),
            str(row["dataset"]),
            str(row["last_landed"] or "—"),
            str(row["files"]),
            f"[{colour}]{state}[/{colour}]",
            str(row["staging_table"]),
        )
    console.print(table)


@sources_app.command("check")
def check_command(
    source: SourceArgument = None,
    dataset: DatasetArgument = None,
    old_source: OldSourceOption = None,
) -> None:
    """Verify each configured source's credentials and reachability, and say what is wrong.

    Example: tally sources check itunes
    """
    chosen = chosen_datasets(source, dataset, old_source)
    current, failed = settings(), 0
    for each in chosen:
        try:
            message = each.check(current)
        except NotImplementedError as error:
            console.print(f"[yellow]skip[/yellow] {each.key}: {error}")
            continue
        except TallyError as error:
            failed += 1
            console.print(f"[red]fail[/red] {each.key}: {error}")
            continue
        console.print(f"[green]ok[/green]   {each.key}: {message}")
    if failed:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.add_typer(sources_app, name="sources")
