"""Receivers against real local servers: an HTTP server for webhook and Slack bodies, a
small SMTP server for email, and the notification log with retries."""

from __future__ import annotations

import email
import json
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from tally.errors import ConfigError
from tally.stream.notifiers import (
    Deliverer,
    NotificationLog,
    ReceiverSpec,
    build_notifiers,
    slack_body,
)

NOTIFICATION = {
    "version": "4",
    "id": "n1",
    "groupKey": '{alertname="hot"}',
    "status": "firing",
    "groupLabels": {"alertname": "hot"},
    "commonLabels": {"alertname": "hot", "severity": "warning"},
    "commonAnnotations": {},
    "truncatedAlerts": 0,
    "sentAt": 0,
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "hot", "key": "s1"},
            "annotations": {"summary": "s1 runs hot: 35.0"},
            "startsAt": "2026-03-02T10:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "fingerprint": "hot/s1",
            "value": 35.0,
        },
    ],
}


def test_webhook_posts_alertmanager_json_with_the_receiver(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("ok")
    hook = build_notifiers(
        [ReceiverSpec(name="ops", type="webhook", url=httpserver.url_for("/hook"))]
    )
    hook["ops"].send(NOTIFICATION)
    body = json.loads(httpserver.log[0][0].data)
    assert body["receiver"] == "ops" and body["alerts"][0]["fingerprint"] == "hot/s1"
    assert body["version"] == "4" and body["status"] == "firing"


def test_slack_body_has_text_and_one_attachment_per_alert(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/slack", method="POST").respond_with_data("ok")
    slack = build_notifiers(
        [ReceiverSpec(name="chat", type="slack", url=httpserver.url_for("/slack"))]
    )
    slack["chat"].send(NOTIFICATION)
    body = json.loads(httpserver.log[0][0].data)
    assert body == slack_body(NOTIFICATION)
    assert body["text"] == "[FIRING:1] hot"
    assert body["attachments"][0]["color"] == "danger"
    assert body["attachments"][0]["text"] == "s1 runs hot: 35.0"


class SmtpSink(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 to accept one message (the stdlib no longer ships a server,
    and aiosmtpd is not a dependency)."""

    def handle(self) -> None:
        self.wfile.write(b"220 sink ESMTP\r\n")
        while line := self.rfile.readline():
            command = line.decode().strip().upper()
            if command.startswith(("EHLO", "HELO")):
                self.wfile.write(b"250 sink\r\n")
            elif command == "DATA":
                self.wfile.write(b"354 go on\r\n")
                lines = []
                while (row := self.rfile.readline()) != b".\r\n":
                    lines.append(row)
                self.server.messages.append(b"".join(lines))  # type: ignore[attr-defined]
                self.wfile.write(b"250 queued\r\n")
            elif command == "QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


@pytest.fixture
def smtp() -> Iterator[socketserver.TCPServer]:
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), SmtpSink)
    server.messages = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_email_goes_through_smtp(smtp: socketserver.TCPServer) -> None:
    spec = ReceiverSpec(
        name="mail",
        type="email",
        smtp_port=smtp.server_address[1],
        sender="tally@example.org",
        to=["ops@example.org"],
    )
    build_notifiers([spec])["mail"].send(NOTIFICATION)
    message = email.message_from_bytes(smtp.messages[0])  # type: ignore[attr-defined]
    assert message["Subject"] == "[FIRING:1] hot"
    assert message["To"] == "ops@example.org"
    assert "s1 runs hot: 35.0" in message.get_payload()


def test_a_failing_receiver_is_retried_then_logged_as_failed(
    httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/down").respond_with_data("nope", status=503)
    notifiers = build_notifiers(
        [ReceiverSpec(name="ops", type="webhook", url=httpserver.url_for("/down"))]
    )
    log = NotificationLog(tmp_path / "notifications.jsonl")
    Deliverer(notifiers, log, attempts=3, backoff=0.001).deliver(["ops", "nobody"], NOTIFICATION)
    entries = log.read()
    assert [(e["receiver"], e["outcome"], e["attempts"]) for e in entries] == [
        ("ops", "failed", 3),
        ("nobody", "failed", 0),
    ]
    assert "503" in entries[0]["error"] and entries[1]["error"] == "unknown receiver"
    assert len(httpserver.log) == 3


def test_background_delivery_drains(recorder, tmp_path: Path) -> None:
    deliverer = Deliverer({"r": recorder}, NotificationLog(None), background=True)
    for _ in range(3):
        deliverer.deliver(["r"], NOTIFICATION)
    deliverer.drain()
    deliverer.close()
    assert len(recorder.sent) == 3


def test_receivers_need_their_address() -> None:
    with pytest.raises(ConfigError, match="ops: a webhook receiver needs url"):
        build_notifiers([ReceiverSpec(name="ops", type="webhook")])
