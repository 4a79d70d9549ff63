"""Google service-account tokens (google-auth) for the Cloud Storage, Sheets and GA4 clients.

The key file is named in the source's settings (``credentials_file``), given inline
(``credentials_json``, e.g. from a ``TALLY_SOURCES__...`` variable or a secrets file), or
found through ``GOOGLE_APPLICATION_CREDENTIALS``; it is never logged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import google.auth.exceptions
import google.auth.transport
import httpx
from google.oauth2 import service_account

from tally.errors import ConfigError, TransientError
from tally.sources.http import HeadersFactory


class _HttpxRequest(google.auth.transport.Request):
    """google-auth's transport interface over httpx.

    google-auth ships transports for requests and urllib3 only; the interface is one call,
    so this keeps every tally client on one HTTP stack.
    """

    def __init__(self, client: httpx.Client) -> None:
        self.client = client

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> google.auth.transport.Response:
        try:
            response = self.client.request(
                method, url, content=body, headers=headers, timeout=timeout or 60.0
            )
        except httpx.HTTPError as error:
            raise google.auth.exceptions.TransportError(str(error)) from error
        return _Response(response)


class _Response(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self) -> Mapping[str, str]:
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


def key_info(config: Mapping[str, Any], source: str) -> dict[str, Any] | None:
    """The service-account key as a dict, or None when none is configured."""
    inline = config.get("credentials_json")
    path = config.get("credentials_file") or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    info: dict[str, Any] | None = None
    try:
        if inline:
            info = json.loads(str(inline))
        elif path:
            info = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        where = "credentials_json" if inline else f"credentials_file {path}"
        raise ConfigError(
            f"sources.{source}.{where}: not a readable service-account JSON key "
            f"({type(error).__name__})"
        ) from None
    return info


def bearer_headers(
    config: Mapping[str, Any], source: str, scopes: list[str]
) -> HeadersFactory | None:
    """A headers factory giving a fresh ``Authorization: Bearer`` token, or None (no key)."""
    info = key_info(config, source)
    if info is None:
        return None
    try:
        credentials = service_account.Credentials.from_service_account_info(info, scopes=scopes)
    except (ValueError, KeyError) as error:
        raise ConfigError(f"sources.{source}: service-account key is incomplete: {error}") from None
    transport = _HttpxRequest(httpx.Client())

    def headers() -> dict[str, str]:
        if not credentials.valid:
            try:
                credentials.refresh(transport)
            except google.auth.exceptions.RefreshError as error:
                if getattr(error, "retryable", False):
                    raise TransientError(f"{source}: token endpoint busy: {error}") from None
                raise ConfigError(
                    f"{source}: the service account {info.get('client_email')} "
                    f"was refused a token: {error}"
                ) from None
            except google.auth.exceptions.TransportError as error:
                raise TransientError(
                    f"{source}: cannot reach the token endpoint: {error}"
                ) from None
        return {"Authorization": f"Bearer {credentials.token}"}

    return headers
