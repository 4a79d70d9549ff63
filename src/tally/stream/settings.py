"""``[stream]``: the stream engine's block of the settings tree (see ``tally.config``).

Light on purpose: loading settings imports this module, so it imports only pydantic,
``tally.config`` and ``durations``; the alert route, inhibit rules and receivers are
declared here and used by ``alerts`` and ``notifiers``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError

from tally.config import Section, Settings, Strict
from tally.errors import ConfigError
from tally.stream.durations import Seconds


class ReceiverSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    type: Literal["webhook", "slack", "email"]
    url: str = ""
    timeout: float = Field(default=5.0, gt=0)
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: SecretStr | None = None
    starttls: bool = False
    sender: str = "tally@localhost"
    to: list[str] = Field(default_factory=list)


class InhibitRule(BaseModel):
    """While a firing alert matches ``source_match``, mute ``target_match`` alerts sharing
    the ``equal`` labels (a source down mutes that source's volume alerts)."""

    model_config = ConfigDict(extra="forbid")
    source_match: dict[str, str]
    target_match: dict[str, str]
    equal: list[str] = Field(default_factory=list)


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")
    receivers: list[str] = Field(default_factory=list)
    group_by: list[str] = Field(default_factory=lambda: ["alertname"])
    group_wait: Seconds = Field(default=30.0, ge=0)
    group_interval: Seconds = Field(default=300.0, ge=0)
    repeat_interval: Seconds = Field(default=4 * 3600.0, ge=0)
    resolve_retention: Seconds = Field(default=900.0, ge=0)


class MqttSettings(Strict):
    url: str = ""
    topics: list[str] = Field(default_factory=lambda: ["sensors/#"])
    qos: int = Field(default=1, ge=0, le=2)
    client_id: str = Field(
        default="",
        description="fixed id of the persistent session; default tally-stream-<host name>",
    )
    persistent: bool = Field(
        default=True, description="clean_session false: the broker keeps QoS 1 messages for us"
    )
    source: str = Field(default="sensors", description="source of events that name none")
    key_from_topic: int | None = Field(
        default=-1, description="topic segment used as key when the payload has none"
    )
    username: str = ""
    password: SecretStr | None = None


class InputLimits(Strict):
    """What an outside input (MQTT, ``POST /api/events``) may send; see docs/stream.md."""

    max_ahead: Seconds = Field(
        default=300.0, ge=0, description="events later than the clock plus this are rejected"
    )
    max_age: Seconds = Field(
        default=3600.0, gt=0, description="events older than the clock minus this are rejected"
    )
    max_payload_bytes: int = Field(default=1_048_576, gt=0, description="one message or body")
    max_depth: int = Field(default=32, gt=0, description="JSON nesting of one message or body")


class DedupeSettings(Strict):
    """What the engine counts once; see docs/stream.md, "Delivery and duplicates"."""

    field: str = Field(
        default="event_id",
        description="event field holding an id unique within its source; empty = no ids",
    )
    seconds: Seconds = Field(
        default=3900.0,
        gt=0,
        description="how long an accepted id or MQTT delivery is remembered (default "
        "inputs.max_age + inputs.max_ahead: a later copy is refused by its time anyway)",
    )
    max_entries: int = Field(
        default=100_000, gt=0, description="ids and deliveries remembered at most (oldest go)"
    )


class LakeSinkSettings(Strict):
    enabled: bool = True
    batch_events: int = Field(default=50_000, gt=0)
    flush_seconds: Seconds = Field(default=60.0, gt=0)


class RunsPollerSettings(Strict):
    enabled: bool = True
    every: Seconds = Field(default=30.0, gt=0)


class HitsPollerSettings(Strict):
    enabled: bool = True
    every: Seconds = Field(default=60.0, gt=0)
    table: str = "web.hits"
    site_column: str = "idsite"
    time_column: str = Field(default="received_at", description="the server's timestamp")


class SubscribersPollerSettings(Strict):
    sql: str = Field(default="", description="returns key, time, tally, store; empty = off")
    every: Seconds = Field(default=300.0, gt=0)


class JetStreamSettings(Strict):
    """Several engines sharing partitions of the events through JetStream (scale-out.md)."""

    url: str = Field(
        default="",
        description="nats://host:port[,nats://…]: events and engine state in JetStream; "
        "empty = one engine, local state",
    )
    partitions: int = Field(
        default=8, ge=1, le=1024, description="of the events, by key (fixed once engines run)"
    )
    lease_seconds: Seconds = Field(
        default=10.0, gt=0, description="a dead engine's partitions are taken over after this"
    )
    replicas: int = Field(
        default=1, ge=1, le=5, description="copies of the event stream and state buckets"
    )


class StreamSettings(Section):
    section = "stream"

    rules_file: str = Field(default="", description="YAML or TOML rules; empty = built-ins")
    builtin_rules: bool = True
    state_dir: str = Field(default="", description="checkpoints; default <data_dir>/stream")
    checkpoint_every: Seconds = Field(default=5.0, gt=0)
    evaluate_every: Seconds = Field(default=1.0, gt=0)
    idle_after: Seconds = Field(
        default=10.0, gt=0, description="advance an idle stream's watermark to the clock after"
    )
    route: Route = Field(default_factory=Route)
    receivers: list[ReceiverSpec] = Field(default_factory=list)
    inhibit_rules: list[InhibitRule] = Field(
        default_factory=lambda: [
            InhibitRule(
                source_match={"alertname": "tally_source_stale"},
                target_match={"alertname": "tally_load_rows_unusual"},
                equal=["source"],
            )
        ]
    )
    mqtt: MqttSettings = Field(default_factory=MqttSettings)
    jetstream: JetStreamSettings = Field(default_factory=JetStreamSettings)
    inputs: InputLimits = Field(default_factory=InputLimits)
    dedupe: DedupeSettings = Field(default_factory=DedupeSettings)
    lake: LakeSinkSettings = Field(default_factory=LakeSinkSettings)
    runs: RunsPollerSettings = Field(default_factory=RunsPollerSettings)
    hits: HitsPollerSettings = Field(default_factory=HitsPollerSettings)
    subscribers: SubscribersPollerSettings = Field(default_factory=SubscribersPollerSettings)
    schedules: dict[str, str] = Field(
        default_factory=dict, description="source -> cron of its expected landing"
    )
    max_quarantine_share: float | None = Field(
        default=None, ge=0, le=1, description="default: tally's quarantine_threshold"
    )
    subscriber_gap_tolerance: float = Field(default=0.02, ge=0)
    # Month-to-date datasets: each day's file holds every day of its month so far, so its row
    # count climbs through the month and falls at the next month's first day. The sources
    # declare them (``Dataset.cumulative``); the stream layer cannot import sources, so the
    # list is here and a test keeps it equal to the sources' own.
    cumulative_datasets: list[str] = Field(
        default_factory=lambda: [
            "google-drive/telco-performance",
            "google-play/subscription-statistics",
        ],
        description="source/dataset keys whose daily file is the month so far",
    )
    mqtt_enabled: bool = Field(default=False, description="subscribe to stream.mqtt topics")


def stream_settings(
    source: Settings | dict[str, Any] | None, data_dir: str = "./tally-data"
) -> StreamSettings:
    """The ``[stream]`` block of the settings (or a raw block, validated: ConfigError names
    the bad key as ``stream.<key>``), its ``state_dir`` defaulting to ``<data_dir>/stream``."""
    if isinstance(source, Settings):
        data_dir = source.data_dir
        parsed = source.section(StreamSettings)
    else:
        try:
            parsed = StreamSettings.model_validate(source or {})
        except ValidationError as error:
            problems = [
                f"  stream.{'.'.join(map(str, p['loc']))}: {p['msg']}; got {p.get('input')!r}"
                for p in error.errors()
            ]
            raise ConfigError("invalid [stream] settings:\n" + "\n".join(problems)) from None
    if not parsed.state_dir:
        parsed = parsed.model_copy(update={"state_dir": str(Path(data_dir) / "stream")})
    return parsed


SECTIONS = [StreamSettings]
