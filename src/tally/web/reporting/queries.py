"""The Reporting API's longer queries, kept as SQL files in ``tally/web/models/reports/``
beside the web models (``tests/test_sql_files.py`` keeps long SQL out of Python). The web
dashboards run none of their own: they ask the API.

A file marks each fragment the Python side composes (the scoped visits, the actions' join
and WHERE, a label expression) as ``{name}``; values still travel as ``?`` parameters.
"""

from __future__ import annotations

from tally.warehouse.sqlfiles import sql_expression, sql_file


def report_sql(name: str, **fragments: str) -> str:
    """``reports/<name>.sql`` with its ``{fragments}`` filled; every one must be given."""
    return sql_file("tally.web.models", f"reports/{name}.sql", **fragments)


def report_expression(name: str, **fragments: str) -> str:
    """``reports/<name>.sql`` as one line without its comments: an expression or condition
    that other queries (and messages) embed."""
    return sql_expression("tally.web.models", f"reports/{name}.sql", **fragments)
