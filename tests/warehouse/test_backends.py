"""One warehouse suite, run on DuckDB and on PostgreSQL."""

import datetime as dt

import pyarrow as pa
import pytest

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


@pytest.mark.parametrize("dialect", ["postgres", "redshift"])
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
