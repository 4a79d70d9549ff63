"""The loader: hit-log records into web.hits exactly once, on every warehouse backend."""

from __future__ import annotations

import datetime as dt
import gc
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tally.config import Settings
from tally.warehouse import Warehouse
from tally.web import loader
from tally.web.hitlog import frame, read_segment, segment_paths
from tally.web.loader import (
    SESSIONIZE_LOCK_KEY,
    LoadResult,
    PrepareFailed,
    load_hits,
    sessionize_alone,
    start_preparer,
)
from tally.web.sites import add_site

BOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def record(query: str, ua: str = FIREFOX, ip: str = "1.1.1.1", auth: bool = False) -> bytes:
    """A record as the tracking endpoint writes it."""
    fields = {
        "q": query,
        "t": "2026-03-10T12:00:00",
        "ip": ip,
        "ua": ua,
        "lang": "en",
        "auth": auth,
        "via": "get",
    }
    return json.dumps(fields).encode()


def write_segment(directory: Path, number: int, payloads: list[bytes], tail: bytes = b"") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{number:010d}-test{number:04d}.hitlog"
    path.write_bytes(b"".join(frame(p) for p in payloads) + tail)
    return path


def pageview(n: int) -> bytes:
    return record(f"idsite=1&rec=1&url=https%3A%2F%2Fshop.example%2F{n}")


@pytest.fixture
def log_dir(settings: Settings) -> Iterator[Path]:
    yield Path(settings.web.hit_log_dir)
    loader.stop_preparer()  # a child a test started (kept between loads) ends with it


def test_every_record_is_loaded_once_however_often_the_loader_runs(
    warehouse: Warehouse, settings: Settings, log_dir: Path
) -> None:
    write_segment(log_dir, 1, [pageview(n) for n in range(3)])
    write_segment(log_dir, 2, [pageview(n) for n in range(3, 5)])
    first = load_hits(warehouse, settings)
    again = load_hits(warehouse, settings)
    assert (first.loaded, again.loaded) == (5, 0)
    urls = [row[0] for row in warehouse.rows("SELECT url FROM web.hits ORDER BY url")]
    assert urls == [f"https://shop.example/{n}" for n in range(5)]
    segments = warehouse.rows(
        "SELECT segment, hits, sealed FROM tally_meta.hitlog_segments ORDER BY segment"
    )
    # Segment 1 is sealed (segment 2 exists); 2 is the active one and may still grow.
    assert [(hits, sealed) for _, hits, sealed in segments] == [(3, True), (2, False)]


def test_records_appended_later_continue_from_the_offset(
    warehouse: Warehouse, settings: Settings, log_dir: Path
) -> None:
    path = write_segment(log_dir, 1, [pageview(0)])
    load_hits(warehouse, settings)
    with open(path, "ab") as file:
        file.write(frame(pageview(1)) + frame(pageview(2)))
    assert load_hits(warehouse, settings).loaded == 2
    assert warehouse.rows("SELECT count(*), count(DISTINCT hit_id) FROM web.hits") == [(3, 3)]


def crash_at_offset_move(
    warehouse: Warehouse, settings: Settings, monkeypatch: pytest.MonkeyPatch, nth: int
) -> None:
    """Load the hit log with the nth statement moving a segment's offset failing, as a
    process killed there would; the warehouse's execute is itself again afterwards."""
    original = warehouse.execute
    offsets_moved = []

    def crash_at_the_nth(sql, params=None):
        if "tally_meta.hitlog_segments" in sql:
            offsets_moved.append(sql)
            if len(offsets_moved) == nth:
                raise RuntimeError("killed")
        return original(sql, params)

    monkeypatch.setattr(warehouse, "execute", crash_at_the_nth)
    with pytest.raises(RuntimeError):
        load_hits(warehouse, settings)
    monkeypatch.setattr(warehouse, "execute", original)


def test_a_crash_before_the_commit_loads_the_batch_on_the_next_run(
    warehouse: Warehouse, settings: Settings, log_dir: Path, monkeypatch
) -> None:
    write_segment(log_dir, 1, [pageview(n) for n in range(4)])
    # The rows are already inserted in the open transaction when the offset moves.
    crash_at_offset_move(warehouse, settings, monkeypatch, 1)
    # Rolled back with the offset: nothing half-loaded.
    assert warehouse.rows("SELECT count(*) FROM web.hits") == [(0,)]
    assert load_hits(warehouse, settings).loaded == 4
    assert warehouse.rows("SELECT count(*), count(DISTINCT url) FROM web.hits") == [(4, 4)]


def test_batches_written_while_the_next_is_prepared_commit_in_order_once(
    warehouse: Warehouse, settings: Settings, log_dir: Path
) -> None:
    # 2 records a batch: segment 1's 9 records are 5 batches, segment 2's 3 are 2, all
    # committed by the writer thread while the loader prepares the next, across segments
    settings.web.load_batch_records = 2
    write_segment(log_dir, 1, [pageview(n) for n in range(9)])
    write_segment(log_dir, 2, [pageview(n) for n in range(9, 12)])
    assert load_hits(warehouse, settings).loaded == 12
    assert warehouse.rows("SELECT count(*), count(DISTINCT url) FROM web.hits") == [(12, 12)]
    segments = warehouse.rows(
        "SELECT hits, loaded_offset, sealed FROM tally_meta.hitlog_segments ORDER BY segment"
    )
    sizes = [path.stat().st_size for path in segment_paths(log_dir)]
    assert segments == [(9, sizes[0], True), (3, sizes[1], False)]
    assert load_hits(warehouse, settings).loaded == 0


def test_a_failed_commit_keeps_the_batches_before_it_and_loads_the_rest_later(
    warehouse: Warehouse, settings: Settings, log_dir: Path, monkeypatch
) -> None:
    settings.web.load_batch_records = 2
    settings.web.load_commit_records = 4  # two batches a commit
    write_segment(log_dir, 1, [pageview(n) for n in range(9)])
    write_segment(log_dir, 2, [])
    crash_at_offset_move(warehouse, settings, monkeypatch, 3)
    # batches 1 and 2 committed (4 records), the third rolled back, none after it written
    assert warehouse.rows("SELECT count(*) FROM web.hits") == [(4,)]
    assert warehouse.rows("SELECT hits FROM tally_meta.hitlog_segments") == [(4,)]
    assert load_hits(warehouse, settings).loaded == 5
    assert warehouse.rows("SELECT count(*), count(DISTINCT url) FROM web.hits") == [(9, 9)]


def test_a_failed_write_rolls_back_every_batch_of_its_commit_with_their_offsets(
    warehouse: Warehouse, settings: Settings, log_dir: Path, monkeypatch
) -> None:
    # batches of 2 (2, 2, 2, 2, 1) in commits of up to 6 records: the first commit holds
    # batches 1-3; the fourth batch's offset move fails, so batch 4 rolls back, and
    # batches 1-3 are committed: 6 records
    settings.web.load_batch_records = 2
    settings.web.load_commit_records = 6
    write_segment(log_dir, 1, [pageview(n) for n in range(9)])
    write_segment(log_dir, 2, [])
    crash_at_offset_move(warehouse, settings, monkeypatch, 4)
    assert warehouse.rows("SELECT count(*) FROM web.hits") == [(6,)]
    assert warehouse.rows("SELECT hits FROM tally_meta.hitlog_segments") == [(6,)]
    # the default (100,000 records a commit): one commit for the whole log, and the
    # third batch's failure rolls back the two batches before it too, rows and offsets
    for table in ("web.hits", "tally_meta.hitlog_segments"):
        warehouse.execute(f"DELETE FROM {table}")
    settings.web.load_commit_records = 100_000
    crash_at_offset_move(warehouse, settings, monkeypatch, 3)
    assert warehouse.rows("SELECT count(*) FROM web.hits") == [(0,)]
    assert warehouse.rows("SELECT count(*) FROM tally_meta.hitlog_segments") == [(0,)]
    assert load_hits(warehouse, settings).loaded == 9
    assert warehouse.rows("SELECT count(*), count(DISTINCT url) FROM web.hits") == [(9, 9)]


def test_a_failed_commit_at_a_segments_end_stops_the_next_segment_too(
    warehouse: Warehouse, settings: Settings, log_dir: Path, monkeypatch
) -> None:
    # segment 1: batches of 2, 2 and 1 (the third offset move fails); segment 2's first
    # batch was being prepared meanwhile and must not be committed after the failure
    settings.web.load_batch_records = 2
    settings.web.load_commit_records = 4
    write_segment(log_dir, 1, [pageview(n) for n in range(5)])
    write_segment(log_dir, 2, [pageview(n) for n in range(5, 8)])
    crash_at_offset_move(warehouse, settings, monkeypatch, 3)
    assert warehouse.rows("SELECT count(*) FROM web.hits") == [(4,)]
    assert warehouse.rows("SELECT segment, hits FROM tally_meta.hitlog_segments") == [
        (segment_paths(log_dir)[0].name, 4)
    ]
    assert load_hits(warehouse, settings).loaded == 4  # segment 1's last, segment 2's 3
    assert warehouse.rows("SELECT count(*), count(DISTINCT url) FROM web.hits") == [(8, 8)]


# A loader process killed outright (SIGKILL: no exception, no clean-up) at a commit:
# inside the transaction, its batches' offsets moved ("before"), or just after COMMIT
# ("after").
KILLED_LOADER = """
import os, signal, sys
from tally.config import load_settings
from tally.warehouse import connect
from tally.web import loader

url, data, where, nth = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
settings = load_settings(environ={"TALLY_DATA_DIR": data})
settings.web.load_batch_records = 2
settings.web.load_commit_records = 4
commits = []
commit = loader._commit

def committed(*arguments, **options):
    if where == "before" and len(commits) == nth - 1:
        os.kill(os.getpid(), signal.SIGKILL)
    commit(*arguments, **options)
    commits.append(1)
    if where == "after" and len(commits) == nth:
        os.kill(os.getpid(), signal.SIGKILL)

loader._commit = committed
loader.load_hits(connect(url), settings)
"""


@pytest.mark.parametrize(("where", "committed"), [("before", 4), ("after", 9)])
def test_a_loader_killed_at_a_commit_loses_and_doubles_nothing_on_the_next_run(
    warehouse: Warehouse,
    settings: Settings,
    log_dir: Path,
    tmp_path: Path,
    where: str,
    committed: int,
) -> None:
    # 7 + 5 records in batches of 2: segment 1's batches hold 2, 2, 2, 1; segment 2's
    # 2, 2, 1. Commits of at least 4 records: 2 + 2; 2 + 1 + 2 (across the segments);
    # 2 + 1. Killed at the second commit: before it, the first's 4 rows stay; after it,
    # 9 rows stay.
    write_segment(log_dir, 1, [pageview(n) for n in range(7)])
    write_segment(log_dir, 2, [pageview(n) for n in range(7, 12)])
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.run(
        [sys.executable, "-c", KILLED_LOADER, warehouse.url, settings.data_dir, where, "2"],
        env=environment,
        capture_output=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()
    assert warehouse.rows("SELECT count(*) FROM web.hits") == [(committed,)]
    assert load_hits(warehouse, settings).loaded == 12 - committed
    assert warehouse.rows("SELECT count(*), count(DISTINCT url) FROM web.hits") == [(12, 12)]
    assert load_hits(warehouse, settings).loaded == 0


def test_a_torn_tail_waits_while_active_and_is_skipped_once_sealed(
    duckdb_warehouse: Warehouse, settings: Settings, log_dir: Path
) -> None:
    torn = frame(pageview(99))[:-7]  # a crash cut the last record short
    write_segment(log_dir, 1, [pageview(0), pageview(1)], tail=torn)
    first = load_hits(duckdb_warehouse, settings)
    assert (first.loaded, first.skipped_bytes) == (2, 0)
    write_segment(log_dir, 2, [pageview(2)])  # the restarted server's new segment
    second = load_hits(duckdb_warehouse, settings)
    assert (second.loaded, second.skipped_bytes) == (1, len(torn))
    assert duckdb_warehouse.rows("SELECT count(*) FROM web.hits") == [(3,)]


def test_bots_are_dropped_unless_asked_for(
    duckdb_warehouse: Warehouse, settings: Settings, log_dir: Path
) -> None:
    write_segment(
        log_dir,
        1,
        [
            record("idsite=1&rec=1&url=https%3A%2F%2Fs%2Fa", ua=BOT),
            record("idsite=1&rec=1&url=https%3A%2F%2Fs%2Fb&bots=1", ua=BOT),
            record("idsite=1&rec=1&url=https%3A%2F%2Fs%2Fc"),
        ],
    )
    result = load_hits(duckdb_warehouse, settings)
    assert (result.loaded, result.bots_dropped) == (2, 1)
    assert duckdb_warehouse.rows("SELECT url, is_bot FROM web.hits ORDER BY url") == [
        ("https://s/b", True),
        ("https://s/c", False),
    ]


def test_unreadable_records_go_to_quarantine_and_do_not_block_the_rest(
    duckdb_warehouse: Warehouse, settings: Settings, log_dir: Path
) -> None:
    write_segment(log_dir, 1, [pageview(0), b"not json", record("idsite=1&rec=0"), pageview(1)])
    result = load_hits(duckdb_warehouse, settings)
    assert (result.loaded, result.quarantined) == (2, 2)
    reasons = duckdb_warehouse.rows(
        "SELECT field, reason FROM tally_meta.quarantine WHERE source = 'web' ORDER BY line"
    )
    assert reasons[0][0] is None and reasons[0][1].startswith("unreadable record")
    assert reasons[1] == ("rec", "rec=1 is required to record a hit")


def test_records_in_other_framings_are_read_as_json_reads_them(
    duckdb_warehouse: Warehouse, settings: Settings, log_dir: Path
) -> None:
    # the endpoint's framing (UTF-8, nothing around the value) is decoded on a quicker path;
    # a BOM, white space, UTF-16 or trailing bytes go to json.loads, which accepts the
    # first three and refuses the last, as before
    plain = pageview(0)
    write_segment(
        log_dir,
        1,
        [
            plain,
            b"\xef\xbb\xbf" + pageview(1),
            b"  " + pageview(2) + b"\n",
            pageview(3).decode().encode("utf-16"),
            plain + b"{}",
            b'"just a string"',
        ],
    )
    result = load_hits(duckdb_warehouse, settings)
    assert (result.loaded, result.quarantined) == (4, 2)
    urls = duckdb_warehouse.rows("SELECT url FROM web.hits ORDER BY url")
    assert [url for (url,) in urls] == [f"https://shop.example/{n}" for n in range(4)]
    reasons = duckdb_warehouse.rows(
        "SELECT reason FROM tally_meta.quarantine WHERE source = 'web' ORDER BY line"
    )
    extra = f"Extra data: line 1 column {len(plain) + 1} (char {len(plain)})"  # json's words
    assert reasons[0][0] == f"unreadable record: {extra}"
    assert reasons[1][0].startswith("unreadable record")


def test_the_active_segment_is_read_only_up_to_the_synced_bytes(
    duckdb_warehouse: Warehouse, settings: Settings, log_dir: Path
) -> None:
    path = write_segment(log_dir, 1, [pageview(0), pageview(1)])
    synced = len(frame(pageview(0)))
    result = load_hits(duckdb_warehouse, settings, durable=lambda: (path.name, synced))
    assert result.loaded == 1


def test_enrichment_ip_country_and_referrer(
    duckdb_warehouse: Warehouse, settings: Settings, log_dir: Path
) -> None:
    duckdb_warehouse.execute(
        "INSERT INTO web.sites VALUES (1, 'Shop', 'https://shop.example', "
        "'[\"https://shop.example\", \"https://m.shop.example\"]', 'UTC', "
        "TIMESTAMP '2026-01-01 00:00:00')"
    )
    settings.web.ip_anonymise_bytes = 1
    internal = "urlref=https%3A%2F%2Fm.shop.example%2Fx"
    write_segment(
        log_dir,
        1,
        [
            record("idsite=1&rec=1&" + internal, ip="8.8.8.8"),
            record("idsite=1&rec=1&urlref=https%3A%2F%2Fwww.bing.com%2Fsearch%3Fq%3Dtv", ip="::1"),
        ],
    )
    load_hits(duckdb_warehouse, settings)
    rows = duckdb_warehouse.rows(
        "SELECT ip, country, referrer_type, referrer_name, referrer_keyword "
        "FROM web.hits ORDER BY hit_id"
    )
    # A referrer on one of the site's own URLs is direct; 1 byte anonymised keeps 8.8.8.
    assert rows == [("8.8.8.0", "US", "direct", None, None), ("::", None, "search", "Bing", "tv")]


def test_retention_deletes_only_sealed_loaded_old_segments(
    duckdb_warehouse: Warehouse, settings: Settings, log_dir: Path
) -> None:
    settings.web.retention_days = 1
    old = write_segment(log_dir, 1, [pageview(0)])
    write_segment(log_dir, 2, [pageview(1)])
    two_days_ago = old.stat().st_mtime - 2 * 86400
    os.utime(old, (two_days_ago, two_days_ago))
    result = load_hits(duckdb_warehouse, settings)
    assert result.segments_deleted == 1
    assert [p.name for p in segment_paths(log_dir)] == ["0000000002-test0002.hitlog"]
    assert load_hits(duckdb_warehouse, settings).loaded == 0


@pytest.mark.parametrize("engine", ["sql", "sorted"])
def test_sessionize_alone_runs_the_engine_the_settings_name(
    warehouse: Warehouse, settings: Settings, engine: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[dict[str, Any]] = []
    monkeypatch.setattr(loader, "sessionize", lambda _warehouse, **options: asked.append(options))
    settings.web.sessionize_engine = engine  # type: ignore[assignment]
    sessionize_alone(warehouse, settings, full=True)
    sessionize_alone(warehouse, settings, engine="sql")  # an explicit engine wins
    assert asked == [{"full": True, "engine": engine}, {"engine": "sql"}]


def test_sessionize_alone_expires_salts_older_than_salt_days(
    warehouse: Warehouse, settings: Settings
) -> None:
    today = dt.datetime.now(dt.UTC).date()
    for age in (0, 1, 2, 3, 30):
        warehouse.execute(
            "INSERT INTO web.visitor_salts VALUES (?, ?)",
            [today - dt.timedelta(days=age), f"salt-{age}"],
        )
    sessionize_alone(warehouse, settings)  # salt_days = 2: days before today - 2 go
    kept = warehouse.rows("SELECT salt FROM web.visitor_salts ORDER BY salt")
    assert kept == [("salt-0",), ("salt-1",), ("salt-2",)]


def test_a_second_sessionize_waits_for_the_advisory_lock_on_postgres(
    warehouse: Warehouse, settings: Settings
) -> None:
    if not warehouse.capabilities.locks_across_processes:
        pytest.skip("one writing process (the file lock): no lock to take across processes")
    import psycopg

    holder = psycopg.connect(warehouse.url, autocommit=True)  # another process's run
    holder.execute("SELECT pg_advisory_lock(%s)", [SESSIONIZE_LOCK_KEY])
    finished = threading.Event()

    def second_run() -> None:
        sessionize_alone(warehouse, settings)
        finished.set()

    runner = threading.Thread(target=second_run)
    runner.start()
    # while the first run holds the lock the second must not get through
    assert not finished.wait(0.5)
    holder.execute("SELECT pg_advisory_unlock(%s)", [SESSIONIZE_LOCK_KEY])
    assert finished.wait(30)
    runner.join()
    holder.close()


ROWS_COMPARED = "SELECT * FROM web.hits ORDER BY hit_id"


def test_a_large_load_prepared_in_a_child_process_gives_the_same_rows_and_offsets(
    warehouse: Warehouse, settings: Settings, log_dir: Path
) -> None:
    add_site(warehouse, "Shop", ["https://shop.example"], "Europe/Berlin")
    # 2 records a batch, so the child runs ahead of the commits and waits for them
    settings.web.load_batch_records = 2
    mixed = [pageview(0), b"not json", record("idsite=1&rec=1&url=x", ua=BOT), pageview(1)]
    write_segment(log_dir, 1, [pageview(n) for n in range(2, 9)] + mixed)
    write_segment(log_dir, 2, [pageview(n) for n in range(9, 12)], tail=frame(pageview(99))[:-7])
    settings.web.load_process_bytes = 1  # every load this size or more goes to a child
    in_child = load_hits(warehouse, settings)
    assert (in_child.loaded, in_child.bots_dropped, in_child.quarantined) == (12, 1, 1)
    segments = "SELECT hits, loaded_offset, sealed FROM tally_meta.hitlog_segments ORDER BY 1"
    sizes = [path.stat().st_size for path in segment_paths(log_dir)]
    torn = len(frame(pageview(99))) - 7
    assert warehouse.rows(segments) == [(3, sizes[1] - torn, False), (9, sizes[0], True)]
    rows = warehouse.rows(ROWS_COMPARED)
    # the day's salt was drawn by the parent for the child: every hit has its IP key
    assert warehouse.rows("SELECT count(ip_key), count(DISTINCT ip_key) FROM web.hits") == [(12, 1)]
    quarantined = "SELECT file, line, reason FROM tally_meta.quarantine WHERE source = 'web'"
    assert [line for _, line, _ in warehouse.rows(quarantined)] == [
        len(b"".join(frame(pageview(n)) for n in range(2, 9))) + len(frame(pageview(0)))
    ]
    # the same log loaded again in this process (the salts stay): the same rows
    in_thread = _loaded_again_in_process(warehouse, settings)
    assert (in_thread.loaded, in_thread.bots_dropped, in_thread.quarantined) == (12, 1, 1)
    assert warehouse.rows(ROWS_COMPARED) == rows


def _loaded_again_in_process(warehouse: Warehouse, settings: Settings) -> LoadResult:
    """The same log loaded again, in this process, after its rows, progress and quarantine
    were deleted (the salts stay, so the IP keys come out the same)."""
    for table in ("web.hits", "tally_meta.hitlog_segments", "tally_meta.quarantine"):
        warehouse.execute(f"DELETE FROM {table}")
    settings.web.load_process_bytes = 0
    return load_hits(warehouse, settings)


def test_a_failure_in_the_child_process_stops_the_load_after_the_batches_before_it(
    duckdb_warehouse: Warehouse, settings: Settings, log_dir: Path
) -> None:
    settings.web.load_batch_records = 2
    settings.web.load_process_bytes = 1
    write_segment(log_dir, 1, [pageview(n) for n in range(5)])
    # a segment the child cannot read (a directory where a file should be)
    (log_dir / f"{2:010d}-test{2:04d}.hitlog").mkdir()
    write_segment(log_dir, 3, [pageview(n) for n in range(5, 7)])
    with pytest.raises(PrepareFailed, match="IsADirectoryError"):
        load_hits(duckdb_warehouse, settings)
    assert duckdb_warehouse.rows("SELECT count(*) FROM web.hits") == [(5,)]
    assert not loader._preparing()  # the failed child is not kept: the next load starts one
    (log_dir / f"{2:010d}-test{2:04d}.hitlog").rmdir()
    assert load_hits(duckdb_warehouse, settings).loaded == 2
    assert duckdb_warehouse.rows("SELECT count(*), count(DISTINCT url) FROM web.hits") == [(7, 7)]


def test_batches_shared_between_the_child_and_the_loading_process_commit_in_order_once(
    warehouse: Warehouse, settings: Settings, log_dir: Path, monkeypatch
) -> None:
    add_site(warehouse, "Shop", ["https://shop.example"], "Europe/Berlin")
    settings.web.load_batch_records = 2
    settings.web.load_share_batches = 2  # every second batch prepared here
    settings.web.load_process_bytes = 1
    mixed = [pageview(0), b"not json", record("idsite=1&rec=1&url=x", ua=BOT), pageview(1)]
    first = write_segment(log_dir, 1, [pageview(n) for n in range(2, 9)] + mixed)
    second = write_segment(
        log_dir, 2, [pageview(n) for n in range(9, 14)], tail=frame(pageview(99))[:-7]
    )
    here: list[int] = []
    original = loader._prepare

    def counted(records: list[Any], *arguments: Any, **options: Any) -> Any:
        here.append(records[0].offset if records else -1)
        return original(records, *arguments, **options)

    monkeypatch.setattr(loader, "_prepare", counted)  # the child (spawned) is not patched
    shared = load_hits(warehouse, settings)
    assert (shared.loaded, shared.bots_dropped, shared.quarantined) == (14, 1, 1)
    # segment 1: batches 1-6 (2, 2, 2, 2, 2, 1 records), segment 2: batches 7-9 (2, 2, 1
    # and the torn tail): batches 2, 4, 6 and 8 were prepared here, the rest in the child
    starts = [[r.offset for r in read_segment(p, 0, sealed=False).records] for p in (first, second)]
    assert here == [starts[0][2], starts[0][6], starts[0][10], starts[1][2]]
    rows = warehouse.rows(ROWS_COMPARED)
    segments = (
        "SELECT segment, loaded_offset, hits, skipped_bytes, sealed"
        " FROM tally_meta.hitlog_segments ORDER BY 1"
    )
    offsets = warehouse.rows(segments)
    quarantined = "SELECT file, line, reason FROM tally_meta.quarantine WHERE source = 'web'"
    refused = warehouse.rows(quarantined)
    # the same log loaded in one process: the same rows, offsets and quarantine
    alone = _loaded_again_in_process(warehouse, settings)
    assert (alone.loaded, alone.bots_dropped, alone.quarantined) == (14, 1, 1)
    assert warehouse.rows(ROWS_COMPARED) == rows
    assert warehouse.rows(segments) == offsets
    assert warehouse.rows(quarantined) == refused


@pytest.mark.parametrize("failing", ["prepare", "read"])
def test_a_failure_preparing_a_shared_batch_here_commits_nothing_after_the_batches_before_it(
    duckdb_warehouse: Warehouse, settings: Settings, log_dir: Path, monkeypatch, failing: str
) -> None:
    settings.web.load_batch_records = 2
    settings.web.load_share_batches = 2
    settings.web.load_process_bytes = 1
    path = write_segment(log_dir, 1, [pageview(n) for n in range(10)])
    calls: list[int] = []
    original_prepare, original_read = loader._prepare, loader._read_batch

    def prepare(*arguments: Any, **options: Any) -> Any:
        calls.append(1)
        if failing == "prepare" and len(calls) == 2:  # batch 4: the second prepared here
            raise RuntimeError("preparing failed")
        return original_prepare(*arguments, **options)

    def read(*arguments: Any) -> Any:
        found = original_read(*arguments)
        if failing == "read" and len(calls) == 1:  # batch 4 read here: one record short
            found.records.pop()
        return found

    monkeypatch.setattr(loader, "_prepare", prepare)
    monkeypatch.setattr(loader, "_read_batch", read)
    expected = PrepareFailed if failing == "read" else RuntimeError
    with pytest.raises(expected, match="read differently" if failing == "read" else "failed"):
        load_hits(duckdb_warehouse, settings)
    # batches 1-3 (6 records) committed in order with their offset; nothing after
    size = len(frame(pageview(0)))
    assert duckdb_warehouse.rows("SELECT count(*), max(url) FROM web.hits") == [
        (6, "https://shop.example/5")
    ]
    offset = "SELECT loaded_offset FROM tally_meta.hitlog_segments"
    assert duckdb_warehouse.rows(offset) == [(6 * size,)]
    assert not loader._preparing()  # the child's unfinished job is not kept
    monkeypatch.undo()
    assert load_hits(duckdb_warehouse, settings).loaded == 4
    found = "SELECT count(*), count(DISTINCT url), count(DISTINCT hit_id) FROM web.hits"
    assert duckdb_warehouse.rows(found) == [(10, 10, 10)]
    assert duckdb_warehouse.rows(offset) == [(path.stat().st_size,)]


def test_a_kept_child_prepares_every_later_load_whatever_its_size(
    warehouse: Warehouse, settings: Settings, log_dir: Path, monkeypatch
) -> None:
    add_site(warehouse, "Shop", ["https://shop.example"], "Europe/Berlin")
    child = start_preparer(wait=True)

    def refused(*arguments: object, **options: object) -> None:
        raise AssertionError("the loading process prepared a batch")

    # only the child (a spawned process, which this patch does not reach) can prepare;
    # the default web.load_process_bytes (1 GiB) would keep a load of a few records here
    monkeypatch.setattr(loader, "_prepare", refused)
    path = write_segment(log_dir, 1, [pageview(n) for n in range(3)])
    assert load_hits(warehouse, settings).loaded == 3
    with open(path, "ab") as file:
        file.write(frame(pageview(3)) + frame(record("idsite=1&rec=1&url=x", ua=BOT)))
    again = load_hits(warehouse, settings)
    assert (again.loaded, again.bots_dropped) == (1, 1)
    assert start_preparer() == child  # one child for both loads
    found = "SELECT count(*), count(DISTINCT url), count(device_type), count(ip_key) FROM web.hits"
    assert warehouse.rows(found) == [(4, 4, 4, 4)]
    # web.load_process_bytes = 0 still means never: this process prepares (and refuses)
    settings.web.load_process_bytes = 0
    with open(path, "ab") as file:
        file.write(frame(pageview(4)))
    with pytest.raises(AssertionError, match="the loading process prepared"):
        load_hits(warehouse, settings)


def test_a_small_load_does_not_wait_for_a_kept_child_still_warming_up(
    duckdb_warehouse: Warehouse, settings: Settings, log_dir: Path, monkeypatch
) -> None:
    start_preparer()  # not waited for: its imports and patterns take seconds
    prepared = []
    original = loader._prepare

    def counted(*arguments: Any, **options: Any) -> Any:
        prepared.append(1)
        return original(*arguments, **options)

    monkeypatch.setattr(loader, "_prepare", counted)
    write_segment(log_dir, 1, [pageview(n) for n in range(3)])
    assert load_hits(duckdb_warehouse, settings).loaded == 3
    assert prepared == [1]  # one batch, prepared here


def test_the_collector_stays_off_until_the_last_of_two_threads_pausing_it_ends() -> None:
    """Two threads pause the collector at once (two loads preparing in one process), the
    first to begin ends first. Its end must not switch the collector back on while the
    second still prepares (it did: each pause put back what it found, and the first
    found it on); the second's end, the last pause, does (it was on before the first)."""
    assert gc.isenabled()
    second_inside, first_ended = threading.Event(), threading.Event()
    seen: dict[str, bool] = {}

    def second() -> None:
        with loader._collector_paused():
            second_inside.set()
            first_ended.wait(10)
            seen["in the second, after the first ended"] = gc.isenabled()

    worker = threading.Thread(target=second)
    try:
        with loader._collector_paused():
            worker.start()
            assert second_inside.wait(10)
            seen["in both"] = gc.isenabled()
        first_ended.set()
        worker.join(10)
        seen["after both"] = gc.isenabled()
    finally:
        first_ended.set()
        worker.join(10)
        gc.enable()  # whatever happened, the next tests run with the collector on
    assert seen == {
        "in both": False,
        "in the second, after the first ended": False,
        "after both": True,
    }
