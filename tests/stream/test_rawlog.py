"""Raw events as gzip JSON lines in the lake, one object per event day and flush."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from tally.lake import Lake
from tally.stream.events import Event
from tally.stream.rawlog import RawLog, json_line


def test_a_line_is_the_events_json_with_late_flagged() -> None:
    event = Event("sensors", 'odd "key"', 1.5, {"t": 21.0}, {"room": "4"})
    assert json.loads(json_line(event)) == event.as_json()
    assert json.loads(json_line(event, late=True))["late"] is True
    assert json.loads(json_line(Event("s", "k", 2.0)))["values"] == {}


def test_flush_writes_one_object_per_day_and_counts(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    log = RawLog(lake, batch_events=3)
    day = 1_700_006_400.0  # 2023-11-15 00:00 UTC
    assert log.add([Event("s", "a", day - 1), Event("s", "b", day + 1)], late={0}) is False
    assert log.add([Event("s", "c", day + 2)]) is True  # three buffered: time to flush
    keys = log.flush()
    assert [k.split("/")[3:6] for k in keys] == [["2023", "11", "14"], ["2023", "11", "15"]]
    first = [json.loads(line) for line in gzip.decompress(lake.get(keys[0])).splitlines()]
    second = [json.loads(line) for line in gzip.decompress(lake.get(keys[1])).splitlines()]
    assert [(r["key"], r.get("late")) for r in first] == [("a", True)]
    assert [r["key"] for r in second] == ["b", "c"]
    assert log.written == 3 and log.flush() == []


def test_without_a_lake_nothing_is_buffered() -> None:
    log = RawLog(None)
    assert log.add([Event("s", "a", 1.0)]) is False and log.flush() == []
