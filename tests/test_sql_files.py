"""SQL that is more than a lookup lives in .sql files (beside the models: tally/models,
tally/web/models; or in a ``queries/`` folder of its package: warehouse/meta, pipeline,
reports, sources), read through ``warehouse.sqlfiles.sql_file`` (e.g.
``web.reporting.queries.report_sql``), not in Python strings: no string (or f-string, or
implicitly joined literals) in tally's Python holds a query of more than ``LONGEST`` lines
or ``LONGEST_TEXT`` characters (white space collapsed). No file is exempt."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SOURCE = Path(__file__).parent.parent / "src" / "tally"
LONGEST = 10  # lines of one query string; a lookup or a short glue statement is fewer
# characters, for queries written as joined one-line literals: a lookup with its column
# list and a WHERE fits (the longest left in Python are 190-198 characters: a ledger step's
# columns, a grouped count of one table); 400 until every longer one had moved (issue 26)
LONGEST_TEXT = 200
QUERY = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|MERGE)\b")


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
        found += [f"{name}:{line}" for line in long_queries(path)]
    return found


def test_no_long_query_is_written_in_python() -> None:
    assert offenders() == []


def test_the_guard_counts_joined_literals_and_f_strings(tmp_path: Path) -> None:
    # "SELECT " (7) + 9 columns of 20 + "x FROM t WHERE y = 1" (20) = 207 characters in
    # joined literals: over the limit of 200; with 8 columns (187) it passes; in an
    # f-string, {table} counts as "{}" (207 + 1 + 2 = 210)
    column = "a_long_column_name, "  # 20 characters
    long = f'"SELECT " "{column * 9}" "x FROM t WHERE y = 1"'
    short = f'"SELECT " "{column * 8}" "x FROM t WHERE y = 1"'
    assert len("SELECT " + column * 9 + "x FROM t WHERE y = 1") == 207
    written = tmp_path / "example.py"
    written.write_text(f'A = {long}\nB = {short}\nC = f{long[:-1]} {{table}}"\n')
    assert long_queries(written) == [1, 3]
