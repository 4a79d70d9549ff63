"""DuckDB's DELETE, INSERT and UPDATE statements as the SELECTs Spark runs instead.

Spark's tables are files: a statement that changes rows becomes a query giving the
table's rows as the statement leaves them, and the caller writes those rows (the
cluster's working copy of a serving table, ``SparkWarehouse.run_on_cluster``). The
rewrites are made on sqlglot's tree, in DuckDB's dialect; the result is transpiled like
any model. Written by hand: sqlglot transpiles statements, it does not turn one kind of
statement into another.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import sqlglot
from sqlglot import exp

from tally.errors import TallyError

TARGET = "_target"  # the alias the rewritten query gives the table the statement changes
MATCHED = "_matched"  # set on the rows of an UPDATE's FROM, to know which rows it reached


class UnsupportedStatement(TallyError):
    """A statement the cluster cannot run as a query (not a DELETE, INSERT or UPDATE)."""


@dataclass(frozen=True)
class Rewrite:
    """What one statement does to ``table``, as a query in DuckDB's dialect.

    ``kind`` "keep": ``select`` gives the rows the table keeps (a DELETE); "add": ``select``
    gives rows added, named by ``columns`` in order (an INSERT; None: every column of the
    table, in order); "replace": ``select`` gives every row of the table, changed (an
    UPDATE)."""

    kind: str
    table: str
    select: str
    columns: tuple[str, ...] | None = None


def table_written(sql: str) -> str:
    """The ``schema.table`` a DELETE, INSERT or UPDATE changes."""
    statement = sqlglot.parse_one(sql, read="duckdb")
    if not isinstance(statement, exp.Delete | exp.Insert | exp.Update):
        raise UnsupportedStatement(f"not a DELETE, INSERT or UPDATE: {sql[:80]}")
    target = statement.this
    table = target if isinstance(target, exp.Table) else target.find(exp.Table)
    if table is None:
        raise UnsupportedStatement(f"no table written: {sql[:80]}")
    return f"{table.db}.{table.name}" if table.db else table.name


def rewrite(sql: str, columns: list[str]) -> Rewrite:
    """The query that does what ``sql`` does; ``columns``: the changed table's, in order."""
    statement = sqlglot.parse_one(sql, read="duckdb")
    table = table_written(sql)
    if isinstance(statement, exp.Insert):
        return _insert(statement, table)
    if isinstance(statement, exp.Delete):
        return _delete(statement, table)
    if isinstance(statement, exp.Update):
        return _update(statement, table, columns)
    raise UnsupportedStatement(f"not a DELETE, INSERT or UPDATE: {sql[:80]}")


def _insert(statement: exp.Insert, table: str) -> Rewrite:
    if statement.args.get("conflict") is not None:
        raise UnsupportedStatement(f"INSERT … ON CONFLICT into {table}")
    target = statement.this
    named = None
    if isinstance(target, exp.Schema):
        named = tuple(column.name for column in target.expressions)
    select = statement.expression
    return Rewrite("add", table, select.sql(dialect="duckdb"), named)


def _delete(statement: exp.Delete, table: str) -> Rewrite:
    """DELETE … WHERE c: the rows where c is not true stay."""
    where = statement.args.get("where")
    source = _aliased(table)
    if where is None:
        return Rewrite("keep", table, f"SELECT * FROM {source} WHERE false")
    condition = _retargeted(where.this, table)
    kept = f"NOT coalesce(({condition.sql(dialect='duckdb')}), false)"
    return Rewrite("keep", table, f"SELECT * FROM {source} WHERE {kept}")


def _update(statement: exp.Update, table: str, columns: list[str]) -> Rewrite:
    """UPDATE t SET c = e FROM s WHERE w: every row of t, with c = e where the joined row
    of s (w as the join's condition) reached it. With no FROM, w alone picks the rows."""
    assigned: dict[str, exp.Expression] = {}
    for assignment in statement.expressions:
        column = cast(exp.Column, assignment.this)
        assigned[column.name] = _retargeted(assignment.expression, table)
    where = statement.args.get("where")
    condition = _retargeted(where.this, table) if where is not None else exp.true()
    source = statement.args.get("from_") or statement.args.get("from")
    if source is not None:
        joined = source.this
        alias = joined.alias_or_name
        flagged = exp.select("*", exp.alias_(exp.true(), MATCHED)).from_(joined.copy())
        reached: exp.Expression = exp.column(MATCHED, table=alias)
        from_sql = (
            f"{_aliased(table)} LEFT JOIN ({flagged.sql(dialect='duckdb')}) AS {alias} "
            f"ON {condition.sql(dialect='duckdb')}"
        )
    else:
        reached = condition
        from_sql = _aliased(table)
    unknown = sorted(set(assigned) - set(columns))
    if unknown:
        raise UnsupportedStatement(f"UPDATE {table} sets columns it does not have: {unknown}")
    listed = []
    for name in columns:
        kept = exp.column(name, table=TARGET, quoted=True)
        if name in assigned:
            value = exp.Case(
                ifs=[
                    exp.If(
                        this=exp.Coalesce(this=reached.copy(), expressions=[exp.false()]),
                        true=assigned[name],
                    )
                ],
                default=kept,
            )
            listed.append(exp.alias_(value, name, quoted=True).sql(dialect="duckdb"))
        else:
            listed.append(kept.sql(dialect="duckdb"))
    return Rewrite("replace", table, f"SELECT {', '.join(listed)} FROM {from_sql}")


def _aliased(table: str) -> str:
    return f"{table} AS {TARGET}"


def _retargeted(expression: exp.Expression, table: str) -> exp.Expression:
    """``expression`` with each column written against the changed table (``web.actions.x``
    or ``actions.x``) written against its alias in the query instead."""
    schema, _, name = table.rpartition(".")
    copied = expression.copy()
    for column in copied.find_all(exp.Column):
        if column.table == name and (not column.db or column.db == schema):
            column.set("table", exp.to_identifier(TARGET))
            column.set("db", None)
    return copied
