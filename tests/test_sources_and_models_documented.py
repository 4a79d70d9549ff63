"""The guards docs/ARCHITECTURE.md's "A source" and "A model" recipes name: every dataset of
every source module has its ``## <source> / <dataset>`` section in docs/sources.md (and
every section a dataset), every source module its ``tests/sources/test_<module>.py``, and
every mart model is named in docs/metrics.md, and the report types (``marts.report_fact``'s
``type``) written and documented there are the same, both ways. ``tests/test_how_to_add.py``
adds a source and a model and checks that these name them until their docs and test steps
are done."""

from __future__ import annotations

import pkgutil
import re
from pathlib import Path

import tally.sources
from tally.pipeline.build import discover_models
from tally.sources import all_datasets

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
SECTION = re.compile(r"^## (\S+ / \S+)\s*$", re.MULTILINE)


def documented_datasets() -> set[str]:
    return set(SECTION.findall((DOCS / "sources.md").read_text(encoding="utf-8")))


def dataset_keys() -> set[str]:
    return {key.replace("/", " / ") for key in all_datasets()}


def source_modules() -> set[str]:
    """The modules of ``tally.sources`` that declare datasets."""
    found = set()
    for module in pkgutil.iter_modules(tally.sources.__path__):
        datasets = [
            d
            for d in all_datasets().values()
            if type(d).__module__ == f"tally.sources.{module.name}"
        ]
        if datasets:
            found.add(module.name)
    return found


def untested_sources(tests: Path = ROOT / "tests" / "sources") -> set[str]:
    return {name for name in source_modules() if not (tests / f"test_{name}.py").exists()}


def undocumented_marts(root: Path | None = None) -> set[str]:
    metrics = (DOCS / "metrics.md").read_text(encoding="utf-8")
    marts = {m.table.split(".")[1] for m in discover_models(root) if m.table.startswith("marts.")}
    return {name for name in marts if not re.search(rf"\b{name}\b", metrics)}


def test_every_dataset_has_its_section_in_the_sources_docs_and_back() -> None:
    assert dataset_keys() - documented_datasets() == set()
    assert documented_datasets() - dataset_keys() == set()


def test_every_source_module_has_its_test_module() -> None:
    assert untested_sources() == set()


def test_every_mart_is_named_in_the_metrics_docs() -> None:
    assert undocumented_marts() == set()


# -- report types: the `type` values of marts.report_fact and docs/metrics.md's table -------

REPORT_FACT = ROOT / "src" / "tally" / "models" / "marts" / "report_fact.sql"


def written_types() -> set[str]:
    """The types report_fact.sql writes: each branch of its union opens with its type as a
    literal (``SELECT 'Churn', resolution_type, …``), and the stock branch's types are the
    CASE's (``THEN 'Active trial' ELSE 'Active subscriber'``), each also as its average."""
    sql = re.sub(r"--[^\n]*", "", REPORT_FACT.read_text(encoding="utf-8"))
    types = set(re.findall(r"SELECT '([^']+)'(?: AS type)?,\s*resolution_type", sql))
    stock = re.search(r"THEN '([^']+)' ELSE '([^']+)' END AS stock_type", sql)
    assert stock is not None, "report_fact.sql's stock types moved: read them here again"
    for name in stock.groups():
        types |= {name, f"{name} (average)"}
    return types


def documented_types() -> set[str]:
    """The first column of docs/metrics.md's table of types (a row may name several)."""
    text = (DOCS / "metrics.md").read_text(encoding="utf-8")
    table = text.split("| type | kind | definition | model |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split("|")[1].strip() for line in table.splitlines()[2:] if line.startswith("|")]
    return {name.strip() for row in rows for name in row.split(",")}


def test_every_report_type_is_documented_and_every_documented_one_written() -> None:
    assert len(written_types()) >= 15  # 11 literal branches, 2 stocks and their 2 averages
    assert written_types() - documented_types() == set()
    assert documented_types() - written_types() == set()
