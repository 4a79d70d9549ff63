"""Where the hit loader's writing goes (issue 27): the same prepared batches inserted into
``web.hits`` as it is (``hit_id`` its primary key) and into a copy without the key.

The loader's work before DuckDB is timed by ``sessionize_bench.py``; this script times the
other half alone. It logs the bench's year of traffic once into ``--folder`` (kept, so a
second run reuses it), prepares every batch as ``load_hits`` does (``loader._prepare`` and
its Arrow table), then, alternating, inserts the batches into fresh warehouses (one
transaction a batch, a CHECKPOINT at the end) and prints CPU and wall µs per hit. With
``--commits`` both ways keep the key and differ in transactions: one a batch, or all the
batches in one (the loader's commits of ``web.load_commit_records``).

    PYTHONPATH=src python benchmarks/loader_write_profile.py --folder DIR [--hits N] [--rounds N]
                                                             [--commits]
"""

from __future__ import annotations

import argparse
import os
import shutil
import time
from pathlib import Path

import pyarrow as pa
from sessionize_bench import YEAR, fresh_warehouse, traffic

from tally.config import load_settings
from tally.warehouse import Warehouse
from tally.web import loader
from tally.web.demo import write_records
from tally.web.hitlog import read_segment, segment_paths
from tally.web.sessions import DaySalts

WITHOUT_KEY = [
    "CREATE TABLE web.hits_copy AS SELECT * FROM web.hits LIMIT 0",
    "DROP TABLE web.hits",
    "ALTER TABLE web.hits_copy RENAME TO hits",
]


def prepared(folder: Path, hits: int) -> list[pa.Table]:
    """The log's batches as the loader's Arrow tables (the log written on the first run)."""
    settings = load_settings(environ={"TALLY_DATA_DIR": str(folder / "data")})
    directory = Path(settings.web.hit_log_dir)
    if not directory.exists() or not segment_paths(directory):
        write_records(settings, traffic(*YEAR, hits, seed=27))
    store = fresh_warehouse(folder / "work", "prepare")
    sites, salts = loader._site_rules(store), DaySalts.of(store)
    size, tables = settings.web.load_batch_records, []
    with store.transaction():
        for path in segment_paths(directory):
            records = read_segment(path, 0, sealed=True).records
            for first in range(0, len(records), size):
                batch = loader._prepare(
                    records[first : first + size], path.name, settings, sites, salts
                )
                tables.append(batch.table)
    store.close()
    return tables


def timed_writes(store: Warehouse, tables: list[pa.Table], grouped: bool) -> tuple[float, float]:
    """CPU and wall seconds of inserting every batch, one transaction each (or, ``grouped``,
    all in one transaction, as the loader's commits of ``web.load_commit_records`` join
    its batches), then a checkpoint."""
    started, cpu = time.perf_counter(), time.process_time()
    # one session, as load_hits holds: without it each transaction opened the file and
    # closing it checkpointed, about 6 µs a hit more than a load pays
    with store.session():
        if grouped:
            with store.transaction():
                for table in tables:
                    store.append("web.hits", table)
        else:
            for table in tables:
                with store.transaction():
                    store.append("web.hits", table)
        store.execute("CHECKPOINT")
    return time.process_time() - cpu, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, required=True, help="kept log and warehouses")
    parser.add_argument("--hits", type=int, default=60_000, help="about this many hits")
    parser.add_argument("--rounds", type=int, default=2, help="writes each way")
    parser.add_argument(
        "--commits",
        action="store_true",
        help="compare a transaction a batch with all batches in one (keyed both ways)",
    )
    options = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    shutil.rmtree(options.folder / "work", ignore_errors=True)
    tables = prepared(options.folder, options.hits)
    hits = sum(table.num_rows for table in tables)
    for round_number in range(options.rounds):
        for flag in (True, False) if round_number % 2 == 0 else (False, True):
            keyed, grouped = (True, flag) if options.commits else (flag, False)
            store = fresh_warehouse(options.folder / "work", f"write-{round_number}-{flag}")
            if not keyed:
                for statement in WITHOUT_KEY:
                    store.execute(statement)
            cpu, wall = timed_writes(store, tables, grouped)
            store.close()
            way = (
                ("in one transaction" if grouped else f"in {len(tables)} transactions")
                if options.commits
                else f"{'with' if keyed else 'without'} its primary key"
            )
            print(
                f"{hits:,} hits into web.hits {way}: "
                f"{cpu / hits * 1e6:.1f} µs CPU, {wall / hits * 1e6:.1f} µs wall a hit"
            )
    shutil.rmtree(options.folder / "work", ignore_errors=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
