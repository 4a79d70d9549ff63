"""Issue 23's marts one at a time: the full build's CPU and wall time of each, at a scale.

Builds (once, kept in ``--folder``) the marts bench's data (``marts_bench.generate``, and
its exchange-rate sheet) up to the day before its last day with the subscriber marts, then
builds each analytics mart on a copy of that warehouse, in dependency order, one model per
``build`` call, printing its CPU (the process's, DuckDB's threads included) and wall
seconds. Run it with ``PYTHONPATH`` pointing at two trees, one after the other, to compare
them on the same data (CPU time is what a busy machine disturbs least).

``--together`` builds them in one ``build`` call instead, as marts_bench.py's analytics
build does (each model's own statement timed, then the whole call: the tables written from
settings, the ledger, and opening and closing the warehouse for each model are in the
whole); ``--copy`` names the copy (kept afterwards), ``--compare`` counts the rows of each
subscriber and analytics mart the copy and another warehouse do not share (``EXCEPT ALL``
both ways): the two trees' copies give the same rows when every count is 0.

Usage: PYTHONPATH=$PWD/src .venv/bin/python benchmarks/analytics_models_bench.py \\
    --subscriptions 200000 --folder /tmp/analytics-models [--together --copy new.duckdb] \\
    [--compare /tmp/analytics-models/old.duckdb]
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).parent))

import marts_bench  # noqa: E402

from tally.config import load_settings  # noqa: E402
from tally.lake import Lake  # noqa: E402
from tally.models.sets import ANALYTICS_MODELS, SUBSCRIBER_MODELS  # noqa: E402
from tally.pipeline.build import build, discover_models, ordered  # noqa: E402
from tally.pipeline.context import Context  # noqa: E402
from tally.warehouse import Warehouse, connect  # noqa: E402

TABLES = ("staging.viu_premium_transactions", "staging.viu_premium_subscriber_status")


def prepared(count: int, folder: Path) -> Path:
    """The warehouse with every day but the last loaded and the subscriber marts built."""
    base = folder / "base.duckdb"
    if base.exists():
        return base
    last = marts_bench.FIRST_DAY + dt.timedelta(days=marts_bench.DAYS - 1)
    warehouse = connect(f"duckdb:///{base}")
    warehouse.migrate()
    warehouse.append(marts_bench.RATES, marts_bench.rate_sheet(last - dt.timedelta(days=1)))
    for table, rows in zip(TABLES, marts_bench.generate(count), strict=True):
        earlier = pa.compute.less(rows["_partition_date"], pa.scalar(last, pa.date32()))
        marts_bench._load_in_day_order(warehouse, table, rows.filter(earlier))
    context = Context(load_settings(environ={}), warehouse, Lake(str(folder / "lake")))
    began = time.process_time()
    build(context, [m for m in discover_models() if m.table in SUBSCRIBER_MODELS])
    print(f"subscriber marts, full build: CPU {time.process_time() - began:.2f} s")
    warehouse.close()
    return base


def one_at_a_time(context: Context, names: set[str]) -> None:
    """Each mart in a ``build`` call of its own."""
    total = 0.0
    for model in ordered([m for m in discover_models() if m.table in names]):
        began, cpu = time.perf_counter(), time.process_time()
        outcome = build(context, [model])[model.table]
        spent = time.process_time() - cpu
        total += spent
        wall = time.perf_counter() - began
        print(f"{model.table:36s} CPU {spent:6.2f} s  wall {wall:6.2f} s  {outcome}", flush=True)
    print(f"issue 23's marts, each built alone: CPU {total:.2f} s")


def together(context: Context, names: set[str]) -> None:
    """Every mart in one ``build`` call, each model's statement timed on its own."""
    warehouse: Warehouse = context.warehouse
    materialize = warehouse.materialize
    spent: dict[str, tuple[float, float]] = {}

    def timed(table: str, select_sql: str, uncompressed: Sequence[str] = ()) -> None:
        began, cpu = time.perf_counter(), time.process_time()
        materialize(table, select_sql, uncompressed)
        spent[table] = (time.process_time() - cpu, time.perf_counter() - began)

    warehouse.materialize = timed  # type: ignore[method-assign]
    began, cpu = time.perf_counter(), time.process_time()
    build(context, [m for m in discover_models() if m.table in names])
    whole, whole_wall = time.process_time() - cpu, time.perf_counter() - began
    for table, (seconds, wall) in spent.items():
        print(f"{table:36s} CPU {seconds:6.2f} s  wall {wall:6.2f} s")
    statements = sum(seconds for seconds, _ in spent.values())
    print(
        f"issue 23's marts in one build: CPU {whole:.2f} s, wall {whole_wall:.2f} s "
        f"(the models' statements {statements:.2f} CPU s)"
    )


def compare(copy: Path, other: Path) -> None:
    """Rows of each mart one warehouse has and the other lacks, both ways."""
    connection = duckdb.connect()
    connection.execute(f"ATTACH '{copy}' AS a (READ_ONLY)")
    connection.execute(f"ATTACH '{other}' AS b (READ_ONLY)")
    differing = 0
    for table in SUBSCRIBER_MODELS + ANALYTICS_MODELS:
        one_way = f"SELECT * FROM a.{table} EXCEPT ALL SELECT * FROM b.{table}"
        other_way = f"SELECT * FROM b.{table} EXCEPT ALL SELECT * FROM a.{table}"
        count = connection.execute(
            f"SELECT (SELECT count(*) FROM ({one_way})) + (SELECT count(*) FROM ({other_way}))"
        ).fetchone()
        differing += count[0] if count else 0
        print(f"{table:40s} rows differing: {count[0] if count else 0}")
    print(f"rows differing in all: {differing}")
    connection.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=int, default=200_000)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--together", action="store_true", help="every mart in one build")
    parser.add_argument("--copy", default="copy.duckdb", help="the copy's file name")
    parser.add_argument("--compare", type=Path, help="a warehouse to compare the copy with")
    args = parser.parse_args()
    args.folder.mkdir(parents=True, exist_ok=True)
    copy = args.folder / args.copy
    shutil.copy(prepared(args.subscriptions, args.folder), copy)
    Path(f"{copy}.wal").unlink(missing_ok=True)
    warehouse = connect(f"duckdb:///{copy}")
    warehouse.migrate()  # a base kept by an older tally lacks the newer migrations
    context = Context(load_settings(environ={}), warehouse, Lake(str(args.folder / "lake")))
    names = set(ANALYTICS_MODELS)
    if args.together:
        together(context, names)
    else:
        one_at_a_time(context, names)
    warehouse.close()
    if args.compare is not None:
        compare(copy, args.compare)


if __name__ == "__main__":
    main()
