"""Assembling the engine from tally's settings."""

from __future__ import annotations

from pathlib import Path

from tally.config import load_settings
from tally.stream.inputs_mqtt import MqttInput
from tally.stream.inputs_tally import HitsPoller, QueryPoller, RunsPoller
from tally.stream.notifiers import WebhookNotifier
from tally.stream.service import build_engine

FIXTURES = Path(__file__).parents[1] / "fixtures" / "stream"


def test_build_engine_from_settings(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    # redefines a built-in by name, and adds a sensor rule
    rules.write_text(
        (FIXTURES / "rules.yaml").read_text()
        + "  - name: tally_run_failed\n    type: absence\n    source: tally.runs\n"
    )
    settings = load_settings(environ={
        "TALLY_DATA_DIR": str(tmp_path),
        "TALLY_STREAM__RULES_FILE": str(rules),
        "TALLY_STREAM__MQTT_ENABLED": "true",
        "TALLY_STREAM__SUBSCRIBERS__SQL": "SELECT 1, 2, 3, 4",
    })  # fmt: skip
    settings.configure(
        "stream", {"receivers": [{"name": "ops", "type": "webhook", "url": "http://x/h"}]}
    )
    engine = build_engine(settings, background=False)
    assert set(engine.rules) >= {"sensor_hot", "sensor_dead", "tally_source_stale"}
    assert engine.rules["tally_run_failed"].spec.type == "absence"
    assert [type(i) for i in engine.inputs] == [MqttInput, RunsPoller, HitsPoller, QueryPoller]
    assert isinstance(engine.deliverer.notifiers["ops"], WebhookNotifier)
    assert engine.state_dir == tmp_path / "stream"
    assert engine.rawlog.lake is not None


def test_builtins_can_be_turned_off(tmp_path: Path) -> None:
    settings = load_settings(environ={
        "TALLY_DATA_DIR": str(tmp_path), "TALLY_STREAM__BUILTIN_RULES": "false",
        "TALLY_STREAM__RUNS__ENABLED": "false", "TALLY_STREAM__HITS__ENABLED": "false",
    })  # fmt: skip
    engine = build_engine(settings, background=False)
    assert engine.rules == {} and engine.inputs == []


def test_rules_changed_through_the_api_outlive_a_restart(tmp_path: Path) -> None:
    settings = load_settings(environ={"TALLY_DATA_DIR": str(tmp_path)})
    engine = build_engine(settings, with_inputs=False, background=False)
    spec = engine.rules["tally_run_failed"].spec.model_copy(update={"value": 5.0})
    engine.put_rule(spec)
    engine.delete_rule("tally_traffic_drop")
    again = build_engine(settings, with_inputs=False, background=False)
    assert again.rules["tally_run_failed"].spec.value == 5.0
    assert "tally_traffic_drop" not in again.rules
