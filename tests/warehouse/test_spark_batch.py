"""The whole batch on the local Spark cluster: ``tally demo`` then ``tally report`` give
what DuckDB gives, and a build survives losing a worker.

Runs under ``make test-spark`` only (the cluster of tests/warehouse/spark_cluster). The
demo is the CLI's, with ``warehouse_url`` pointing at the cluster; the same demo on DuckDB
is the reference. ``TALLY_TEST_SPARK_DEMO_DAYS`` (default 10) sets its length.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tally.cli.main import app
from tally.warehouse import connect

pytestmark = [
    pytest.mark.skipif(
        os.environ.get("TALLY_TEST_SPARK") != "1",
        reason="needs the local Spark cluster: make test-spark",
    ),
    pytest.mark.timeout(3600),  # ten demo days on a two-core machine shared with others
]
DAYS = os.environ.get("TALLY_TEST_SPARK_DEMO_DAYS", "10")
END = "2026-11-30"
runner = CliRunner()


def demo(folder: Path, warehouse_url: str | None) -> dict[str, str]:
    environment = {"TALLY_DATA_DIR": str(folder / "data")}
    if warehouse_url:
        environment["TALLY_WAREHOUSE_URL"] = warehouse_url
    result = runner.invoke(app, ["demo", "--days", DAYS, "--end", END], env=environment)
    assert result.exit_code == 0, result.output
    return environment


@pytest.fixture(scope="module")
def demos(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, str], dict[str, str]]:
    from tests.warehouse.spark_cluster import warehouse_url

    duck = demo(tmp_path_factory.mktemp("duckdb"), None)
    spark_folder = tmp_path_factory.mktemp("spark")
    spark = demo(spark_folder, warehouse_url(spark_folder))
    return duck, spark


def workbooks(environment: dict[str, str]) -> list[str]:
    folder = Path(environment["TALLY_DATA_DIR"]) / "reports"
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.xlsx"))


def test_demo_on_spark_gives_duckdbs_report_fact_row_for_row_and_the_same_workbooks(demos):
    duck, spark = demos
    reference = connect(f"duckdb:///{duck['TALLY_DATA_DIR']}/warehouse.duckdb")
    cluster = connect(spark["TALLY_WAREHOUSE_URL"])
    columns = ", ".join(reference.columns("marts.report_fact"))
    assert cluster.columns("marts.report_fact") == reference.columns("marts.report_fact")
    select = f"SELECT {columns} FROM marts.report_fact ORDER BY ALL"
    expected = reference.rows(select)
    assert len(expected) > 100  # ten days of six countries' reports, not an empty table
    assert cluster.rows(select) == expected  # the serving copy of what Spark wrote
    # and the cluster itself reads the same rows from its catalog
    on_spark = cluster.spark_query("SELECT count(*) AS n FROM marts.report_fact")
    assert on_spark.to_pylist() == [{"n": len(expected)}]
    # tally report (run by the demo) wrote the same six workbooks from it
    assert workbooks(spark) == workbooks(duck)
    assert len([w for w in workbooks(spark) if w.startswith("subscription-report/")]) == 6
    report = runner.invoke(app, ["report", "all", "--date", END], env=spark)
    assert report.exit_code == 0, report.output


def test_a_build_survives_losing_a_worker(demos):
    from tests.warehouse.spark_cluster import cluster

    _, spark = demos
    store = connect(spark["TALLY_WAREHOUSE_URL"])
    before = store.rows("SELECT count(*) FROM tally_meta.runs WHERE job = 'build'")[0][0]
    outcome: list[int] = []
    build = threading.Thread(
        target=lambda: outcome.append(runner.invoke(app, ["build"], env=spark).exit_code)
    )
    build.start()
    # once the build is past its first models, one of the two workers (and its executor)
    # is killed at once, as a machine lost; Spark runs its tasks again on the other
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and build.is_alive():
        done = store.rows("SELECT count(*) FROM tally_meta.runs WHERE job = 'build'")[0][0]
        if done - before >= 3:
            break
        time.sleep(0.5)
    cluster().kill_worker(0)
    build.join(3000)
    cluster().add_worker()  # the next tests have two workers again
    assert outcome == [0]
    statuses = store.rows(
        "SELECT status, count(*) FROM tally_meta.runs WHERE job = 'build' "
        "AND started_at > (SELECT max(started_at) FROM tally_meta.runs WHERE job = 'load') "
        "GROUP BY status"
    )
    assert dict(statuses).get("failed", 0) == 0, statuses
    assert cluster().workers[0].poll() is not None  # the killed worker is really gone


def test_run_and_backfill_on_spark_leave_duckdbs_report_fact(demos):
    # the daily job for the last day and a reload of it from the lake, on the cluster:
    # the same files loaded again give the same marts (a daily build on Spark is the full
    # build: its Parquet tables are replaced, never updated in place)
    duck, spark = demos
    run = runner.invoke(app, ["run", "--date", END, "--no-fetch", "--no-reports"], env=spark)
    assert run.exit_code == 0, run.output
    backfill = runner.invoke(
        app, ["backfill", "--from", END, "--to", END, "--no-reports"], env=spark
    )
    assert backfill.exit_code == 0, backfill.output
    assert "failed" not in run.output + backfill.output
    store = connect(spark["TALLY_WAREHOUSE_URL"])
    steps = store.rows(
        "SELECT job, status, count(*) FROM tally_meta.runs WHERE partition_date = ? "
        "AND job IN ('load', 'backfill') GROUP BY ALL ORDER BY ALL",
        [dt.date.fromisoformat(END)],
    )
    assert {(job, status) for job, status, _ in steps} <= {
        ("load", "ok"),
        ("load", "skipped"),
        ("backfill", "ok"),
    }, steps
    reference = connect(f"duckdb:///{duck['TALLY_DATA_DIR']}/warehouse.duckdb")
    columns = ", ".join(reference.columns("marts.report_fact"))
    select = f"SELECT {columns} FROM marts.report_fact ORDER BY ALL"
    assert store.rows(select) == reference.rows(select)
