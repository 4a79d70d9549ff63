"""DuckDB's DELETE, INSERT and UPDATE as the queries the cluster runs instead.

The rewritten queries are in DuckDB's dialect, so DuckDB itself checks them here: each one
must give the rows the statement leaves behind (no cluster needed).
"""

from __future__ import annotations

import duckdb
import pytest

from tally.warehouse.spark.statements import UnsupportedStatement, rewrite, table_written

ACTIONS = [("a", 1, None), ("b", 1, None), ("c", 2, None)]


@pytest.fixture
def con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("CREATE SCHEMA web")
    con.execute("CREATE TABLE web.actions (hit_id VARCHAR, idsite INTEGER, label VARCHAR)")
    con.executemany("INSERT INTO web.actions VALUES (?, ?, ?)", ACTIONS)
    con.execute("CREATE TABLE web.dirty_days (idsite INTEGER)")
    con.execute("INSERT INTO web.dirty_days VALUES (1)")
    return con


def test_a_delete_keeps_the_rows_its_condition_is_not_true_for(con):
    sql = (
        "DELETE FROM web.actions WHERE EXISTS (SELECT 1 FROM web.dirty_days AS d "
        "WHERE d.idsite = web.actions.idsite)"
    )
    change = rewrite(sql, ["hit_id", "idsite", "label"])
    assert (change.kind, change.table) == ("keep", "web.actions")
    # site 1 is dirty: a and b go, c (site 2) stays
    assert con.execute(change.select).fetchall() == [("c", 2, None)]


def test_an_insert_gives_its_rows_and_the_columns_they_fill(con):
    sql = "INSERT INTO web.actions (idsite, hit_id) SELECT idsite, 'd' FROM web.dirty_days"
    change = rewrite(sql, ["hit_id", "idsite", "label"])
    assert (change.kind, change.columns) == ("add", ("idsite", "hit_id"))
    assert con.execute(change.select).fetchall() == [(1, "d")]


def test_an_update_from_a_query_gives_every_row_changed_where_the_query_reached_it(con):
    sql = (
        "UPDATE web.actions SET label = s.label FROM (SELECT hit_id, upper(hit_id) AS label "
        "FROM web.actions WHERE idsite = 1) AS s WHERE s.hit_id = web.actions.hit_id"
    )
    change = rewrite(sql, ["hit_id", "idsite", "label"])
    assert change.kind == "replace"
    expected = sorted(con.execute(change.select).fetchall())
    con.execute(sql)  # DuckDB runs the statement itself: the same rows must result
    assert sorted(con.execute("SELECT * FROM web.actions").fetchall()) == expected
    assert expected == [("a", 1, "A"), ("b", 1, "B"), ("c", 2, None)]


def test_an_update_without_from_changes_the_rows_its_condition_picks(con):
    sql = "UPDATE web.actions SET label = 'x' || hit_id WHERE idsite = 2"
    change = rewrite(sql, ["hit_id", "idsite", "label"])
    assert sorted(con.execute(change.select).fetchall()) == [
        ("a", 1, None),
        ("b", 1, None),
        ("c", 2, "xc"),
    ]


def test_what_no_query_can_stand_for_is_refused():
    with pytest.raises(UnsupportedStatement):
        table_written("SELECT 1")
    with pytest.raises(UnsupportedStatement, match="ON CONFLICT"):
        rewrite("INSERT INTO web.pages VALUES (1) ON CONFLICT DO NOTHING", ["page_id"])
