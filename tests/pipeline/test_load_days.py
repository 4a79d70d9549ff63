"""Several days of one dataset loaded side by side (``load_days``): the same tables,
quarantine and ledger as one day after another, each day still its own transaction."""

import datetime as dt
import threading

import pytest
from tests.pipeline.test_load import local_report

import tally.pipeline.load as loading
from tally.config import load_settings
from tally.errors import QuarantineError
from tally.pipeline.context import open_context
from tally.pipeline.ingest import ingest
from tally.pipeline.load import Loaded, load, load_days
from tally.sources import get_dataset

EVENTS = get_dataset("itunes", "subscription-events")
DAYS = [dt.date(2016, 10, 1) + dt.timedelta(days=n) for n in range(5)]
SMALL, BAD = "itunes_subscription_event_small.txt", "itunes_subscription_event_bad.txt"
# the small file: 4 good rows, quantities 3 + 12 + 2 + 5 = 22; the bad one: lines 2 (Renew,
# 12) and 6 (Refund, 1) good, line 3 a bad date, line 4 five fields of 29, line 5 'many';
# its header has one more column (Paid Service Days Recovered): loaded, it widens the table
FILES = {DAYS[0]: SMALL, DAYS[1]: BAD, DAYS[2]: SMALL, DAYS[3]: SMALL, DAYS[4]: BAD}


@pytest.fixture
def contexts(tmp_path):
    """Two warehouses with the same files landed: one to load side by side, one in turn."""
    opened = []
    for name in ("side-by-side", "in-turn"):
        settings = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path / name)})
        settings.quarantine_threshold = 0.8  # the bad file's 3 of 5 load as well
        context = open_context(settings)
        for day, fixture in FILES.items():
            ingest(context, EVENTS, day, [local_report(tmp_path, fixture)])
        opened.append(context)
    yield opened
    for context in opened:
        context.warehouse.close()


def _everything(context):
    """Staged rows, quarantine and ledger, without what differs between two runs (run
    ids, times, the lake's root)."""
    root = str(context.lake.root)
    staged = context.warehouse.rows(
        "SELECT _partition_date, replace(_file, ?, ''), _line, event, quantity "
        "FROM staging.itunes_subscription_events ORDER BY _partition_date, _line",
        [root],
    )
    quarantined = context.warehouse.rows(
        "SELECT partition_date, replace(file, ?, ''), line, field, reason, raw "
        "FROM tally_meta.quarantine ORDER BY partition_date, line",
        [root],
    )
    ledger = context.warehouse.rows(
        "SELECT partition_date, status, rows_in, rows_out, rows_quarantined, error "
        "FROM tally_meta.runs WHERE job = 'load' ORDER BY partition_date"
    )
    return staged, quarantined, ledger


def _rendezvous(monkeypatch, parties):
    """Every partition replace waits (inside its transaction) until ``parties`` of them
    are inside theirs: loads one after another would never meet (the wait times out)."""
    barrier = threading.Barrier(parties, timeout=60)
    replace = loading._replace

    def meeting(*args, **options):
        if options.get("rows", True):  # a table's change without rows is made alone
            barrier.wait()
        return replace(*args, **options)

    monkeypatch.setattr(loading, "_replace", meeting)


def test_days_side_by_side_equal_days_in_turn(contexts, monkeypatch):
    side, turn = contexts
    for context in contexts:  # the table made and widened first: a schema change is alone
        load(context, EVENTS, DAYS[0])
        load(context, EVENTS, DAYS[1])
    for day in DAYS[1:]:
        load(turn, EVENTS, day)
    _rendezvous(monkeypatch, 2)  # two threads: each pair of days inside at once
    results = list(load_days(side, EVENTS, DAYS[1:], workers=2))
    assert [day for day, _ in results] == DAYS[1:]
    assert all(isinstance(loaded, Loaded) for _, loaded in results)
    # rows that landed: bad file 2, small 4, small 4, bad 2
    assert [loaded.rows for _, loaded in results] == [2, 4, 4, 2]
    assert _everything(side) == _everything(turn)
    staged, quarantined, ledger = _everything(side)
    # 4 + (2 + 4 + 4 + 2) rows; quantities 22 + 13 + 22 + 22 + 13
    assert len(staged) == 16 and sum(row[4] for row in staged) == 92
    # each bad day's three rows, named by file, line and field
    assert [(row[0], row[2], row[3]) for row in quarantined] == [
        (DAYS[1], 3, "Event Date"),
        (DAYS[1], 4, None),
        (DAYS[1], 5, "Quantity"),
        (DAYS[4], 3, "Event Date"),
        (DAYS[4], 4, None),
        (DAYS[4], 5, "Quantity"),
    ]
    assert quarantined[0][1].endswith("2016/10/02/Subscription_Event_85082573_20161002.txt.gz")
    assert quarantined[0][4] == "not a date: '2016-13-45'"
    # one ok step a load (the second day twice): rows in, out, quarantined
    assert [row[:5] for row in ledger] == [
        (DAYS[0], "ok", 4, 4, 0),
        (DAYS[1], "ok", 5, 2, 3),
        (DAYS[1], "ok", 5, 2, 3),
        (DAYS[2], "ok", 4, 4, 0),
        (DAYS[3], "ok", 4, 4, 0),
        (DAYS[4], "ok", 5, 2, 3),
    ]


def test_days_that_create_or_widen_the_table_change_it_alone(contexts, monkeypatch):
    side, turn = contexts
    # no staging table yet: both first days must create it, and the second
    # day's file has a column more; each is refused side by side (SchemaChangeError,
    # nothing written), changes the table alone with no rows, then loads side by side
    for day in DAYS[:4]:
        load(turn, EVENTS, day)
    shapes, replace = [], loading._replace

    def recording(*args, **options):
        if not options.get("rows", True):
            shapes.append(args[2])
        return replace(*args, **options)

    monkeypatch.setattr(loading, "_replace", recording)
    _rendezvous(monkeypatch, 2)  # the first two days meet: neither finds the table
    results = dict(load_days(side, EVENTS, DAYS[:4], workers=2))
    assert sorted(shapes) == DAYS[:2]  # later days find the table as they need it
    assert [results[day].rows for day in DAYS[:4]] == [4, 2, 4, 4]
    assert _everything(side) == _everything(turn)
    # the refusals left no trace: one ok step a day, no failed one
    steps = side.warehouse.rows("SELECT status, count(*) FROM tally_meta.runs GROUP BY status")
    assert dict(steps) == {"ok": len(FILES) + 4}  # 5 ingest steps and 4 loads


def _timed_loads(monkeypatch, hold=None):
    """Record when each day's load starts and ends; with ``hold`` (day, day), the first
    day's load waits (up to 60 s) until the second one has started."""
    events, original = [], loading.load
    started = threading.Event()

    def timed(context, dataset, day, run_id=None):
        events.append(("start", day))
        if hold and day == hold[1]:
            started.set()
        if hold and day == hold[0]:
            assert started.wait(60), f"{hold[1]} never started while {hold[0]} was loading"
        try:
            return original(context, dataset, day, run_id)
        finally:
            events.append(("end", day))

    monkeypatch.setattr(loading, "load", timed)
    return events


def test_a_thread_done_with_its_day_takes_the_next_at_once(contexts, monkeypatch):
    side, _ = contexts
    load(side, EVENTS, DAYS[1])  # the table made and widened
    # two threads, three days: the third starts while the first is still loading (in
    # waves it would wait for the first, which waits for it: the wait would fail)
    _timed_loads(monkeypatch, hold=(DAYS[2], DAYS[4]))
    results = dict(load_days(side, EVENTS, DAYS[2:], workers=2))
    assert [results[day].rows for day in DAYS[2:]] == [4, 4, 2]


def test_a_single_writer_file_is_let_go_between_windows(contexts, monkeypatch):
    side, _ = contexts
    load(side, EVENTS, DAYS[1])
    events = _timed_loads(monkeypatch)
    # windows of 2 days on 2 threads
    results = dict(load_days(side, EVENTS, DAYS[1:], workers=2, days_a_thread=1))
    assert [results[day].rows for day in DAYS[1:]] == [2, 4, 4, 2]
    first, second = {DAYS[1], DAYS[2]}, {DAYS[3], DAYS[4]}
    # every load of the first window ended (its connections closed) before the next began
    last_end = max(index for index, (what, day) in enumerate(events) if day in first)
    first_start = min(index for index, (what, day) in enumerate(events) if day in second)
    assert events[last_end][0] == "end" and last_end < first_start


def test_a_day_past_the_threshold_fails_alone_and_keeps_its_partition(contexts, monkeypatch):
    side, _ = contexts
    load(side, EVENTS, DAYS[0])
    load(side, EVENTS, DAYS[1])  # at the threshold of 0.8: its 2 good rows
    side.settings.quarantine_threshold = 0.05  # the bad file's 3 of 5 (60 %) now fail it
    _rendezvous(monkeypatch, 2)
    results = dict(load_days(side, EVENTS, [DAYS[1], DAYS[3]], workers=2))
    assert isinstance(results[DAYS[1]], QuarantineError)
    assert "3 of 5 rows are bad" in str(results[DAYS[1]])
    assert results[DAYS[3]].rows == 4
    counts = side.warehouse.rows(
        "SELECT _partition_date, count(*) FROM staging.itunes_subscription_events "
        "GROUP BY 1 ORDER BY 1"
    )
    # the failed day kept its 2 rows of before; the other one is whole
    assert counts == [(DAYS[0], 4), (DAYS[1], 2), (DAYS[3], 4)]
    # its bad rows are still quarantined for inspection, and its step says why
    assert side.warehouse.rows(
        "SELECT partition_date, line FROM tally_meta.quarantine ORDER BY line"
    ) == [(DAYS[1], 3), (DAYS[1], 4), (DAYS[1], 5)]
    steps = side.warehouse.rows(
        "SELECT partition_date, status FROM tally_meta.runs WHERE job = 'load' "
        "ORDER BY partition_date"
    )
    assert steps == [(DAYS[0], "ok"), (DAYS[1], "ok"), (DAYS[1], "failed"), (DAYS[3], "ok")]


def test_a_day_given_twice_is_refused(contexts):
    with pytest.raises(ValueError, match="twice"):
        list(load_days(contexts[0], EVENTS, [DAYS[0], DAYS[0]]))


def test_every_backend_loads_days_alike(warehouse, settings, tmp_path, monkeypatch):
    """Where the backend allows parallel partition writes (DuckDB, PostgreSQL) the days
    meet inside their transactions; elsewhere they load in turn: the same rows and
    quarantine either way."""
    from tally.lake import Lake
    from tally.pipeline.context import Context

    settings.quarantine_threshold = 0.8
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    for day in DAYS[:4]:
        ingest(context, EVENTS, day, [local_report(tmp_path, FILES[day])])
    load(context, EVENTS, DAYS[1])  # the table made, with the bad file's extra column
    if warehouse.capabilities.parallel_partition_writes:
        _rendezvous(monkeypatch, 2)  # two threads, two days at a time
    for _ in range(2):  # and again: each day's partition and quarantine replaced, not added
        results = dict(load_days(context, EVENTS, DAYS[:4], workers=2))
        assert [results[day].rows for day in DAYS[:4]] == [4, 2, 4, 4]
        sums = warehouse.rows(
            "SELECT _partition_date, sum(quantity) FROM staging.itunes_subscription_events "
            "GROUP BY 1 ORDER BY 1"
        )
        assert sums == [(DAYS[0], 22), (DAYS[1], 13), (DAYS[2], 22), (DAYS[3], 22)]
        lines = warehouse.rows(
            "SELECT partition_date, line FROM tally_meta.quarantine ORDER BY line"
        )
        assert lines == [(DAYS[1], 3), (DAYS[1], 4), (DAYS[1], 5)]
    # the lake's manifest still holds one row per landed file (a load never writes it)
    assert warehouse.rows("SELECT count(*) FROM tally_meta.lake_files") == [(4,)]


def test_every_backend_creates_and_widens_the_table_alone(
    warehouse, settings, tmp_path, monkeypatch
):
    """No table yet: the first two days must create it (and the bad file's day widen
    it); side by side they are refused, change the table alone and then still load side
    by side (where the backend allows it), with no failed step."""
    from tally.lake import Lake
    from tally.pipeline.context import Context

    settings.quarantine_threshold = 0.8
    context = Context(settings, warehouse, Lake(str(tmp_path / "lake")))
    for day in DAYS[:4]:
        ingest(context, EVENTS, day, [local_report(tmp_path, FILES[day])])
    if warehouse.capabilities.parallel_partition_writes:
        _rendezvous(monkeypatch, 2)  # two days at a time meet, the first two too
    results = dict(load_days(context, EVENTS, DAYS[:4], workers=2))
    assert [results[day].rows for day in DAYS[:4]] == [4, 2, 4, 4]
    steps = warehouse.rows(
        "SELECT status, count(*) FROM tally_meta.runs WHERE job = 'load' GROUP BY status"
    )
    assert steps == [("ok", 4)]
    assert "x_paid_service_days_recovered" in warehouse.columns(
        "staging.itunes_subscription_events"
    )


def test_a_file_duckdb_cannot_read_beside_another_day_is_parsed_in_python(
    contexts, tmp_path, monkeypatch
):
    """A day whose file DuckDB refuses (invalid UTF-8) rolls its one pass back and reads
    the file's lines first, naming it for pyarrow, while the other day loads."""
    import gzip

    from tests.pipeline.test_load import FIXTURES

    side, _ = contexts
    load(side, EVENTS, DAYS[0])
    load(side, EVENTS, DAYS[1])  # the table made and widened
    text = (FIXTURES / SMALL).read_bytes()
    broken = tmp_path / "broken.txt.gz"
    broken.write_bytes(gzip.compress(text + b"2016-10-23\tRenew\t\xff\n", mtime=0))
    ingest(side, EVENTS, DAYS[2], [broken], force=True)
    # both loads start together (each looks for its files once), so they run at once
    barrier, landed = threading.Barrier(2, timeout=60), loading.landed_keys

    def together(*args):
        barrier.wait()
        return landed(*args)

    monkeypatch.setattr(loading, "landed_keys", together)
    results = dict(load_days(side, EVENTS, [DAYS[2], DAYS[3]], workers=2))
    # pyarrow's verdict on the broken day: line 6 alone quarantined, its four others land
    assert (results[DAYS[2]].rows, results[DAYS[2]].rows_read) == (4, 5)
    assert results[DAYS[3]].rows == 4
    quarantined = side.warehouse.rows(
        "SELECT line, reason FROM tally_meta.quarantine WHERE partition_date = ?", [DAYS[2]]
    )
    assert quarantined == [(6, "not valid UTF-8 (invalid start byte at byte 17 of the line)")]


@pytest.mark.parametrize(("pool_size", "threads"), [(2, 0), (8, 2)])
def test_days_at_once_are_at_most_half_the_pool(contexts, monkeypatch, pool_size, threads):
    """Each day side by side holds a connection for its whole load: by default never more
    days at once than half of ``warehouse.pool_size`` (a pool of 2: one, so in turn on the
    calling thread; of 8: up to 4, here the 2 days on 2 loading threads)."""
    side, _ = contexts
    load(side, EVENTS, DAYS[1])  # the table made and widened
    side.settings.warehouse.pool_size = pool_size
    monkeypatch.setattr(loading.os, "cpu_count", lambda: 16)
    seen, original = set(), loading.load

    def recording(*args):
        seen.add(threading.current_thread().name)
        return original(*args)

    monkeypatch.setattr(loading, "load", recording)
    results = dict(load_days(side, EVENTS, DAYS[2:4]))
    assert [results[day].rows for day in DAYS[2:4]] == [4, 4]
    loading_threads = {name for name in seen if name.startswith("tally-load")}
    assert len(loading_threads) == threads
