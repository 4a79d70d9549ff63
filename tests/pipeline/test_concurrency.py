"""Two processes on one DuckDB file: a long load and repeated queries overlap safely.

The design (see docs/ARCHITECTURE.md): short-lived connections, each step holds the file
lock only for itself, and a process that finds it locked waits with a bounded backoff.
"""

import subprocess
import sys
import textwrap
import time

from tally.warehouse import connect

PARTITIONS, ROWS = 30, 20_000

WRITER = textwrap.dedent(
    """
    import datetime as dt, sys
    import pyarrow as pa
    from tally.warehouse import connect
    warehouse = connect(sys.argv[1])
    warehouse.migrate()
    for index in range({partitions}):
        day = dt.date(2016, 1, 1) + dt.timedelta(days=index)
        table = pa.table({{
            "_partition_date": pa.array([day] * {rows}, pa.date32()),
            "value": pa.array(range({rows}), pa.int64()),
        }})
        warehouse.replace_partition("staging.big", table, {{"_partition_date": day}})
        print(index, flush=True)
    """
).format(partitions=PARTITIONS, rows=ROWS)


def test_long_load_and_queries_from_another_process_overlap(tmp_path):
    url = f"duckdb:///{tmp_path}/shared.duckdb"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    reader = connect(url, lock_wait_seconds=30)
    seen: list[int] = []
    while writer.poll() is None:
        try:
            if reader.table_exists("staging.big"):
                seen.append(reader.rows("SELECT count(*) FROM staging.big")[0][0])
        finally:
            reader.close()
        time.sleep(0.01)
    _, errors = writer.communicate()
    assert writer.returncode == 0, errors
    final = reader.rows("SELECT count(*), count(DISTINCT _partition_date) FROM staging.big")
    assert final == [(PARTITIONS * ROWS, PARTITIONS)]  # no write lost
    assert seen, "the reader never got in while the writer ran"
    # readers only ever see whole partitions, and never fewer rows than before
    assert all(count % ROWS == 0 for count in seen)
    assert seen == sorted(seen)
