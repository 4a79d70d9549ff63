"""Event parsing: the accepted shapes, and errors that name the item and field."""

from __future__ import annotations

import pytest

from tally.errors import BadInputError
from tally.stream.events import Event, parse_batch, parse_event, parse_time


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


def test_an_event_id_is_read_from_the_configured_field_only() -> None:
    raw = {"source": "s", "key": "k", "event_id": "e-1", "id": "other"}
    assert parse_event(raw, id_field="event_id").id == "e-1"
    assert parse_event(dict(raw, event_id=42), id_field="event_id").id == "42"
    assert parse_event(raw).id == ""  # no field configured: no ids, every copy counts
    assert parse_event({"source": "s", "key": "k"}, id_field="event_id").id == ""
    events, errors = parse_batch([dict(raw, event_id=1.5)], where="body", id_field="event_id")
    assert events == [] and "field 'event_id'" in errors[0] and "whole number" in errors[0]


def test_an_id_goes_with_the_event_as_json_and_back() -> None:
    event = parse_event(
        {"source": "s", "key": "k", "time": 1, "event_id": "e-1"}, id_field="event_id"
    )
    assert Event(**event.as_json()) == event
    assert "id" not in parse_event({"source": "s", "key": "k", "time": 1}).as_json()
