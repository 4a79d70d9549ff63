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


# Words that say a figure came from something no one can run again: a harness or script
# that was not kept, a throwaway or scratch copy, a timing by hand, a script under /tmp,
# or "the same harness" as such a figure.
UNKEPT = re.compile(
    r"not kept|throwaway|scratch (?:script|copy|version|harness)|by hand|same harness|/tmp/\w+\.py"
)


def unkept_paragraphs_without_a_command(readme: str) -> list[str]:
    """Paragraphs whose figures came from something not kept, and which are not marked
    **one-off** with a command in backticks naming a script of benchmarks/ that exists."""
    scripts = {p.name for p in BENCHMARKS.glob("*.py")}
    failing = []
    for paragraph in readme.split("\n\n"):
        if not UNKEPT.search(paragraph):
            continue
        commands = re.findall(r"`([^`]+)`", paragraph)
        runnable = any(set(re.findall(r"\b\w+\.py\b", c)) & scripts for c in commands)
        if "**one-off**" not in paragraph or not runnable:
            failing.append(paragraph[:160])
    return failing


def test_a_figure_from_a_harness_not_kept_is_a_one_off_with_a_command_to_take_it_again() -> None:
    assert unkept_paragraphs_without_a_command(README) == []


def test_the_unkept_check_finds_a_figure_quoted_from_a_throwaway_harness() -> None:
    bad = "Where the time goes (a throwaway harness, not kept): parsing 25 µs."
    marked = (
        "Where the time goes (**one-off**, a harness not kept; again:\n"
        "`python benchmarks/tracking_bench.py`): parsing 25 µs."
    )
    unnamed = "Timed by hand (**one-off**, `time python -c pass`): 0.01 s."
    readme = "\n\n".join([bad, marked, unnamed])
    assert unkept_paragraphs_without_a_command(readme) == [bad, unnamed]
