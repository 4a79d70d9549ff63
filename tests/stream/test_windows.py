"""Windows in event time: placement, watermark, lateness, and late events counted."""

from __future__ import annotations

import pytest

from tally.stream.windows import WindowSpec, WindowStore


def results(closed: list, aggregate: str = "sum") -> list[tuple[str, float, float, float]]:
    return [(c.key, c.start, c.end, c.accumulator.result(aggregate)) for c in closed]


def test_tumbling_windows_close_when_the_watermark_passes_their_end() -> None:
    store = WindowStore(WindowSpec(kind="tumbling", size=10))
    store.add("a", 1, 1.0)
    store.add("a", 9, 2.0)
    assert store.advance() == []  # watermark 9 < end 10: still open
    store.add("a", 12, 4.0)  # watermark 12 closes [0, 10)
    assert results(store.advance()) == [("a", 0, 10, 3.0)]


def test_sliding_window_puts_an_event_in_every_window_that_covers_it() -> None:
    store = WindowStore(WindowSpec(kind="sliding", size=10, hop=5))
    # time 7 is in [0, 10) and [5, 15)
    assert store.assign(7) == [(0, 10), (5, 15)]
    store.add("a", 7, 1.0)
    store.add("a", 12, 10.0)  # in [5, 15) and [10, 20)
    store.add("a", 30, 100.0)  # watermark 30 closes everything before
    # [0,10): 1; [5,15): 1 + 10; [10,20): 10
    assert results(store.advance()) == [("a", 0, 10, 1.0), ("a", 5, 15, 11.0), ("a", 10, 20, 10.0)]


def test_session_windows_merge_events_closer_than_the_gap() -> None:
    store = WindowStore(WindowSpec(kind="session", gap=5))
    store.add("a", 0, 1.0)
    store.add("a", 10, 1.0)  # 10 >= 0 + 5: a new session
    store.add("a", 3, 1.0)  # joins the first session: [0, 8)
    store.add("a", 7, 1.0)  # [7, 12) overlaps [0, 8) and [10, 15): all three merge
    store.add("a", 40, 1.0)
    # sessions: {0,3,7,10} merged as [0, 15), then {40} still open
    assert results(store.advance(), "count") == [("a", 0, 15, 4.0)]


def test_out_of_order_events_within_the_delay_land_in_their_window() -> None:
    store = WindowStore(WindowSpec(kind="tumbling", size=10, delay=5))
    store.add("a", 12, 1.0)  # watermark 7
    store.add("a", 8, 2.0)  # older, but [0, 10) is still open
    store.add("a", 16, 4.0)  # watermark 11 closes [0, 10)
    assert results(store.advance()) == [("a", 0, 10, 2.0)]
    assert store.late == 0


def test_late_event_within_lateness_updates_the_window_and_beyond_is_counted() -> None:
    store = WindowStore(WindowSpec(kind="tumbling", size=10, lateness=10))
    store.add("a", 5, 1.0)
    store.add("a", 11, 1.0)
    assert results(store.advance()) == [("a", 0, 10, 1.0)]
    # watermark 11: [0, 10) is closed but kept until 10 + 10 = 20
    assert store.add("a", 6, 2.0) is True
    closed = store.advance()
    assert results(closed) == [("a", 0, 10, 3.0)] and closed[0].update
    store.add("a", 25, 1.0)  # watermark 25 > 20: [0, 10) is forgotten
    store.advance()
    assert store.add("a", 7, 5.0) is False
    assert store.late == 1


def test_each_window_emits_every_event_at_once() -> None:
    store = WindowStore(WindowSpec(kind="each"))
    store.add("run", 100, 7.0)
    assert results(store.advance()) == [("run", 100, 100, 7.0)]


def test_state_round_trips_through_dump_and_load() -> None:
    store = WindowStore(WindowSpec(kind="tumbling", size=10), keep_samples=True)
    store.add("a", 1, 1.0)
    store.add("a", 2, 3.0)
    copy = WindowStore(WindowSpec(kind="tumbling", size=10), keep_samples=True)
    copy.load(store.dump())
    copy.add("a", 15, 0.0)
    assert results(copy.advance(), "p50") == [("a", 0, 10, 2.0)]


def test_sliding_needs_a_hop() -> None:
    with pytest.raises(ValueError, match="hop"):
        WindowSpec(kind="sliding", size=10)
