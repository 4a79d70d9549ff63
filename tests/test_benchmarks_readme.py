"""benchmarks/README.md and the scripts in benchmarks/ agree both ways: each section names
a script that exists (or a command it ran), each bench script has a section, and every
figure no bench prints is marked one-off with the command that takes it again."""

from __future__ import annotations

import re
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
README = (BENCHMARKS / "README.md").read_text(encoding="utf-8")
# a command a section may name instead of a bench script (the test suite's timings)
COMMANDS = re.compile(r"`(make \w+|[^`]*pytest[^`]*)`")


def sections() -> list[tuple[str, str]]:
    """(title, text) of each top-level section, its subsections included."""
    parts = re.split(r"(?m)^## (.*)$", README)
    return [(parts[i], parts[i + 1]) for i in range(1, len(parts), 2)]


def named_scripts(text: str) -> set[str]:
    return set(re.findall(r"\b(\w+\.py)\b", text)) & {p.name for p in BENCHMARKS.glob("*.py")}


def test_every_section_names_the_script_or_command_behind_its_figures() -> None:
    unnamed = [
        title for title, text in sections() if not named_scripts(text) and not COMMANDS.search(text)
    ]
    assert unnamed == []


def test_every_script_the_readme_names_exists() -> None:
    named = set(re.findall(r"benchmarks/(\w+\.py)", README))
    assert sorted(n for n in named if not (BENCHMARKS / n).exists()) == []


def test_every_bench_script_has_its_figures_in_the_readme() -> None:
    scripts = [p.name for p in BENCHMARKS.glob("*.py") if p.name != "hygiene.py"]
    assert sorted(name for name in scripts if name not in README) == []


def test_every_one_off_figure_says_how_to_take_it_again() -> None:
    """A **one-off** marker is followed, within its paragraph, by a command in backticks
    (a figure whose command was not kept is not quoted as a one-off: it is taken again by
    a script, as the template-database timing now is by scratch_db_bench.py)."""
    missing = []
    for found in re.finditer(r"\*\*one-off\*\*", README):
        paragraph = README[found.end() :].split("\n\n", 1)[0]
        if "`" not in paragraph:
            missing.append(README[max(0, found.start() - 80) : found.end()])
    assert missing == []
