"""The Reporting API's longer queries, kept as SQL files in ``tally/web/models/reports/``
beside the web models (``tests/test_sql_files.py`` keeps long SQL out of Python).

A file marks each fragment the Python side composes (the scoped visits, the actions' join
and WHERE, a label expression) as ``{name}``; values still travel as ``?`` parameters.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources

PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


@cache
def _text(name: str) -> str:
    folder = resources.files("tally.web.models").joinpath("reports")
    return folder.joinpath(f"{name}.sql").read_text(encoding="utf-8")


def report_sql(name: str, **parts: str) -> str:
    """``reports/<name>.sql`` with its ``{fragments}`` filled; every one must be given."""
    text = _text(name)
    wanted = set(PLACEHOLDER.findall(text))
    if wanted != set(parts):
        raise ValueError(f"{name}.sql takes {sorted(wanted)}; given {sorted(parts)}")
    return PLACEHOLDER.sub(lambda found: parts[found.group(1)], text)
