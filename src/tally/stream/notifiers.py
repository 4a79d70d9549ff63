"""Receivers: webhook (Alertmanager's JSON), Slack-compatible webhook and email (SMTP).

Each delivery is retried with exponential backoff; every attempt's outcome is appended to
the notification log (JSON lines), so "was anyone told?" always has an answer.
"""

from __future__ import annotations

import json
import queue
import smtplib
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
from tenacity import Retrying, stop_after_attempt, wait_exponential

from tally.errors import ConfigError
from tally.stream.settings import ReceiverSpec

Notification = dict[str, Any]


class Notifier:
    """Sends one notification or raises."""

    def __init__(self, spec: ReceiverSpec, client: httpx.Client | None = None) -> None:
        self.spec = spec
        self.client = client or httpx.Client(timeout=spec.timeout)

    def send(self, notification: Notification) -> None:
        raise NotImplementedError


class WebhookNotifier(Notifier):
    def send(self, notification: Notification) -> None:
        body = dict(notification, receiver=self.spec.name)
        self.client.post(self.spec.url, json=body).raise_for_status()


class SlackNotifier(Notifier):
    """Slack's incoming-webhook body (``text`` plus one attachment per alert)."""

    def send(self, notification: Notification) -> None:
        self.client.post(self.spec.url, json=slack_body(notification)).raise_for_status()


class EmailNotifier(Notifier):
    def send(self, notification: Notification) -> None:
        spec = self.spec
        message = EmailMessage()
        message["Subject"] = headline(notification)
        message["From"] = spec.sender
        message["To"] = ", ".join(spec.to)
        message.set_content(plain_text(notification))
        with smtplib.SMTP(spec.smtp_host, spec.smtp_port, timeout=spec.timeout) as smtp:
            if spec.starttls:
                smtp.starttls()
            if spec.smtp_user and spec.smtp_password is not None:
                smtp.login(spec.smtp_user, spec.smtp_password.get_secret_value())
            smtp.send_message(message)


KINDS: dict[str, type[Notifier]] = {
    "webhook": WebhookNotifier,
    "slack": SlackNotifier,
    "email": EmailNotifier,
}


def build_notifiers(specs: list[ReceiverSpec]) -> dict[str, Notifier]:
    notifiers = {}
    for spec in specs:
        if spec.type in ("webhook", "slack") and not spec.url:
            raise ConfigError(f"stream.receivers.{spec.name}: a {spec.type} receiver needs url")
        if spec.type == "email" and not spec.to:
            raise ConfigError(f"stream.receivers.{spec.name}: an email receiver needs to")
        notifiers[spec.name] = KINDS[spec.type](spec)
    return notifiers


def headline(notification: Notification) -> str:
    alerts = notification["alerts"]
    name = notification["commonLabels"].get("alertname") or notification["groupKey"]
    return f"[{notification['status'].upper()}:{len(alerts)}] {name}"


def plain_text(notification: Notification) -> str:
    lines = [headline(notification), ""]
    for alert in notification["alerts"]:
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert["labels"].items()))
        lines.append(f"- {alert['status']}: {alert['annotations']['summary']} ({labels})")
    return "\n".join(lines) + "\n"


def slack_body(notification: Notification) -> dict[str, Any]:
    colour = "danger" if notification["status"] == "firing" else "good"
    return {
        "text": headline(notification),
        "attachments": [
            {
                "color": colour,
                "title": alert["labels"].get("alertname", ""),
                "text": alert["annotations"]["summary"],
                "fields": [
                    {"title": k, "value": v, "short": True}
                    for k, v in sorted(alert["labels"].items())
                ],
            }
            for alert in notification["alerts"]
        ],
    }


class NotificationLog:
    """Append-only JSON lines of every delivery and its outcome."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.recent: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.recent.append(entry)
            del self.recent[:-1000]
            if self.path is not None:
                with self.path.open("a", encoding="utf-8") as log:
                    log.write(json.dumps(entry, sort_keys=True) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if self.path is None or not self.path.exists():
            return list(self.recent)
        with self.path.open(encoding="utf-8") as log:
            return [json.loads(line) for line in log if line.strip()]


class Deliverer:
    """Sends notifications to receivers, with retries, inline or on a worker thread."""

    def __init__(
        self,
        notifiers: dict[str, Notifier],
        log: NotificationLog,
        attempts: int = 4,
        backoff: float = 0.5,
        clock: Callable[[], float] = time.time,
        background: bool = False,
    ) -> None:
        self.notifiers = notifiers
        self.log = log
        self.attempts = attempts
        self.backoff = backoff
        self.clock = clock
        self._queue: queue.Queue[tuple[str, Notification] | None] | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._work, name="tally-notify", daemon=True)
            self._thread.start()

    def deliver(self, receivers: list[str], notification: Notification) -> None:
        for name in receivers:
            if name not in self.notifiers:
                self.log.record(self._entry(name, notification, "failed", 0, "unknown receiver"))
            elif self._queue is not None:
                self._queue.put((name, notification))
            else:
                self._send(name, notification)

    def _send(self, name: str, notification: Notification) -> None:
        notifier = self.notifiers[name]
        tries = 0
        error = ""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=wait_exponential(multiplier=self.backoff, max=30),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    tries += 1
                    notifier.send(notification)
            outcome = "sent"
        except Exception as failure:  # any receiver failure is logged, never fatal
            outcome, error = "failed", f"{type(failure).__name__}: {failure}"
        self.log.record(self._entry(name, notification, outcome, tries, error))

    def _entry(
        self, name: str, notification: Notification, outcome: str, tries: int, error: str
    ) -> dict[str, Any]:
        return {
            "id": notification["id"],
            "at": self.clock(),
            "receiver": name,
            "group": notification["groupKey"],
            "status": notification["status"],
            "alerts": [a["fingerprint"] for a in notification["alerts"]],
            "outcome": outcome,
            "attempts": tries,
            "error": error,
        }

    def _work(self) -> None:
        assert self._queue is not None
        while True:
            item = self._queue.get()
            if item is None:
                return
            self._send(*item)
            self._queue.task_done()

    def drain(self) -> None:
        """Wait until queued notifications are delivered (or given up)."""
        if self._queue is not None:
            self._queue.join()

    def close(self) -> None:
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
