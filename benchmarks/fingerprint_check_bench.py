"""What the daily build's fingerprint check costs: reading the stored fingerprints (one small
table), hashing every model's definition and comparing (``pipeline/fingerprints.py``), as
``incremental.build_day`` does before deciding what is daily and what is rebuilt fully.

The warehouse holds one stored fingerprint per model (as after a full build) and nothing
else: the check reads only that table, so its cost does not grow with the data. Each run
is timed in this process (CPU and wall), the median of ``--runs`` taken.

Usage: .venv/bin/python benchmarks/fingerprint_check_bench.py [--runs 50]
    [--warehouse duckdb:///path | postgresql://...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from tally.config import load_settings
from tally.pipeline.build import discover_models
from tally.pipeline.fingerprints import changed, fingerprints, record, stored
from tally.warehouse import connect


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warehouse", help="a migrated warehouse's URL (default: a new file)")
    args = parser.parse_args()
    settings = load_settings(environ={})
    models = discover_models()  # the daily build discovers them anyway
    with tempfile.TemporaryDirectory() as folder:
        warehouse = connect(args.warehouse or f"duckdb:///{folder}/check.duckdb")
        warehouse.migrate()
        print(f"load average before: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
        with warehouse.session():
            for table, found in fingerprints(models, settings, {}).items():
                record(warehouse, table, found, "bench")
            cpu, wall = [], []
            for _ in range(max(1, args.runs)):
                began, cpu_began = time.perf_counter(), time.process_time()
                before = stored(warehouse)
                current = fingerprints(models, settings, before)
                reasons = changed(current, before, models, set(current))
                cpu.append(time.process_time() - cpu_began)
                wall.append(time.perf_counter() - began)
            assert reasons == {}, reasons  # nothing changed: every model stays daily
        warehouse.close()
    print(
        f"{len(models)} models, {args.runs} checks: median CPU "
        f"{statistics.median(cpu) * 1000:.2f} ms, wall {statistics.median(wall) * 1000:.2f} ms "
        f"(min CPU {min(cpu) * 1000:.2f} ms)"
    )
    print(f"load average after: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
