"""HTTP for source clients: one retry policy for every origin.

Retried (with exponential backoff, tenacity): 429, honouring ``Retry-After``; 5xx; network
errors. Never retried: any other 4xx, because the same request will fail the same way, and
404 "not published yet", which is worth asking again in hours (the scheduler's job), not
seconds.
401/403 raise ``ConfigError`` (the credentials must change), 404 raises ``NotReadyError``
where the origin uses it for "not published yet", and other 4xx a ``TerminalError`` that
quotes the server's answer.
"""

from __future__ import annotations

import email.utils
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from tally.errors import (
    ConfigError,
    NotReadyError,
    RateLimitedError,
    TerminalError,
    TransientError,
)

log = logging.getLogger(__name__)

HeadersFactory = Callable[[], Mapping[str, str]]


class ServerError(TransientError):
    """The origin failed (5xx) or could not be reached; the same call may work later."""


class HttpClient:
    """A small retrying client; ``headers`` is called before each attempt (fresh tokens)."""

    def __init__(
        self,
        what: str,
        *,
        headers: HeadersFactory | None = None,
        attempts: int = 5,
        backoff_seconds: float = 1.0,
        max_wait_seconds: float = 120.0,
        timeout_seconds: float = 60.0,
        not_found_is_not_ready: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.what = what
        self.headers = headers
        self.attempts = attempts
        self.backoff_seconds = backoff_seconds
        self.max_wait_seconds = max_wait_seconds
        self.not_found_is_not_ready = not_found_is_not_ready
        self.sleep = sleep
        self.attempt_log: list[str] = []  # one line per attempt, for the ledger and tests
        self._client = httpx.Client(timeout=timeout_seconds, transport=transport)

    def request(self, method: str, url: str, **options: Any) -> httpx.Response:
        """Send with retries; return a 2xx response or raise a tally error."""
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            wait=self._wait,
            retry=retry_if_exception_type((RateLimitedError, ServerError)),
            sleep=self.sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )
        return retrying(self._attempt, method, url, options)

    def get(self, url: str, **options: Any) -> httpx.Response:
        return self.request("GET", url, **options)

    def post(self, url: str, **options: Any) -> httpx.Response:
        return self.request("POST", url, **options)

    def close(self) -> None:
        self._client.close()

    def _attempt(self, method: str, url: str, options: dict[str, Any]) -> httpx.Response:
        headers = dict(self.headers() if self.headers else {})
        headers.update(options.get("headers") or {})
        rest = {k: v for k, v in options.items() if k != "headers"}
        try:
            response = self._client.request(method, url, headers=headers, **rest)
        except httpx.TransportError as error:
            self.attempt_log.append(f"{method} {url}: {type(error).__name__}")
            raise ServerError(f"{self.what}: cannot reach {url}: {error}") from error
        self.attempt_log.append(f"{method} {url}: {response.status_code}")
        check(response, self.what, not_found_is_not_ready=self.not_found_is_not_ready)
        return response

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimitedError) and error.retry_after is not None:
            return min(error.retry_after, self.max_wait_seconds)
        backoff = wait_exponential(multiplier=self.backoff_seconds, max=self.max_wait_seconds)
        return backoff(state)

    def _log_retry(self, state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0
        log.warning(
            "%s: attempt %d failed (%s); retrying in %.1fs",
            self.what,
            state.attempt_number,
            error,
            wait,
        )


def check(response: httpx.Response, what: str, *, not_found_is_not_ready: bool = True) -> None:
    """Raise the tally error that matches a non-2xx response."""
    status = response.status_code
    if status < 300:
        return
    detail = _detail(response)
    where = f"{what}: {response.request.method} {response.request.url} answered {status}"
    if status == 429:
        raise RateLimitedError(
            f"{where} (rate limited): {detail}", retry_after=retry_after(response)
        )
    if status >= 500:
        raise ServerError(f"{where}: {detail}")
    if status in (401, 403):
        reason = "credentials rejected" if status == 401 else "access denied to this resource"
        raise ConfigError(
            f"{where} ({reason}; check the source's credentials and permissions): {detail}"
        )
    if status == 404 and not_found_is_not_ready:
        raise NotReadyError(f"{where} (not available yet): {detail}")
    raise TerminalError(f"{where}: {detail}")


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - time.time())


def _detail(response: httpx.Response) -> str:
    """The server's own explanation, shortened (Google and Apple answer JSON errors)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300].strip() or "(empty body)"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])[:300]
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            return str(first.get("detail") or first.get("title") or first)[:300]
    return str(body)[:300]
