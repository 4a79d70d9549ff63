"""Sources: one module per origin, each exposing ``DATASETS`` (a list of ``Dataset``).

Modules are found by scanning this package, so a new source is one new module (plus its
SQL model, test and docs) and no registry to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import TYPE_CHECKING, Any

from tally.errors import NotFoundError

if TYPE_CHECKING:
    from tally.sources.base import BadRow, Dataset, Parsed

__all__ = ["BadRow", "Dataset", "Parsed", "all_datasets", "get_dataset"]

_NOT_SOURCES = {"base", "demo", "http", "csvtools", "delimited", "settings"}


def __getattr__(name: str) -> Any:
    # base (and pyarrow with it) is imported on first use, so loading settings, which
    # imports tally.sources.settings, stays light
    if name in ("BadRow", "Dataset", "Parsed"):
        from tally.sources import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def all_datasets() -> dict[str, Dataset]:
    """Every dataset of every source module, keyed ``source/dataset``."""
    found: dict[str, Dataset] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if module_info.name in _NOT_SOURCES or module_info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        for dataset in getattr(module, "DATASETS", []):
            found[dataset.key] = dataset
    return found


def get_dataset(source: str, dataset: str) -> Dataset:
    key = f"{source}/{dataset}"
    datasets = all_datasets()
    if key not in datasets:
        known = ", ".join(sorted(datasets))
        raise NotFoundError(f"unknown dataset {key!r}; known: {known}")
    return datasets[key]
