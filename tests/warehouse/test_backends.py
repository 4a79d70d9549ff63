"""One warehouse suite, run on DuckDB and on PostgreSQL."""

import datetime as dt
import threading
import time
import uuid

import pyarrow as pa
import pytest

from tally.errors import ConfigError, QueryTimeoutError, TallyError
from tally.pipeline.build import discover_models

DAY1, DAY2 = dt.date(2016, 10, 23), dt.date(2016, 10, 24)


def rows(day, values):
    return pa.table(
        {
            "_partition_date": pa.array([day] * len(values), pa.date32()),
            "event": pa.array([v[0] for v in values], pa.string()),
            "quantity": pa.array([v[1] for v in values], pa.int64()),
        }
    )


def test_migrations_apply_once(warehouse):
    assert warehouse.migrate() == []  # the fixture already applied them
    assert warehouse.table_exists("tally_meta.runs")
    assert warehouse.table_exists("tally_meta.lake_files")
    assert warehouse.table_exists("tally_meta.quarantine")


def test_replace_partition_is_idempotent_and_leaves_other_partitions(warehouse):
    table = "staging.events"
    warehouse.replace_partition(
        table, rows(DAY1, [("Renew", 3), ("Cancel", 1)]), {"_partition_date": DAY1}
    )
    warehouse.replace_partition(table, rows(DAY2, [("Renew", 5)]), {"_partition_date": DAY2})
    # reloading day 1 with other contents replaces exactly day 1
    warehouse.replace_partition(table, rows(DAY1, [("Refund", 2)]), {"_partition_date": DAY1})
    warehouse.replace_partition(table, rows(DAY1, [("Refund", 2)]), {"_partition_date": DAY1})
    found = warehouse.rows(f"SELECT _partition_date, event, quantity FROM {table} ORDER BY 1, 2")
    assert found == [(DAY1, "Refund", 2), (DAY2, "Renew", 5)]


def test_failed_load_mid_way_keeps_the_earlier_partition(warehouse):
    table = "staging.events"
    warehouse.replace_partition(table, rows(DAY1, [("Renew", 3)]), {"_partition_date": DAY1})
    with pytest.raises(RuntimeError), warehouse.transaction():
        warehouse.replace_partition(table, rows(DAY1, [("Cancel", 9)]), {"_partition_date": DAY1})
        raise RuntimeError("the load broke after deleting and inserting")
    assert warehouse.rows(f"SELECT event, quantity FROM {table}") == [("Renew", 3)]


def test_new_columns_widen_the_table(warehouse):
    table = "staging.events"
    warehouse.replace_partition(table, rows(DAY1, [("Renew", 3)]), {"_partition_date": DAY1})
    wider = rows(DAY2, [("Renew", 1)]).append_column("x_new_field", pa.array(["v"]))
    warehouse.replace_partition(table, wider, {"_partition_date": DAY2})
    assert "x_new_field" in warehouse.columns(table)
    assert warehouse.rows(f"SELECT x_new_field FROM {table} ORDER BY _partition_date") == [
        (None,),
        ("v",),
    ]


def test_query_with_parameters_returns_arrow(warehouse):
    warehouse.replace_partition("staging.events", rows(DAY1, [("Renew", 3), ("Cancel", 1)]), {})
    result = warehouse.query(
        "SELECT event, sum(quantity) AS n FROM staging.events WHERE event = ? GROUP BY event",
        ["Renew"],
    )
    assert result.to_pylist() == [{"event": "Renew", "n": 3}]


def test_parameters_are_never_pasted_into_sql(warehouse):
    warehouse.replace_partition("staging.events", rows(DAY1, [("Renew", 3)]), {})
    hostile = "x'; DROP TABLE staging.events; --"
    assert warehouse.rows("SELECT count(*) FROM staging.events WHERE event = ?", [hostile]) == [
        (0,)
    ]
    assert warehouse.table_exists("staging.events")


def test_materialize_replaces_a_model_table(warehouse):
    warehouse.replace_partition("staging.events", rows(DAY1, [("Renew", 3), ("Renew", 2)]), {})
    select = "SELECT event, sum(quantity) AS n FROM staging.events GROUP BY event"
    warehouse.materialize("marts.totals", select)
    warehouse.materialize("marts.totals", select)
    assert warehouse.rows("SELECT event, n FROM marts.totals") == [("Renew", 5)]


def test_a_model_table_keeps_its_rows_with_columns_stored_uncompressed(warehouse):
    # DuckDB declares the columns uncompressed (its file's table definition says so); the
    # other warehouses take the hint and change nothing; the rows are the SELECT's on both
    warehouse.replace_partition("staging.events", rows(DAY1, [("Renew", 3), ("Cancel", 2)]), {})
    select = "SELECT event, quantity, quantity * 2 AS twice FROM staging.events"
    warehouse.materialize("marts.plain", select, ("event", "twice"))
    warehouse.materialize("marts.plain", select, ("event", "twice"))
    found = warehouse.rows("SELECT event, quantity, twice FROM marts.plain ORDER BY event")
    assert found == [("Cancel", 2, 4), ("Renew", 3, 6)]
    if warehouse.capabilities.row_ids:  # DuckDB
        (definition,) = warehouse.rows("SELECT sql FROM duckdb_tables() WHERE table_name = 'plain'")
        assert definition[0].count("USING COMPRESSION") == 2
        with pytest.raises(ConfigError, match="no such column"):
            warehouse.materialize("marts.plain", select, ("evnt",))


def test_a_hash_of_a_key_runs_on_every_backend(warehouse):
    # a model's @probe column is DuckDB's hash(value); PostgreSQL has no hash() of its own, so
    # the statement is given its 64-bit text hash: the same text, the same number; another
    # text, another number (for these two, as for nearly every pair)
    warehouse.replace_partition("staging.events", rows(DAY1, [("Renew", 3), ("Cancel", 2)]), {})
    found = warehouse.rows(
        "SELECT a.event, b.event, hash(a.event) = hash(b.event) FROM staging.events AS a "
        "CROSS JOIN staging.events AS b ORDER BY a.event, b.event"
    )
    assert found == [
        ("Cancel", "Cancel", True),
        ("Cancel", "Renew", False),
        ("Renew", "Cancel", False),
        ("Renew", "Renew", True),
    ]


@pytest.mark.parametrize("dialect", ["postgres", "redshift", "spark"])
def test_every_model_transpiles(dialect):
    import sqlglot
    from sqlglot.errors import ErrorLevel

    models = discover_models()
    assert models, "no models found"
    for model in models:
        out = sqlglot.transpile(
            model.sql, read="duckdb", write=dialect, unsupported_level=ErrorLevel.RAISE
        )
        assert out and out[0].strip(), model.path


# ten billion rows: runs for minutes on either backend, so only a time limit ends it soon
ENDLESS = (
    "SELECT count(*) FROM range(100000) AS a(x), range(100000) AS b(y) WHERE a.x * b.y % 7 = 3"
)


def test_an_interactive_read_past_its_limit_is_stopped_with_a_clear_error(warehouse):
    with pytest.raises(QueryTimeoutError) as stopped, warehouse.interactive(0.5):
        warehouse.rows(ENDLESS)
    assert stopped.value.seconds == 0.5
    assert "interactive limit of 0.5 s" in str(stopped.value)
    assert isinstance(stopped.value, TallyError)
    # the limit ends with the block: the same thread's next statements run unbounded
    with warehouse.session():
        assert warehouse.rows("SELECT 1") == [(1,)]


def test_a_slow_statement_in_one_thread_does_not_hold_up_another(warehouse):
    """While one thread's statement runs (stopped by its 6 s limit at the latest), another
    thread opens its own session, reads and writes, and finishes first."""
    warehouse.replace_partition("staging.events", rows(DAY1, [("Renew", 3)]), {})
    started, slow_done = threading.Event(), threading.Event()
    outcome: list[str] = []

    def slow() -> None:
        with warehouse.interactive(6):
            started.set()
            try:
                warehouse.rows(ENDLESS)
            except QueryTimeoutError:
                outcome.append("slow stopped")
        slow_done.set()

    worker = threading.Thread(target=slow)
    worker.start()
    started.wait(10)
    time.sleep(0.2)  # let the slow statement get going
    warehouse.replace_partition("staging.events", rows(DAY2, [("Cancel", 1)]), {})
    found = warehouse.rows("SELECT count(*) FROM staging.events")
    quick_first = not slow_done.is_set()
    worker.join(60)
    assert found == [(2,)]
    assert quick_first, "the quick thread waited for the slow one"
    assert outcome == ["slow stopped"]


def test_exclusive_lets_one_holder_in_at_a_time(warehouse):
    order: list[str] = []
    holding = threading.Event()

    def second() -> None:
        with warehouse.exclusive(7):
            order.append("second in")

    with warehouse.exclusive(7):
        other = threading.Thread(target=second)
        other.start()
        holding.wait(0.5)  # the second thread is now waiting for the lock
        order.append("first out")
    other.join(30)
    assert order == ["first out", "second in"]


def test_a_model_run_again_is_not_parsed_again(warehouse, monkeypatch) -> None:
    """A model file runs again and again in one process (sessionize after each load):
    sqlglot splits (and, on PostgreSQL, transpiles) its statements the first time only.
    The second run still runs both statements, the ';' inside a string staying text."""
    import sqlglot

    parsed = []
    real_parse = sqlglot.parse

    def counting_parse(*args, **kwargs):
        parsed.append(args[0])
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(sqlglot, "parse", counting_parse)
    warehouse.execute("CREATE TABLE staging.reruns (note VARCHAR)")
    # each SELECT names its column: Spark's writes take a table's columns from the query's
    # names, not from an INSERT's column list
    # a text no earlier test (of another backend, in this process) put in the caches
    model = (
        f"-- {uuid.uuid4().hex}\n"
        "INSERT INTO staging.reruns SELECT 'one; run' AS note;\n"
        "INSERT INTO staging.reruns SELECT 'rerun test: ' || count(*) AS note FROM staging.reruns"
    )
    warehouse.run_model(model)
    assert parsed  # the first run parsed the model
    parsed.clear()
    warehouse.run_model(model)
    assert parsed == []
    found = warehouse.rows("SELECT note FROM staging.reruns ORDER BY note")
    # run 1: 'one; run', then a count of 1; run 2: the same, then a count of 3
    assert found == [("one; run",), ("one; run",), ("rerun test: 1",), ("rerun test: 3",)]


def test_duckdb_tells_a_read_from_a_write_with_or_without_parsing() -> None:
    """One plain SELECT is a read without sqlglot (its import costs `tally pivot` ~0.3 s);
    anything else is parsed, so a SELECT followed by a DELETE is still a write."""
    from tally.warehouse.duckdb.backend import _reads_only

    for read in (
        "SELECT 1",
        "  select * from marts.report_fact",
        "SHOW TABLES",
        "WITH a AS (SELECT 1) SELECT * FROM a",
    ):
        assert _reads_only(read), read
    for write in ("SELECT 1; DELETE FROM t", "INSERT INTO t SELECT 1", "selected", "DELETE FROM t"):
        assert not _reads_only(write), write


def test_unordered_runs_on_no_more_threads_than_inputs_and_puts_settings_back(tmp_path) -> None:
    """DuckDB's ``threads`` and insertion order are the database's settings: a block with one
    input runs on one thread, a block entered meanwhile keeps the first one's settings, and
    the last one out puts both back (a load's INSERT of one file cost ~20 % more CPU with a
    second, idle thread)."""
    from tally.warehouse.duckdb.backend import DuckDBWarehouse

    warehouse = DuckDBWarehouse(f"duckdb:///{tmp_path}/w.duckdb")
    setting = "SELECT current_setting('threads'), current_setting('preserve_insertion_order')"
    with warehouse.session():
        warehouse.execute("SET threads = 2")
        assert warehouse.rows(setting) == [(2, True)]
        with warehouse.unordered(1) as parts:
            assert parts == 1
            assert warehouse.rows(setting) == [(1, False)]
            with warehouse.unordered(4) as inner:  # joins the outer block's settings
                assert inner == 1
            assert warehouse.rows(setting) == [(1, False)]
        assert warehouse.rows(setting) == [(2, True)]
        with warehouse.unordered() as parts:
            assert parts == 2
            assert warehouse.rows(setting) == [(2, False)]
        assert warehouse.rows(setting) == [(2, True)]


def test_direct_commits_write_the_file_at_the_commit_and_put_the_threshold_back(tmp_path) -> None:
    """Inside ``direct_commits`` a DuckDB commit checkpoints: the file alone (copied while
    the database is still open, its WAL left behind) holds the committed rows, where a
    commit outside the block leaves them in the WAL only. Nested blocks share the setting;
    the last one out puts back the threshold from before."""
    import shutil

    from tally.warehouse.duckdb.backend import DuckDBWarehouse

    path = tmp_path / "w.duckdb"
    warehouse = DuckDBWarehouse(f"duckdb:///{path}")
    threshold = "SELECT current_setting('checkpoint_threshold')"

    def rows_in_file_alone(name: str) -> int:
        shutil.copy(path, tmp_path / name)  # the file without its WAL
        copied = DuckDBWarehouse(f"duckdb:///{tmp_path / name}")
        found = copied.rows("SELECT count(*) FROM t")[0][0]
        copied.close()
        return found

    with warehouse.session():
        warehouse.execute("CREATE TABLE t (a INTEGER)")
        warehouse.execute("CHECKPOINT")
        warehouse.execute("SET checkpoint_threshold = '64 MiB'")
        with warehouse.transaction():
            warehouse.execute("INSERT INTO t VALUES (1)")
        assert rows_in_file_alone("logged.duckdb") == 0  # in the WAL only
        with warehouse.direct_commits():
            assert warehouse.rows(threshold) == [("0 bytes",)]
            with warehouse.direct_commits():
                pass
            assert warehouse.rows(threshold) == [("0 bytes",)]  # the outer block's
            with warehouse.transaction():
                warehouse.execute("INSERT INTO t VALUES (2), (3)")
            assert rows_in_file_alone("direct.duckdb") == 3
        assert warehouse.rows(threshold) == [("64.0 MiB",)]
    warehouse.close()
