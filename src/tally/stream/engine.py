"""The engine: events in, windows and rules evaluated, alerts notified, state checkpointed.

Inputs (HTTP, MQTT, pollers) call ``ingest`` from any thread; ``tick`` evaluates rules on
the engine's clock (injectable: tests pass a fake one). ``start`` runs the ticker, the
lake writer and the configured inputs on threads; ``stop`` flushes and checkpoints.

Event time is trusted only inside a range around the engine's clock (``stream.inputs``):
outside inputs (MQTT, ``POST /api/events``) pass their events through ``screen``, which
refuses each one that is too far ahead or too old, so no watermark can move past the clock
plus ``max_ahead`` (one event at 1e30 once silenced every rule for good). tally's own
pollers read its warehouse and are trusted. A checkpoint saved with such a watermark is
repaired when it is loaded. Every tick also looks at the inputs: one whose thread has died
is started again and raises the ``tally_stream_input_down`` alert about itself.

Copies are counted once (``tally.stream.dedupe``): an event whose id was accepted lately,
and an MQTT redelivery of a message accepted lately, are dropped and counted as
``duplicates``. The memory of what was accepted is saved with the windows, in the same
snapshot, so after a restart it holds exactly the events the restored windows counted.
"""

from __future__ import annotations

import collections
import functools
import itertools
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from tally.lake import Lake
from tally.stream import checkpoint
from tally.stream.alerts import Alert, AlertBook, Silence
from tally.stream.dedupe import RecentDigests, event_digest
from tally.stream.events import Event
from tally.stream.notifiers import Deliverer, Notification, NotificationLog, Notifier
from tally.stream.rawlog import RawLog
from tally.stream.rules import Rule, RuleSpec, parse_rules
from tally.stream.settings import StreamSettings
from tally.stream.silences import SilenceStore

log = logging.getLogger(__name__)

Clock = Callable[[], float]


INPUT_RULE = "tally_stream_input_down"
INPUT_ALERT_SECONDS = 600.0  # the alert stays firing this long after the last restart


class Ingested(NamedTuple):
    accepted: int  # counted (late ones included: they go to the raw log)
    late: int  # beyond the allowed lateness
    duplicates: int  # copies of events accepted lately, dropped


class Input(Protocol):
    name: str

    def start(self) -> None: ...
    def stop(self) -> None: ...
    def alive(self) -> bool: ...


class Engine:
    # ``ingest`` waits on the network (``partitions.JetStreamSink``): async callers run it
    # in a thread
    blocking_ingest = False

    def __init__(
        self,
        settings: StreamSettings,
        rules: list[RuleSpec],
        clock: Clock = time.time,
        notifiers: dict[str, Notifier] | None = None,
        lake: Lake | None = None,
        background: bool = False,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.state_dir = Path(settings.state_dir)
        self.book = AlertBook(settings.route, settings.inhibit_rules)
        self.silences = SilenceStore(self.state_dir / "silences.json")
        self.log = NotificationLog(self.state_dir / "notifications.jsonl")
        self.deliverer = Deliverer(notifiers or {}, self.log, clock=clock, background=background)
        self.rawlog = RawLog(lake if settings.lake.enabled else None, settings.lake.batch_events)
        self.late_events: collections.deque[Event] = collections.deque(maxlen=1000)
        self.inputs: list[Input] = []
        self.cursors: dict[str, Any] = {}  # pollers' positions, saved with the checkpoint
        self.received = 0
        self.rejected = 0
        self.rejected_by_kind: collections.Counter[str] = collections.Counter()
        self.input_restarts: collections.Counter[str] = collections.Counter()
        self.recent = RecentDigests(settings.dedupe.max_entries, settings.dedupe.seconds)
        self.duplicates: collections.Counter[str] = collections.Counter()  # by kind
        self._input_died_at: dict[str, float] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._stopped = False
        self._threads: list[threading.Thread] = []
        self._housekeeper: threading.Thread | None = None
        self._wake = threading.Event()  # wakes the housekeeping thread
        self._alerts_changed = False
        self._save_lock = threading.Lock()
        self._sequence = itertools.count()
        self._written: dict[Path, int] = {}
        self._last_event_at = clock()
        self._last_checkpoint = clock()
        self._last_flush = clock()
        self.rules: dict[str, Rule] = {}
        self.set_rules(rules)

    # rules -----------------------------------------------------------------------------

    def set_rules(self, specs: list[RuleSpec]) -> None:
        """Replace the rule set; rules kept by name keep their state."""
        with self._lock:
            now = self.clock()
            rules = {}
            for spec in specs:
                kept = self.rules.get(spec.name)
                if kept is not None and kept.spec == spec:
                    rules[spec.name] = kept
                else:
                    rules[spec.name] = Rule(spec)
                    rules[spec.name].start(now)
            self.rules = rules
            self._routes: dict[str, tuple[Rule, ...]] = {}
            names = {*rules, INPUT_RULE}
            for fingerprint in [f for f, a in self.book.alerts.items() if a.rule not in names]:
                del self.book.alerts[fingerprint]

    @property
    def overrides_path(self) -> Path:
        return self.state_dir / "rules-api.json"

    def put_rule(self, spec: RuleSpec) -> None:
        """Add or replace one rule, and remember it across restarts (see apply_overrides)."""
        with self._lock:
            keep = [r.spec for r in self.rules.values() if r.spec.name != spec.name]
            self.set_rules([*keep, spec])
            self._change_overrides(spec.name, spec.model_dump(by_alias=True))

    def delete_rule(self, name: str) -> None:
        with self._lock:
            self.set_rules([r.spec for r in self.rules.values() if r.spec.name != name])
            self._change_overrides(name, None)

    def _change_overrides(self, name: str, spec: dict[str, Any] | None) -> None:
        overrides = load_overrides(self.overrides_path)
        overrides[name] = spec
        checkpoint.save(self.overrides_path, {"rules": overrides})

    # events ----------------------------------------------------------------------------

    def _route(self, source: str) -> tuple[Rule, ...]:
        """The rules that watch a source (cached: this runs for every event)."""
        rules = self._routes.get(source)
        if rules is None:
            rules = tuple(r for r in self.rules.values() if r.spec.source in (None, source))
            self._routes[source] = rules
        return rules

    def screen(self, events: list[Event]) -> tuple[list[Event], list[str]]:
        """The events whose time is inside ``stream.inputs``' range around the clock, and
        why each other one is refused (counted as ``time_ahead`` or ``time_too_old``)."""
        now = self.clock()
        limits = self.settings.inputs
        latest, earliest = now + limits.max_ahead, now - limits.max_age
        if all(earliest <= e.time <= latest for e in events):
            return events, []
        kept, refused = [], []
        for event in events:
            if event.time > latest:
                kind = "time_ahead"
                reason = f"{event.time - now:.6g} s ahead of the engine's clock (max_ahead "
                reason += f"{limits.max_ahead:g} s)"
            elif event.time < earliest:
                kind = "time_too_old"
                reason = f"{now - event.time:.6g} s older than the engine's clock (max_age "
                reason += f"{limits.max_age:g} s)"
            else:
                kept.append(event)
                continue
            refused.append(
                f"source {event.source!r}, key {event.key!r}, field 'time': {event.time:.6g} "
                f"is {reason}; event refused"
            )
            self.reject(1, kind)
        return kept, refused

    def ingest(self, events: list[Event], delivery: int | None = None) -> Ingested:
        """Feed events (copies of events accepted lately are dropped); ``delivery`` is the
        digest of the MQTT message that brought them, remembered with them. Outside inputs
        ``screen`` them first; tally's own pollers read the warehouse and are trusted."""
        late: set[int] = set()
        with self._lock:
            now = self.clock()
            if delivery is not None:
                self.recent.remember(delivery, now)
            events, duplicates = self._drop_copies(events, now)
            routes = self._routes
            sources = set()
            for index, event in enumerate(events):
                rules = routes.get(event.source)
                if rules is None:
                    rules = self._route(event.source)
                sources.add(event.source)
                for rule in rules:
                    if (rule.spec.match or rule.spec.unless) and not rule.matches(event):
                        continue
                    if not rule.observe(event, now):
                        late.add(index)
            # windows close once per batch, not per event (advance is cheap when nothing is due)
            for rule in {r.spec.name: r for s in sources for r in routes[s]}.values():
                if rule.store is not None:
                    rule.close(rule.store.advance())
            for index in late:
                self.late_events.append(events[index])
            self.received += len(events)
            if events:
                self._last_event_at = now
        if self.rawlog.add(events, late):
            if self._housekeeper is not None:
                self._wake.set()  # the housekeeping thread writes it
            else:
                self.rawlog.flush()
        return Ingested(len(events) - len(late), len(late), duplicates)

    def _drop_copies(self, events: list[Event], now: float) -> tuple[list[Event], int]:
        """The events whose id (if any) was not accepted lately, each id remembered; a
        batch holding one id twice keeps the first (call with the lock held)."""
        if not any(event.id for event in events):
            return events, 0
        kept = []
        for event in events:
            if not event.id or self.recent.admit(event_digest(event.source, event.id), now):
                kept.append(event)
        copies = len(events) - len(kept)
        if copies:
            self.duplicates["event_id"] += copies
        return kept, copies

    def is_redelivery(self, delivery: int) -> bool:
        """Whether a message its broker redelivers (MQTT's DUP) was accepted lately; if so,
        it is counted as a duplicate and the caller drops it."""
        with self._lock:
            if not self.recent.seen(delivery, self.clock()):
                return False
            self.duplicates["redelivery"] += 1
            return True

    def remember_delivery(self, delivery: int) -> None:
        """A message handled without events to ingest (all refused): a redelivery of it is
        dropped too, not refused (and counted) again."""
        with self._lock:
            self.recent.remember(delivery, self.clock())

    def reject(self, count: int, kind: str = "invalid") -> None:
        """Count events an input could not read or refused (they are named in that input's
        errors); ``kind`` is the reason's label in /metrics."""
        if not count:
            return
        with self._lock:
            self.rejected += count
            self.rejected_by_kind[kind] += count

    # inputs ----------------------------------------------------------------------------

    def supervise(self, now: float) -> dict[str, tuple[bool, float]]:
        """Start again every input whose thread has died; the result is the evaluation of
        the ``tally_stream_input_down`` alert (by input name: firing, restarts so far)."""
        for source in list(self.inputs):
            if source.alive():
                continue
            log.error("stream input %s has stopped; starting it again", source.name)
            self.input_restarts[source.name] += 1
            self._input_died_at[source.name] = now
            try:
                source.start()
            except Exception:  # it is tried again on the next tick
                log.exception("stream input %s could not be started", source.name)
        return {
            name: (now - died < INPUT_ALERT_SECONDS, float(self.input_restarts[name]))
            for name, died in self._input_died_at.items()
        }

    # evaluation ------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> list[Notification]:
        """Evaluate every rule, move alerts, send what is due; returns the notifications."""
        now = self.clock() if now is None else now
        inputs = self.supervise(now)
        with self._lock:
            if self.silences.changed():
                self.book.silences = self.silences.read()
            if inputs or any(a.rule == INPUT_RULE for a in self.book.alerts.values()):
                self.book.update(
                    INPUT_RULE,
                    0.0,
                    inputs,
                    lambda name: {"alertname": INPUT_RULE, "key": name, "input": name,
                                  "stream": "tally.stream", "severity": "critical"},
                    "stream input {key} died and was started again ({value:.0f} restarts)",
                    now,
                )  # fmt: skip
            idle = now - self._last_event_at >= self.settings.idle_after
            for rule in self.rules.values():
                if idle and rule.store is not None:
                    # nothing arrives: let event time follow the clock so windows still close
                    rule.close(rule.store.advance(now - self.settings.idle_after))
                self.book.update(
                    rule.spec.name,
                    rule.spec.for_,
                    rule.evaluate(now),
                    functools.partial(self._labels, rule),
                    rule.spec.summary,
                    now,
                    rule.spec.resolved_summary,
                )
            notifications = self.book.flush(now)
            for notification in notifications:
                self.deliverer.deliver(self.settings.route.receivers, notification)
            alerts_state = None
            if notifications and self._housekeeper is not None:
                self._alerts_changed = True  # saved by the housekeeping thread, at once
                self._wake.set()
            elif notifications:
                alerts_state = self._alerts_state()
        if alerts_state is not None:
            # who was told what is saved at once (small), so a restart never repeats it;
            # written outside the lock so inputs keep flowing meanwhile
            self._save(self.alerts_path, alerts_state)
        if self._housekeeper is None:
            self._housekeeping(now)
        return notifications

    def _labels(self, rule: Rule, key: str) -> dict[str, str]:
        spec = rule.spec
        labels = {"alertname": spec.name, "key": key}
        if spec.source:
            labels.setdefault("stream", spec.source)
        labels.update(spec.labels)
        labels.update(rule.labels.get(key, {}))
        if spec.key_label:
            labels[spec.key_label] = key
        return labels

    def alert_list(self, state: str | None = None) -> list[tuple[Alert, str | None]]:
        """Alerts (optionally of one state) with why each is muted, if it is."""
        with self._lock:
            now = self.clock()
            return [
                (alert, self.book.muted(alert, now))
                for alert in self.book.alerts.values()
                if state is None or alert.state == state
            ]

    # silences --------------------------------------------------------------------------

    def add_silence(self, silence: Silence) -> Silence:
        self.silences.add(silence)
        with self._lock:
            self.silences.changed()
            self.book.silences = self.silences.read()
        return silence

    def expire_silence(self, silence_id: str) -> Silence:
        silence = self.silences.expire(silence_id, self.clock())
        with self._lock:
            self.silences.changed()
            self.book.silences = self.silences.read()
        return silence

    # state -----------------------------------------------------------------------------

    @property
    def alerts_path(self) -> Path:
        return self.state_dir / "alerts.json"

    @property
    def windows_path(self) -> Path:
        return self.state_dir / "windows.json"

    def _alerts_state(self) -> dict[str, Any]:
        """The alert book, pollers' cursors and counters (call with the lock held)."""
        return {
            "saved_at": self.clock(),
            "sequence": next(self._sequence),
            "book": self.book.dump(),
            "received": self.received,
            "duplicates": dict(self.duplicates),
            "cursors": dict(self.cursors),
        }

    def _windows_state(self) -> dict[str, Any]:
        """Every rule's windows, baselines and last-seen times (call with the lock held)."""
        return {
            "saved_at": self.clock(),
            "sequence": next(self._sequence),
            "rules": {name: rule.dump() for name, rule in self.rules.items()},
            # with the windows, so it names exactly the copies they have counted already;
            # a copy here, encoded by ``_encoded`` once the lock is released
            "recent": self.recent.entries(),
        }

    @staticmethod
    def _encoded(windows: dict[str, Any]) -> dict[str, Any]:
        """The windows' state as JSON can hold it (call without the lock)."""
        return {**windows, "recent": windows["recent"].dump()}

    def checkpoint(self) -> None:
        """Save both parts of the state now."""
        with self._lock:
            alerts, windows = self._alerts_state(), self._windows_state()
        self._save(self.windows_path, self._encoded(windows))
        self._save(self.alerts_path, alerts)
        self._last_checkpoint = self.clock()

    def _save(self, path: Path, state: dict[str, Any]) -> None:
        """Write a state file unless a newer snapshot of it was written already (the ticker
        and the housekeeping thread both save alerts.json)."""
        with self._save_lock:
            if state["sequence"] > self._written.get(path, -1):
                checkpoint.save(path, state)
                self._written[path] = state["sequence"]

    def _housekeeping(self, now: float) -> None:
        """Periodic writes: window checkpoint and the raw log to the lake."""
        if now - self._last_checkpoint >= self.settings.checkpoint_every:
            self.checkpoint()
        if now - self._last_flush >= self.settings.lake.flush_seconds:
            self._last_flush = now
            self.rawlog.flush()

    def restore(self) -> bool:
        """Load the last checkpoint; True if there was one."""
        windows = checkpoint.load(self.windows_path)
        alerts = checkpoint.load(self.alerts_path)
        self.restore_snapshot({"windows": windows, "alerts": alerts})
        return windows is not None or alerts is not None

    def snapshot(self) -> dict[str, Any]:
        """Windows and alerts as one document (a checkpoint kept elsewhere than the
        state directory: ``tally.stream.partitions`` keeps it in JetStream)."""
        with self._lock:
            windows, alerts = self._windows_state(), self._alerts_state()
        return {"windows": self._encoded(windows), "alerts": alerts}

    def restore_snapshot(self, snapshot: dict[str, Any]) -> None:
        windows, alerts = snapshot.get("windows"), snapshot.get("alerts")
        with self._lock:
            for name, data in (windows or {}).get("rules", {}).items():
                if name in self.rules:
                    self.rules[name].load(data)
            self._repair(self.clock())
            if windows is not None and "recent" in windows:
                self.recent.load(windows["recent"])
            if alerts is not None:
                self.book.load(alerts["book"])
                known = {*self.rules, INPUT_RULE}
                for fingerprint in [f for f, a in self.book.alerts.items() if a.rule not in known]:
                    del self.book.alerts[fingerprint]
                self.received = alerts.get("received", 0)
                self.duplicates = collections.Counter(alerts.get("duplicates", {}))
                self.cursors = dict(alerts.get("cursors", {}))
            self.book.silences = self.silences.read()

    def _repair(self, now: float) -> None:
        """Undo what an event from the future left in a checkpoint (saved before event
        times were checked): watermarks, windows and last-seen times past the clock plus
        ``max_ahead``."""
        ceiling = now + self.settings.inputs.max_ahead
        for name, rule in self.rules.items():
            if rule.repair(ceiling):
                log.warning("checkpoint of rule %s held event times past the clock; repaired", name)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "received": self.received,
                "rejected": self.rejected,
                "rejected_by_kind": dict(self.rejected_by_kind),
                "duplicates": sum(self.duplicates.values()),
                "duplicates_by_kind": dict(self.duplicates),
                "input_restarts": dict(self.input_restarts),
                "late": {n: r.store.late for n, r in self.rules.items() if r.store is not None},
                "open_windows": {
                    n: r.store.open_windows() for n, r in self.rules.items() if r.store is not None
                },
                "alerts": collections.Counter(a.state for a in self.book.alerts.values()),
                "lake_events_written": self.rawlog.written,
            }

    # running ---------------------------------------------------------------------------

    def start(self) -> None:
        """Restore, start the inputs, the ticker and the housekeeping thread."""
        self.restore()
        self._stopped = False
        self._stop.clear()
        for source in self.inputs:
            source.start()
        self._housekeeper = threading.Thread(
            target=self._keep_house, name="tally-stream-housekeeping", daemon=True
        )
        ticker = threading.Thread(target=self._run, name="tally-stream-tick", daemon=True)
        self._threads += [ticker, self._housekeeper]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.evaluate_every):
            try:
                self.tick()
            except Exception:  # one bad evaluation must not stop the engine
                log.exception("stream evaluation failed")

    def _keep_house(self) -> None:
        """State files and lake writes off the evaluation thread: an fsync or a gzip never
        delays the next evaluation."""
        while not self._stop.is_set():
            self._wake.wait(min(1.0, self.settings.checkpoint_every))
            self._wake.clear()
            try:
                if self._alerts_changed:
                    with self._lock:
                        self._alerts_changed = False
                        state = self._alerts_state()
                    self._save(self.alerts_path, state)
                if self.rawlog.full:
                    self.rawlog.flush()
                self._housekeeping(self.clock())
            except Exception:  # a full disk or a lake outage must not stop the engine
                log.exception("stream housekeeping failed")

    def stop(self) -> None:
        """Stop the threads and inputs and write the last checkpoint; a second call does nothing
        (the app's shutdown and the process-exit hook both call it)."""
        if self._stopped:
            return
        self._stopped = True
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._threads.clear()
        self._housekeeper = None
        for source in self.inputs:
            source.stop()
        self.rawlog.flush()
        self.deliverer.drain()
        self.deliverer.close()
        self.checkpoint()


def load_overrides(path: Path) -> dict[str, dict[str, Any] | None]:
    """Rules put (name -> spec) or deleted (name -> None) through the API."""
    saved = checkpoint.load(path)
    return dict(saved["rules"]) if saved else {}


def apply_overrides(specs: list[RuleSpec], path: Path) -> list[RuleSpec]:
    """The configured rules with the API's changes on top (they outlive restarts)."""
    rules = {spec.name: spec for spec in specs}
    for name, spec in load_overrides(path).items():
        if spec is None:
            rules.pop(name, None)
        else:
            rules[name] = parse_rules([spec], where=str(path))[0]
    return list(rules.values())
