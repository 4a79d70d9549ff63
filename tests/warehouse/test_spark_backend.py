"""The Spark backend: its settings and SQL without a cluster; its tables on a real one.

The tests marked ``cluster`` run under ``make test-spark`` (``pytest -p
tests.warehouse.spark_cluster``), which starts one standalone cluster (a master, two
workers) for the whole session; ``make test`` skips them.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

from tally.errors import ConfigError
from tally.warehouse import connect
from tally.warehouse.registry import ConnectOptions
from tally.warehouse.spark.backend import SparkOptions, SparkWriteError, _transpiled

cluster = pytest.mark.skipif(
    os.environ.get("TALLY_TEST_SPARK") != "1",
    reason="needs the local Spark cluster: make test-spark",
)
DAY = dt.date(2016, 10, 23)


def test_options_come_from_the_url_then_the_settings():
    options = SparkOptions.read(
        "spark://10.0.0.5:7077/?location=/data/tables&prefix=t1_",
        ConnectOptions(options={"serving": "/srv/serving.duckdb"}, lake_url="/data/lake"),
    )
    assert options.master == "spark://10.0.0.5:7077"
    assert (options.location, options.serving, options.prefix) == (
        "/data/tables",
        "/srv/serving.duckdb",
        "t1_",
    )
    # without them: beside a local lake; another master (YARN) from the settings
    fallback = SparkOptions.read(
        "spark://m:7077", ConnectOptions(options={"master": "yarn"}, lake_url="/data/lake")
    )
    assert fallback.master == "yarn"
    assert (fallback.location, fallback.serving) == (
        "/data/spark-tables",
        "/data/serving.duckdb",
    )


def test_an_unknown_option_is_refused_naming_the_known_ones():
    with pytest.raises(ConfigError, match="unknown key.*'stagng'.*location"):
        SparkOptions.read("spark://m:7077", ConnectOptions(options={"stagng": "x"}))


def test_duckdb_series_become_a_lateral_view_spark_can_run():
    sql = (
        "SELECT CAST(d AS DATE) AS day FROM marts.bounds AS b, "
        "generate_series(b.first, b.last, INTERVAL 1 DAY) AS days(d)"
    )
    spark = _transpiled(sql, "")
    assert "LATERAL VIEW EXPLODE(SEQUENCE(b.first, b.last, INTERVAL '1' DAY)) days AS d" in spark
    assert "_u(" not in spark  # what sqlglot alone writes, which Spark cannot resolve


def test_a_joined_series_of_constants_becomes_a_subquery():
    sql = (
        "SELECT r.x, a.age FROM marts.r AS r JOIN generate_series(0, 120) AS a(age) ON a.age <= r.x"
    )
    spark = _transpiled(sql, "")
    assert "JOIN (SELECT EXPLODE(SEQUENCE(0, 120)) AS age) AS a ON a.age <= r.x" in spark


def test_the_prefix_goes_before_each_spark_schema_but_not_before_a_cte():
    sql = "WITH marts AS (SELECT 1 AS x) SELECT * FROM staging.events, marts, tally_meta.runs"
    spark = _transpiled(sql, "t9_")
    assert "t9_staging.events" in spark
    assert "tally_meta.runs" in spark and "t9_tally_meta" not in spark


def test_a_hash_of_several_values_has_64_bits_and_a_hash_of_one_stays_sparks_own():
    """segment_id (hash of six names) needs 64 bits (Spark's hash has 32: a shared number
    would merge two segments); a probe's hash of one key stays as the stored tables hold it."""
    sql = "SELECT hash(a, b, c) AS segment_id, hash(k) AS probe FROM marts.t"
    assert _transpiled(sql, "") == (
        "SELECT XXHASH64(a, b, c) AS segment_id, HASH(k) AS probe FROM marts.t"
    )


def test_a_date_minus_a_date_is_a_day_count_on_spark_too():
    # DuckDB counts days; Spark would give an interval, which a comparison with 28 refuses
    sql = "SELECT a.d - b.e AS days, a.d - 1 AS before FROM staging.x AS a, staging.y AS b"
    types = (("staging.x", (("d", "date"),)), ("staging.y", (("e", "date"),)))
    spark = _transpiled(sql, "", (), types)
    assert "DATEDIFF(DAY, `b`.`e`, `a`.`d`) AS `days`" in spark
    assert "`a`.`d` - 1 AS `before`" in spark  # a date minus days stays a date
    # without the types nothing is guessed
    assert "DATEDIFF" not in _transpiled(sql, "")


def test_a_serving_table_a_model_reads_is_read_from_its_temporary_view():
    sql = "SELECT visits.site FROM web.visits JOIN marts.a AS a ON true"
    spark = _transpiled(sql, "p_", (("web.visits", "_serving_web_visits_1"),))
    assert "FROM _serving_web_visits_1 AS visits JOIN p_marts.a AS a" in spark


# -- on the cluster ----------------------------------------------------------------------


@pytest.fixture
def spark_warehouse(tmp_path: Path):
    from tests.warehouse.spark_cluster import warehouse_url

    store = connect(warehouse_url(tmp_path))
    store.migrate()
    yield store
    store.close()


def events(values: list[tuple[str, int]], day: dt.date = DAY) -> pa.Table:
    return pa.table(
        {
            "_partition_date": pa.array([day] * len(values), pa.date32()),
            "event": pa.array([v[0] for v in values], pa.string()),
            "quantity": pa.array([v[1] for v in values], pa.int64()),
        }
    )


@cluster
def test_staging_is_partitioned_parquet_in_the_catalog_and_read_back_as_arrow(spark_warehouse):
    store = spark_warehouse
    store.replace_partition("staging.events", events([("Renew", 3)]), {"_partition_date": DAY})
    folder = Path(store.spark_options.location) / "staging" / "events"
    assert [p.name for p in folder.iterdir() if "=" in p.name] == ["_partition_date=2016-10-23"]
    # Spark's own catalog knows the table, and the cluster reads it
    assert store.spark.catalog.tableExists(f"{store.database('staging')}.events")
    on_spark = store.spark_query("SELECT event, quantity FROM staging.events")
    assert isinstance(on_spark, pa.Table) and on_spark.to_pylist() == [
        {"event": "Renew", "quantity": 3}
    ]
    # an empty replacement empties the partition (a dynamic overwrite alone would keep it)
    store.replace_partition("staging.events", events([]), {"_partition_date": DAY})
    assert store.rows("SELECT count(*) FROM staging.events") == [(0,)]


@cluster
def test_reads_come_from_a_copy_in_the_serving_file_refreshed_one_partition_at_a_time(
    spark_warehouse,
):
    store = spark_warehouse
    before = DAY - dt.timedelta(days=1)
    store.replace_partition(
        "staging.events", events([("Renew", 3)], before), {"_partition_date": before}
    )
    store.replace_partition("staging.events", events([("Cancel", 1)]), {"_partition_date": DAY})
    # the serving file holds a table of its own (a view would open the Parquet files)
    kinds = store.rows(
        "SELECT table_type FROM information_schema.tables "
        "WHERE table_schema = 'staging' AND table_name = 'events'"
    )
    assert kinds == [("BASE TABLE",)]
    # the day before's Parquet folder is taken away: if replacing DAY copied the whole
    # table again, its row (Renew 3) would vanish from the copy; it stays, so only the
    # replaced partition was copied
    folder = Path(store.spark_options.location) / "staging/events"
    shutil.rmtree(folder / "_partition_date=2016-10-22")
    store.replace_partition(
        "staging.events", events([("Refund", 2), ("Renew", 1)]), {"_partition_date": DAY}
    )
    assert sorted(store.rows("SELECT _partition_date, event, quantity FROM staging.events")) == [
        (before, "Renew", 3),
        (DAY, "Refund", 2),
        (DAY, "Renew", 1),
    ]
    # an empty replacement empties the day in the copy too
    store.replace_partition("staging.events", events([]), {"_partition_date": DAY})
    assert store.rows("SELECT _partition_date, quantity FROM staging.events") == [(before, 3)]


@cluster
def test_rows_are_replaced_whole_never_deleted_one_by_one(spark_warehouse):
    store = spark_warehouse
    store.append("marts.totals", events([("Renew", 3), ("Cancel", 1)]))
    with pytest.raises(SparkWriteError, match="rewrites_rows"):
        store.execute("DELETE FROM marts.totals WHERE event = 'Cancel'")
    # emptying it before writing it again (what write_plans does) is allowed
    with store.transaction():
        store.execute("DELETE FROM marts.totals")
        store.append("marts.totals", events([("Refund", 2)]))
    assert store.rows("SELECT event, quantity FROM marts.totals") == [("Refund", 2)]


@cluster
def test_a_model_is_swapped_in_whole_and_the_version_before_is_kept_once(spark_warehouse):
    store = spark_warehouse
    store.append("staging.events", events([("Renew", 3), ("Renew", 2)]))
    select = "SELECT event, sum(quantity) AS n FROM staging.events GROUP BY event"
    for _ in range(3):
        store.materialize("marts.totals", select)
    versions = sorted(
        p.name for p in (Path(store.spark_options.location) / "marts/totals").iterdir()
    )
    assert len(versions) == 2 and all(v.startswith("v") for v in versions)
    assert store.rows("SELECT event, n FROM marts.totals") == [("Renew", 5)]
    # a warehouse opened afresh on the same files registers the tables again
    again = connect(store.url)
    again._registered.clear()
    assert again.spark_query("SELECT n FROM marts.totals").to_pylist() == [{"n": 5}]
    assert not again.capabilities.rewrites_rows
