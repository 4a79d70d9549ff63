"""What the loader's write into DuckDB costs, apart from preparing (issue 27 item 2).

``sessionize_bench.py`` reports a loaded hit's "writing" as the load's CPU less the
preparing alone; this script takes the write apart. The same log as that bench (the demo
year, one public address per visitor) is prepared once (``loader._prepare``, batches of
``web.load_batch_records``), then, for each variant, the prepared batches are appended into
a fresh warehouse in one transaction (as the loader's writer does) and committed:

- ``default``: as the loader runs;
- ``wal``: ``checkpoint_threshold`` 1 GB (the commit writes a WAL, no checkpoint: the cost
  is moved to a later checkpoint, not saved);
- ``threads1``: DuckDB's ``threads`` 1 (a setting of the whole database);
- ``unordered``: ``preserve_insertion_order`` false (the same, as ``Warehouse.unordered``);
- ``nofsst``, ``nodict``: FSST, or every dictionary compression, disabled for the commit's
  checkpoint (``disabled_compression_methods``);
- ``split``: two transactions, the first four batches then the rest (does a second commit
  compress the first one's rows again?).

Then it times decoding the same records' JSON: ``json.loads``, the loader's scanner
(``loader._decoded_record``) and ``pyarrow.json.read_json`` over a batch joined by newlines.
CPU is the process's (DuckDB's threads included), best of ``--rounds``.

    PYTHONPATH=src python benchmarks/loader_write_probe.py [--hits 60000] [--rounds 3]
        [--variants default,wal,threads1,unordered,nofsst,nodict,split]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import time
from contextlib import ExitStack
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pa_json
from hygiene import LoadWatch, temporary_folder
from sessionize_bench import YEAR, fresh_warehouse, traffic, warm_lookups

from tally.config import load_settings
from tally.web import loader
from tally.web.demo import write_records
from tally.web.hitlog import Record, read_segment, segment_paths
from tally.web.sessions import DaySalts

SETTINGS = {
    "wal": "SET checkpoint_threshold = '1GB'",
    "threads1": "SET threads = 1",
    "unordered": "SET preserve_insertion_order = false",
    "nofsst": "SET disabled_compression_methods = 'fsst'",
    "nodict": "SET disabled_compression_methods = 'dictionary,fsst,dict_fsst'",
}


def prepared(folder: Path, records: list[tuple[str, list[Record]]], size: int) -> list[pa.Table]:
    """The log's batches as the loader prepares them (web.hits rows, Arrow)."""
    settings = load_settings(environ={"TALLY_DATA_DIR": str(folder / "data")})
    store = fresh_warehouse(folder, "prepare")
    sites, salts = loader._site_rules(store), DaySalts.of(store)
    with store.transaction():
        tables = [
            loader._prepare(batch[first : first + size], name, settings, sites, salts).table
            for name, batch in records
            for first in range(0, len(batch), size)
        ]
    store.close()
    return tables


def write(folder: Path, name: str, variant: str, tables: list[pa.Table]) -> str:
    """The tables appended into a fresh warehouse and committed: CPU and wall by step."""
    store = fresh_warehouse(folder, name)
    hits = sum(table.num_rows for table in tables)
    parts = [tables[:4], tables[4:]] if variant == "split" else [tables]
    parts = [part for part in parts if part]  # a short log has no second part
    steps = []
    with store.session() as connection:
        if variant in SETTINGS:
            connection.execute(SETTINGS[variant])
        for part in parts:
            transaction = ExitStack()
            transaction.enter_context(store.transaction())
            cpu, wall = time.process_time(), time.perf_counter()
            for table in part:
                store.append("web.hits", table)
            appended, appended_wall = time.process_time(), time.perf_counter()
            transaction.close()  # COMMIT
            committed, committed_wall = time.process_time(), time.perf_counter()
            rows = sum(table.num_rows for table in part)
            steps.append(
                f"{rows:,} rows: append {(appended - cpu) / rows * 1e6:.2f} µs CPU a hit "
                f"({(appended_wall - wall) / rows * 1e6:.2f} wall), commit "
                f"{(committed - appended) * 1e3:.0f} ms CPU "
                f"({(committed_wall - appended_wall) * 1e3:.0f} wall) = "
                f"{(committed - appended) / rows * 1e6:.2f} µs a hit"
            )
        sizes = _sizes(folder / f"{name}.duckdb")  # before the session's close checkpoints
    store.close()
    return f"{variant:9} {hits:,} hits; " + "; ".join(steps) + f"; {sizes}"


def _sizes(path: Path) -> str:
    wal = path.with_name(path.name + ".wal")
    logged = wal.stat().st_size if wal.exists() else 0
    return f"file {os.path.getsize(path) / 1e6:.1f} MB, WAL {logged / 1e6:.1f} MB"


def decoding(records: list[Record], rounds: int) -> None:
    """CPU a record to decode a batch's JSON, three ways (the collector paused, as in
    ``loader._prepare``)."""
    payloads = [record.payload for record in records]
    schema = pa.schema(
        [(name, pa.string()) for name in ("q", "t", "ip", "ua", "lang", "via")]
        + [("auth", pa.bool_())]
    )
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")

    def arrow() -> None:
        joined = b"\n".join(payloads)
        reading = pa_json.ReadOptions(use_threads=False, block_size=len(joined) + 1)
        pa_json.read_json(pa.py_buffer(joined), read_options=reading, parse_options=options)

    ways = {
        "json.loads": lambda: [json.loads(payload) for payload in payloads],
        "the loader's scanner (_decoded_record)": lambda: [
            loader._decoded_record(payload) for payload in payloads
        ],
        "pyarrow.json.read_json (joined by newlines)": arrow,
    }
    gc.disable()
    try:
        for label, way in ways.items():
            best = float("inf")
            for _ in range(rounds + 1):  # the first call of each warms it up
                started = time.process_time()
                way()
                best = min(best, time.process_time() - started)
            print(
                f"decoding {len(payloads):,} records, {label}: "
                f"{best / len(payloads) * 1e6:.2f} µs CPU each"
            )
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=60_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="default,wal,threads1,nofsst,nodict,split")
    options = parser.parse_args()
    variants = options.variants.split(",")
    unknown = set(variants) - set(SETTINGS) - {"default", "split"}
    if unknown:
        parser.error(f"unknown variants: {', '.join(sorted(unknown))}")
    watch = LoadWatch()
    with temporary_folder("tally-loader-write-probe-") as folder:
        settings = load_settings(environ={"TALLY_DATA_DIR": str(folder / "data")})
        write_records(settings, traffic(*YEAR, options.hits, seed=27))
        records = [
            (path.name, read_segment(path, 0, sealed=True).records)
            for path in segment_paths(Path(settings.web.hit_log_dir))
        ]
        warm_lookups()
        tables = prepared(folder, records, settings.web.load_batch_records)
        write(folder, "warm-up", "default", tables[:1])
        for round_number in range(options.rounds):
            # each round in another order, so no variant always meets the quieter moment
            shift = round_number % len(variants)
            turned = variants[shift:] + variants[:shift]
            for variant in turned:
                print(write(folder, f"{variant}-{round_number}", variant, tables), flush=True)
        decoding(records[0][1][: settings.web.load_batch_records], options.rounds)
    watch.finish()


if __name__ == "__main__":
    main()
