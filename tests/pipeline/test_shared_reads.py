"""Inputs read by keys once per daily build (pipeline/shared_reads.py): which reads are
shared, and that every reader sees every row of its keys, foreseen or not."""

from __future__ import annotations

from tally.pipeline.build import Model, declared_range, tables_read
from tally.pipeline.shared_reads import SharedReads, keyed_by, sharing
from tally.warehouse import Warehouse, connect

CHANGES = {"s.changes": "s.changes"}  # the changed rows of the readers' other input


def model(table: str, reads: str, condition: str, key: str = "user_id") -> Model:
    """A keyed model reading ``reads`` by ``condition`` (and ``s.changes`` unnarrowed)."""
    sql = (
        f"-- @range key {key}\n-- @unique {key}, v\n-- @reads {reads} WHERE {condition}\n"
        f"SELECT t.{key}, t.v FROM {reads} AS t JOIN s.changes AS c ON c.{key} = t.{key}"
    )
    return Model(table, sql, f"{table}.sql", tables_read(sql), declared_range(sql))


def test_only_a_read_kept_to_the_keys_at_its_top_is_shared() -> None:
    assert keyed_by("user_id IN {keys}", "user_id")
    assert keyed_by("user_id IN {keys} AND spell_start", "user_id")
    assert keyed_by("type = 'renewal' AND user_id IN {keys} AND amount > 0", "user_id")
    # an OR lets other rows in; another column is another key
    assert not keyed_by("user_id IN {keys} OR user_id IS NULL", "user_id")
    assert not keyed_by("subscription_id IN {keys}", "user_id")
    assert not keyed_by("period_end > {since}", "user_id")


def test_an_input_read_by_keys_by_two_models_is_shared_between_them() -> None:
    first = model("m.first", "s.t", "user_id IN {keys}")
    second = model("m.second", "s.t", "user_id IN {keys} AND v > 0")
    other_key = model("m.third", "s.t", "subscription_id IN {keys}", key="subscription_id")
    alone = model("m.fourth", "s.u", "user_id IN {keys}")
    unkeyed = model("m.fifth", "s.u", "user_id IN {keys} OR v > 0")
    found = sharing([first, other_key, second, alone, unkeyed])
    assert found == {"s.t": [first, other_key, second]}


def warehouse_with_rows() -> Warehouse:
    warehouse = connect("duckdb:///:memory:")
    warehouse.execute("CREATE SCHEMA s")
    warehouse.execute(
        "CREATE TABLE s.t AS SELECT * FROM (VALUES ('u1', 's1', 1), ('u1', 's2', 2), "
        "('u2', 's3', 3), ('u2', 's3', -1), ('u3', 's4', 4), ('u4', 's5', 5)) "
        "AS v(user_id, subscription_id, v)"
    )
    warehouse.execute("CREATE TABLE s.changes AS SELECT 'u2' AS user_id")
    return warehouse


def keys(warehouse: Warehouse, table: str, column: str, *values: str) -> str:
    listed = ", ".join(f"('{v}')" for v in values)
    warehouse.execute(f"CREATE TEMPORARY TABLE {table} AS FROM (VALUES {listed}) AS k({column})")
    return table


def test_a_later_reader_gets_the_rows_of_keys_nobody_foresaw() -> None:
    warehouse = warehouse_with_rows()
    first = model("m.first", "s.t", "user_id IN {keys}")
    second = model("m.second", "s.t", "user_id IN {keys} AND v > 0")
    with warehouse.session():
        shared = SharedReads(warehouse, [first, second])
        assert shared.shared(first) == ["s.t"] and shared.shared(second) == ["s.t"]
        # the second reader's input s.changes names u2 already: foreseen, read with u1
        rows = shared.read(first, "s.t", keys(warehouse, "k1", "user_id", "u1"), CHANGES)
        # (the columns the readers name: user_id and v)
        assert sorted(warehouse.rows(rows)) == [("u1", 1), ("u1", 2)]
        kept = shared.kept["s.t"]
        assert sorted(warehouse.rows(f"SELECT * FROM {kept.keys['user_id']}")) == [
            ("u1",),
            ("u2",),
        ]
        # u3 was not foreseen: fetched before the second reader reads
        rows = shared.read(second, "s.t", keys(warehouse, "k2", "user_id", "u2", "u3"), {})
        assert sorted(warehouse.rows(rows)) == [("u2", 3), ("u3", 4)]
        shared.forget("s.t")
        assert not shared.kept


def test_readers_by_two_key_columns_see_each_row_once() -> None:
    warehouse = warehouse_with_rows()
    by_subscription = model("m.first", "s.t", "subscription_id IN {keys}", "subscription_id")
    by_user = model("m.second", "s.t", "user_id IN {keys}")
    with warehouse.session():
        shared = SharedReads(warehouse, [by_subscription, by_user])
        picked = keys(warehouse, "k1", "subscription_id", "s3", "s5")
        rows = shared.read(by_subscription, "s.t", picked, CHANGES)
        assert sorted(warehouse.rows(rows)) == [("u2", "s3", -1), ("u2", "s3", 3), ("u4", "s5", 5)]
        # u2 foreseen (s.changes), u4's row kept by its subscription, u1 not kept at all:
        # every row of the three users once
        rows = shared.read(by_user, "s.t", keys(warehouse, "k2", "user_id", "u1", "u2", "u4"), {})
        assert sorted(warehouse.rows(rows)) == [
            ("u1", "s1", 1),
            ("u1", "s2", 2),
            ("u2", "s3", -1),
            ("u2", "s3", 3),
            ("u4", "s5", 5),
        ]
