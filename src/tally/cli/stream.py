"""``tally stream`` (run the real-time engine) and ``tally alerts`` (list, silence, expire)."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from tally.cli._steps import status_lines
from tally.cli._tables import print_json, wide_table
from tally.config import Settings, load_settings
from tally.errors import TallyError

if TYPE_CHECKING:
    from tally.stream.alerts import Silence
from tally.stream import checkpoint
from tally.stream.alerts import AlertBook, iso
from tally.stream.durations import parse_duration
from tally.stream.http import silence_from
from tally.stream.settings import StreamSettings, stream_settings
from tally.stream.silences import SilenceStore

console = Console()
errors = Console(stderr=True)

alerts_app = typer.Typer(invoke_without_command=True, no_args_is_help=False)


def _settings() -> tuple[Settings, StreamSettings]:
    try:
        settings = load_settings()
        return settings, stream_settings(settings)
    except TallyError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None


def stream_command(
    rules: Annotated[
        Path | None, typer.Option("--rules", help="YAML or TOML rules file (adds to built-ins).")
    ] = None,
    mqtt: Annotated[
        bool | None, typer.Option("--mqtt/--no-mqtt", help="Subscribe to stream.mqtt topics.")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Validate the rules and settings, print, exit.")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="With --check: the rules as JSON.")
    ] = False,
    status_every: Annotated[
        float, typer.Option(help="Seconds between status lines when not on a terminal.", min=1)
    ] = 60.0,
    jetstream: Annotated[
        str | None,
        typer.Option(
            "--jetstream",
            help="nats://… servers: one of several engines sharing partitions of the events "
            "published to JetStream (default: stream.jetstream.url; docs/scale-out.md).",
        ),
    ] = None,
    partitions: Annotated[
        int | None,
        typer.Option(
            help="With JetStream: partitions of the events (default: stream.jetstream.partitions).",
            min=1,
        ),
    ] = None,
) -> None:
    """Run the real-time engine: MQTT and tally's own streams in, alerts out, until Ctrl-C.

    HTTP events arrive through `tally serve` (POST /api/events behind its token auth).
    With --jetstream (or stream.jetstream.url), events come from JetStream and the state
    is kept there.

    Example: tally stream --rules rules.yaml --mqtt
    """
    from tally.stream.service import build_engine

    settings, _ = _settings()
    stream = settings.section(StreamSettings)
    if rules is not None:
        stream.rules_file = str(rules)
    if mqtt is not None:
        stream.mqtt_enabled = mqtt
    if jetstream:
        stream.jetstream.url = jetstream
    if partitions is not None:
        stream.jetstream.partitions = partitions
    if stream.jetstream.url and not check:
        _run_partitioned(settings, stream, status_every)
        return
    try:
        engine = build_engine(settings, with_inputs=not check)
    except TallyError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    if check and as_json:
        print_json([rule.spec.model_dump(by_alias=True) for rule in engine.rules.values()])
        return
    if check:
        table = wide_table("rule", "type", "source", "for (s)", "labels")
        for rule in engine.rules.values():
            spec = rule.spec
            labels = ", ".join(f"{k}={v}" for k, v in spec.labels.items())
            table.add_row(spec.name, spec.type, spec.source or "*", f"{spec.for_:g}", labels)
        console.print(table)
        console.print(f"{len(engine.rules)} rules OK; state in {engine.state_dir}")
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    engine.start()
    console.print(
        f"tally stream: {len(engine.rules)} rules, inputs: "
        f"{', '.join(type(i).__name__ for i in engine.inputs) or 'none'}; Ctrl-C stops"
    )

    def describe() -> str:
        stats = engine.stats()
        return (
            f"events {stats['received']:,} · late {sum(stats['late'].values()):,} · "
            f"rejected {stats['rejected']:,} · duplicates {stats['duplicates']:,} · "
            f"alerts {dict(stats['alerts'])}"
        )

    try:
        if console.is_terminal:
            with console.status("") as status:
                while not stop.wait(1.0):
                    status.update(describe())
        else:  # a log or a pipe: one plain line every status_every seconds
            status_lines(console, lambda: f"tally stream: {describe()}", status_every, stop)
            while not stop.wait(1.0):
                pass
    except KeyboardInterrupt:
        pass
    finally:
        engine.stop()
        console.print("stopped; state checkpointed")


def _run_partitioned(settings: Settings, stream: StreamSettings, status_every: float) -> None:
    """One engine of several on JetStream, until Ctrl-C or SIGTERM."""
    from tally.stream.notifiers import build_notifiers
    from tally.stream.partitions import PartitionedEngine
    from tally.stream.service import load_rules

    jetstream = stream.jetstream
    try:
        engine = PartitionedEngine(
            jetstream.url,
            stream,
            load_rules(settings, stream),
            build_notifiers(stream.receivers),
            partitions=jetstream.partitions,
            lease_seconds=jetstream.lease_seconds,
            replicas=jetstream.replicas,
        ).start()
    except TallyError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    mqtt = None
    if stream.mqtt_enabled:  # MQTT readings go to JetStream, for every engine to share
        from tally.stream.inputs_mqtt import MqttInput
        from tally.stream.partitions import JetStreamSink

        mqtt = MqttInput(JetStreamSink(engine.link, stream, jetstream.partitions), stream.mqtt)
        mqtt.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print(f"tally stream: engine {engine.member} on JetStream; Ctrl-C stops")
    status_lines(
        console, lambda: f"tally stream: partitions {sorted(engine.owned())}", status_every, stop
    )
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        if mqtt is not None:
            mqtt.stop()
        engine.stop()
        console.print("stopped; partitions checkpointed and handed back")


@alerts_app.callback()
def alerts_command(
    context: typer.Context,
    state: Annotated[
        str | None, typer.Option("--state", help="Only alerts in this state (firing, pending).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Firing and pending alerts (from the engine's last checkpoint) and silences.

    Example: tally alerts --state firing
    """
    if context.invoked_subcommand is not None:
        return
    _, stream = _settings()
    state_file = Path(stream.state_dir) / "alerts.json"
    saved = checkpoint.load(state_file) or {"book": {}}
    book = AlertBook(stream.route, stream.inhibit_rules)
    book.load(saved["book"])
    now = time.time()
    book.silences = SilenceStore(Path(stream.state_dir) / "silences.json").read()
    rows = [
        (alert, book.muted(alert, now))
        for alert in book.alerts.values()
        if state is None or alert.state == state
    ]
    if as_json:
        silences = [silence.model_dump(mode="json") for silence in book.silences]
        print_json({"alerts": [_alert_row(a, m) for a, m in rows], "silences": silences})
        return
    table = wide_table("alert", "state", "since", "value", "muted", "summary")
    for alert, muted in sorted(rows, key=lambda r: (r[0].state, r[0].fingerprint)):
        table.add_row(alert.fingerprint, alert.state, iso(alert.active_since),
                      f"{alert.value:g}", muted or "", alert.summary)  # fmt: skip
    console.print(table)
    _print_silences(book.silences, now)
    if not saved.get("saved_at"):
        console.print(f"(no checkpoint yet at {state_file})")


def _alert_row(alert: Any, muted: str | None) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "state": alert.state,
        "labels": alert.labels,
        "value": alert.value,
        "summary": alert.summary,
        "active_since": iso(alert.active_since),
        "muted": muted,
    }


def _print_silences(silences: list[Silence], now: float) -> None:
    table = wide_table("silence", "matchers", "ends", "active", "by", "comment")
    for silence in silences:
        matchers = ", ".join(f"{m.name}{m.op}{m.value}" for m in silence.matchers)
        table.add_row(silence.id, matchers, iso(silence.ends_at),
                      "yes" if silence.active(now) else "no", silence.created_by,
                      silence.comment)  # fmt: skip
    console.print(table)


@alerts_app.command("silence")
def silence_command(
    match: Annotated[
        list[str], typer.Option("--match", "-m", help="Label matcher: name=value, !=, =~, !~.")
    ],
    duration: Annotated[str, typer.Option("--for", help="How long, e.g. 2h, 30m.")] = "1h",
    comment: Annotated[str, typer.Option("--comment", help="Why.")] = "",
    author: Annotated[str, typer.Option("--by", help="Who.")] = "",
) -> None:
    """Silence alerts whose labels match, for a while (the running engine picks it up).

    Example: tally alerts silence -m alertname=sensor_hot -m 'key=~s[0-9]+' --for 2h
    """
    _, stream = _settings()
    try:
        parse_duration(duration)
        silence = silence_from(
            {"matchers": match, "duration": duration, "comment": comment, "created_by": author},
            time.time(),
        )
    except (TallyError, ValueError) as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(2) from None
    SilenceStore(Path(stream.state_dir) / "silences.json").add(silence)
    console.print(f"silence {silence.id} until {iso(silence.ends_at)}")


@alerts_app.command("expire")
def expire_command(silence_id: Annotated[str, typer.Argument(help="The silence's id.")]) -> None:
    """End a silence now.

    Example: tally alerts expire 3f9a1c2b7d4e
    """
    _, stream = _settings()
    try:
        SilenceStore(Path(stream.state_dir) / "silences.json").expire(silence_id, time.time())
    except TallyError as error:
        errors.print(f"[red]error:[/red] {error}")
        raise typer.Exit(1) from None
    console.print(f"silence {silence_id} expired")


@alerts_app.command("notifications")
def notifications_command(
    limit: Annotated[int, typer.Option("--limit", "-n", help="How many, newest last.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the notification log: every delivery and its outcome.

    Example: tally alerts notifications -n 50
    """
    _, stream = _settings()
    path = Path(stream.state_dir) / "notifications.jsonl"
    entries = []
    if path.exists():
        entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if as_json:
        print_json(entries[-limit:])
        return
    table = wide_table("at", "receiver", "status", "alerts", "outcome", "attempts", "error")
    for entry in entries[-limit:]:
        table.add_row(iso(entry["at"]), entry["receiver"], entry["status"],
                      str(len(entry["alerts"])), entry["outcome"], str(entry["attempts"]),
                      entry["error"])  # fmt: skip
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("stream")(stream_command)
    app.add_typer(alerts_app, name="alerts")
