"""Service-account tokens for the Google clients: where the key comes from, one token per
hour rather than per request, and errors that name the setting without quoting the key."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from tests.sources.google_service import ACCESS_TOKEN, google_key

from tally.errors import ConfigError
from tally.sources._google import bearer_headers, key_info

SCOPE = ["https://www.googleapis.com/auth/devstorage.read_only"]


def test_key_from_file_inline_or_environment(
    httpserver: HTTPServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path, _ = google_key(httpserver, tmp_path)
    text = path.read_text(encoding="utf-8")
    assert key_info({"credentials_file": str(path)}, "s")["client_id"] == "1234567890"
    assert key_info({"credentials_json": text}, "s")["client_id"] == "1234567890"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    assert key_info({}, "s")["client_id"] == "1234567890"
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS")
    assert key_info({}, "s") is None


def test_one_token_serves_many_requests(httpserver: HTTPServer, tmp_path: Path) -> None:
    path, claims = google_key(httpserver, tmp_path)
    headers = bearer_headers({"credentials_file": str(path)}, "google-play", SCOPE)
    assert headers is not None
    assert headers() == headers() == {"Authorization": f"Bearer {ACCESS_TOKEN}"}
    assert len(claims) == 1  # the token lives an hour: asked for once


def test_unreadable_key_names_the_setting_not_the_content(tmp_path: Path) -> None:
    path = tmp_path / "key.json"
    path.write_text('{"private_key": "-----BEGIN PRIVATE KEY----- secret', encoding="utf-8")
    with pytest.raises(ConfigError, match="credentials_file") as raised:
        key_info({"credentials_file": str(path)}, "google-play")
    assert "secret" not in str(raised.value)


def test_incomplete_key_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="service-account key is incomplete"):
        bearer_headers(
            {"credentials_json": json.dumps({"type": "service_account"})}, "google-drive", SCOPE
        )
