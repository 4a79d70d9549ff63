"""Shared fixtures: services by URL (skip, or fail under TALLY_REQUIRE_SERVICES=1),
warehouses parametrised over every backend, and isolated settings."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tally.config import Settings, load_settings
from tally.warehouse import Warehouse, connect, registry

FIXTURES = Path(__file__).parent / "fixtures"

# pytest-xdist starts its workers with COLUMNS=80; rich consoles made when tally.cli is imported
# would keep that width for good, so a test's own COLUMNS (as in `tally lake ls`) would not apply.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.pop("COLUMNS", None)

SERVICE_DEFAULTS = {
    "postgres": ("TALLY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    "mqtt": ("TALLY_TEST_MQTT_URL", "mqtt://127.0.0.1:1883"),
    "redis": ("TALLY_TEST_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "nats": ("TALLY_TEST_NATS_URL", "nats://127.0.0.1:4222"),
}


def service_url(name: str) -> str:
    """The URL of a local test service; skips (or fails when required) if unreachable."""
    variable, default = SERVICE_DEFAULTS[name]
    url = os.environ.get(variable, default)
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname, parsed.port), timeout=2):
            pass
    except OSError as error:
        message = f"{name} not reachable at {parsed.hostname}:{parsed.port} ({variable}): {error}"
        if os.environ.get("TALLY_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_url() -> str:
    return service_url("postgres")


@pytest.fixture
def mqtt_url() -> str:
    return service_url("mqtt")


@pytest.fixture
def nats_url() -> str:
    return service_url("nats")


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[object]:
    """Three nats-server processes with JetStream and cluster routes (tests/nats_cluster.py)."""
    from tests.nats_cluster import nats_cluster_or_skip

    cluster = nats_cluster_or_skip(tmp_path / "nats")
    try:
        yield cluster
    finally:
        cluster.stop()


def _fresh_postgres_schema_url(base: str) -> Iterator[str]:
    """A throwaway database so tests never see each other's tables."""
    with registry.backend_for(base).scratch_url(Path("."), base) as url:
        yield url


def backend_names() -> list[str]:
    """The registered backends the shared suite runs on: those that can make a scratch
    database here (a test plugin, ``pytest -p MODULE``, may register another)."""
    return [backend.name for backend in registry.backends() if backend.scratch is not None]


def scratch_warehouse(name: str, folder: Path) -> Iterator[Warehouse]:
    """A migrated, empty warehouse of the registered backend ``name``, dropped afterwards;
    skips (or fails under TALLY_REQUIRE_SERVICES=1) when its service is down.

    On DuckDB and PostgreSQL it is a copy of one warehouse migrated once per test process
    (a file copied; ``CREATE DATABASE … TEMPLATE``): a copy costs less than running every
    migration again for each of the suite's hundreds of warehouses
    (benchmarks/scratch_db_bench.py). Other backends (test plugins) migrate each one."""
    backend = next(b for b in registry.backends() if b.name == name)
    server = service_url(backend.service) if backend.service else ""
    copied = {"duckdb": _duckdb_copy, "postgres": _postgres_copy}.get(name)
    scratch = copied(folder, server) if copied else backend.scratch_url(folder, server)
    with scratch as url:
        store = connect(url)
        try:
            store.migrate()  # nothing left to apply on a copy
            yield store
        finally:
            store.close()


# the migrated originals of this test process: DuckDB's file, PostgreSQL's database per server
_MIGRATED: dict[str, str] = {}
_DROP_AT_END: list[tuple[str, str]] = []  # (server, database) made by this process


@contextmanager
def _duckdb_copy(folder: Path, _server: str) -> Iterator[str]:
    if "duckdb" not in _MIGRATED:
        original = Path(tempfile.mkdtemp(prefix="tally-migrated-")) / "warehouse.duckdb"
        store = connect(f"duckdb:///{original}")
        try:
            store.migrate()
        finally:
            store.close()  # checkpointed: the file alone is the whole database
        _MIGRATED["duckdb"] = str(original)
    shutil.copyfile(_MIGRATED["duckdb"], folder / "warehouse.duckdb")
    yield f"duckdb:///{folder}/warehouse.duckdb"


def _database_url(server: str, database: str) -> str:
    return urlparse(server)._replace(path=f"/{database}").geturl()


def _postgres_template(server: str) -> str:
    """This process's migrated database on ``server``, made on first use; it takes no
    connections once migrated (a template being copied must have no other session, and
    autovacuum leaves such a database alone)."""
    import psycopg

    key = f"postgres {server}"
    if key not in _MIGRATED:
        name = f"tally_template_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
            _DROP_AT_END.append((server, name))
            store = connect(_database_url(server, name))
            try:
                store.migrate()
            finally:
                store.close()
            admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        _MIGRATED[key] = name
    return _MIGRATED[key]


@contextmanager
def _postgres_copy(_folder: Path, server: str) -> Iterator[str]:
    """A throwaway copy of the migrated template, dropped afterwards."""
    import psycopg

    template = _postgres_template(server)
    name = f"tally_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        # a commit need not wait for the disk: a test's database never outlives a crash
        # of the server, and what other sessions see is the same
        admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    try:
        yield _database_url(server, name)
    finally:
        # dropped while the next test runs: DROP DATABASE forces a checkpoint, a wait
        # the test process need not sit through
        _dropper().submit(_drop_database, server, name)


_DROPPING: list[ThreadPoolExecutor] = []


def _dropper() -> ThreadPoolExecutor:
    if not _DROPPING:
        _DROPPING.append(ThreadPoolExecutor(1, thread_name_prefix="drop-database"))
    return _DROPPING[0]


def _drop_database(server: str, name: str) -> None:
    import psycopg

    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Drop the migrated originals this test process made, once the copies are dropped."""
    if _DROPPING:
        _DROPPING.pop().shutdown(wait=True)
    if "duckdb" in _MIGRATED:
        shutil.rmtree(Path(_MIGRATED.pop("duckdb")).parent, ignore_errors=True)
    if _DROP_AT_END:
        for server, name in _DROP_AT_END:
            _drop_database(server, name)
        _DROP_AT_END.clear()
        _MIGRATED.clear()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # every test that uses ``warehouse`` (directly or through another fixture) runs once
    # per registered backend, read from the registry at collection time
    if "warehouse" in metafunc.fixturenames:
        metafunc.parametrize("warehouse", backend_names(), indirect=True)


@pytest.fixture
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """A migrated, empty warehouse on each registered backend."""
    yield from scratch_warehouse(request.param, tmp_path)


@pytest.fixture
def duckdb_warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    yield from scratch_warehouse("duckdb", tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings rooted in a temporary data dir, ignoring the developer's environment."""
    return load_settings(environ={"TALLY_DATA_DIR": str(tmp_path / "data")})


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """moto's S3 server on loopback for the whole session (reset per test by s3_bucket)."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> Iterator[str]:
    """An empty bucket ``ott-csv-unload`` (the seed's) on the moto server."""
    import httpx
    import s3fs

    httpx.post(f"{s3_endpoint}/moto-api/reset")
    s3fs.S3FileSystem.clear_instance_cache()
    fs = s3fs.S3FileSystem(
        key="testing", secret="testing", client_kwargs={"endpoint_url": s3_endpoint}
    )
    fs.mkdir("ott-csv-unload")
    yield "ott-csv-unload"
    s3fs.S3FileSystem.clear_instance_cache()
