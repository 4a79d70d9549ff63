"""The writer lock of one database in a process: alone, or shared among the threads that
load different partitions side by side (``Warehouse.shared_writes``)."""

import threading
import time

import pytest

from tally.errors import TallyError
from tally.warehouse import SchemaChangeError
from tally.warehouse.base import WriterLock


def _thread(target):
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def test_shared_writers_hold_the_lock_together():
    lock = WriterLock()
    both_inside = threading.Barrier(2, timeout=30)  # breaks unless both hold it at once

    def write():
        with lock.shared():
            both_inside.wait()

    threads = [_thread(write) for _ in range(2)]
    for thread in threads:
        thread.join(30)
    assert not both_inside.broken


def test_a_writer_alone_waits_for_the_shared_ones_and_holds_back_new_ones():
    lock = WriterLock()
    order: list[str] = []
    first_in = threading.Event()

    def first_shared():
        with lock.shared():
            first_in.set()
            time.sleep(0.3)  # the lone writer and the second shared writer arrive meanwhile
            order.append("shared 1 out")

    def alone():
        first_in.wait(30)
        with lock:
            order.append("alone in")
            time.sleep(0.1)
            order.append("alone out")

    def second_shared():
        first_in.wait(30)
        time.sleep(0.1)  # after the lone writer began to wait
        with lock.shared():
            order.append("shared 2 in")

    threads = [_thread(first_shared), _thread(alone), _thread(second_shared)]
    for thread in threads:
        thread.join(30)
    # the lone writer came in only once the first shared writer was out, and the second
    # shared writer, who came while it waited, only after it
    assert order == ["shared 1 out", "alone in", "alone out", "shared 2 in"]


def test_the_lone_writer_may_nest_and_a_shared_one_may_not_turn_alone():
    lock = WriterLock()
    with lock, lock, lock.shared():  # nested transactions of the lone writer
        pass
    with lock.shared(), lock.shared():  # a nested shared hold never waits
        with pytest.raises(RuntimeError, match="wait on itself"):
            lock.__enter__()
    with lock:  # and it is free again
        pass


def test_shared_writes_refuse_a_schema_change_on_duckdb(duckdb_warehouse):
    import pyarrow as pa

    rows = pa.table({"day": [1], "value": [2]})
    with duckdb_warehouse.shared_writes():
        with pytest.raises(SchemaChangeError):  # a new table
            duckdb_warehouse.replace_partition("main.t", rows, {"day": 1})
        with duckdb_warehouse.shared_writes(False):  # alone: allowed
            duckdb_warehouse.replace_partition("main.t", rows, {"day": 1})
        wider = rows.append_column("more", pa.array([3]))
        with pytest.raises(SchemaChangeError):  # a new column
            duckdb_warehouse.replace_partition("main.t", wider, {"day": 2})
        second = pa.table({"day": [2], "value": [5]})
        duckdb_warehouse.replace_partition("main.t", second, {"day": 2})  # no change: fine
    assert issubclass(SchemaChangeError, TallyError)
    assert duckdb_warehouse.rows("SELECT day, value FROM main.t ORDER BY day") == [(1, 2), (2, 5)]
