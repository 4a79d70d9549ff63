"""A real Spark standalone cluster for the tests, as a pytest plugin.

``pytest -p tests.warehouse.spark_cluster`` (``make test-spark``) gives the ``spark``
backend a scratch warehouse, so the backend-parametrised suite also runs on Spark. The
cluster (one master, two workers of one core each, on free loopback ports, from the
pyspark wheel) starts at the first test that needs it and serves the whole session;
every scratch warehouse has its own folder, serving file and catalog prefix on it.
"""

from __future__ import annotations

import atexit
import os
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tally.warehouse.registry import Backend, register
from tally.warehouse.spark.cluster import LocalCluster

_CLUSTER: LocalCluster | None = None
_GUARD = threading.Lock()


def cluster() -> LocalCluster:
    """The session's cluster, started on first use and stopped when the process ends."""
    global _CLUSTER
    with _GUARD:
        if _CLUSTER is None:
            folder = Path(tempfile.mkdtemp(prefix="tally-spark-"))
            started = LocalCluster(folder)
            atexit.register(started.stop)
            started.start(workers=2)
            _CLUSTER = started
    return _CLUSTER


def warehouse_url(folder: Path) -> str:
    """A Spark warehouse URL on the session's cluster with its own files and catalog."""
    master = cluster().master_url.removeprefix("spark://")
    prefix = f"t{uuid.uuid4().hex[:8]}_"
    return (
        f"spark://{master}/?location={folder}/spark-tables&serving={folder}/serving.duckdb"
        f"&prefix={prefix}"
    )


@contextmanager
def scratch_url(folder: Path, _service_url: str = "") -> Iterator[str]:
    yield warehouse_url(folder)


def pytest_unconfigure(config: object) -> None:
    if _CLUSTER is not None:
        _CLUSTER.stop()


os.environ.setdefault("TALLY_TEST_SPARK", "1")
register(
    Backend(
        name="spark",
        schemes=("spark",),
        factory="tally.warehouse.spark:open_warehouse",
        example="spark://MASTER:7077",
        scratch=scratch_url,
    )
)
