"""The Reporting API's longer queries, kept as SQL files in ``tally/web/models/reports/``
beside the web models (``tests/test_sql_files.py`` keeps long SQL out of Python); the web
dashboards' are in ``tally/web/models/dashboards/``.

A file marks each fragment the Python side composes (the scoped visits, the actions' join
and WHERE, a label expression) as ``{name}``; values still travel as ``?`` parameters.
"""

from __future__ import annotations

from tally.warehouse.sqlfiles import sql_file


def report_sql(name: str, **fragments: str) -> str:
    """``reports/<name>.sql`` with its ``{fragments}`` filled; every one must be given."""
    return sql_file("tally.web.models", f"reports/{name}.sql", **fragments)


def dashboard_sql(name: str, **fragments: str) -> str:
    """``dashboards/<name>.sql`` of the web models, filled the same way."""
    return sql_file("tally.web.models", f"dashboards/{name}.sql", **fragments)
