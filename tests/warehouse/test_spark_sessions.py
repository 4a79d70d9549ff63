"""Sessionizing web hits on the Spark cluster gives DuckDB's visits, actions, conversions
and page ids, row for row.

The demo's hits are loaded once into a DuckDB file (the loader draws the cookieless salts
there); a copy of that file becomes the Spark warehouse's serving file, so both sides start
from the same hits and salts. Each side then sessionizes: DuckDB runs the model files
itself; Spark gets the dirty site-days' rows as Parquet written by DuckDB, runs the same
files transpiled (each DELETE, INSERT and UPDATE as the query giving the rows it leaves)
and hands the rows back. Runs under ``make test-spark`` (tests/warehouse/spark_cluster).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pytest

from tally.config import load_settings
from tally.warehouse import connect
from tally.web.demo import ensure_demo_site, records, write_records
from tally.web.loader import load_hits
from tally.web.sessions import sessionize

pytestmark = pytest.mark.skipif(
    os.environ.get("TALLY_TEST_SPARK") != "1",
    reason="needs the local Spark cluster: make test-spark",
)
FIRST, LAST = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
TABLES = {
    "web.actions": "hit_id",
    "web.visits": "idvisit",
    "web.conversions": "hit_id, idgoal",
    "web.pages": "idsite, page_id",
}


def test_visits_and_actions_on_spark_equal_duckdbs_for_the_demo_hits(tmp_path: Path) -> None:
    from tests.warehouse.spark_cluster import warehouse_url

    settings = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path / "data")})
    duck = connect(f"duckdb:///{tmp_path}/duck.duckdb")
    duck.migrate()
    site = ensure_demo_site(duck)
    write_records(settings, records(site, 7, FIRST, LAST, visits_per_day=50))
    loaded = load_hits(duck, settings).loaded
    duck.close()
    url = warehouse_url(tmp_path)
    shutil.copy(tmp_path / "duck.duckdb", tmp_path / "serving.duckdb")
    duck = connect(f"duckdb:///{tmp_path}/duck.duckdb")
    spark = connect(url)
    spark.migrate()
    assert spark.capabilities.cluster_runs_statements

    on_duckdb = sessionize(duck)
    on_spark = sessionize(spark)

    # two demo days of one site, each a site-day of its own; every loaded hit placed
    assert on_spark.days == on_duckdb.days == [(site, FIRST), (site, LAST)]
    assert on_spark.actions == on_duckdb.actions == loaded
    assert on_spark.visits == on_duckdb.visits > 0
    for table, key in TABLES.items():
        expected = duck.query(f"SELECT * FROM {table} ORDER BY {key}")
        found = spark.query(f"SELECT * FROM {table} ORDER BY {key}")
        assert found.num_rows == expected.num_rows > 0, table
        assert found.equals(expected), table  # values and types, column for column
    # the run's Parquet hand-over is gone; the serving file says which days are done
    assert not (Path(spark.spark_options.location) / "_runs").exists() or not any(
        (Path(spark.spark_options.location) / "_runs").iterdir()
    )
    assert spark.rows("SELECT count(*) FROM web.dirty_days") == [(0,)]
    assert sessionize(spark).days == []  # nothing left unplaced
    spark.close()
    duck.close()
