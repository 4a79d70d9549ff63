"""The engine end to end with a fake clock: late events kept, raw events in the lake,
window state and alerts surviving a restart, an idle stream still closing its windows."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tally.lake import Lake
from tally.stream.engine import Engine
from tally.stream.events import Event
from tally.stream.rules import parse_rules
from tally.stream.settings import stream_settings

DAY = 1_700_006_400.0  # 2023-11-15 00:00:00 UTC

RULES = [
    {
        "name": "volume",
        "type": "threshold",
        "source": "sensors",
        "field": "v",
        "aggregate": "sum",
        "window": {"size": 60, "lateness": 30},
        "op": ">",
        "value": 100,
    },
]


def make(tmp_path: Path, clock, recorder, lake: Lake | None = None, **extra) -> Engine:
    settings = stream_settings(
        {
            "state_dir": str(tmp_path / "state"),
            "route": {"receivers": ["ops"], "group_wait": 0},
            "lake": {"batch_events": 1000},
            # events here are stamped from DAY, 6,400 s past the fake clock's start
            "inputs": {"max_ahead": 7200},
            **extra,
        }
    )
    return Engine(settings, parse_rules(RULES), clock=clock, notifiers={"ops": recorder}, lake=lake)


def test_late_events_within_lateness_count_beyond_are_counted_and_kept(
    tmp_path: Path, clock, recorder
) -> None:
    lake = Lake(str(tmp_path / "lake"))
    engine = make(tmp_path, clock, recorder, lake)
    rule = engine.rules["volume"]
    engine.ingest([Event("sensors", "a", DAY + 10, {"v": 60})])
    engine.ingest([Event("sensors", "a", DAY + 70, {"v": 1})])  # closes [DAY, DAY+60): 60
    assert rule.latest["a"] == (DAY + 60, 60.0)
    # 20 s behind the watermark (DAY+70) and within the 30 s lateness: 60 + 50 = 110
    assert engine.ingest([Event("sensors", "a", DAY + 50, {"v": 50})]) == (1, 0, 0)
    assert rule.latest["a"] == (DAY + 60, 110.0)
    engine.ingest([Event("sensors", "a", DAY + 95, {"v": 1})])  # watermark 95: [0,60) gone
    assert engine.ingest([Event("sensors", "a", DAY + 59, {"v": 500})]) == (0, 1, 0)
    assert rule.latest["a"][1] == 110.0  # the late 500 did not change the result
    assert engine.stats()["late"] == {"volume": 1}
    assert [e.values["v"] for e in engine.late_events] == [500]
    engine.rawlog.flush()
    keys = lake.list("thirdparty/internal/stream-events/")
    assert len(keys) == 1 and keys[0].startswith("thirdparty/internal/stream-events/2023/11/15/")
    records = [json.loads(line) for line in gzip.decompress(lake.get(keys[0])).splitlines()]
    assert len(records) == 5 and [r.get("late", False) for r in records][-1] is True


def test_raw_events_are_partitioned_by_event_day(tmp_path: Path, clock, recorder) -> None:
    lake = Lake(str(tmp_path / "lake"))
    engine = make(tmp_path, clock, recorder, lake)
    engine.ingest([Event("x", "k", DAY - 1, {}), Event("x", "k", DAY + 1, {})])
    days = sorted(k.split("/")[3:6] for k in engine.rawlog.flush())
    assert days == [["2023", "11", "14"], ["2023", "11", "15"]]


def test_restart_keeps_windows_and_alerts_and_does_not_renotify(
    tmp_path: Path, clock, recorder
) -> None:
    engine = make(tmp_path, clock, recorder)
    engine.ingest([Event("sensors", "a", DAY + 1, {"v": 80})])
    engine.checkpoint()
    # a new process: the open window [DAY, DAY+60) still holds 80
    second = make(tmp_path, clock, recorder)
    assert second.restore()
    second.ingest([Event("sensors", "a", DAY + 2, {"v": 40}), Event("sensors", "a", DAY + 61, {})])
    second.tick()
    assert second.rules["volume"].latest["a"] == (DAY + 60, 120.0)  # 80 + 40 across restart
    assert len(recorder.sent) == 1
    second.stop()
    third = make(tmp_path, clock, recorder)
    third.restore()
    clock.advance(60)
    third.tick()
    assert third.book.alerts["volume/a"].state == "firing" and len(recorder.sent) == 1


def test_an_idle_stream_still_closes_its_last_window(tmp_path: Path, clock, recorder) -> None:
    engine = make(tmp_path, clock, recorder, idle_after=10)
    engine.ingest([Event("sensors", "a", clock.now, {"v": 500})])
    engine.tick()
    assert engine.book.alerts == {}  # the window is still open
    clock.advance(75)  # nothing arrives; after 10 idle seconds event time follows the clock
    engine.tick()
    assert engine.book.alerts["volume/a"].state == "firing"


def test_failed_deliveries_are_retried_and_logged(tmp_path: Path, clock, recorder) -> None:
    recorder.failures = 2
    engine = make(tmp_path, clock, recorder)
    engine.deliverer.backoff = 0.001
    engine.ingest([Event("sensors", "a", DAY, {"v": 500}), Event("sensors", "a", DAY + 60, {})])
    engine.tick()
    [entry] = engine.log.read()
    assert (entry["outcome"], entry["attempts"]) == ("sent", 3)
    assert len(recorder.sent) == 1


def test_an_older_snapshot_never_overwrites_a_newer_one(tmp_path: Path, clock, recorder) -> None:
    engine = make(tmp_path, clock, recorder)
    with engine._lock:
        older = engine._alerts_state()
        engine.received = 7
        newer = engine._alerts_state()
    engine._save(engine.alerts_path, newer)
    engine._save(engine.alerts_path, older)  # e.g. the housekeeping thread, late
    assert json.loads(engine.alerts_path.read_text())["received"] == 7


def test_a_second_stop_writes_nothing(tmp_path: Path, clock, recorder) -> None:
    engine = make(tmp_path, clock, recorder)
    engine.start()
    engine.ingest([Event("sensors", "a", DAY + 1, {"v": 80})])
    engine.stop()
    checkpoints = sorted(Path(engine.state_dir).iterdir())
    assert checkpoints  # the first stop wrote the last checkpoint
    for checkpoint in checkpoints:
        checkpoint.unlink()
    engine.stop()  # the process-exit hook after the app's shutdown: nothing to do
    assert list(Path(engine.state_dir).iterdir()) == []


# -- copies counted once (docs/stream.md, "Delivery and duplicates") -------------------------


def reading(value: float, event_id: str = "", offset: float = 1) -> Event:
    return Event("sensors", "a", DAY + offset, {"v": value}, id=event_id)


def test_an_event_id_seen_lately_is_dropped_and_counted_as_a_duplicate(
    tmp_path: Path, clock, recorder
) -> None:
    engine = make(tmp_path, clock, recorder)
    assert engine.ingest([reading(60, "e1"), reading(60, "e1")]) == (1, 0, 1)  # one batch
    assert engine.ingest([reading(60, "e1"), reading(50, "e2")]) == (1, 0, 1)  # a retry
    assert engine.ingest([reading(60), reading(60)]) == (2, 0, 0)  # no id: both count
    engine.ingest([Event("sensors", "a", DAY + 61, {})])  # closes [DAY, DAY+60)
    assert engine.rules["volume"].latest["a"] == (DAY + 60, 230.0)  # 60 + 50 + 60 + 60
    stats = engine.stats()
    assert stats["received"] == 5 and stats["duplicates"] == 2
    assert stats["duplicates_by_kind"] == {"event_id": 2}


def test_ids_are_remembered_for_their_seconds_and_up_to_the_limit(
    tmp_path: Path, clock, recorder
) -> None:
    engine = make(tmp_path, clock, recorder, dedupe={"seconds": 60, "max_entries": 2})
    engine.ingest([reading(1, "e1")])
    clock.advance(61)
    assert engine.ingest([reading(1, "e1")]).duplicates == 0  # past the horizon: counts
    engine.ingest([reading(1, "e2"), reading(1, "e3")])  # e1 is the oldest of three: gone
    assert engine.ingest([reading(1, "e1"), reading(1, "e3")]).duplicates == 1
    off = make(tmp_path / "off", clock, recorder, dedupe={"field": ""})
    assert off.settings.dedupe.field == ""  # the inputs then read no ids (test_http)


def test_the_ids_survive_a_restart_exactly_as_the_windows_do(
    tmp_path: Path, clock, recorder
) -> None:
    engine = make(tmp_path, clock, recorder)
    engine.ingest([reading(60, "e1")])
    engine.checkpoint()
    engine.ingest([reading(30, "e2")])  # after the checkpoint: lost with its count in a crash
    restarted = make(tmp_path, clock, recorder)
    assert restarted.restore()
    # e1 is in the restored windows: its copy is dropped; e2 is not: its copy counts
    assert restarted.ingest([reading(60, "e1"), reading(30, "e2")]) == (1, 0, 1)
    restarted.ingest([Event("sensors", "a", DAY + 61, {})])
    assert restarted.rules["volume"].latest["a"] == (DAY + 60, 90.0)
    restarted.stop()  # the duplicate counter is kept with the alerts
    again = make(tmp_path, clock, recorder)
    again.restore()
    assert again.stats()["duplicates"] == 1


def test_a_redelivery_is_dropped_only_when_its_message_was_accepted(
    tmp_path: Path, clock, recorder
) -> None:
    engine = make(tmp_path, clock, recorder)
    assert not engine.is_redelivery(7)  # never seen: the first delivery was lost, count it
    engine.ingest([reading(60)], delivery=7)
    assert engine.is_redelivery(7)
    engine.remember_delivery(8)  # a message whose events were all refused
    assert engine.is_redelivery(8)
    assert engine.stats()["duplicates_by_kind"] == {"redelivery": 2}
