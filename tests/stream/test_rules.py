"""Rules: each kind's condition on small hand-made inputs, and rules-file errors."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pytest

from tally.errors import ConfigError
from tally.stream.events import Event
from tally.stream.rules import Rule, load_rules_file, parse_rules

FIXTURES = Path(__file__).parents[1] / "fixtures" / "stream"


def rule(**spec: object) -> Rule:
    return Rule(parse_rules([{"name": "r", **spec}])[0])


def feed(target: Rule, key: str, points: list[tuple[float, float]], field: str = "v") -> None:
    for time, value in points:
        target.observe(Event("s", key, time, {field: value}), now=time)
        if target.store is not None:
            target.close(target.store.advance())


def test_threshold_on_the_latest_closed_window() -> None:
    hot = rule(
        type="threshold",
        source="s",
        field="v",
        aggregate="max",
        window={"size": 10},
        op=">=",
        value=30,
    )
    # [0,10) max 31, [10,20) max 29; the point at 25 closes [10,20)
    feed(hot, "a", [(1, 31), (5, 2), (12, 29), (25, 0)])
    assert hot.evaluate(now=25) == {"a": (False, 29.0)}
    # the watermark is shared by all keys: b's [20,30) closes at 40
    feed(hot, "b", [(27, 30), (40, 0)])
    assert hot.evaluate(now=40)["b"] == (True, 30.0)


def test_rate_of_change_compares_consecutive_windows() -> None:
    drop = rule(
        type="rate", source="s", field="v", aggregate="sum", window={"size": 10}, op="<", value=-0.5
    )
    # sums: [0,10) = 100, [10,20) = 40; change (40 - 100) / 100 = -0.6 < -0.5
    feed(drop, "a", [(1, 60), (2, 40), (11, 40), (21, 0)])
    active, change = drop.evaluate(now=21)["a"]
    assert active and change == pytest.approx(-0.6)


def test_absence_counts_quiet_seconds_per_key_and_expected_keys() -> None:
    quiet = rule(type="absence", source="s", seconds=30, expected_keys=["never"])
    quiet.start(now=0)
    quiet.observe(Event("s", "a", 0, {}), now=10)
    quiet.observe(Event("s", "b", 0, {}), now=35)
    # at 45: a quiet 35 s (>= 30), b quiet 10 s, never-seen quiet since start 45 s
    assert quiet.evaluate(now=45) == {"a": (True, 35), "b": (False, 10), "never": (True, 45)}


def test_anomaly_scores_against_the_keys_own_ewma_baseline() -> None:
    odd = rule(
        type="anomaly",
        source="s",
        field="v",
        aggregate="sum",
        window={"kind": "each"},
        alpha=0.5,
        warmup=3,
        z=3,
    )
    # baseline after 10, 12, 10 (alpha 0.5):
    #   10 -> mean 10, var 0
    #   12 -> diff 2, mean 11, var 0.5 * (0 + 0.5 * 4) = 1
    #   10 -> diff -1, mean 10.5, var 0.5 * (1 + 0.5 * 1) = 0.75
    feed(odd, "a", [(1, 10), (2, 12), (3, 10)])
    assert odd.evaluate(now=3)["a"][0] is False  # still warming up (score NaN)
    feed(odd, "a", [(4, 12)])
    active, score = odd.evaluate(now=4)["a"]
    assert not active and score == pytest.approx(1.5 / math.sqrt(0.75))  # 1.732
    # after 12: diff 1.5, mean 11.25, var 0.5 * (0.75 + 0.5 * 2.25) = 0.9375
    feed(odd, "a", [(5, 20)])
    active, score = odd.evaluate(now=5)["a"]
    assert active and score == pytest.approx(8.75 / math.sqrt(0.9375))  # 9.04


def test_anomaly_baseline_per_hour_of_day() -> None:
    traffic = rule(
        type="anomaly",
        source="s",
        field="v",
        aggregate="sum",
        window={"kind": "each"},
        seasonal="hour_of_day",
        warmup=2,
        direction="below",
    )
    day = 86400
    # 09:00 has 100 hits every day, 03:00 has 5; a 03:00 value of 5 is normal for 03:00
    feed(
        traffic,
        "site",
        [(9 * 3600, 100), (day + 9 * 3600, 100), (3 * 3600, 5), (day + 3 * 3600, 5)],
    )
    feed(traffic, "site", [(2 * day + 3 * 3600, 5)])
    assert traffic.evaluate(now=0)["site"][0] is False
    feed(traffic, "site", [(2 * day + 9 * 3600, 10)])
    assert traffic.evaluate(now=0)["site"][0] is True


def test_freshness_compares_the_last_event_with_the_last_scheduled_time() -> None:
    stale = rule(
        type="freshness", source="tally.runs", schedules={"itunes": "0 9 * * *"}, grace="1h"
    )
    nine = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC).timestamp()
    stale.observe(Event("tally.runs", "itunes", nine - 86400 + 600, {}), now=0)  # yesterday
    # at 09:30 the grace (1 h) is not over: yesterday's run is still the newest expected
    assert stale.evaluate(nine + 1800)["itunes"][0] is False
    # at 10:30 today's 09:00 landing is overdue by 30 minutes
    assert stale.evaluate(nine + 5400) == {"itunes": (True, 1800.0)}
    stale.observe(Event("tally.runs", "itunes", nine + 5000, {}), now=0)
    assert stale.evaluate(nine + 5400)["itunes"][0] is False


def test_cron_with_a_time_zone() -> None:
    stale = rule(type="freshness", schedules={"x": "CRON_TZ=Asia/Hong_Kong 0 9 * * *"}, grace=0)
    # 09:00 in Hong Kong is 01:00 UTC
    one_utc = dt.datetime(2026, 3, 2, 1, tzinfo=dt.UTC).timestamp()
    stale.observe(Event("s", "x", one_utc - 60, {}), now=0)
    assert stale.evaluate(one_utc + 60)["x"] == (True, 60.0)


def test_rules_file_in_yaml_and_toml() -> None:
    yaml_rules = load_rules_file(FIXTURES / "rules.yaml")
    toml_rules = load_rules_file(FIXTURES / "rules.toml")
    assert [r.name for r in yaml_rules] == ["sensor_hot", "sensor_dead"]
    assert yaml_rules[0].for_ == 10.0 and yaml_rules[0].window.size == 5.0
    assert [r.name for r in toml_rules] == ["sensor_hot"]


def test_bad_rule_names_file_rule_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "rules.yaml"
    bad.write_text("rules:\n  - name: x\n    type: threshold\n    aggregate: median\n")
    with pytest.raises(ConfigError, match=r"rules.yaml: rule #1 \(x\): aggregate"):
        load_rules_file(bad)
    with pytest.raises(ConfigError, match="unique"):
        parse_rules([{"name": "a", "type": "absence"}, {"name": "a", "type": "absence"}])
