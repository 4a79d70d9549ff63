"""The build's model files: their declared ranges, and the SQL that rebuilds a range."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Sequence
from pathlib import Path

import pytest

from tally.config import load_settings
from tally.errors import ConfigError
from tally.lake import Lake
from tally.pipeline import build as build_module
from tally.pipeline.build import (
    Model,
    Moves,
    Range,
    alternatives,
    build,
    columns_kept,
    declared_range,
    discover_models,
    hashed_condition,
    keyed_rows,
    lookups_declared,
    moved_days,
    named_columns,
    narrowed,
    range_condition,
    read_model,
    rebuild_keys,
    replace_changed,
    table_columns,
    temporary,
    uncompressed_columns,
)
from tally.pipeline.context import Context, open_context
from tally.warehouse import Warehouse, connect
from tally.warehouse.duckdb.backend import DuckDBWarehouse

REVENUE = """-- money per day
-- @range day day
-- @reads staging.x WHERE _partition_date >= {since} - 2
SELECT day, sum(amount) AS amount FROM staging.x GROUP BY day
"""


def test_a_declaration_is_read_from_the_comment_lines() -> None:
    assert declared_range(REVENUE) == Range(
        grain="day", column="day", reads=(("staging.x", "_partition_date >= {since} - 2"),)
    )


LOOKED_UP = (
    "-- @range key user_id\n-- @unique user_id\n-- @lookup _user_hash = hash(user_id)\nSELECT 1"
)


def test_a_lookup_is_a_hash_of_a_key_column() -> None:
    sql = LOOKED_UP
    declared = declared_range(sql)
    assert declared is not None and declared.lookups == (("user_id", "_user_hash"),)
    with pytest.raises(ConfigError, match="@lookup"):
        declared_range(sql.replace("hash(user_id)", "md5(user_id)"))


def test_uncompressed_columns_are_read_apart_from_the_range() -> None:
    assert uncompressed_columns(LOOKED_UP + "\n-- @uncompressed user_id, plan") == (
        "user_id",
        "plan",
    )
    assert declared_range(LOOKED_UP + "\n-- @uncompressed user_id") == declared_range(LOOKED_UP)
    # a model declaring how it is stored, and no range, has none
    alone = "-- @uncompressed user_id\nSELECT 1 AS user_id"
    assert uncompressed_columns(alone) == ("user_id",) and declared_range(alone) is None


def test_a_lookup_is_read_where_its_key_column_picks_the_rows() -> None:
    lookups = (("user_id", "_user_hash"), ("subscription_id", "_subscription_hash"))
    assert hashed_condition("(user_id) IN (SELECT user_id FROM k)", lookups) == (
        "_user_hash IN (SELECT HASH(user_id) FROM k)"
    )
    # in a tuple the other columns stay (a scan still skips row groups by their min/max)
    pair = "(subscription_id, period_start) IN (SELECT subscription_id, period_start FROM k)"
    assert hashed_condition(pair, lookups) == (
        "(_subscription_hash, period_start) IN (SELECT HASH(subscription_id), period_start FROM k)"
    )
    assert hashed_condition(
        "subscription_id IN (SELECT subscription_id FROM s) OR user_id IN (SELECT user_id FROM u)",
        lookups,
    ) == (
        "_subscription_hash IN (SELECT HASH(subscription_id) FROM s) "
        "OR _user_hash IN (SELECT HASH(user_id) FROM u)"
    )
    # a term under NOT would pick fewer rows with the hash: left as it is
    assert hashed_condition(
        "user_id IN (SELECT user_id FROM u) AND NOT coalesce(subscription_id IN "
        "(SELECT subscription_id FROM s), false)",
        lookups,
    ) == (
        "_user_hash IN (SELECT HASH(user_id) FROM u) AND NOT COALESCE(subscription_id IN "
        "(SELECT subscription_id FROM s), FALSE)"
    )
    for untouched in (
        "NOT user_id IN (SELECT user_id FROM u)",
        "user_id IN ('a', 'b')",
        "t.user_id IN (SELECT user_id FROM u)",
        "day >= DATE '2026-01-01'",
    ):
        assert hashed_condition(untouched, lookups) is None


def test_a_hash_two_users_share_never_picks_the_other_users_rows() -> None:
    warehouse = connect("duckdb:///:memory:")
    warehouse.execute("CREATE SCHEMA marts")
    # u2's hash forced to u1's: the lookup picks both, the user then picks u1's alone
    warehouse.execute(
        "CREATE TABLE marts.t AS SELECT * FROM (VALUES ('u1', 1), ('u2', 2), ('u3', 3)) "
        "AS v(user_id, n)"
    )
    warehouse.execute("ALTER TABLE marts.t ADD COLUMN _user_hash UBIGINT")
    warehouse.execute(
        "UPDATE marts.t SET _user_hash = hash(CASE user_id WHEN 'u2' THEN 'u1' ELSE user_id END)"
    )
    warehouse.execute("CREATE TABLE k AS SELECT 'u1' AS user_id")
    sql = LOOKED_UP
    model = Model("marts.t", sql, "t.sql", frozenset(), declared_range(sql))
    with lookups_declared([model]):
        picked = keyed_rows(warehouse, "marts.t", "user_id IN (SELECT user_id FROM k)")
    assert "_user_hash IN" in picked
    assert warehouse.rows(f"SELECT n FROM ({picked})") == [(1,)]
    # outside the block (another definition may have made the table): the key alone
    assert "_user_hash" not in keyed_rows(
        warehouse, "marts.t", "user_id IN (SELECT user_id FROM k)"
    )


def test_row_ids_of_keys_or_ed_are_read_one_key_column_at_a_time() -> None:
    either = "s IN (SELECT s FROM a) OR u IN (SELECT u FROM b)"
    assert alternatives(either) == ("s IN (SELECT s FROM a)", "u IN (SELECT u FROM b)")
    for whole in (
        "s IN (SELECT s FROM a)",
        "s IN (SELECT s FROM a) AND u IN (SELECT u FROM b)",
        "s IN (SELECT s FROM a) OR (u IS NULL AND v IN (SELECT v FROM b))",
        "s IN ('x', 'y') OR u IN (SELECT u FROM b)",
    ):
        assert alternatives(whole) == (whole,)
    warehouse = connect("duckdb:///:memory:")
    warehouse.execute(
        "CREATE TABLE t AS SELECT * FROM (VALUES ('s1', 'u1', 1), ('s2', 'u1', 2), "
        "('s3', 'u2', 3), ('s4', 'u3', 4), (NULL, 'u4', 5)) AS v(s, u, n)"
    )
    warehouse.execute("CREATE TABLE a AS SELECT * FROM (VALUES ('s1'), ('s3'), (NULL)) AS k(s)")
    warehouse.execute("CREATE TABLE b AS SELECT * FROM (VALUES ('u1'), ('u4')) AS k(u)")
    picked = keyed_rows(warehouse, "t", either)
    assert "UNION ALL" in picked
    # a row both keys pick comes once, as the condition itself picks it
    assert sorted(warehouse.rows(f"SELECT n FROM ({picked})")) == [(1,), (2,), (3,), (5,)]
    assert warehouse.rows(f"SELECT n FROM t WHERE {either} ORDER BY n") == [(1,), (2,), (3,), (5,)]


def test_a_keyed_declaration_with_its_moves() -> None:
    sql = (
        "-- @range key user_id\n-- @unique subscription_id, period_start\n"
        "-- @moves period_end: period_end, spell_end\n-- @moves period_start: *\nSELECT 1"
    )
    declared = declared_range(sql)
    assert declared is not None
    assert declared.unique == ("subscription_id", "period_start")
    assert declared.moves == (
        Moves("period_end", ("period_end", "spell_end")),
        Moves("period_start", ("*",)),
    )


def test_a_probe_is_read_with_its_stored_input() -> None:
    sql = (
        "-- @range key subscription_id\n-- @unique transaction_id\n"
        "-- @stores staging.x\n-- @probe _hash = hash(transaction_id)\nSELECT 1"
    )
    declared = declared_range(sql)
    assert declared is not None
    assert declared.probe == ("_hash", "hash(transaction_id)")


def test_an_every_input_is_read_with_a_keyed_range() -> None:
    sql = (
        "-- @range key user_id\n-- @unique subscription_id\n"
        "-- @reads marts.periods WHERE user_id IN {keys}\n-- @every marts.prices\nSELECT 1"
    )
    declared = declared_range(sql)
    assert declared is not None
    assert declared.every == ("marts.prices",)


def test_settled_rows_are_declared_with_the_inputs_days() -> None:
    sql = (
        "-- @range key user_id\n-- @unique subscription_id, period_start\n"
        "-- @since staging.x: CAST(period_start AS DATE) - 2\n-- @since marts.periods: day\n"
        "-- @settled period_start < {since} AND next_start < {since}\nSELECT 1"
    )
    declared = declared_range(sql)
    assert declared is not None
    assert declared.since == (
        ("staging.x", "CAST(period_start AS DATE) - 2"),
        ("marts.periods", "day"),
    )
    assert declared.settled == "period_start < {since} AND next_start < {since}"


def test_no_declaration_is_none() -> None:
    assert declared_range("-- a mart\nSELECT 1") is None


@pytest.mark.parametrize(
    ("sql", "said"),
    [
        ("-- one\n-- @range fortnight day\nSELECT 1", "x.sql, line 2: @range 'fortnight day'"),
        ("-- @range day day\n-- @rows staging.x\nSELECT 1", "x.sql, line 2: unknown @rows"),
        ("-- @reads staging.x WHERE a = 1\nSELECT 1", "x.sql, line 1: exactly one @range"),
        ("-- @range key user_id\nSELECT 1", "x.sql, line 1: @range key needs @unique"),
        ("-- @range day day\n-- @reads staging.x\nSELECT 1", "x.sql, line 2: @reads"),
        (
            "-- @range key a\n-- @unique a\n-- @probe _h = a\nSELECT 1",
            "x.sql, line 3: @probe '_h = a': one <column> = <expression>, with @stores",
        ),
        (
            "-- @range day a\n-- @reaches marts.b WHERE false\nSELECT 1",
            "x.sql, line 2: @reaches needs @range all, key or sums",
        ),
        (
            "-- @range all\n-- @every marts.prices\nSELECT 1",
            "x.sql, line 2: @every 'marts.prices': one <schema.table>, with @range key",
        ),
        (
            "-- @range key a\n-- @unique a\n-- @settled b < {since}\nSELECT 1",
            "x.sql, line 3: @since and @settled go together",
        ),
        (
            "-- @range all\n-- @since marts.b: day\n-- @settled b < {since}\nSELECT 1",
            "x.sql, line 2: @since and @settled go together",
        ),
        (
            "-- @range key a\n-- @unique a\n-- @since marts.b day\n-- @settled b\nSELECT 1",
            "x.sql, line 3: @since 'marts.b day': <schema.table>: <day>",
        ),
    ],
)
def test_a_wrong_declaration_names_its_file_and_line(sql: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said.replace("(", r"\(")):
        declared_range(sql, "x.sql")


def test_every_shipped_model_declaration_parses_and_names_its_inputs() -> None:
    for model in discover_models():
        if model.range is not None:
            assert {table for table, _ in model.range.reads} <= model.reads, model.table


def test_the_named_sets_of_models_name_shipped_models_once() -> None:
    from tally.models.sets import ANALYTICS_MODELS, SUBSCRIBER_MODELS

    shipped = {model.table for model in discover_models()}
    named = SUBSCRIBER_MODELS + ANALYTICS_MODELS
    assert set(named) <= shipped
    assert len(set(named)) == len(named)


def test_narrowed_swaps_the_input_not_a_cte_of_the_same_name() -> None:
    sql = (
        "WITH x AS (SELECT a FROM staging.x AS t) "
        "SELECT x.a, y.b FROM x JOIN marts.y ON marts.y.a = x.a"
    )
    got = narrowed(sql, {"staging.x": "SELECT * FROM staging.x WHERE a > 1"})
    assert "(SELECT * FROM staging.x WHERE a > 1) AS t" in got
    assert "marts.y" in got and "FROM x JOIN" in got


def test_narrowed_keeps_the_text_around_each_reference() -> None:
    # each reference is replaced where the parser read it: an alias written after it stays
    # (with or without AS), one without an alias gets the table's name, a quoted one is
    # found, and comments (one on the last line too) stay where they were
    sql = (
        "-- daily: é → ü\n"
        'SELECT t.a, x.b, u.c FROM staging.x t JOIN "staging"."x" AS u ON u.a = t.a\n'
        "JOIN staging.x ON x.a = t.a -- the last line's comment"
    )
    got = narrowed(sql, {"staging.x": "SELECT * FROM staging.x WHERE a > 1"})
    rows = "(SELECT * FROM staging.x WHERE a > 1)"
    assert got == (
        "-- daily: é → ü\n"
        f"SELECT t.a, x.b, u.c FROM {rows} t JOIN {rows} AS u ON u.a = t.a\n"
        f"JOIN {rows} AS x ON x.a = t.a -- the last line's comment\n"
    )
    warehouse = connect("duckdb:///:memory:")
    warehouse.execute("CREATE SCHEMA staging")
    warehouse.execute(
        "CREATE TABLE staging.x AS SELECT * FROM (VALUES (1, 2, 3), (2, 4, 6)) AS v(a, b, c)"
    )
    assert warehouse.rows(f"SELECT * FROM ({got}) AS f") == [(2, 4, 6)]


def test_narrowed_gives_the_rows_of_the_range() -> None:
    warehouse = connect("duckdb:///:memory:")
    warehouse.execute("CREATE SCHEMA staging")
    warehouse.execute(
        "CREATE TABLE staging.x AS SELECT * FROM (VALUES "
        "(DATE '2026-11-01', DATE '2026-11-01', 5.0), (DATE '2026-11-02', DATE '2026-11-03', 7.0),"
        " (DATE '2026-11-03', DATE '2026-11-03', 1.0)) AS v(_partition_date, day, amount)"
    )
    declared = declared_range(REVENUE)
    assert declared is not None
    since = dt.date(2026, 11, 3)
    where = declared.reads[0][1].replace("{since}", f"DATE '{since}'")
    sql = narrowed(REVENUE, {"staging.x": f"SELECT * FROM staging.x WHERE {where}"})
    rows = warehouse.rows(f"SELECT * FROM ({sql}) AS f WHERE {range_condition(declared, since)}")
    # 3 Nov: 7.0 (a day-late row, in 2 Nov's partition) + 1.0; 1 Nov is outside the range
    assert rows == [(since, 8.0)]


def test_range_conditions_start_at_the_period_holding_the_day() -> None:
    day = dt.date(2026, 11, 4)  # a Wednesday
    assert range_condition(Range("week", "period_start"), day) == (
        "period_start >= DATE '2026-11-02'"
    )
    assert range_condition(Range("month", "period_start"), day) == (
        "period_start >= DATE '2026-11-01'"
    )
    resolution = range_condition(Range("resolution", "start_date", "resolution_type"), day)
    assert "(resolution_type = 'daily' AND start_date >= DATE '2026-11-04')" in resolution
    assert "(resolution_type = 'weekly' AND start_date >= DATE '2026-11-02')" in resolution


PERIODS = """-- @range key user_id
-- @unique subscription_id, period_start
-- @reads staging.events WHERE user_id IN {keys}
-- @moves period_start: kind
-- @moves period_end: period_end
SELECT user_id, subscription_id, min(day) AS period_start, max(day) + 1 AS period_end,
    max(kind) AS kind
FROM staging.events
GROUP BY user_id, subscription_id
"""


def test_a_keyed_rebuild_replaces_only_what_differs_and_says_from_when() -> None:
    warehouse = connect("duckdb:///:memory:")
    warehouse.execute("CREATE SCHEMA staging")
    warehouse.execute("CREATE SCHEMA marts")
    warehouse.execute(
        "CREATE TABLE staging.events AS SELECT * FROM (VALUES "
        "('U1', 'S1', DATE '2026-11-01', 'paid'), ('U2', 'S2', DATE '2026-10-01', 'paid'), "
        "('U3', 'S3', DATE '2026-09-01', 'paid')) AS v(user_id, subscription_id, day, kind)"
    )
    with warehouse.session():
        path = Path(tempfile.mkdtemp()) / "periods.sql"
        path.write_text(PERIODS, encoding="utf-8")
        model = read_model(path, "marts")
        warehouse.materialize(model.table, model.sql)
        # U1 renews (its period now ends on 3 Dec, not 2 Nov), U3's rows go to another user
        # (U4), U2 is named but unchanged
        warehouse.execute("INSERT INTO staging.events VALUES ('U1', 'S1', '2026-12-02', 'paid')")
        warehouse.execute("UPDATE staging.events SET user_id = 'U4' WHERE user_id = 'U3'")
        named = "SELECT * FROM (VALUES ('U1'), ('U2'), ('U3'), ('U4')) AS k(user_id)"
        temporary(warehouse, "keys", named)
        rebuild_keys(warehouse, model, "keys", "delta")
        changed = warehouse.rows("SELECT user_id, _old FROM delta ORDER BY user_id, _old")
        # U1's row went and came back changed; U3's went, U4's came; U2's stayed as it was
        assert changed == [("U1", False), ("U1", True), ("U3", True), ("U4", False)]
        assert sorted(warehouse.rows("SELECT user_id, period_end FROM marts.periods")) == [
            ("U1", dt.date(2026, 12, 3)),
            ("U2", dt.date(2026, 10, 2)),
            ("U4", dt.date(2026, 9, 2)),
        ]
        # U1's period only changed its end: it moves from the earlier end, 2 Nov; S3's
        # period (same key, another user) changed no declared column: nothing from it.
        # Had U1's kind changed, its start (1 Nov) would have moved first
        assert moved_days(warehouse, model, "delta", {})[model.table] == dt.date(2026, 11, 2)
        # a reader that never reads period_end: U1's change (its end alone) moves it on no
        # day, nor does S3's (as for every reader); the others still move from 2 Nov
        reads_kind = frozenset({"user_id", "subscription_id", "period_start", "kind"})
        days = moved_days(warehouse, model, "delta", {"marts.kinds": reads_kind})
        assert days == {"marts.periods": dt.date(2026, 11, 2), "marts.kinds": None}


SETTLED = """-- a user's days, each with the next one
-- @range key user_id
-- @unique user_id, day
-- @since staging.events: day
-- @settled day < {since} AND next_day < {since}
SELECT user_id, day, lead(day) OVER (PARTITION BY user_id ORDER BY day) AS next_day, v
FROM staging.events
"""


def test_a_settled_row_is_not_compared(warehouse: Warehouse, tmp_path: Path) -> None:
    """``@settled``: the keys' rows whose day and next day come before the key's earliest
    changed day are neither read nor compared (stored and fresh alike); the others are, as
    are all the rows of a key whose day is not known (a NULL day)."""
    from tally.pipeline.incremental import Change, _settled_since

    warehouse.execute("CREATE SCHEMA IF NOT EXISTS staging")
    warehouse.execute("CREATE SCHEMA IF NOT EXISTS marts")
    rows = (
        "('U1', DATE '2026-11-01', 0), ('U1', DATE '2026-11-05', 0), "
        "('U2', DATE '2026-11-01', 0), ('U2', DATE '2026-11-05', 0)"
    )
    warehouse.execute(
        f"CREATE TABLE staging.events AS SELECT * FROM (VALUES {rows}) AS e(user_id, day, v)"
    )
    path = tmp_path / "days.sql"
    path.write_text(SETTLED, encoding="utf-8")
    model = read_model(path, "marts")
    with warehouse.session():
        warehouse.materialize(model.table, model.sql)
        # every stored row is stale now (v 1), and each user gains a day: U1's change is
        # known from 9 Nov (its 1 Nov row is settled, its 5 Nov row's next day moves), U2's
        # not (a NULL day): all of U2's rows are compared
        warehouse.execute("UPDATE staging.events SET v = 1")
        warehouse.execute(
            "INSERT INTO staging.events VALUES ('U1', DATE '2026-11-09', 1), "
            "('U2', DATE '2026-11-09', 1)"
        )
        temporary(
            warehouse,
            "events_delta",
            "SELECT * FROM (VALUES ('U1', DATE '2026-11-09'), ('U2', NULL), "
            "('U2', DATE '2026-11-09')) AS d(user_id, day)",
        )
        temporary(warehouse, "keys", "SELECT DISTINCT user_id FROM events_delta")
        changes = {"staging.events": Change("events_delta", None, False)}
        temporary(warehouse, "since", _settled_since(model, "keys", changes))
        assert sorted(warehouse.rows("SELECT user_id, _since FROM since")) == [
            ("U1", dt.date(2026, 11, 9)),
            ("U2", None),
        ]
        rebuild_keys(warehouse, model, "keys", "delta", since="since")
        assert sorted(warehouse.rows(f"SELECT user_id, day, next_day, v FROM {model.table}")) == [
            ("U1", dt.date(2026, 11, 1), dt.date(2026, 11, 5), 0),
            ("U1", dt.date(2026, 11, 5), dt.date(2026, 11, 9), 1),
            ("U1", dt.date(2026, 11, 9), None, 1),
            ("U2", dt.date(2026, 11, 1), dt.date(2026, 11, 5), 1),
            ("U2", dt.date(2026, 11, 5), dt.date(2026, 11, 9), 1),
            ("U2", dt.date(2026, 11, 9), None, 1),
        ]


def test_the_rows_that_went_are_deleted_by_the_row_ids_read_with_them() -> None:
    """With ``row_ids``, the rows that went are the stored rows of their key, deleted by
    the row id each was read with: a row of the same key that was not read stays (the
    plain delete matches the key over the whole table and would take it too; a model's
    key is unique, so both give the same table there)."""
    warehouse = connect("duckdb:///:memory:")
    warehouse.execute("CREATE SCHEMA marts")
    warehouse.execute(
        "CREATE TABLE marts.periods AS SELECT * FROM (VALUES ('U1', 'S1', DATE '2026-11-01', "
        "DATE '2026-11-02', 'paid'), ('U2', 'S2', DATE '2026-10-01', DATE '2026-10-02', "
        "'paid'), ('U9', 'S1', DATE '2026-11-01', DATE '2026-11-09', 'trial')) "
        "AS v(user_id, subscription_id, period_start, period_end, kind)"
    )
    with warehouse.session():
        path = Path(tempfile.mkdtemp()) / "periods.sql"
        path.write_text(PERIODS, encoding="utf-8")
        model = read_model(path, "marts")
        # U1's and U2's rows read with their row ids; U1's period now ends on 3 Dec
        read = "SELECT *, rowid AS _row_id FROM marts.periods WHERE user_id IN ('U1', 'U2')"
        temporary(warehouse, "stored", read)
        fresh = (
            "SELECT user_id, subscription_id, period_start, CASE user_id WHEN 'U1' THEN "
            "DATE '2026-12-03' ELSE period_end END AS period_end, kind FROM stored"
        )
        temporary(warehouse, "fresh", fresh)
        replace_changed(warehouse, model, None, None, "delta", "stored", "fresh", "_row_id")
        rows = "SELECT user_id, period_end FROM marts.periods ORDER BY user_id"
        # U1's row went by its row id and came back changed; U2's stayed; U9's row has
        # U1's key (S1, 1 Nov) but was not read: it stays
        assert warehouse.rows(rows) == [
            ("U1", dt.date(2026, 12, 3)),
            ("U2", dt.date(2026, 10, 2)),
            ("U9", dt.date(2026, 11, 9)),
        ]


def test_a_keyed_input_is_read_with_the_names_the_model_writes_or_whole() -> None:
    # the names cover every column read (p.kind in the WHERE, b.amount through its alias,
    # itself no column: written as one only with the CTE's alias); `wide` appears nowhere
    # in the model, so a read by row ids can leave it out
    sql = (
        "WITH b AS (SELECT subscription_id, amount AS paid FROM staging.billed) "
        "SELECT p.user_id, b.paid FROM marts.periods AS p "
        "JOIN b ON b.subscription_id = p.subscription_id WHERE p.kind = 'paid'"
    )
    named = named_columns(sql, "marts.periods")
    assert named is not None
    assert {"user_id", "subscription_id", "kind", "amount"} <= set(named)
    assert "wide" not in named and "paid" not in named
    # a star over the table (qualified, or bare in the SELECT reading it) reads every column
    assert named_columns("SELECT p.*, 1 AS one FROM marts.periods AS p", "marts.periods") is None
    assert named_columns("SELECT * FROM marts.periods WHERE kind = 'x'", "marts.periods") is None
    # a bare star over a CTE does not: the CTE names what it reads of the table
    assert named_columns(
        "WITH c AS (SELECT kind FROM marts.periods) SELECT * FROM c", "marts.periods"
    ) == ("c", "kind", "marts", "periods")
    # a name written only with another source's alias (a table's, a CTE's) is not one of
    # its columns read; with its own alias, unqualified or with an outer alias it may be
    sql = (
        "WITH c AS (SELECT s.plan FROM marts.subs AS s) "
        "SELECT p.kind, p.note, l.price, c.plan, l.plan AS other FROM marts.periods AS p "
        "JOIN marts.prices AS l ON l.plan = p.plan AND l.region = region JOIN c ON true "
        "WHERE EXISTS (SELECT 1 FROM marts.prices AS q WHERE q.day = p.day)"
    )
    named = named_columns(sql, "marts.periods")
    assert named is not None
    assert {"kind", "note", "plan", "region", "day"} <= set(named)
    assert not {"price", "other"} & set(named)
    assert "note" not in (named_columns(sql, "marts.prices") or ())
    # an alias reads nothing: a name written only as one is left out, not one also read
    aliased = (
        "WITH c AS (SELECT p.kind AS label, p.day AS note FROM marts.periods AS p) "
        "SELECT c.label, note FROM c AS c"
    )
    named = named_columns(aliased, "marts.periods")
    assert named is not None
    assert {"kind", "day", "note"} <= set(named)
    assert "label" not in named
    # a NATURAL join matches columns by name: every column
    assert (
        named_columns(
            "SELECT p.kind FROM marts.periods AS p NATURAL JOIN staging.billed AS b",
            "marts.periods",
        )
        is None
    )


class _CountingColumns:
    """A warehouse stand-in that counts how often it is asked for a table's columns."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    def columns(self, table: str) -> list[str]:
        self.asked.append(table)
        return ["a", "b"]


def test_columns_are_asked_once_per_table_inside_columns_kept_and_each_time_outside() -> None:
    warehouse = _CountingColumns()
    table_columns(warehouse, "marts.x")  # type: ignore[arg-type]
    with columns_kept():
        for table in ("marts.x", "marts.y", "marts.x", "marts.y", "marts.x"):
            found = table_columns(warehouse, table)  # type: ignore[arg-type]
            found.append("changed by the caller")  # a copy: the kept list stays as asked
        assert table_columns(warehouse, "marts.x") == ["a", "b"]  # type: ignore[arg-type]
    table_columns(warehouse, "marts.x")  # type: ignore[arg-type]
    # once before the block, once per table inside it (2 tables, 6 calls), once after
    assert warehouse.asked == ["marts.x", "marts.x", "marts.y", "marts.x"]


def test_temporary_replaces_a_table_of_the_same_name() -> None:
    """Made again (in one statement where the warehouse can), a temporary table holds the
    second SELECT's rows only."""
    warehouse = connect("duckdb:///:memory:")
    with warehouse.session():
        temporary(warehouse, "t", "SELECT 1 AS a")
        temporary(warehouse, "t", "SELECT 2 AS a UNION ALL SELECT 3")
        assert sorted(warehouse.rows("SELECT a FROM t")) == [(2,), (3,)]


# -- the full build's hold on the warehouse -----------------------------------------------


def _models(folder: Path, sources: dict[str, str]) -> list[Model]:
    """Model files ``marts/<name>.sql`` written under ``folder``, read back as models."""
    (folder / "marts").mkdir(parents=True, exist_ok=True)
    for name, sql in sources.items():
        (folder / "marts" / f"{name}.sql").write_text(sql, encoding="utf-8")
    return discover_models(folder)


def _counted_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every opening of a DuckDB file from now on, by path."""
    opened: list[str] = []
    original = DuckDBWarehouse._open

    def counted(self: DuckDBWarehouse) -> object:
        opened.append(self.path)
        return original(self)

    monkeypatch.setattr(DuckDBWarehouse, "_open", counted)
    return opened


def test_a_full_build_opens_a_duckdb_file_once_or_again_after_holding_it_long(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = _models(
        tmp_path / "models",
        {
            "t_one": "SELECT 1 AS n UNION ALL SELECT 2",
            "t_two": "SELECT n * 10 AS n FROM marts.t_one",
            "t_three": "SELECT sum(n) AS n FROM marts.t_two",
        },
    )
    context = open_context(load_settings(environ={"TALLY_DATA_DIR": str(tmp_path / "data")}))
    context.warehouse.close()  # opened by migrating: closed, so each opening is counted
    opened = _counted_opens(monkeypatch)
    assert set(build(context, models).values()) == {"ok"}
    # one opening for the whole build: the fingerprints read, the tables written from
    # settings, then three models (each opened the file on its own before)
    assert len(opened) == 1
    assert context.warehouse.rows("SELECT n FROM marts.t_three") == [(30,)]
    # held no time at all: let go before each model, so 1 + 3 openings
    monkeypatch.setattr(build_module, "HOLD_SECONDS", 0.0)
    opened.clear()
    build(context, models)
    assert len(opened) == 4
    context.warehouse.close()


def test_a_failed_model_keeps_the_models_built_before_it_and_lets_the_file_go(
    tmp_path: Path,
) -> None:
    models = _models(
        tmp_path / "models",
        {
            "t_one": "SELECT 1 AS n UNION ALL SELECT 2",
            "t_two": "SELECT no_such_column FROM marts.t_one",
        },
    )
    context = open_context(load_settings(environ={"TALLY_DATA_DIR": str(tmp_path / "data")}))
    warehouse = context.warehouse
    with pytest.raises(Exception, match="no_such_column"):
        build(context, models)
    assert isinstance(warehouse, DuckDBWarehouse)
    assert warehouse._database is None  # the build's hold let go of the file
    assert warehouse.rows("SELECT n FROM marts.t_one ORDER BY n") == [(1,), (2,)]
    steps = warehouse.rows("SELECT dataset, status FROM tally_meta.runs ORDER BY started_at")
    assert steps == [("marts.t_one", "ok"), ("marts.t_two", "failed")]
    warehouse.close()


def test_the_build_holds_a_session_across_models_only_on_a_file_one_process_holds(
    warehouse: Warehouse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    models = _models(
        tmp_path / "models",
        {"t_one": "SELECT 1 AS n", "t_two": "SELECT n + 1 AS n FROM marts.t_one"},
    )
    settings = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path / "data")})
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    depths: list[int] = []
    materialize = warehouse.materialize

    def noted(table: str, select_sql: str, uncompressed: Sequence[str] = ()) -> None:
        depths.append(warehouse._state.depth)  # type: ignore[attr-defined]
        materialize(table, select_sql, uncompressed)

    monkeypatch.setattr(warehouse, "materialize", noted)
    assert build(context, models) == {"marts.t_one": "ok", "marts.t_two": "ok"}
    # DuckDB: the build's session and the model's; PostgreSQL: the model's alone (its
    # pooled connection goes back, its written tables analyzed, after each model)
    held = warehouse.capabilities.single_writer_process
    assert depths == ([2, 2] if held else [1, 1])
    assert warehouse.rows("SELECT n FROM marts.t_two") == [(2,)]


def test_a_keyed_model_is_rebuilt_whole_only_when_an_every_input_changed() -> None:
    """``@every``: a changed row of that input (rows in its delta) reaches every key; no
    row, its keys come from the other inputs; a date-ranged input's rows are not known."""
    from tally.pipeline.incremental import Change, _Aside, _changed_everywhere

    warehouse = connect("duckdb:///:memory:")
    sql = (
        "-- @range key user_id\n-- @unique user_id\n-- @every marts.prices\n"
        "SELECT p.user_id, l.amount FROM marts.periods AS p JOIN marts.prices AS l ON true"
    )
    model = Model("marts.priced", sql, "priced.sql", frozenset(), declared_range(sql))
    with warehouse.session():
        temporary(warehouse, "none_came", "SELECT 'P1' AS plan, false AS _old WHERE false")
        temporary(warehouse, "one_went", "SELECT 'P1' AS plan, true AS _old")
        aside = _Aside(warehouse, None)
        periods = Change("periods_delta", None, False)
        for prices, whole in [
            (Change("none_came", None, False), False),
            (Change("one_went", None, False), True),
            (Change(None, dt.date(2026, 11, 1), True), True),
        ]:
            changes = {"marts.periods": periods, "marts.prices": prices}
            assert _changed_everywhere(warehouse, model, changes, aside) is whole


def test_a_keyed_model_is_rebuilt_for_the_keys_of_the_changed_rows_that_reach_it() -> None:
    """``@reaches`` with a key range: only an input's changed rows meeting its condition
    (either version) name keys; an input with no condition, every changed row; an
    ``@every`` input, none."""
    from tally.pipeline.incremental import Change, _named_keys

    warehouse = connect("duckdb:///:memory:")
    sql = (
        "-- @range key user_id\n-- @unique subscription_id\n"
        "-- @reaches marts.periods WHERE first\n-- @every marts.prices\n"
        "SELECT p.user_id, p.subscription_id FROM marts.periods AS p "
        "JOIN marts.visits AS v ON true JOIN marts.prices AS l ON true"
    )
    reads = frozenset({"marts.periods", "marts.visits", "marts.prices"})
    model = Model("marts.firsts", sql, "firsts.sql", reads, declared_range(sql))
    with warehouse.session():
        temporary(
            warehouse,
            "periods_delta",
            "SELECT * FROM (VALUES ('u1', true, true), ('u2', false, false), "
            "('u3', false, true), ('u3', true, false)) AS d(user_id, first, _old)",
        )
        temporary(warehouse, "visits_delta", "SELECT 'u4' AS user_id, false AS _old")
        temporary(warehouse, "prices_delta", "SELECT 'P1' AS plan, false AS _old")
        changes = {
            table: Change(f"{table.split('.')[1]}_delta", None, False)
            for table in ("marts.periods", "marts.visits", "marts.prices")
        }
        named = " UNION ".join(_named_keys(model, changes))
        assert sorted(warehouse.rows(named)) == [("u1",), ("u3",), ("u4",)]


def test_a_model_rebuilt_whole_is_rebuilt_only_when_a_change_reaches_it() -> None:
    """``@reaches``: a changed row meeting its input's condition reaches the model; an
    input with no condition, any changed row; a date-ranged input's rows are not known."""
    from tally.pipeline.incremental import Change, _Aside, _reached

    warehouse = connect("duckdb:///:memory:")
    sql = (
        "-- @range all\n-- @unique plan\n-- @reaches marts.prices WHERE _old\n"
        "-- @reaches marts.periods WHERE false\n"
        "SELECT l.plan FROM marts.periods AS p JOIN marts.prices AS l ON true"
    )
    reads = frozenset({"marts.periods", "marts.prices"})
    model = Model("marts.priced", sql, "priced.sql", reads, declared_range(sql))
    with warehouse.session():
        temporary(warehouse, "one_came", "SELECT 'P1' AS plan, false AS _old")
        temporary(warehouse, "one_went", "SELECT 'P1' AS plan, true AS _old")
        aside = _Aside(warehouse, None)
        periods = Change("one_went", None, False)
        for prices, reached in [
            (Change("one_came", None, False), False),
            (Change("one_went", None, False), True),
            (Change(None, dt.date(2026, 11, 1), True), True),
        ]:
            changes = {"marts.periods": periods, "marts.prices": prices}
            assert _reached(warehouse, model, changes, aside) is reached
        # no condition for the prices: any changed row of them reaches the model
        sql = "-- @range all\n-- @reaches marts.periods WHERE false\nSELECT 1"
        unconditioned = Model("marts.priced", sql, "priced.sql", reads, declared_range(sql))
        changes = {"marts.periods": periods, "marts.prices": Change("one_came", None, False)}
        assert _reached(warehouse, unconditioned, changes, aside) is True


SUMMED = """-- money per group, kept as sums per subscription
-- @range sums subscription_id summed subscriptions
-- @reads marts.subs WHERE subscription_id IN {keys} AND day > {built} - 30
WITH summed AS (
    SELECT grp, CAST(count(*) AS BIGINT) AS subscriptions,
        CAST(coalesce(sum(amount), 0) AS DECIMAL(18, 2)) AS _amount
    FROM marts.subs
    GROUP BY grp
)
SELECT grp, subscriptions, CAST(_amount AS DOUBLE) AS amount,
    CAST(_amount AS DECIMAL(18, 2)) AS _amount
FROM summed
"""


def test_a_sums_range_names_its_key_cte_count_and_horizon() -> None:
    sql = SUMMED.replace(
        "WITH", "-- @horizon marts.subs WHERE day > {built} AND day <= {horizon}\nWITH"
    )
    declared = declared_range(sql)
    assert declared is not None
    assert (declared.grain, declared.column, declared.summed, declared.count) == (
        "sums",
        "subscription_id",
        "summed",
        "subscriptions",
    )
    assert declared.resolution is None
    assert declared.horizon == (("marts.subs", "day > {built} AND day <= {horizon}"),)
    with pytest.raises(ConfigError, match="line 2: @horizon needs @range sums"):
        declared_range("-- @range all\n-- @horizon marts.subs WHERE true\nSELECT 1", "x.sql")
    with pytest.raises(ConfigError, match="line 1: @range 'sums subscription_id summed'"):
        declared_range("-- @range sums subscription_id summed\nSELECT 1", "x.sql")


def test_summed_parts_split_the_cte_into_groups_and_sums() -> None:
    contribution, merged, groups, sums = build_module.summed_parts(SUMMED, "summed")
    assert groups == ("grp",)
    assert sums == ("subscriptions", "_amount")
    assert contribution.endswith("SELECT * FROM summed")
    assert "FROM sums_merged" in merged and "FROM marts.subs" not in merged
    with pytest.raises(ConfigError, match="no one CTE 'totals'"):
        build_module.summed_parts(SUMMED, "totals")


@pytest.mark.parametrize("uniques", [None, {"marts.subs": ("subscription_id",)}])
def test_a_sums_model_adds_its_changed_keys_sums_now_and_takes_away_those_before(
    uniques: dict[str, tuple[str, ...]] | None,
) -> None:
    """Worked by hand: s1 moves from group A to B, s2's amount grows, s3 (B's only row
    before s1 came) goes, s4 comes to a new group C; s5 (A) and s6 (out of the keys, read
    narrowed away by its day) stay. A keeps s5 (1 row, 5.00), B has s1 (1 row, 10.00), C
    s4 (1 row, 0.10); the group whose rows all went, none. The input's rows as they were
    found by every column or by its unique key alike."""
    warehouse = connect("duckdb:///:memory:")
    warehouse.execute("CREATE SCHEMA marts")
    before = (
        "('s1', 'A', 10.00, DATE '2026-11-30'), ('s2', 'D', 1.25, DATE '2026-11-30'), "
        "('s3', 'B', 3.00, DATE '2026-11-30'), ('s5', 'A', 5.00, DATE '2026-11-30'), "
        "('s6', 'D', 7.00, DATE '2026-01-01')"
    )
    columns = "(subscription_id, grp, amount, day)"
    warehouse.execute(
        f"CREATE TABLE marts.subs AS SELECT subscription_id, grp, "
        f"CAST(amount AS DECIMAL(18, 2)) AS amount, day FROM (VALUES {before}) AS v{columns}"
    )
    declared = declared_range(SUMMED)
    model = Model(
        "marts.summed_model", SUMMED.strip(), "x.sql", frozenset({"marts.subs"}), declared
    )
    warehouse.execute(f"CREATE TABLE {model.table} AS {model.sql}")
    with warehouse.session():
        temporary(
            warehouse,
            "subs_delta",
            "SELECT subscription_id, grp, CAST(amount AS DECIMAL(18, 2)) AS amount, day, _old "
            "FROM (VALUES ('s1', 'A', 10.00, DATE '2026-11-30', true), "
            "('s1', 'B', 10.00, DATE '2026-11-30', false), "
            "('s2', 'D', 1.25, DATE '2026-11-30', true), "
            "('s2', 'D', 2.50, DATE '2026-11-30', false), "
            "('s3', 'B', 3.00, DATE '2026-11-30', true), "
            "('s4', 'C', 0.10, DATE '2026-11-30', false)) AS v(subscription_id, grp, amount, "
            "day, _old)",
        )
        # the input as it is now: its stored rows but those that went, with those that came
        warehouse.execute(
            "DELETE FROM marts.subs WHERE (subscription_id, grp, amount, day) IN "
            "(SELECT (subscription_id, grp, amount, day) FROM subs_delta WHERE _old)"
        )
        warehouse.execute(
            "INSERT INTO marts.subs SELECT subscription_id, grp, amount, day FROM subs_delta "
            "WHERE NOT _old"
        )
        temporary(warehouse, "keys_0", "SELECT DISTINCT subscription_id FROM subs_delta")
        build_module.rebuild_sums(
            warehouse,
            model,
            "keys_0",
            {"marts.subs": "subs_delta"},
            dt.date(2026, 12, 1),
            "d",
            uniques,
        )
        stored = sorted(warehouse.rows(f"SELECT * FROM {model.table}"))
        assert [row[:3] for row in stored] == [
            ("A", 1, 5.0),
            ("B", 1, 10.0),
            ("C", 1, 0.1),
            ("D", 2, 9.5),
        ]
        assert stored == sorted(warehouse.rows(model.sql))  # the full build's rows
        came = warehouse.rows("SELECT grp FROM d WHERE NOT _old ORDER BY grp")
        assert came == [("A",), ("B",), ("C",), ("D",)]
