"""SQL that is more than a lookup lives in .sql files (beside the models: tally/models,
tally/web/models; or in a ``queries/`` folder of its package: warehouse/meta,
warehouse/postgres, warehouse/spark, pipeline, reports, sources, stream, server/ui), read
through ``warehouse.sqlfiles.sql_file`` (e.g. ``web.reporting.queries.report_sql``; a
condition or subquery that other SQL embeds as one line by ``sql_expression``), not in
Python strings: no string (or f-string, or implicitly joined literals) in tally's Python
holds a query of more than ``LONGEST`` lines or ``LONGEST_TEXT`` characters (white space
collapsed), and none holds a query shaped as more than a lookup (``SHAPE``: grouping, a
join, a window, a common table expression, a union or a subquery), whatever its length. No
file is exempt from either rule."""

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
# More than a lookup, at any length: GROUP BY, a JOIN, a window (OVER), a common table
# expression, a UNION or a subquery. A list passed as one parameter, ``IN (SELECT
# unnest(?))``, is still a lookup. Upper case, as tally writes SQL (prose is not matched).
SHAPE = re.compile(
    r"\bGROUP BY\b|\bJOIN\b|\bOVER\s*\(|\bUNION\b|\(\s*SELECT\b|\bWITH\s+\w+\s+AS\s*\("
)
LIST_PARAMETER = re.compile(r"\(\s*SELECT unnest\(\?\)\s*\)")


def docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def query_texts(path: Path) -> list[tuple[int, str]]:
    """(line, text) of each string, f-string (``{}`` for what it fills in) or run of joined
    literals in one file that holds a query, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = docstrings(tree)
    found = []
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
        if QUERY.search(text):
            found.append((node.lineno, text))
    return found


def long_queries(path: Path) -> list[int]:
    """Line numbers of the long query strings in one file."""
    lines = {
        line
        for line, text in query_texts(path)
        if len(text.strip().splitlines()) > LONGEST or len(" ".join(text.split())) > LONGEST_TEXT
    }
    return sorted(lines)


def shaped_queries(path: Path) -> list[int]:
    """Line numbers of the query strings in one file that are more than a lookup."""
    lines = {
        line
        for line, text in query_texts(path)
        if SHAPE.search(LIST_PARAMETER.sub("", " ".join(text.split())))
    }
    return sorted(lines)


def offenders() -> list[str]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        name = str(path.relative_to(SOURCE))
        found += [f"{name}:{line}" for line in long_queries(path)]
    return found


def test_no_long_query_is_written_in_python() -> None:
    assert offenders() == []


def shape_offenders() -> list[str]:
    found = []
    for path in sorted(SOURCE.rglob("*.py")):
        name = str(path.relative_to(SOURCE))
        found += [f"{name}:{line}" for line in shaped_queries(path)]
    return found


def test_no_query_beyond_a_lookup_is_written_in_python() -> None:
    assert shape_offenders() == []


def test_the_shape_rule(tmp_path: Path) -> None:
    written = tmp_path / "example.py"
    written.write_text(
        'A = "SELECT a, count(*) FROM t GROUP BY a"\n'
        'B = f"SELECT a FROM {t} AS x JOIN u ON u.a = x.a"\n'
        'C = "SELECT a, row_number() OVER (ORDER BY b) FROM t"\n'
        'D = "DELETE FROM t WHERE a IN (SELECT a FROM u)"\n'
        'E = "SELECT a FROM t WHERE b = ? ORDER BY a LIMIT 1"\n'
        'F = "SELECT a FROM t WHERE b IN (SELECT unnest(?))"\n'
        'G = "Group by country, then join the rates."\n'
    )
    assert shaped_queries(written) == [1, 2, 3, 4]


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
