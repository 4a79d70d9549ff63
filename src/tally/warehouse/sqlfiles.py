"""Queries kept as SQL files in a package's folder (beside the models), with the fragments
Python composes marked ``{name}`` (the scoped visits, a join, a label expression); values
still travel as ``?`` parameters. ``tests/test_sql_files.py`` keeps long SQL out of Python."""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@cache
def _text(package: str, path: str) -> str:
    return resources.files(package).joinpath(path).read_text(encoding="utf-8")


def sql_file(package: str, path: str, **fragments: str) -> str:
    """``path`` in ``package`` with its ``{fragments}`` filled; every one must be given."""
    return _filled(path, _text(package, path), fragments)


def _filled(path: str, text: str, fragments: dict[str, str]) -> str:
    wanted = set(PLACEHOLDER.findall(text))
    if wanted != set(fragments):
        raise ValueError(f"{path} takes {sorted(wanted)}; given {sorted(fragments)}")
    return PLACEHOLDER.sub(lambda found: fragments[found.group(1)], text)


def sql_expression(package: str, path: str, **fragments: str) -> str:
    """``path`` as one line without its comment lines, then its ``{fragments}`` filled (as
    given): an expression or condition that other queries embed, where a comment would
    swallow what follows it."""
    text = _text(package, path)
    line = " ".join(
        " ".join(part.split()) for part in text.splitlines() if not part.lstrip().startswith("--")
    ).strip()
    return _filled(path, line, fragments)
