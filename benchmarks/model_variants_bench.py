"""Versions of one model's SQL against one kept warehouse: the CPU and wall time of each, and
whether each gives the first one's rows.

Each file is a model's SELECT (``--`` comment lines are left out); it is run as
``CREATE TEMPORARY TABLE ... AS`` on a read-only connection to ``--warehouse`` (a copy kept
by analytics_models_bench.py, say, whose marts are built), one after the other, and its rows
compared with the first file's (``EXCEPT ALL`` both ways: 0 rows differ means the same rows,
duplicates counted). CPU is the process's (DuckDB's threads included), what a busy machine
disturbs least. To compare a model before and after a change, write the old version with
``git show <commit>:src/tally/models/marts/<model>.sql``.

Usage: .venv/bin/python benchmarks/model_variants_bench.py --warehouse \\
    COPY.duckdb new.sql old.sql [--runs 1]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb
from hygiene import LoadWatch

# rows of one table the other lacks, both ways, duplicates counted
DIFFERING = (
    "SELECT (SELECT count(*) FROM (SELECT * FROM variant EXCEPT ALL SELECT * FROM first_rows))"
    " + (SELECT count(*) FROM (SELECT * FROM first_rows EXCEPT ALL SELECT * FROM variant))"
)


def model_sql(path: Path) -> str:
    lines = path.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.strip().startswith("--"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--runs", type=int, default=1, help="runs of each file (the least CPU)")
    parser.add_argument("files", type=Path, nargs="+")
    args = parser.parse_args()
    connection = duckdb.connect(str(args.warehouse), read_only=True)
    for number, path in enumerate(args.files):
        sql = model_sql(path)
        timings = []
        for _ in range(max(1, args.runs)):
            began, cpu = time.perf_counter(), time.process_time()
            connection.execute(f"CREATE OR REPLACE TEMPORARY TABLE variant AS {sql}")
            timings.append((time.process_time() - cpu, time.perf_counter() - began))
        spent, wall = min(timings)
        rows = connection.execute("SELECT count(*) FROM variant").fetchone()
        if number == 0:
            connection.execute("CREATE TEMPORARY TABLE first_rows AS SELECT * FROM variant")
            differing = 0
        else:
            found = connection.execute(DIFFERING).fetchone()
            differing = found[0] if found else -1
        count = rows[0] if rows else 0
        print(
            f"{path}: CPU {spent:6.2f} s  wall {wall:6.2f} s  rows {count:,}  "
            f"differing from the first {differing}",
            flush=True,
        )


if __name__ == "__main__":
    watch = LoadWatch()
    main()
    watch.finish()
