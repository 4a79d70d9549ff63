"""Two trees' sessionize side by side on the same kept hits, and their rows compared (issue 27).

Each ``--tree`` is the root of a source tree (best a ``git archive`` export, so edits cannot
land mid-run). Round after round, the trees take turns: a child process with that tree's
``src`` first on its path copies the kept hits (``sessionize_profile.py`` keeps them under
its ``--folder``), sessionizes the whole year and prints its wall and CPU seconds with the
load average. Then the first two trees' results are compared, table by table, with
``EXCEPT ALL`` both ways (``web.actions`` every column, ``web.visits``, ``web.pages``,
``web.conversions``): a change meant to be faster must give the same rows.

``--write-floor`` then times what writing the rows alone costs in this schema: the first
tree's ``web.actions`` and ``web.visits`` copied into empty tables of the same definition,
with their primary key and without, beside the bench's floor SQL (a plain sessionization).
No sessionize can cost less than writing its rows. It also times two narrower
``web.actions``, unkeyed: without the columns actions.sql copies from the stored hit (a
narrow table whose reports join ``web.hits`` for them), and then without its other text
columns too (labels, kinds, visitor and visit keys; hit_id kept): how much of the write a
narrower schema could save.

Every DuckDB connection is capped at ``--memory`` (the machine is shared).

Usage: python benchmarks/sessionize_ab.py --kept KEPT.duckdb \\
    --folder FOLDER --tree /path/old --tree /path/new [--rounds 2] \\
    [--write-floor]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

TABLES = ("actions", "visits", "pages", "conversions")
# The columns actions.sql takes from the stored hit in its last join of web.hits (keep in
# step with it): what a narrow web.actions would leave in web.hits.
COPIED_FROM_HITS = (
    "url",
    "action_name",
    "link_url",
    "event_category",
    "event_action",
    "event_name",
    "event_value",
    "idgoal",
    "revenue",
    "pv_id",
    "url_fragment",
)


def child(kept: Path, out: Path, memory: str) -> None:
    """Sessionize a copy of ``kept`` at ``out`` with the tree on the path; print the timing."""
    from tally.warehouse import connect
    from tally.web.sessions import sessionize

    shutil.copy(kept, out)
    store = connect(f"duckdb:///{out}")
    store.migrate()
    store.execute(f"SET memory_limit = '{memory}'")
    before = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    result = sessionize(store)
    wall, spent = time.perf_counter() - started, time.process_time() - cpu
    store.close()
    figures = {"actions": result.actions, "visits": result.visits, "wall": wall, "cpu": spent}
    print(json.dumps(figures | {"load": [before, os.getloadavg()[0]]}))


def run(tree: Path, kept: Path, out: Path, memory: str) -> dict[str, object]:
    environment = dict(os.environ, PYTHONPATH=str(tree / "src"))
    command = [sys.executable, __file__, "--child", str(out), "--kept", str(kept)]
    command += ["--memory", memory]
    done = subprocess.run(command, env=environment, capture_output=True, text=True, check=True)
    found: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def compared(first: Path, second: Path, memory: str) -> bool:
    """Print each table's rows and its differences both ways; True when all are equal."""
    connection = duckdb.connect(config={"memory_limit": memory})
    connection.execute(f"ATTACH '{first}' AS a (READ_ONLY)")
    connection.execute(f"ATTACH '{second}' AS b (READ_ONLY)")
    equal = True
    for table in TABLES:
        sizes = [value(connection, f"SELECT count(*) FROM {side}.web.{table}") for side in "ab"]
        missing = [
            value(
                connection,
                f"SELECT count(*) FROM (SELECT * FROM {one}.web.{table} "
                f"EXCEPT ALL SELECT * FROM {other}.web.{table})",
            )
            for one, other in (("a", "b"), ("b", "a"))
        ]
        equal = equal and sizes[0] == sizes[1] and missing == [0, 0]
        print(
            f"  web.{table}: {sizes[0]:,} and {sizes[1]:,} rows; {missing[0]} only in the "
            f"first, {missing[1]} only in the second"
        )
    connection.close()
    return equal


def value(connection: duckdb.DuckDBPyConnection, sql: str) -> object:
    """The one value ``sql`` answers."""
    found = connection.execute(sql).fetchone()
    assert found is not None
    return found[0]


def write_floor(sessionized: Path, memory: str) -> None:
    """Time writing the year's actions and visits alone, with and without their keys."""
    sys.path.insert(0, str(Path(__file__).parent))
    from sessionize_bench import FLOOR_SQL

    work = sessionized.with_suffix(".floor.duckdb")
    shutil.copy(sessionized, work)
    connection = duckdb.connect(str(work), config={"memory_limit": memory})
    try:
        for table in ("actions", "visits"):
            definition = str(
                value(
                    connection,
                    "SELECT sql FROM duckdb_tables() WHERE schema_name = 'web' "
                    f"AND table_name = '{table}'",
                )
            )
            for copy, keyed in ((f"keyed_{table}", True), (f"bare_{table}", False)):
                made = definition.replace(f"web.{table}(", f"web.{copy}(", 1)
                bare = made.replace("PRIMARY KEY", "")
                connection.execute(keyed_on_first(made) if keyed else bare)
                timed(
                    connection,
                    f"web.{table} copied, {'with' if keyed else 'without'} its primary key",
                    f"INSERT INTO web.{copy} SELECT * FROM web.{table}",
                )
        narrow_writes(connection)
        timed(connection, "the floor SQL", FLOOR_SQL)
    finally:
        connection.close()
        work.unlink(missing_ok=True)


def narrow_writes(connection: duckdb.DuckDBPyConnection) -> None:
    """Time writing web.actions' rows into two narrower unkeyed tables (see the module's
    docstring)."""
    columns = connection.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'web' "
        "AND table_name = 'actions' ORDER BY column_index"
    ).fetchall()
    kept = [name for name, _ in columns if name not in COPIED_FROM_HITS]
    numbers = [
        name for name, kind in columns if name in kept and (kind != "VARCHAR" or name == "hit_id")
    ]
    narrower = (
        (f"without the {len(COPIED_FROM_HITS)} columns copied from web.hits", kept),
        ("without its other text columns too (hit_id kept)", numbers),
    )
    for label, names in narrower:
        listed = ", ".join(names)
        connection.execute(f"CREATE TABLE web.narrow AS SELECT {listed} FROM web.actions LIMIT 0")
        timed(
            connection,
            f"web.actions copied {label}: {len(names)} of {len(columns)} columns, unkeyed",
            f"INSERT INTO web.narrow SELECT {listed} FROM web.actions",
        )
        connection.execute("DROP TABLE web.narrow")


def keyed_on_first(definition: str) -> str:
    """``definition`` with its first column (hit_id, idvisit) the primary key, as before
    DuckDB's tables lost theirs (migration 112)."""
    if "PRIMARY KEY" in definition:
        return definition
    return definition.replace(" VARCHAR NOT NULL,", " VARCHAR NOT NULL PRIMARY KEY,", 1)


def timed(connection: duckdb.DuckDBPyConnection, label: str, sql: str) -> None:
    before = os.getloadavg()[0]
    started, cpu = time.perf_counter(), time.process_time()
    connection.execute(sql)
    wall, spent = time.perf_counter() - started, time.process_time() - cpu
    after = os.getloadavg()[0]
    print(f"  {label}: {wall:.2f} s [{spent:.2f} CPU s], load {before:.1f} -> {after:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kept", type=Path, required=True, help="the kept hits")
    parser.add_argument("--folder", type=Path)
    parser.add_argument("--tree", type=Path, action="append", default=[])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--memory", default="4GB", help="DuckDB memory_limit")
    parser.add_argument("--write-floor", action="store_true")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.kept, args.child, args.memory)
        return
    if args.folder is None or len(args.tree) < 2:
        parser.error("--folder and at least two --tree are needed")
    args.folder.mkdir(parents=True, exist_ok=True)
    outputs = [args.folder / f"tree-{number}.duckdb" for number in range(len(args.tree))]
    try:
        for round_number in range(1, args.rounds + 1):
            for tree, out in zip(args.tree, outputs, strict=True):
                found = run(tree, args.kept, out, args.memory)
                print(f"round {round_number}, {tree}: {found}", flush=True)
        print("rows, first tree against second:")
        print("EQUAL" if compared(outputs[0], outputs[1], args.memory) else "DIFFERENT")
        if args.write_floor:
            print("writing the rows alone (the first tree's):")
            write_floor(outputs[0], args.memory)
    finally:
        for out in outputs:
            out.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
