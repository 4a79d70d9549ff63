"""The pipeline's longer statements, kept as SQL files in ``tally/pipeline/queries/``
(``tests/test_sql_files.py`` keeps long SQL out of Python); ``{name}`` marks a fragment
Python composes (a table, a key's columns), values still travel as ``?`` parameters."""

from __future__ import annotations

from tally.warehouse.sqlfiles import sql_expression, sql_file


def pipeline_sql(name: str, **fragments: str) -> str:
    """``queries/<name>.sql`` with its ``{fragments}`` filled; every one must be given."""
    return sql_file("tally.pipeline", f"queries/{name}.sql", **fragments)


def pipeline_fragment(name: str, **fragments: str) -> str:
    """``queries/<name>.sql`` as one line without its comments, its ``{fragments}`` filled:
    a condition or a subquery that the pipeline's statements embed."""
    return sql_expression("tally.pipeline", f"queries/{name}.sql", **fragments)
