"""Both sessionize engines (web.sessionize_engine) write the same rows: the check the
sessionize and Matomo-parity tests run on their own hits."""

from __future__ import annotations

from typing import Any

from tally.warehouse import Warehouse
from tally.web.sessions import sessionize

# every row sessionize writes, in an order both engines give alike (each table's key)
WRITTEN = {
    "web.actions": "SELECT * FROM web.actions ORDER BY hit_id",
    "web.visits": "SELECT * FROM web.visits ORDER BY idvisit",
    "web.conversions": "SELECT * FROM web.conversions ORDER BY idvisit, idgoal, hit_id",
    "web.pages": "SELECT * FROM web.pages ORDER BY idsite, page_id",
}


def written(warehouse: Warehouse) -> dict[str, list[tuple[Any, ...]]]:
    return {table: warehouse.rows(query) for table, query in WRITTEN.items()}


def assert_engines_agree(warehouse: Warehouse) -> None:
    """Every day of the warehouse's hits rebuilt by the SQL engine, then by the sorted one:
    both write the same rows, column for column (the first three rows that differ are
    shown). Where the sorted engine cannot run (not DuckDB) both runs are the SQL's."""
    sessionize(warehouse, full=True, engine="sql")
    by_sql = written(warehouse)
    sessionize(warehouse, full=True, engine="sorted")
    by_sorted = written(warehouse)
    for table in WRITTEN:
        differing = [
            (sql_row, sorted_row)
            for sql_row, sorted_row in zip(by_sql[table], by_sorted[table], strict=False)
            if sql_row != sorted_row
        ]
        assert (len(by_sorted[table]), differing[:3]) == (len(by_sql[table]), []), table
