"""A backend added from outside tally's tree: ``example_backend/`` (a DuckDB subclass under
``exampledb://``) registers itself and runs the shared backend suite, with no edit to tally.

The registration is the only thing the suite needs: tests/conftest.py parametrises the
``warehouse`` fixture over the registry's backends when it collects the tests.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tally.config import load_settings
from tally.errors import ConfigError
from tally.warehouse import connect, registry

ROOT = Path(__file__).parent.parent.parent
PLUGIN = "tests.warehouse.example_backend"


@pytest.fixture
def example():
    import tests.warehouse.example_backend as module

    registry.register(module.BACKEND)  # as its import does
    yield module
    registry.unregister("exampledb")


def test_the_registry_opens_the_example_by_its_scheme(example, tmp_path):
    store = connect(f"exampledb:///{tmp_path}/x.duckdb")
    assert isinstance(store, example.ExampleWarehouse)
    assert not store.capabilities.reads_local_files  # its own flags, not DuckDB's
    store.execute("CREATE TABLE t AS SELECT 42 AS answer")
    assert store.rows("SELECT answer FROM t") == [(42,)]


def test_settings_accept_a_registered_scheme_and_name_all_of_them_when_not(example):
    settings = load_settings(environ={"TALLY_WAREHOUSE_URL": "exampledb:///tmp/x.duckdb"})
    assert settings.warehouse_url == "exampledb:///tmp/x.duckdb"
    with pytest.raises(ConfigError) as refused:
        load_settings(environ={"TALLY_WAREHOUSE_URL": "mysql://db/x"})
    message = str(refused.value)
    for scheme in ("duckdb://", "postgresql://", "redshift://", "exampledb://"):
        assert scheme in message, message


def run_suite(paths: list[str]) -> str:
    """pytest with the example loaded as a plugin, only its parametrisation selected."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    environment.pop("PYTEST_XDIST_WORKER", None)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            PLUGIN,
            "-k",
            "exampledb",
            *paths,
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    return done.stdout + done.stderr


def test_the_shared_warehouse_suite_runs_on_the_example_backend():
    """Every test of the warehouse protocol (test_backends.py) runs once on exampledb and
    passes; the count is that file's backend-parametrised tests (7 today)."""
    output = run_suite(["tests/warehouse/test_backends.py"])
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) >= 7, output
    assert "failed" not in output and "error" not in output.lower(), output


@pytest.mark.skipif(
    os.environ.get("TALLY_TEST_EXAMPLE_BACKEND_FULL") != "1",
    reason="the whole shared suite on the example (~75 tests, minutes): "
    "TALLY_TEST_EXAMPLE_BACKEND_FULL=1, or pytest -p tests.warehouse.example_backend -k exampledb",
)
def test_the_whole_shared_suite_runs_on_the_example_backend():
    output = run_suite(["tests"])
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) >= 70, output
    assert " failed" not in output, output
