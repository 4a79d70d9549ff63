"""Rules: threshold, rate of change, absence, anomaly (EWMA z-score) and freshness.

A rule watches the events of one source, folds a value per key into event-time windows,
and on each evaluation says for every key whether its condition holds now (and the value
that made it so). How long it must hold before firing (``for``) is the alert book's job.
"""

from __future__ import annotations

import datetime as dt
import math
import operator
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import yaml
from croniter import croniter
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tally.errors import ConfigError
from tally.stream.aggregates import check_aggregate, needs
from tally.stream.durations import Seconds
from tally.stream.events import Event
from tally.stream.windows import Closed, WindowSpec, WindowStore

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
}

Kind = Literal["threshold", "rate", "absence", "anomaly", "freshness"]


class RuleSpec(BaseModel):
    """One rule as written in the rules file or posted to the API."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]*$")
    type: Kind
    source: str | None = Field(default=None, description="event source to watch; none = all")
    match: dict[str, str] = Field(default_factory=dict, description="event labels that must equal")
    unless: dict[str, list[str]] = Field(
        default_factory=dict, description="event labels whose listed values skip the event"
    )
    field: str | None = Field(default=None, description="value to fold; none = 1 per event")
    distinct_label: str | None = Field(default=None, description="label counted by 'distinct'")
    key_from: str | None = Field(default=None, description="event label used as key instead")
    aggregate: str = "mean"
    window: WindowSpec = Field(default_factory=WindowSpec)
    op: Literal[">", ">=", "<", "<=", "==", "!="] = ">"
    value: float = 0.0
    for_: Seconds = Field(default=0.0, alias="for", ge=0)
    labels: dict[str, str] = Field(default_factory=dict)
    copy_labels: list[str] = Field(default_factory=list, description="event labels onto alerts")
    key_label: str | None = Field(default=None, description="alert label that also holds the key")
    summary: str = ""
    resolved_summary: str = Field(default="", description="the summary once it clears")
    stale_after: Seconds | None = Field(default=None, gt=0)
    # absence
    seconds: Seconds = Field(default=300.0, gt=0)
    expected_keys: list[str] = Field(default_factory=list)
    # rate of change
    change: Literal["relative", "absolute"] = "relative"
    # anomaly
    z: float = Field(default=3.0, gt=0)
    alpha: float = Field(default=0.3, gt=0, le=1)
    warmup: int = Field(default=5, ge=1)
    direction: Literal["both", "above", "below"] = "both"
    seasonal: Literal["none", "hour_of_day"] = "none"
    min_std_share: float = Field(default=0.05, ge=0)
    adapt_after: int = Field(default=12, ge=0, description="anomalous windows before adopting")
    # freshness
    schedules: dict[str, str] = Field(default_factory=dict, description="key -> cron")
    timezone: str = "UTC"
    grace: Seconds = Field(default=3600.0, ge=0)

    @field_validator("aggregate")
    @classmethod
    def _aggregate(cls, value: str) -> str:
        try:
            return check_aggregate(value)
        except ConfigError as error:  # pydantic reports ValueError with the field's path
            raise ValueError(str(error)) from None

    @field_validator("schedules")
    @classmethod
    def _crons(cls, value: dict[str, str]) -> dict[str, str]:
        for key, cron in value.items():
            if cron.startswith("CRON_TZ="):
                cron = cron.split(None, 1)[1] if " " in cron else ""
            if not croniter.is_valid(cron):
                raise ValueError(f"schedule of {key!r} is not a cron expression: {cron!r}")
        return value


def load_rules_file(path: str | Path) -> list[RuleSpec]:
    """Rules from YAML or TOML (``rules = [...]`` / ``rules: [...]``); errors name file and rule."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"rules file {file}: {error}") from error
    try:
        if file.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        else:
            data = yaml.safe_load(text)
    except Exception as error:  # yaml and tomllib raise unrelated classes
        raise ConfigError(f"rules file {file}: cannot be parsed: {error}") from error
    return parse_rules(data.get("rules", []) if isinstance(data, dict) else data, str(file))


def parse_rules(items: Any, where: str = "rules") -> list[RuleSpec]:
    if not isinstance(items, list):
        raise ConfigError(f"{where}: expected a list of rules")
    rules: list[RuleSpec] = []
    for index, item in enumerate(items):
        try:
            rules.append(RuleSpec.model_validate(item))
        except ValidationError as error:
            name = item.get("name", "?") if isinstance(item, dict) else "?"
            problems = "; ".join(
                f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in error.errors()
            )
            raise ConfigError(f"{where}: rule #{index + 1} ({name}): {problems}") from None
    names = [r.name for r in rules]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"{where}: rule names must be unique, repeated: {duplicates}")
    return rules


class Rule:
    """The running state of one rule."""

    def __init__(self, spec: RuleSpec) -> None:
        self.spec = spec
        self.store: WindowStore | None = None
        if spec.type in ("threshold", "rate", "anomaly"):
            self.store = WindowStore(spec.window, *needs(spec.aggregate))
        self.latest: dict[str, tuple[float, float]] = {}  # key -> (window end, value)
        self.previous: dict[str, float] = {}
        self.baseline: dict[str, list[float]] = {}  # baseline key -> [mean, variance, n]
        self.last_seen: dict[str, float] = {}
        self.labels: dict[str, dict[str, str]] = {}
        self._started = 0.0

    def matches(self, event: Event) -> bool:
        spec = self.spec
        if spec.source is not None and event.source != spec.source:
            return False
        labels = event.labels
        if any(labels.get(k) in values for k, values in spec.unless.items()):
            return False
        return all(labels.get(k) == v for k, v in spec.match.items())

    def observe(self, event: Event, now: float) -> bool:
        """Take an event this rule matches; False when it was late beyond the lateness."""
        spec = self.spec
        key = event.labels.get(spec.key_from, event.key) if spec.key_from else event.key
        if spec.copy_labels:
            self.labels[key] = {k: event.labels[k] for k in spec.copy_labels if k in event.labels}
        store = self.store
        if store is None:
            if spec.type == "absence":
                self.last_seen[key] = now
            elif event.time > self.last_seen.get(key, -math.inf):  # freshness
                self.last_seen[key] = event.time
            return True
        found = 1.0 if spec.field is None else event.values.get(spec.field)
        if found is None:
            store.see(event.time)  # no value to fold, but event time still moved on
            return True
        value = found
        distinct = event.labels.get(spec.distinct_label) if spec.distinct_label else value
        return store.add(key, event.time, value, distinct)

    def close(self, windows: Iterable[Closed]) -> None:
        """Take the results of windows that just closed."""
        spec = self.spec
        for window in windows:
            value = window.accumulator.result(spec.aggregate)
            if math.isnan(value):
                continue
            known = self.latest.get(window.key)
            if known is not None and window.end < known[0]:
                continue  # a late update of an older window does not replace the newest
            if spec.type == "rate" and known is not None and window.end > known[0]:
                self.previous[window.key] = known[1]
            if spec.type == "anomaly" and not window.update:
                value = self._score(window, value)
            self.latest[window.key] = (window.end, value)

    def _score(self, window: Closed, value: float) -> float:
        """z-score against the key's EWMA baseline, then fold the value into the baseline.

        An anomalous value is left out of the baseline, so a lasting drop keeps firing
        instead of becoming the new normal two windows later; after ``adapt_after``
        anomalous windows in a row the level is taken as the new normal after all.
        """
        spec = self.spec
        bucket = window.key
        if spec.seasonal == "hour_of_day":
            bucket = f"{window.key}@{dt.datetime.fromtimestamp(window.start, dt.UTC).hour}"
        mean, variance, count, streak = self.baseline.get(bucket, [value, 0.0, 0, 0])
        floor = spec.min_std_share * abs(mean)
        spread = max(math.sqrt(variance), floor, 1e-9)
        score = (value - mean) / spread if count >= spec.warmup else math.nan
        if self._anomalous(score) and streak < spec.adapt_after:
            self.baseline[bucket] = [mean, variance, count, streak + 1]
            return score
        difference = value - mean
        mean += spec.alpha * difference
        variance = (1 - spec.alpha) * (variance + spec.alpha * difference * difference)
        self.baseline[bucket] = [mean, variance, count + 1, 0]
        return score

    def evaluate(self, now: float) -> dict[str, tuple[bool, float]]:
        """For each key: does the condition hold now, and with what value."""
        spec = self.spec
        if spec.type == "absence":
            keys = set(self.last_seen) | set(spec.expected_keys)
            result = {}
            for key in keys:
                quiet = now - self.last_seen.get(key, self._started)
                result[key] = (quiet >= spec.seconds, quiet)
            return result
        if spec.type == "freshness":
            return {key: self._overdue(key, cron, now) for key, cron in spec.schedules.items()}
        if spec.stale_after is not None and self.store is not None:
            horizon = self.store.watermark - spec.stale_after
            for key in [k for k, (end, _) in self.latest.items() if end < horizon]:
                del self.latest[key]
        compare = OPERATORS[spec.op]
        result = {}
        for key, (_, value) in self.latest.items():
            if spec.type == "rate":
                if key not in self.previous:
                    continue
                before = self.previous[key]
                change = value - before
                if spec.change == "relative":
                    change = _relative(change, before)
                result[key] = (not math.isnan(change) and compare(change, spec.value), change)
            elif spec.type == "anomaly":
                result[key] = (self._anomalous(value), value)
            else:
                result[key] = (compare(value, spec.value), value)
        return result

    def _anomalous(self, score: float) -> bool:
        if math.isnan(score):
            return False
        if self.spec.direction == "above":
            return score > self.spec.z
        if self.spec.direction == "below":
            return score < -self.spec.z
        return abs(score) > self.spec.z

    def _overdue(self, key: str, cron: str, now: float) -> tuple[bool, float]:
        """Late when no event since the last scheduled time that is past its grace."""
        zone = ZoneInfo(self.spec.timezone)
        if cron.startswith("CRON_TZ="):
            name, cron = cron[len("CRON_TZ=") :].split(None, 1)
            zone = ZoneInfo(name)
        reference = dt.datetime.fromtimestamp(now - self.spec.grace, zone)
        expected = croniter(cron, reference).get_prev(dt.datetime).timestamp()
        seen = self.last_seen.get(key, -math.inf)
        return seen < expected, now - self.spec.grace - expected

    def start(self, now: float) -> None:
        """Absence of a never-seen expected key counts from when the engine started."""
        self._started = now

    def dump(self) -> dict[str, Any]:
        return {
            "store": None if self.store is None else self.store.dump(),
            "latest": dict(self.latest),
            "previous": dict(self.previous),
            "baseline": {k: list(v) for k, v in self.baseline.items()},
            "last_seen": dict(self.last_seen),
            "labels": dict(self.labels),
            "started": self._started,
        }

    def repair(self, ceiling: float) -> bool:
        """Forget state from event times past ``ceiling``; True if there was any."""
        repaired = self.store is not None and self.store.repair(ceiling)
        for table in (self.latest, self.last_seen):
            for key in [
                k for k, v in table.items() if (v[0] if isinstance(v, tuple) else v) > ceiling
            ]:
                del table[key]
                self.previous.pop(key, None)
                repaired = True
        return repaired

    def load(self, data: dict[str, Any]) -> None:
        if self.store is not None and data.get("store"):
            self.store.load(data["store"])
        self.latest = {k: (v[0], v[1]) for k, v in data["latest"].items()}
        self.previous = dict(data["previous"])
        self.baseline = {k: list(v) for k, v in data["baseline"].items()}
        self.last_seen = dict(data["last_seen"])
        self.labels = dict(data["labels"])
        self._started = data.get("started", 0.0)


def _relative(change: float, before: float) -> float:
    """Change as a share of the previous value; from zero, any change is infinitely large."""
    if before:
        return change / abs(before)
    if change == 0:
        return 0.0
    return math.copysign(math.inf, change)
