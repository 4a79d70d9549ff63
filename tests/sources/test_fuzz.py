"""Every parser inside the error tree: a bounded fuzz run per parser (the long run is
``make fuzz``, benchmarks/fuzz_bench.py, 10,000 mutations each).

Each parser gets mutants of its own dataset's demo files (text mutated inside the
compression and bytes of the compressed file); it may keep rows, quarantine rows or refuse
the file with a TallyError, and nothing else.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from benchmarks.fuzz_bench import fuzz, mutate, parsers, seed_files

from tally.sources import all_datasets

PYTHON_COUNT = 80  # mutants per parser here: under a second each on a quiet machine
SQL_COUNT = 20  # the in-warehouse reader makes a DuckDB table per mutant


@pytest.fixture(scope="module")
def seeds() -> dict[str, list[tuple[str, bytes]]]:
    return seed_files()


def _names() -> list[str]:
    names = sorted(all_datasets())
    staged = [f"{n} (delimited_sql)" for n in names if parsers_of_sql(n)]
    return names + staged


def parsers_of_sql(key: str) -> bool:
    from tally.sources.delimited_sql import can_stage

    layout = all_datasets()[key].layout
    return layout is not None and can_stage(layout)


@pytest.mark.parametrize("name", _names())
def test_no_exception_escapes_the_error_tree(name: str, seeds, tmp_path: Path) -> None:
    parse = parsers(tmp_path)[name]
    count = SQL_COUNT if "delimited_sql" in name else PYTHON_COUNT
    outcome = fuzz(name, parse, seeds[name.split(" ")[0]], count, seed=24)
    assert outcome.runs == count
    assert dict(outcome.escapes) == {}, outcome.examples
    # the mutants are not all refused: the parser also reads damaged files row by row
    assert outcome.accepted > 0 and outcome.bad_rows > 0


def test_mutants_are_seeded_and_varied(seeds) -> None:
    name, data = seeds["itunes/subscription-events"][0]
    first = [mutate(data, random.Random(1)) for _ in range(1)]
    again = [mutate(data, random.Random(1)) for _ in range(1)]
    assert first == again  # a failure found once is found again with the same seed
    rng = random.Random(2)
    assert len({mutate(data, rng) for _ in range(50)}) > 40
