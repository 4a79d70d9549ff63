"""The hit log: framing, torn and damaged records, group commit, rotation."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tally.web.hitlog import HEADER, HitLog, frame, read_segment, scan, segment_paths


def test_frames_round_trip() -> None:
    data = frame(b"one") + frame(b"two")
    found = scan(data, 0, sealed=False)
    assert [r.payload for r in found.records] == [b"one", b"two"]
    # Offsets are where each frame starts: the second after a 10-byte header and 3 bytes.
    assert [r.offset for r in found.records] == [0, HEADER.size + 3]
    assert found.end == len(data) and found.skipped_bytes == 0


def test_a_torn_last_record_waits_in_the_active_segment_and_is_skipped_once_sealed() -> None:
    whole = frame(b"kept")
    torn = frame(b"cut in half")[:-4]
    active = scan(whole + torn, 0, sealed=False)
    assert [r.payload for r in active.records] == [b"kept"]
    assert active.end == len(whole)  # stops before the torn bytes: the writer may finish them
    sealed = scan(whole + torn, 0, sealed=True)
    assert [r.payload for r in sealed.records] == [b"kept"]
    assert sealed.end == len(whole) + len(torn) and sealed.skipped_bytes == len(torn)


def test_damaged_bytes_in_a_sealed_segment_are_skipped_up_to_the_next_good_frame() -> None:
    first, second, third = frame(b"first"), frame(b"second"), frame(b"third")
    damaged = bytearray(second)
    damaged[-1] ^= 0xFF  # checksum no longer matches
    found = scan(first + bytes(damaged) + third, 0, sealed=True)
    assert [r.payload for r in found.records] == [b"first", b"third"]
    assert found.skipped_bytes == len(second)


def test_scan_honours_the_base_offset_and_the_record_limit() -> None:
    data = frame(b"a") + frame(b"b") + frame(b"c")
    found = scan(data, 1000, sealed=False, max_records=2)
    assert [r.offset for r in found.records] == [1000, 1000 + HEADER.size + 1]
    assert found.end == 1000 + 2 * (HEADER.size + 1)


def test_appends_are_durable_and_ids_name_segment_and_offset(tmp_path: Path) -> None:
    log = HitLog(tmp_path, segment_bytes=1 << 20)
    log.start()

    async def send() -> list[list[str]]:
        # 50 concurrent requests: they share fsyncs, and each gets its own ids.
        return await asyncio.gather(*(log.append([f"hit {i}".encode()]) for i in range(50)))

    ids = asyncio.run(send())
    log.close()
    (segment,) = segment_paths(tmp_path)
    found = read_segment(segment, 0, sealed=False)
    by_offset = {r.offset: r.payload for r in found.records}
    assert len(by_offset) == 50
    for number, (hit_id,) in enumerate(ids):
        stem, offset = hit_id.split(":")
        assert stem == segment.name.removesuffix(".hitlog")
        assert by_offset[int(offset)] == f"hit {number}".encode()
    assert log.durable() == (segment.name, segment.stat().st_size)


def test_the_writer_waits_for_more_records_only_after_a_sync_several_requests_shared(
    tmp_path: Path, monkeypatch
) -> None:
    # The writer thread's path (inline_limit=0: the loop never syncs). After a sync that
    # served several requests the writer sleeps commit_delay before the next batch (the
    # clients just answered are about to send more); after a sync that served one
    # request (a lone client) it takes the next batch at once.
    from tally.web import hitlog as module

    slept: list[float] = []
    real_sleep = module.time.sleep

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        real_sleep(seconds)

    monkeypatch.setattr(module.time, "sleep", sleep)
    log = HitLog(
        tmp_path, segment_bytes=1 << 20, commit_delay=0.002, inline_limit=0, sync_helper=False
    )
    log.start()

    async def one_by_one(count: int) -> None:
        for i in range(count):
            await log.append([f"alone {i}".encode()])

    async def together() -> None:
        await asyncio.gather(*(log.append([f"hit {i}".encode()]) for i in range(50)))

    asyncio.run(one_by_one(3))
    assert slept == []  # each sync served one request
    asyncio.run(together())
    asyncio.run(one_by_one(1))  # its batch follows a shared one: the writer slept first
    after_shared = len(slept)
    assert after_shared >= 1 and set(slept) == {0.002}
    asyncio.run(one_by_one(2))  # these follow syncs of one request each: no more sleeps
    log.close()
    assert len(slept) == after_shared
    (segment,) = segment_paths(tmp_path)
    assert len(read_segment(segment, 0, sealed=False).records) == 56


def test_segments_rotate_and_a_restart_starts_a_new_segment(tmp_path: Path) -> None:
    log = HitLog(tmp_path, segment_bytes=100)
    log.start()

    async def send() -> None:
        for i in range(6):  # each record is 10 + 40 bytes: a new segment every 2 batches
            await log.append([bytes([65 + i]) * 40])

    asyncio.run(send())
    log.close()
    assert len(segment_paths(tmp_path)) == 3
    restarted = HitLog(tmp_path, segment_bytes=100)
    restarted.start()
    restarted.close()
    names = [p.name for p in segment_paths(tmp_path)]
    assert len(names) == 4 and names == sorted(names)
    assert names[-1].startswith("0000000004-")


@pytest.mark.parametrize("where", ["on the loop", "by the writer", "by the helper"])
def test_a_failed_sync_fails_its_requests_and_the_next_batch_uses_a_new_segment(
    tmp_path: Path, monkeypatch, where: str
) -> None:
    import os as real_os

    from tally.web import hitlog as module
    from tally.web.hitlog import HitLogError

    real_sync = real_os.fdatasync
    calls = {"n": 0}

    def failing_once(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        real_sync(fd)

    if where == "by the helper":  # the helper's second sync fails the same way
        sync = "        os.fdatasync(fd)\n"
        assert sync in module._HELPER
        failing = (
            "        calls = globals()['calls'] = globals().get('calls', 0) + 1\n"
            "        if calls == 2:\n"
            "            raise OSError(28, 'No space left on device')\n"
        )
        monkeypatch.setattr(module, "_HELPER", module._HELPER.replace(sync, failing + sync))
        log = HitLog(tmp_path, segment_bytes=1 << 20, inline_limit=0)  # never handed over
    else:
        monkeypatch.setattr(module.os, "fdatasync", failing_once)
        inline_limit = 60 if where == "on the loop" else 0
        log = HitLog(tmp_path, segment_bytes=1 << 20, inline_limit=inline_limit, sync_helper=False)
    log.start()

    async def send() -> list[object]:
        outcomes: list[object] = []
        for payload in (b"kept", b"refused", b"after"):
            try:
                outcomes.append(await log.append([payload]))
            except HitLogError as error:
                outcomes.append(error)
        return outcomes

    outcomes = asyncio.run(send())
    log.close()
    assert isinstance(outcomes[1], HitLogError)
    first, second = segment_paths(tmp_path)
    # The refused record was cut from the first segment; the next went to a new one.
    assert [r.payload for r in read_segment(first, 0, sealed=True).records] == [b"kept"]
    assert [r.payload for r in read_segment(second, 0, sealed=False).records] == [b"after"]
    assert outcomes[2] == [f"{second.name.removesuffix('.hitlog')}:0"]
    assert log.helper_batches == (2 if where == "by the helper" else 0)  # the two synced


@given(
    payloads=st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=8),
    cut=st.integers(min_value=0, max_value=400),
)
def test_any_cut_of_a_log_yields_a_prefix_of_the_records_and_never_a_torn_one(
    payloads: list[bytes], cut: int
) -> None:
    data = b"".join(frame(p) for p in payloads)
    cut = min(cut, len(data))
    for sealed in (False, True):
        found = scan(data[:cut], 0, sealed=sealed)
        got = [r.payload for r in found.records]
        # A crash can only lose a suffix: what is read is exactly the first records.
        assert got == payloads[: len(got)]
        whole = sum(HEADER.size + len(p) for p in payloads[: len(got)])
        assert found.end == (cut if sealed else whole)


def test_two_event_loops_share_batches_and_each_request_gets_its_own_ids(
    tmp_path: Path,
) -> None:
    # Each thread runs its own event loop (as a test client's does) and appends bulks of
    # 1 or 2 records into the same batches; the writer wakes each loop for its own.
    import threading

    log = HitLog(tmp_path, segment_bytes=1 << 20)
    log.start()
    results: dict[str, list[list[str]]] = {}

    def run(name: str) -> None:
        async def send() -> list[list[str]]:
            return await asyncio.gather(
                *(
                    log.append([f"{name}{i}a".encode(), f"{name}{i}b".encode()][: 1 + i % 2])
                    for i in range(40)
                )
            )

        results[name] = asyncio.run(send())

    threads = [threading.Thread(target=run, args=(name,)) for name in ("x", "y")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    (segment,) = segment_paths(tmp_path)
    by_offset = {r.offset: r.payload for r in read_segment(segment, 0, sealed=True).records}
    assert len(by_offset) == 2 * (20 + 20 * 2)  # nothing lost, nothing twice
    for name in ("x", "y"):
        for i, ids in enumerate(results[name]):
            expected = [f"{name}{i}a".encode(), f"{name}{i}b".encode()][: 1 + i % 2]
            assert [by_offset[int(hit_id.split(":")[1])] for hit_id in ids] == expected
    assert log.records == 120 and 1 <= log.batches <= 80


def test_a_closed_log_refuses_appends_and_a_restart_loses_nothing(tmp_path: Path) -> None:
    from tally.web.hitlog import HitLogError

    log = HitLog(tmp_path, segment_bytes=1 << 20)
    log.start()

    async def send(target: HitLog, count: int) -> list[list[str]]:
        return await asyncio.gather(*(target.append([b"r%d" % i]) for i in range(count)))

    asyncio.run(send(log, 30))
    log.close()
    with pytest.raises(HitLogError):
        asyncio.run(send(log, 1))
    again = HitLog(tmp_path, segment_bytes=1 << 20)
    again.start()
    asyncio.run(send(again, 5))
    again.close()
    first, second = segment_paths(tmp_path)
    assert [r.payload for r in read_segment(first, 0, sealed=True).records] == [
        b"r%d" % i for i in range(30)
    ]
    assert [r.payload for r in read_segment(second, 0, sealed=False).records] == [
        b"r%d" % i for i in range(5)
    ]


def test_a_request_whose_event_loop_closed_does_not_stop_the_writer(
    tmp_path: Path, monkeypatch
) -> None:
    # A loop that ends while its request waits (a client torn down mid-request) cannot be
    # woken; the writer must go on serving everyone else.
    from tally.web import hitlog as module

    real_sync = module.os.fdatasync

    def slow_sync(fd: int) -> None:
        time.sleep(0.05)  # a slow disk: the abandoned request's loop is closed by the end
        real_sync(fd)

    monkeypatch.setattr(module.os, "fdatasync", slow_sync)
    # the writer thread's path
    log = HitLog(tmp_path, segment_bytes=1 << 20, inline_limit=0, sync_helper=False)
    log.start()

    async def send(payload: bytes) -> list[str]:
        return await log.append([payload])

    async def abandon() -> None:
        # the append's future is left waiting when this loop closes
        waiting = asyncio.ensure_future(send(b"abandoned"))
        await asyncio.sleep(0)
        waiting.cancel()

    asyncio.run(send(b"first"))
    asyncio.run(send(b"second"))  # follows a sync of one: no delay
    asyncio.run(abandon())
    # a dead writer would leave this waiting for ever: a generous guard, not a speed check
    ids = asyncio.run(asyncio.wait_for(send(b"after"), 30))
    log.close()
    (segment,) = segment_paths(tmp_path)
    payloads = [r.payload for r in read_segment(segment, 0, sealed=True).records]
    assert payloads == [b"first", b"second", b"abandoned", b"after"]
    assert ids == [f"{segment.name.removesuffix('.hitlog')}:{sum(10 + n for n in (5, 6, 9))}"]


def _syncs_by_thread(
    monkeypatch, slow: set[int] = frozenset(), seconds: float = 0.0, real: bool = True
) -> list:
    """Replace fdatasync: record (which thread, the file's size when synced) per call; the
    calls numbered in ``slow`` (1-based) take ``seconds`` instead of the real sync, and
    with ``real=False`` the others take no time (a disk that is never slow by itself)."""
    import threading

    from tally.web import hitlog as module

    real_sync = module.os.fdatasync
    calls: list[tuple[int, int]] = []

    def sync(fd: int) -> None:
        calls.append((threading.get_ident(), module.os.fstat(fd).st_size))
        if len(calls) in slow:
            time.sleep(seconds)
        elif real:
            real_sync(fd)

    monkeypatch.setattr(module.os, "fdatasync", sync)
    return calls


def test_on_a_fast_disk_the_loop_syncs_a_batch_and_answers_it_only_after_the_sync(
    tmp_path: Path, monkeypatch
) -> None:
    # A limit of a minute: every sync counts as fast, so the loop syncs them all.
    import threading

    calls = _syncs_by_thread(monkeypatch)
    log = HitLog(tmp_path, segment_bytes=1 << 20, inline_limit=60, sync_helper=False)
    log.start()
    answered: list[tuple[int, int]] = []  # (the thread, syncs done) at each answer

    def settle(outcome: object) -> None:
        answered.append((threading.get_ident(), len(calls)))

    async def send() -> int:
        loop = asyncio.get_running_loop()
        # three requests in one loop iteration: one batch, one sync, then three answers
        for payload in (b"one", b"two", b"three"):
            log.submit([payload], loop, settle)
        await asyncio.sleep(0.05)
        await log.append([b"four"])  # a later iteration: a second batch
        return threading.get_ident()

    loop_thread = asyncio.run(send())
    log.close()
    (segment,) = segment_paths(tmp_path)
    payloads = [r.payload for r in read_segment(segment, 0, sealed=True).records]
    assert payloads == [b"one", b"two", b"three", b"four"]
    # each record is 10 header bytes + payload: the first sync saw 13 + 13 + 15 bytes
    assert calls == [(loop_thread, 41), (loop_thread, 55)]
    assert answered == [(loop_thread, 1)] * 3  # none before the first sync returned
    assert (log.batches, log.inline_batches, log.records, log.handoffs) == (2, 2, 4, 0)


def test_a_slow_sync_on_the_loop_hands_syncing_to_the_writer_until_the_loop_tries_again(
    tmp_path: Path, monkeypatch
) -> None:
    # Syncs 1 and 4 take 50 ms, the others none; the limit is 5 ms on average (weight 1/8).
    # 1 (on the loop) brings the average from 0 to 6.25 ms: syncing goes to the writer for
    # thread_period (0.5 s), so 2 and 3 are the writer's. 3 comes after the period, so
    # after it the loop syncs again, on trial (average 5 ms): 4 brings it to
    # 5 + 45 / 8 = 10.6 ms within 0.5 s of trying, which doubles the period (1 s) and
    # hands 5 to the writer.
    import threading

    calls = _syncs_by_thread(monkeypatch, slow={1, 4}, seconds=0.05, real=False)
    log = HitLog(
        tmp_path, segment_bytes=1 << 20, inline_limit=0.005, thread_period=0.5, sync_helper=False
    )
    log.start()

    async def send(payload: bytes) -> int:
        await log.append([payload])
        return threading.get_ident()

    loop_thread = asyncio.run(send(b"1"))
    asyncio.run(send(b"2"))
    time.sleep(0.6)
    for payload in (b"3", b"4", b"5"):
        asyncio.run(send(payload))
    log.close()
    on_loop = [thread == loop_thread for thread, _ in calls]
    assert on_loop == [True, False, False, True, False]
    assert (log.handoffs, log.inline_batches, log.batches) == (2, 2, 5)
    assert log._period == 1.0
    (segment,) = segment_paths(tmp_path)
    assert [r.payload for r in read_segment(segment, 0, sealed=True).records] == [
        b"1",
        b"2",
        b"3",
        b"4",
        b"5",
    ]


def test_a_request_framed_while_the_writer_syncs_is_answered_when_the_loop_takes_syncing_back(
    tmp_path: Path, monkeypatch
) -> None:
    # Sync 1 (on the loop) takes 50 ms: the average goes from 0 to 6.25 ms, over the 5 ms
    # limit, so the writer syncs "2"; with thread_period 0 the loop may sync again as soon
    # as that sync returns. "3" is framed while the writer holds "2"'s sync: syncing is
    # the writer's then, so no flush is queued for it on the loop. It must still be synced
    # and answered, not wait for some later request to queue a flush.
    import threading

    from tally.web import hitlog as module

    entered, gate = threading.Event(), threading.Event()
    calls: list[int] = []

    def sync(fd: int) -> None:
        calls.append(threading.get_ident())
        if len(calls) == 1:
            time.sleep(0.05)
        elif len(calls) == 2:
            entered.set()
            gate.wait(30)

    monkeypatch.setattr(module.os, "fdatasync", sync)
    log = HitLog(
        tmp_path, segment_bytes=1 << 20, inline_limit=0.005, thread_period=0.0, sync_helper=False
    )
    log.start()

    async def scenario() -> None:
        await log.append([b"1"])
        assert log.handoffs == 1
        second = asyncio.ensure_future(log.append([b"2"]))
        while not entered.is_set():  # the writer is inside "2"'s sync
            await asyncio.sleep(0.001)
        third = asyncio.ensure_future(log.append([b"3"]))
        while not log._count:  # "3" is framed
            await asyncio.sleep(0.001)
        gate.set()
        # a stranded request would wait for ever: a generous guard, not a speed check
        await asyncio.wait_for(asyncio.gather(second, third), 10)

    asyncio.run(scenario())
    log.close()
    assert len(calls) == 3
    (segment,) = segment_paths(tmp_path)
    assert [r.payload for r in read_segment(segment, 0, sealed=True).records] == [
        b"1",
        b"2",
        b"3",
    ]


def test_one_odd_slow_sync_leaves_syncing_on_the_loop(tmp_path: Path, monkeypatch) -> None:
    # Sync 2 takes 20 ms (at least: a sleep), the others none: the average goes
    # 0 → 2.5 ms → 2.19 → 1.91 (20 / 8 × 7/8 × 7/8), under the 5 ms limit, so all four stay
    # on the loop.
    import threading

    calls = _syncs_by_thread(monkeypatch, slow={2}, seconds=0.02, real=False)
    log = HitLog(tmp_path, segment_bytes=1 << 20, inline_limit=0.005, sync_helper=False)
    log.start()

    async def send() -> int:
        for payload in (b"1", b"2", b"3", b"4"):
            await log.append([payload])
        return threading.get_ident()

    loop_thread = asyncio.run(send())
    log.close()
    assert [thread for thread, _ in calls] == [loop_thread] * 4
    assert (log.handoffs, log.inline_batches) == (0, 4)
    assert 0.0019 < log._sync_time < 0.005


def test_a_loop_that_finds_the_file_busy_hands_its_batch_to_the_writer(
    tmp_path: Path, monkeypatch
) -> None:
    # While another batch is being written (held here by taking the log's I/O lock), the
    # loop does not wait for it: the writer thread takes the batch once the file is free.
    import threading

    calls = _syncs_by_thread(monkeypatch)
    log = HitLog(tmp_path, segment_bytes=1 << 20, inline_limit=60, sync_helper=False)
    log.start()
    ids: list[list[str]] = []
    log._io.acquire()
    sender = threading.Thread(target=lambda: ids.append(asyncio.run(log.append([b"x"]))))
    sender.start()
    time.sleep(0.2)
    assert ids == [] and calls == []  # not written, not answered
    log._io.release()
    sender.join(30)
    log.close()
    assert len(ids) == 1 and len(calls) == 1
    assert calls[0][0] not in (threading.get_ident(), sender.ident)  # the writer's thread
    assert (log.batches, log.inline_batches) == (1, 0)


@contextlib.contextmanager
def _stopped(log: HitLog) -> Iterator[None]:
    """The log's sync helper stopped (SIGSTOP) for the block, then let go on."""
    import os
    import signal

    assert log._helper is not None
    os.kill(log._helper.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(log._helper.pid, signal.SIGCONT)


def test_the_sync_helper_syncs_what_the_loop_wrote_and_only_then_is_it_answered(
    tmp_path: Path,
) -> None:
    # The loop writes the batch and goes on; the helper process syncs it. While the helper
    # is stopped the record is written but its request is not answered; the loop serves
    # meanwhile (the sleep below runs), and a request framed meanwhile waits for the next
    # batch, which the answer's flush sends. (inline_limit=0: however slow the disk, the
    # helper is never relieved by the writer thread.)
    log = HitLog(tmp_path, segment_bytes=1 << 20, inline_limit=0)
    log.start()
    answered: list[object] = []

    async def send() -> tuple[int, list[object]]:
        loop = asyncio.get_running_loop()
        with _stopped(log):
            log.submit([b"one"], loop, answered.append)
            await asyncio.sleep(0.2)
            log.submit([b"two"], loop, answered.append)
            await asyncio.sleep(0.2)
            written = segment_paths(tmp_path)[0].stat().st_size
            assert answered == []  # written, not synced: not answered
        three = await log.append([b"three"])
        while len(answered) < 2:
            await asyncio.sleep(0.01)
        return written, [*answered, three]

    written, outcomes = asyncio.run(send())
    log.close()
    (segment,) = segment_paths(tmp_path)
    stem = segment.name.removesuffix(".hitlog")
    assert written == 13  # "one" (10 header bytes + 3): "two" waits for the next batch
    # "one" alone in the first batch; "two" and "three" in the second (13 + 13 = 26)
    assert outcomes == [(stem, 0), (stem, 13), [f"{stem}:26"]]
    assert (log.batches, log.helper_batches, log.inline_batches) == (2, 2, 0)
    assert [r.payload for r in read_segment(segment, 0, sealed=True).records] == [
        b"one",
        b"two",
        b"three",
    ]


def test_a_helper_that_dies_mid_sync_loses_nothing_and_the_loop_syncs_from_then_on(
    tmp_path: Path,
) -> None:
    import os
    import signal

    log = HitLog(tmp_path, segment_bytes=1 << 20)
    log.start()
    answered: list[object] = []
    helper = log._helper
    assert helper is not None

    async def send() -> list[str]:
        loop = asyncio.get_running_loop()
        os.kill(helper.pid, signal.SIGSTOP)
        log.submit([b"one"], loop, answered.append)
        await asyncio.sleep(0.1)  # written and sent to the stopped helper
        os.kill(helper.pid, signal.SIGKILL)  # dies before it synced
        while not answered:
            await asyncio.sleep(0.01)
        return await log.append([b"two"])

    two = asyncio.run(send())
    log.close()
    (segment,) = segment_paths(tmp_path)
    stem = segment.name.removesuffix(".hitlog")
    # "one" synced by the loop once the helper was gone, "two" on the loop as well
    assert answered == [(stem, 0)] and two == [f"{stem}:13"]
    assert (log.batches, log.helper_batches, log.inline_batches) == (2, 0, 1)
    assert log._helper is None and helper.returncode == -signal.SIGKILL
    assert [r.payload for r in read_segment(segment, 0, sealed=True).records] == [
        b"one",
        b"two",
    ]


def test_closing_on_the_loop_while_the_helper_syncs_lands_the_batch(tmp_path: Path) -> None:
    # The server closes its log on its own event loop (the app's shutdown): the loop cannot
    # read the helper's answer then, so close() waits for it and the request is answered
    # once the loop runs again.
    log = HitLog(tmp_path, segment_bytes=1 << 20)
    log.start()
    answered: list[object] = []

    async def shut_down() -> None:
        loop = asyncio.get_running_loop()
        log.submit([b"last"], loop, answered.append)
        await asyncio.sleep(0)  # the flush writes it and asks the helper
        assert log._flight is not None
        log.close()
        await asyncio.sleep(0.01)

    asyncio.run(shut_down())
    (segment,) = segment_paths(tmp_path)
    assert answered == [(segment.name.removesuffix(".hitlog"), 0)]
    assert [r.payload for r in read_segment(segment, 0, sealed=True).records] == [b"last"]


def test_a_batch_of_another_loops_requests_stranded_on_a_closed_loop_is_still_answered(
    tmp_path: Path,
) -> None:
    # The race behind a clean-clone run that hung: loop A's answer queued a flush for what
    # had gathered meanwhile, which was only loop B's request; A's flush wrote it and asked
    # the helper, then A's last request was done and A's loop closed before it read the
    # answer. B's own flush found the file busy and signalled the writer, which found no
    # request gathered and slept. Nobody was left to land the flight: B's request must
    # still be answered (the idle writer looks for such a flight every _RESCUE_PERIOD).
    log = HitLog(tmp_path, segment_bytes=1 << 20)
    log.start()
    loop_a, loop_b = asyncio.new_event_loop(), asyncio.new_event_loop()
    answered: list[object] = []
    try:
        log.submit([b"from b"], loop_b, answered.append)  # queues B's flush on B
        log._flush(loop_a)  # A's flush takes the batch: a flight on A with B's request
        assert log._flight is not None and log._flight.loop is loop_a
        loop_a.close()  # A ends before reading the helper's answer

        async def wait_for_answer() -> None:
            deadline = time.monotonic() + 5
            while not answered and time.monotonic() < deadline:
                await asyncio.sleep(0.01)

        loop_b.run_until_complete(wait_for_answer())
    finally:
        log.close()
        loop_b.close()
    (segment,) = segment_paths(tmp_path)
    assert answered == [(segment.name.removesuffix(".hitlog"), 0)]
    assert [r.payload for r in read_segment(segment, 0, sealed=True).records] == [b"from b"]


def test_slow_syncs_by_the_helper_hand_syncing_to_the_writer_until_the_loop_tries_again(
    tmp_path: Path, monkeypatch
) -> None:
    # The helper times its own syncs (not the loop's wait for a core). Its program is
    # changed so its second sync takes 50 ms: the average (weight 1/8) goes from 0 to over
    # 6 ms, past the 5 ms limit, so the writer thread syncs "3" (this process's
    # fdatasync, recorded), and "4", the first after thread_period (0.3 s), after which
    # the loop tries again: "5" is the helper's.

    from tally.web import hitlog as module

    sync = "        os.fdatasync(fd)\n"
    slow = (  # instead of the real sync: a disk that is never slow by itself
        "        calls = globals()['calls'] = globals().get('calls', 0) + 1\n"
        "        if calls == 2:\n"
        "            time.sleep(0.05)\n"
    )
    monkeypatch.setattr(module, "_HELPER", module._HELPER.replace(sync, slow))
    calls = _syncs_by_thread(monkeypatch, real=False)  # the syncs in this process
    log = HitLog(tmp_path, segment_bytes=1 << 20, inline_limit=0.005, thread_period=0.3)
    log.start()

    async def send(payload: bytes) -> None:
        await log.append([payload])

    for payload in (b"1", b"2", b"3"):
        asyncio.run(send(payload))
    time.sleep(0.4)
    asyncio.run(send(b"4"))
    asyncio.run(send(b"5"))
    writer = log._thread.ident if log._thread is not None else None
    log.close()
    assert log.handoffs == 1
    assert len(calls) == 2 and {thread for thread, _ in calls} == {writer}
    assert (log.batches, log.helper_batches, log.inline_batches) == (5, 3, 0)
    (segment,) = segment_paths(tmp_path)
    assert [r.payload for r in read_segment(segment, 0, sealed=True).records] == [
        b"1",
        b"2",
        b"3",
        b"4",
        b"5",
    ]
