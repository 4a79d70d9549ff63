"""Alert lifecycle, as Prometheus and Alertmanager users know it.

    inactive ──condition holds──▶ pending ──held for `for`──▶ firing ──clears──▶ resolved
                 (clears while pending: forgotten)

Firing and resolved alerts are grouped by labels; a group is notified ``group_wait`` after
it appears, then at most every ``group_interval`` when it changes, and every
``repeat_interval`` while it keeps firing unchanged. Silenced alerts and alerts muted by an
inhibition rule are left out of notifications (but still listed).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tally.errors import BadInputError
from tally.stream.settings import InhibitRule, Route

State = Literal["pending", "firing", "resolved"]


@dataclass
class Alert:
    rule: str
    key: str
    labels: dict[str, str]
    summary: str
    state: State
    active_since: float
    value: float
    fired_at: float | None = None
    resolved_at: float | None = None
    resolved_notified: bool = False

    @property
    def fingerprint(self) -> str:
        return f"{self.rule}/{self.key}"


class Matcher(BaseModel):
    """``name=value``, ``name!=value``, ``name=~regex`` or ``name!~regex`` on alert labels."""

    model_config = ConfigDict(extra="forbid")
    name: str
    value: str
    op: Literal["=", "!=", "=~", "!~"] = "="

    @classmethod
    def parse(cls, text: str) -> Matcher:
        found = re.match(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", text)
        if not found:
            raise BadInputError(f"matcher {text!r}: expected name=value, !=, =~ or !~")
        name, op, value = found.groups()
        return cls.model_validate({"name": name, "op": op, "value": value.strip('"')})

    def matches(self, labels: dict[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op == "=~" else not hit


class Silence(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str = Field(default_factory=lambda: uuid.uuid4().hex[:12])
    matchers: list[Matcher]
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: dict[str, str]) -> bool:
        return all(m.matches(labels) for m in self.matchers)


@dataclass
class Group:
    labels: dict[str, str]
    created_at: float
    last_sent_at: float | None = None
    sent_firing: list[str] = field(default_factory=list)


class AlertBook:
    """Every alert by fingerprint, and the notification groups."""

    def __init__(self, route: Route, inhibit_rules: list[InhibitRule] | None = None) -> None:
        self.route = route
        self.inhibit_rules = inhibit_rules or []
        self.alerts: dict[str, Alert] = {}
        self.groups: dict[str, Group] = {}
        self.silences: list[Silence] = []

    def update(
        self,
        rule: str,
        wait: float,
        results: dict[str, tuple[bool, float]],
        labels: dict[str, dict[str, str]] | Callable[[str], dict[str, str]],
        summary: str,
        now: float,
        resolved_summary: str = "",
    ) -> None:
        """Move one rule's alerts through their states given its latest evaluation.

        ``labels`` gives a new alert's labels by key (a mapping, or a function so labels are
        built only for keys that become alerts). A resolved alert's summary says so: the
        rule's ``resolved_summary``, or "resolved: ..." with the value that cleared it."""
        label = labels.__getitem__ if isinstance(labels, dict) else labels
        prefix = f"{rule}/"
        for fingerprint, alert in list(self.alerts.items()):
            if not fingerprint.startswith(prefix) or alert.state == "resolved":
                continue
            active, value = results.get(alert.key, (False, alert.value))
            if active:
                continue
            if alert.state == "pending":
                del self.alerts[fingerprint]
            else:
                alert.state, alert.resolved_at, alert.value = "resolved", now, value
                alert.summary = (
                    _summary(resolved_summary, alert.key, value)
                    if resolved_summary
                    else f"resolved: {alert.key} is back to normal ({value:g})"
                )
        for key, (active, value) in results.items():
            if not active:
                continue
            found = self.alerts.get(prefix + key)
            if found is None or found.state == "resolved":
                alert = Alert(
                    rule, key, label(key), _summary(summary, key, value), "pending", now, value
                )
                self.alerts[alert.fingerprint] = alert
            else:
                alert = found
            alert.value = value
            alert.summary = _summary(summary, key, value)
            if alert.state == "pending" and now - alert.active_since >= wait:
                alert.state, alert.fired_at = "firing", now

    def muted(self, alert: Alert, now: float) -> str | None:
        """Why an alert is left out of notifications ("silenced:<id>", "inhibited"), or None."""
        for silence in self.silences:
            if silence.active(now) and silence.matches(alert.labels):
                return f"silenced:{silence.id}"
        for rule in self.inhibit_rules:
            if not _equal_all(alert.labels, rule.target_match):
                continue
            for other in self.alerts.values():
                if (
                    other is not alert
                    and other.state == "firing"
                    and _equal_all(other.labels, rule.source_match)
                    and all(other.labels.get(n) == alert.labels.get(n) for n in rule.equal)
                ):
                    return "inhibited"
        return None

    def flush(self, now: float) -> list[dict[str, Any]]:
        """Notifications due now, one per group, in Alertmanager's webhook shape."""
        route = self.route
        self.silences = [s for s in self.silences if s.ends_at > now]
        members: dict[str, list[Alert]] = {}
        for alert in self.alerts.values():
            if alert.state == "pending" or self.muted(alert, now):
                continue
            if alert.state == "resolved" and alert.resolved_notified:
                continue
            members.setdefault(self._group_key(alert), []).append(alert)
        due = []
        for group_key in set(members) | set(self.groups):
            alerts = members.get(group_key, [])
            firing = sorted(a.fingerprint for a in alerts if a.state == "firing")
            group = self.groups.get(group_key)
            if group is None:
                if not firing:
                    continue
                # the group exists from its first alert's firing, as if created then
                began = min(a.fired_at or 0.0 for a in alerts if a.state == "firing")
                group = self.groups[group_key] = Group(self._group_labels(alerts[0]), began)
            resolved = [
                a for a in alerts if a.state == "resolved" and a.fingerprint in group.sent_firing
            ]
            changed = firing != group.sent_firing or bool(resolved)
            if group.last_sent_at is None:
                send = bool(firing) and now - group.created_at >= route.group_wait
            elif changed:
                send = now - group.last_sent_at >= route.group_interval
            else:
                send = bool(firing) and now - group.last_sent_at >= route.repeat_interval
            if not send:
                if not firing and not resolved and group.last_sent_at is None:
                    del self.groups[group_key]
                continue
            sent = [self.alerts[f] for f in firing] + resolved
            due.append(self._notification(group_key, group, sent, now))
            for alert in resolved:
                alert.resolved_notified = True
            group.last_sent_at, group.sent_firing = now, firing
            if not firing:
                del self.groups[group_key]
        self._forget_resolved(now)
        return due

    def _forget_resolved(self, now: float) -> None:
        keep = self.route.resolve_retention
        for fingerprint, alert in list(self.alerts.items()):
            if alert.state == "resolved" and alert.resolved_at is not None:
                if now - alert.resolved_at >= keep and (
                    alert.resolved_notified or self._group_key(alert) not in self.groups
                ):
                    del self.alerts[fingerprint]

    def _group_labels(self, alert: Alert) -> dict[str, str]:
        return {name: alert.labels.get(name, "") for name in self.route.group_by}

    def _group_key(self, alert: Alert) -> str:
        return "{" + ",".join(f'{k}="{v}"' for k, v in self._group_labels(alert).items()) + "}"

    def _notification(
        self, group_key: str, group: Group, alerts: list[Alert], now: float
    ) -> dict[str, Any]:
        firing = any(a.state == "firing" for a in alerts)
        common = dict(alerts[0].labels)
        for alert in alerts[1:]:
            common = {k: v for k, v in common.items() if alert.labels.get(k) == v}
        return {
            "version": "4",
            "id": uuid.uuid4().hex,
            "groupKey": group_key,
            "status": "firing" if firing else "resolved",
            "groupLabels": group.labels,
            "commonLabels": common,
            "commonAnnotations": {},
            "truncatedAlerts": 0,
            "sentAt": now,
            "alerts": [_alert_json(a) for a in alerts],
        }

    def dump(self) -> dict[str, Any]:
        return {
            "alerts": [asdict(a) for a in self.alerts.values()],
            "groups": {k: asdict(g) for k, g in self.groups.items()},
        }

    def load(self, data: dict[str, Any]) -> None:
        self.alerts = {}
        for item in data.get("alerts", []):
            alert = Alert(**item)
            self.alerts[alert.fingerprint] = alert
        self.groups = {k: Group(**g) for k, g in data.get("groups", {}).items()}


def _equal_all(labels: dict[str, str], wanted: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in wanted.items())


def _summary(template: str, key: str, value: float) -> str:
    if not template:
        return f"{key}: {value:g}"
    try:
        return template.format(key=key, value=value)
    except (KeyError, IndexError, ValueError):
        return template


def iso(seconds: float | None) -> str:
    if seconds is None:
        return "0001-01-01T00:00:00Z"
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def _alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "status": "firing" if alert.state == "firing" else "resolved",
        "labels": alert.labels,
        "annotations": {"summary": alert.summary},
        "startsAt": iso(alert.fired_at or alert.active_since),
        "endsAt": iso(alert.resolved_at),
        "fingerprint": alert.fingerprint,
        "value": alert.value,
    }
