"""Writing the small tables the build makes from settings and code (countries, plan names):
their rows replaced only when they differ from the stored ones."""

from __future__ import annotations

import pyarrow as pa

from tally.warehouse import Warehouse


def replace_rows(warehouse: Warehouse, table: str, rows: pa.Table) -> int:
    """Make ``rows`` the rows of ``table`` (created if missing); returns their count. Rows
    the table holds already (same columns, same rows in any order) are left as they are:
    a daily build rewrote the same countries and plan names every day, three statements
    each and a rewrite of the table by the commit's checkpoint, where one read decides."""
    with warehouse.transaction():
        if warehouse.table_exists(table):
            if _same(warehouse.query(f"SELECT * FROM {table}"), rows):
                return int(rows.num_rows)
            warehouse.execute(f"DELETE FROM {table}")
        return warehouse.append(table, rows)


def _same(stored: pa.Table, rows: pa.Table) -> bool:
    """The same column names and the same rows, in any order (values compared as Python
    values: a doubt, such as a NaN, rewrites the table)."""
    if stored.column_names != rows.column_names or stored.num_rows != rows.num_rows:
        return False
    return _ordered(stored) == _ordered(rows)


def _ordered(table: pa.Table) -> list[tuple[object, ...]]:
    rows = zip(*(column.to_pylist() for column in table.columns), strict=True)
    return sorted(rows, key=repr)
