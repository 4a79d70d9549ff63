"""Sources: one module per origin, each exposing ``DATASETS`` (a list of ``Dataset``).

Modules are found by scanning this package, so a new source is one new module (plus its
SQL model, test and docs) and no registry to edit.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from tally.errors import NotFoundError
from tally.sources.base import BadRow, Dataset, Parsed

__all__ = ["BadRow", "Dataset", "Parsed", "all_datasets", "get_dataset"]

_NOT_SOURCES = {"base", "demo", "http", "csvtools", "delimited"}


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
