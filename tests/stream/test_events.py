"""Event parsing: the accepted shapes, and errors that name the item and field."""

from __future__ import annotations

import pytest

from tally.errors import BadInputError
from tally.stream.events import parse_batch, parse_event, parse_time


def test_times_in_seconds_milliseconds_and_iso() -> None:
    assert parse_time(1_700_000_000) == 1_700_000_000.0
    assert parse_time(1_700_000_000_500) == 1_700_000_000.5  # milliseconds
    assert parse_time("2023-11-14T22:13:20Z") == 1_700_000_000.0
    assert parse_time("2023-11-15T06:13:20+08:00") == 1_700_000_000.0
    assert parse_time("2023-11-14T22:13:20") == 1_700_000_000.0  # no zone: UTC


def test_an_event_with_defaults_from_its_input() -> None:
    event = parse_event(
        {"values": {"t": 21}, "labels": {"room": 4}},
        default_source="sensors",
        default_key="s1",
        now=5.0,
    )
    assert (event.source, event.key, event.time) == ("sensors", "s1", 5.0)
    assert event.values == {"t": 21.0} and event.labels == {"room": "4"}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ([], "must be a JSON object"),
        ({"key": "k"}, "field 'source'"),
        ({"source": "s", "key": "k", "time": "yesterday"}, "not ISO 8601"),
        ({"source": "s", "key": "k", "values": {"t": True}}, "field 'values.t'"),
        ({"source": "s", "key": "k", "labels": ["x"]}, "field 'labels'"),
    ],
)
def test_bad_events_name_the_field(raw: object, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        parse_event(raw, where="body[0]")


def test_a_batch_keeps_good_events_and_lists_bad_ones_by_index() -> None:
    good = {"source": "s", "key": "k", "time": 1}
    events, errors = parse_batch({"events": [good, {"source": "s"}, good]}, where="body")
    assert len(events) == 2
    assert errors == ["body[1], field 'key': missing or empty key"]
