"""The PostgreSQL backend's own behaviour: its pool, statistics after writes, its errors."""

import datetime as dt
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest

from tally.errors import WarehouseBusyError, WarehouseUnreachableError
from tally.warehouse import ConnectOptions, Warehouse, connect, registry


@pytest.fixture
def postgres(postgres_url: str, tmp_path: Path) -> Iterator[Warehouse]:
    with registry.backend_for(postgres_url).scratch_url(tmp_path, postgres_url) as url:
        store = connect(url, options=ConnectOptions(pool_size=3, lock_wait_seconds=1))
        store.migrate()
        yield store
        store.close()


def numbers(count: int) -> pa.Table:
    return pa.table({"n": pa.array(range(count), pa.int64())})


def estimated_rows(store: Warehouse, table: str) -> float:
    """pg_class.reltuples: what the planner believes; -1 until the first ANALYZE."""
    return store.rows("SELECT reltuples FROM pg_class WHERE oid = CAST(? AS regclass)", [table])[0][
        0
    ]


def test_a_load_analyzes_the_tables_it_changed(postgres):
    postgres.replace_partition("staging.numbers", numbers(1000), {})
    assert estimated_rows(postgres, "staging.numbers") == 1000


def test_a_change_below_autovacuums_threshold_does_not_analyze_again(postgres):
    postgres.replace_partition("staging.numbers", numbers(1000), {})
    # 50 + 10 % of 1000 = 150 rows: 100 more stay below, 200 more pass it
    postgres.append("staging.numbers", numbers(100))
    assert estimated_rows(postgres, "staging.numbers") == 1000
    postgres.append("staging.numbers", numbers(200))
    assert estimated_rows(postgres, "staging.numbers") == 1300


def test_statements_count_towards_the_analyze_and_a_build_is_analyzed(postgres):
    postgres.replace_partition("staging.numbers", numbers(1000), {})
    with postgres.session():  # one step: its writes add up
        postgres.execute("DELETE FROM staging.numbers WHERE n < ?", [100])
        postgres.execute("INSERT INTO staging.numbers SELECT n FROM staging.numbers WHERE n < 200")
    assert estimated_rows(postgres, "staging.numbers") == 1000  # 900 + 100 copied
    postgres.materialize("marts.few", "SELECT 1 AS one")
    assert estimated_rows(postgres, "marts.few") == 1  # a new table, however small


def test_each_thread_borrows_its_own_connection(postgres):
    """Three threads in a session at once hold three server processes (pool_size 3)."""
    inside, release = threading.Barrier(4), threading.Event()  # three threads and this one
    pids: list[int] = []

    def hold() -> None:
        with postgres.session():
            pids.append(postgres.rows("SELECT pg_backend_pid()")[0][0])
            inside.wait(10)
            release.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(3)]
    for thread in threads:
        thread.start()
    inside.wait(10)
    # all three are taken: a fourth caller waits lock_wait_seconds (1 s), then is told why
    with pytest.raises(WarehouseBusyError) as busy, postgres.session():
        pass
    release.set()
    for thread in threads:
        thread.join(10)
    assert len(set(pids)) == 3
    assert "warehouse.pool_size" in str(busy.value)


def test_a_connection_goes_back_without_temporary_tables_or_settings(postgres):
    with postgres.session():
        postgres.execute("CREATE TEMP TABLE scratch AS SELECT 1 AS x")
        postgres.execute("SET statement_timeout = 1234")
    for _ in range(3):  # whichever connection comes next (the pool resets in the background)
        with postgres.session():
            # unqualified, "scratch" would be this connection's own temporary table
            assert postgres.rows("SELECT to_regclass('scratch') IS NULL") == [(True,)]
            assert postgres.rows("SELECT current_setting('statement_timeout')") == [("0",)]


def planner_settings(store: Warehouse) -> list[tuple[str, str]]:
    return store.rows("SELECT current_setting('enable_nestloop'), current_setting('jit')")


def test_models_plan_with_hash_joins_and_no_jit_and_reads_keep_the_defaults(postgres):
    """A model (a batch transform) runs with nested loops and JIT off; the session's own
    settings are back afterwards, also when a model fails inside a transaction."""
    with postgres.session():
        defaults = planner_settings(postgres)
        postgres.run_model(
            "CREATE TABLE marts.planned AS SELECT current_setting('enable_nestloop') AS nestloop,"
            " current_setting('jit') AS jit"
        )
        assert postgres.rows("SELECT nestloop, jit FROM marts.planned") == [("off", "off")]
        assert planner_settings(postgres) == defaults
        with pytest.raises(Exception, match="missing_table"):
            with postgres.transaction():
                postgres.run_model("INSERT INTO marts.planned SELECT * FROM missing_table")
        assert planner_settings(postgres) == defaults


def test_an_unreachable_server_is_named_not_traced():
    store = connect("postgresql://tally@127.0.0.1:9/warehouse")  # port 9: nothing listens
    with pytest.raises(WarehouseUnreachableError) as refused:
        store.rows("SELECT 1")
    assert "127.0.0.1:9/warehouse" in str(refused.value)


def test_the_day_type_round_trips(postgres):
    day = dt.date(2016, 10, 23)
    postgres.replace_partition("staging.days", pa.table({"d": pa.array([day])}), {})
    assert postgres.rows("SELECT d FROM staging.days") == [(day,)]


def test_a_load_keeps_nulls_empty_strings_and_awkward_text_apart(postgres):
    """The CSV a load streams: NULL and '' stay different, and a comma, a quote and a line
    break inside a value survive; nested values arrive as JSON text."""
    text = ["plain", None, "", 'a, "quoted"\nline']
    rows = pa.table(
        {
            "text": pa.array(text),
            "number": pa.array([1.5, None, float("inf"), -0.0]),
            "flag": pa.array([True, None, False, True]),
            "at": pa.array([dt.datetime(2016, 10, 23, 1, 2, 3, 456789)] * 4, pa.timestamp("us")),
            "tags": pa.array([["x"], None, [], ["y", "z"]], pa.list_(pa.string())),
        }
    )
    postgres.replace_partition("staging.awkward", rows, {})
    found = postgres.rows("SELECT text, number, flag, at, tags FROM staging.awkward")
    assert [row[0] for row in found] == text
    assert [row[1] for row in found] == [1.5, None, float("inf"), -0.0]
    assert [row[2] for row in found] == [True, None, False, True]
    assert {row[3] for row in found} == {dt.datetime(2016, 10, 23, 1, 2, 3, 456789)}
    assert [row[4] for row in found] == [["x"], None, [], ["y", "z"]]  # JSONB


def test_a_hash_of_several_values_depends_on_each_value_and_its_place(postgres):
    """hash(a, b, ...) (subscription_mrr.segment_id) runs as hashtextextended of the texts
    joined by chr(31): the same values in the same places give the same number; another
    value or the values swapped give another. Values holding chr(31) themselves could meet
    (shown last): segment names never hold it (staging's codes and names)."""
    postgres.materialize(
        "marts.hashed",
        "SELECT hash('HK', 'iOS', 'P') AS one, hash('HK', 'iOS', 'P') AS again, "
        "hash('HK', 'iOS', 'Q') AS other, hash('iOS', 'HK', 'P') AS swapped, "
        "hash('HK' || chr(31) || 'iOS', 'P') AS moved, hash('HK', 'iOS' || chr(31) || 'P') AS "
        "moved_too",
    )
    one, again, other, swapped, moved, moved_too = postgres.rows("SELECT * FROM marts.hashed")[0]
    assert isinstance(one, int) and one == again
    assert len({one, other, swapped}) == 3
    assert moved == moved_too  # texts holding the separator: never the case (staging)
