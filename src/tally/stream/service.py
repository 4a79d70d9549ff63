"""Assemble a running engine from tally's settings: rules (file or built-ins), receivers,
the lake, the MQTT input and the warehouse pollers."""

from __future__ import annotations

import time
from pathlib import Path

from tally.config import Settings
from tally.lake import Lake
from tally.stream.builtin_rules import builtin_rules
from tally.stream.engine import Clock, Engine, apply_overrides
from tally.stream.inputs_mqtt import MqttInput
from tally.stream.inputs_tally import HitsPoller, QueryPoller, RunsPoller, opener
from tally.stream.notifiers import build_notifiers
from tally.stream.rules import RuleSpec, load_rules_file
from tally.stream.settings import StreamSettings, stream_settings


def load_rules(settings: Settings, stream: StreamSettings) -> list[RuleSpec]:
    """Built-ins (unless turned off), then the rules file; a file rule replaces a built-in
    of the same name."""
    rules = {r.name: r for r in builtin_rules(settings, stream)} if stream.builtin_rules else {}
    if stream.rules_file:
        rules.update({r.name: r for r in load_rules_file(stream.rules_file)})
    return list(rules.values())


def build_engine(
    settings: Settings,
    clock: Clock = time.time,
    with_inputs: bool = True,
    background: bool = True,
) -> Engine:
    """An engine wired to its receivers, lake and inputs (not started)."""
    stream = stream_settings(settings)
    rules = apply_overrides(load_rules(settings, stream), Path(stream.state_dir) / "rules-api.json")
    engine = Engine(
        stream,
        rules,
        clock=clock,
        notifiers=build_notifiers(stream.receivers),
        lake=Lake(settings.lake_url) if stream.lake.enabled else None,
        background=background,
    )
    if not with_inputs:
        return engine
    if stream.mqtt_enabled:
        engine.inputs.append(MqttInput(engine, stream.mqtt))
    warehouse = opener(settings.warehouse_url, settings.lock_wait_seconds)
    if stream.runs.enabled:
        engine.inputs.append(RunsPoller(engine, warehouse, stream.runs.every))
    if stream.hits.enabled:
        hits = stream.hits
        engine.inputs.append(
            HitsPoller(engine, warehouse, hits.every, table=hits.table,
                       site_column=hits.site_column, time_column=hits.time_column)
        )  # fmt: skip
    if stream.subscribers.sql:
        engine.inputs.append(
            QueryPoller(engine, warehouse, stream.subscribers.every, sql=stream.subscribers.sql)
        )
    return engine
