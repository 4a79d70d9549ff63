"""One grammar for every command that takes a source: ``tally COMMAND [SOURCE] [DATASET]``,
positionally, as ``tally ingest itunes subscription-events`` always did. The old option
``--source S`` (repeatable) still works, with a deprecation note on standard error."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from tally.errors import BadInputError
from tally.sources import Dataset, all_datasets

SourceArgument = Annotated[
    str | None,
    typer.Argument(help="Source, e.g. itunes (every source when left out).", show_default=False),
]
DatasetArgument = Annotated[
    str | None,
    typer.Argument(
        help="Dataset of that source, e.g. subscription-events (all of them when left out).",
        show_default=False,
    ),
]
OldSourceOption = Annotated[
    list[str] | None,
    typer.Option(
        "--source", "-s", hidden=True, help="Deprecated: give SOURCE as the first argument."
    ),
]


def chosen_datasets(
    source: str | None, dataset: str | None, old_sources: list[str] | None = None
) -> list[Dataset]:
    """The datasets named by ``SOURCE [DATASET]`` (or the deprecated ``--source``); all when
    none is named. An unknown name is bad input that lists the known ones."""
    known = all_datasets()
    sources = [source] if source else []
    if old_sources:
        Console(stderr=True).print(
            "note: --source is deprecated; give the source as the first argument "
            f"(tally COMMAND {old_sources[0]} …)",
            highlight=False,
        )
        sources += old_sources
    names = {d.source for d in known.values()}
    unknown = [s for s in sources if s not in names]
    if unknown:
        raise BadInputError(f"unknown source {unknown[0]!r}; known: {', '.join(sorted(names))}")
    found = [d for d in known.values() if not sources or d.source in sources]
    if dataset:
        if not source:
            raise BadInputError("a DATASET needs its SOURCE first: tally COMMAND SOURCE DATASET")
        found = [d for d in found if d.name == dataset]
        if not found:
            of_source = sorted(d.name for d in known.values() if d.source == source)
            raise BadInputError(
                f"{source} has no dataset {dataset!r}; it has: {', '.join(of_source)}"
            )
    return found
