"""A test's own PostgreSQL database: created empty and migrated, or copied from a migrated
template (``CREATE DATABASE … TEMPLATE``).

Every PostgreSQL test gets a throwaway database (``warehouse/postgres.scratch_url``) that
``migrate()`` then fills with tally's own tables. Copying a database migrated once would
skip the migrations; this bench measures whether it is faster. The two ways run
interleaved, ``--runs`` times each, on the server at ``--url``; it prints each run's wall
seconds (the work is the server's, so the process's own CPU time says little), the
medians and the ratio, with the load average before and after.

    PYTHONPATH=src python benchmarks/scratch_db_bench.py [--runs 7]
        [--url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
import uuid
from urllib.parse import urlparse

import psycopg

from tally.warehouse import connect


def _database_url(server: str, name: str) -> str:
    return urlparse(server)._replace(path=f"/{name}").geturl()


def _drop(server: str, name: str) -> None:
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def created_and_migrated(server: str) -> tuple[float, float]:
    """Seconds to create an empty database, and to migrate it (as each test does now)."""
    name = f"tally_bench_{uuid.uuid4().hex[:10]}"
    started = time.perf_counter()
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    created = time.perf_counter()
    warehouse = connect(_database_url(server, name))
    warehouse.migrate()
    warehouse.close()
    migrated = time.perf_counter()
    _drop(server, name)
    return created - started, migrated - created


def copied(server: str, template: str) -> float:
    """Seconds to copy the migrated template into a new database."""
    name = f"tally_bench_{uuid.uuid4().hex[:10]}"
    started = time.perf_counter()
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    spent = time.perf_counter() - started
    _drop(server, name)
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--runs", type=int, default=7)
    arguments = parser.parse_args()
    server = arguments.url
    print(f"load before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    template = f"tally_bench_template_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{template}"')
    try:
        warehouse = connect(_database_url(server, template))
        warehouse.migrate()
        warehouse.close()  # a template must have no other session while it is copied
        creates, migrates, copies = [], [], []
        for _ in range(arguments.runs):
            create, migrate = created_and_migrated(server)
            creates.append(create)
            migrates.append(migrate)
            copies.append(copied(server, template))
    finally:
        _drop(server, template)
    fresh = [c + m for c, m in zip(creates, migrates, strict=True)]
    print(
        "create + migrate s: "
        + " ".join(f"{c:.3f}+{m:.3f}" for c, m in zip(creates, migrates, strict=True))
    )
    print("copy template s   : " + " ".join(f"{s:.3f}" for s in copies))
    median_fresh, median_copy = statistics.median(fresh), statistics.median(copies)
    print(
        f"median s: create {statistics.median(creates):.3f} + migrate "
        f"{statistics.median(migrates):.3f} = {median_fresh:.3f}; copy {median_copy:.3f} "
        f"(copy / create+migrate {median_copy / median_fresh:.2f})"
    )
    print(f"load after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
