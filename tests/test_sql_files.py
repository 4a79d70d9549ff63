"""SQL that is more than a lookup lives in .sql files next to the models (tally/models,
tally/web/models, read through ``warehouse.sqlfiles.sql_file``, e.g.
``web.reporting.queries.report_sql``), not in Python strings: no string (or f-string, or
implicitly joined literals) in tally's Python holds a query of more than ``LONGEST`` lines
or ``LONGEST_TEXT`` characters (white space collapsed), except in the files still listed in
``NOT_YET`` (a list that may only shrink)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SOURCE = Path(__file__).parent.parent / "src" / "tally"
LONGEST = 10  # lines of one query string; a lookup or a short glue statement is fewer
LONGEST_TEXT = 400  # characters, for queries written as joined one-line literals
QUERY = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|MERGE)\b")

# Still to move (issue 26): the line-numbered CSV reader of the loads (being changed by
# issue 17 when the guard was added).
NOT_YET = {
    "sources/delimited_sql.py",
}


def docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def long_queries(path: Path) -> list[int]:
    """Line numbers of the long query strings in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = docstrings(tree)
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            text = "".join(
                str(v.value) if isinstance(v, ast.Constant) else "{}" for v in node.values
            )
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) in skipped:
                continue
            text = node.value
        else:
            continue
        long = (
            len(text.strip().splitlines()) > LONGEST or len(" ".join(text.split())) > LONGEST_TEXT
        )
        if QUERY.search(text) and long:
            lines.append(node.lineno)
    return sorted(set(lines))


def offenders() -> list[str]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        name = str(path.relative_to(SOURCE))
        if name not in NOT_YET:
            found += [f"{name}:{line}" for line in long_queries(path)]
    return found


def test_no_long_query_is_written_in_python() -> None:
    assert offenders() == []


def test_the_list_of_files_not_moved_yet_only_shrinks() -> None:
    assert sorted(name for name in NOT_YET if not long_queries(SOURCE / name)) == []
