"""Alert lifecycle, grouping timers, silences and inhibition, driven by hand-set times."""

from __future__ import annotations

import pytest

from tally.errors import BadInputError
from tally.stream.alerts import AlertBook, InhibitRule, Matcher, Route, Silence


def book(**route: object) -> AlertBook:
    defaults = {"group_wait": 0, "group_interval": 60, "repeat_interval": 3600}
    return AlertBook(Route.model_validate({**defaults, **route}))


def labels(rule: str, *keys: str, **extra: str) -> dict[str, dict[str, str]]:
    return {key: {"alertname": rule, "key": key, **extra} for key in keys}


def test_pending_then_firing_after_for_then_resolved() -> None:
    alerts = book()
    hot = {"a": (True, 31.0)}
    alerts.update("hot", 10, hot, labels("hot", "a"), "", now=0)
    assert alerts.alerts["hot/a"].state == "pending"
    alerts.update("hot", 10, hot, labels("hot", "a"), "", now=9)
    assert alerts.alerts["hot/a"].state == "pending"  # held 9 s < 10 s
    alerts.update("hot", 10, hot, labels("hot", "a"), "", now=10)
    assert alerts.alerts["hot/a"].state == "firing"
    alerts.update("hot", 10, {"a": (False, 20.0)}, labels("hot", "a"), "", now=11)
    assert alerts.alerts["hot/a"].state == "resolved"
    assert alerts.alerts["hot/a"].summary == "resolved: a is back to normal (20)"


def test_a_resolved_alert_shows_its_resolved_summary() -> None:
    alerts = book()
    firing, resolved = "{key} runs hot: {value:g} °C", "{key} is cool again: {value:g} °C"
    alerts.update("hot", 0, {"a": (True, 31.0)}, labels("hot", "a"), firing, 0, resolved)
    assert alerts.alerts["hot/a"].summary == "a runs hot: 31 °C"
    alerts.update("hot", 0, {"a": (False, 20.0)}, labels("hot", "a"), firing, 5, resolved)
    assert alerts.alerts["hot/a"].summary == "a is cool again: 20 °C"


def test_pending_that_clears_is_forgotten_and_starts_over() -> None:
    alerts = book()
    alerts.update("hot", 10, {"a": (True, 1.0)}, labels("hot", "a"), "", now=0)
    alerts.update("hot", 10, {"a": (False, 1.0)}, labels("hot", "a"), "", now=5)
    assert "hot/a" not in alerts.alerts
    alerts.update("hot", 10, {"a": (True, 1.0)}, labels("hot", "a"), "", now=6)
    alerts.update("hot", 10, {"a": (True, 1.0)}, labels("hot", "a"), "", now=15)
    assert alerts.alerts["hot/a"].state == "pending"  # held since 6: 9 s


def test_one_notification_for_a_group_then_interval_repeat_and_resolve() -> None:
    alerts = book(group_wait=5)
    many = {f"s{i}": (True, 40.0) for i in range(5)}
    alerts.update("hot", 0, many, labels("hot", *many), "", now=0)
    assert alerts.flush(now=1) == []  # group_wait 5 s
    first = alerts.flush(now=5)
    assert len(first) == 1 and len(first[0]["alerts"]) == 5 and first[0]["status"] == "firing"
    assert first[0]["groupLabels"] == {"alertname": "hot"}
    assert alerts.flush(now=30) == []  # nothing changed, repeat interval not reached
    one_resolves = dict(many, s0=(False, 20.0))
    alerts.update("hot", 0, one_resolves, labels("hot", *many), "", now=31)
    assert alerts.flush(now=40) == []  # changed, but group_interval (60 s) not over
    second = alerts.flush(now=65)
    assert [a["status"] for a in second[0]["alerts"]].count("resolved") == 1
    assert alerts.flush(now=70) == []
    assert len(alerts.flush(now=65 + 3600)) == 1  # repeat interval


def test_resolve_of_the_whole_group_is_sent_once() -> None:
    alerts = book()
    alerts.update("hot", 0, {"a": (True, 1.0)}, labels("hot", "a"), "", now=0)
    assert len(alerts.flush(now=0)) == 1
    alerts.update("hot", 0, {"a": (False, 1.0)}, labels("hot", "a"), "", now=1)
    resolved = alerts.flush(now=60)
    assert resolved[0]["status"] == "resolved"
    assert alerts.flush(now=120) == [] and alerts.groups == {}


def test_silence_suppresses_until_it_expires() -> None:
    alerts = book()
    alerts.silences = [Silence(matchers=[Matcher.parse("key=~s[0-9]")], starts_at=0, ends_at=100)]
    alerts.update("hot", 0, {"s1": (True, 1.0)}, labels("hot", "s1"), "", now=0)
    assert alerts.flush(now=0) == []
    assert alerts.muted(alerts.alerts["hot/s1"], now=0).startswith("silenced:")
    assert len(alerts.flush(now=100)) == 1  # the silence ended


def test_inhibition_mutes_the_target_while_the_source_fires() -> None:
    alerts = book()
    alerts.inhibit_rules = [
        InhibitRule(
            source_match={"alertname": "down"}, target_match={"alertname": "low"}, equal=["source"]
        )
    ]
    alerts.update(
        "low",
        0,
        {"itunes": (True, 1.0), "play": (True, 1.0)},
        {k: {"alertname": "low", "source": k} for k in ("itunes", "play")},
        "",
        now=0,
    )
    alerts.update(
        "down",
        0,
        {"itunes": (True, 1.0)},
        {"itunes": {"alertname": "down", "source": "itunes"}},
        "",
        now=0,
    )
    sent = {a["fingerprint"] for n in alerts.flush(now=0) for a in n["alerts"]}
    # itunes volume alert is muted by itunes being down; play's is not
    assert sent == {"down/itunes", "low/play"}


def test_matcher_parsing() -> None:
    assert Matcher.parse('severity!="info"').matches({"severity": "critical"})
    with pytest.raises(BadInputError, match="matcher"):
        Matcher.parse("no operator")


def test_state_round_trip() -> None:
    alerts = book()
    alerts.update("hot", 0, {"a": (True, 1.0)}, labels("hot", "a"), "", now=0)
    alerts.flush(now=0)
    copy = book()
    copy.load(alerts.dump())
    assert copy.alerts["hot/a"].state == "firing"
    assert copy.flush(now=10) == []  # already notified: nothing new
