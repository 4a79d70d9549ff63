"""The shared retry policy: 429 honours Retry-After, 5xx and network errors retry, other 4xx
never do, and each answer maps to the tally error the pipeline acts on."""

from __future__ import annotations

import pytest
from pytest_httpserver import HTTPServer

from tally.errors import ConfigError, NotReadyError, RateLimitedError, TerminalError
from tally.sources.http import HttpClient, ServerError, retry_after


def client(sleeps: list[float], **options) -> HttpClient:
    return HttpClient("test origin", sleep=sleeps.append, backoff_seconds=1.0, **options)


def test_429_waits_as_long_as_retry_after_says(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request("/r").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "7"}
    )
    httpserver.expect_ordered_request("/r").respond_with_data("ok")
    sleeps: list[float] = []
    response = client(sleeps).get(httpserver.url_for("/r"))
    assert response.text == "ok"
    assert sleeps == [7.0]  # the server's figure, not the exponential backoff's 1 s


def test_5xx_retries_with_backoff_then_succeeds(httpserver: HTTPServer) -> None:
    for _ in range(2):
        httpserver.expect_ordered_request("/r").respond_with_data("boom", status=503)
    httpserver.expect_ordered_request("/r").respond_with_data("ok")
    sleeps: list[float] = []
    http = client(sleeps)
    assert http.get(httpserver.url_for("/r")).text == "ok"
    assert len(sleeps) == 2 and sleeps[1] > sleeps[0]  # exponential: 1 s, then 2 s
    assert [line.rsplit(": ", 1)[1] for line in http.attempt_log] == ["503", "503", "200"]


def test_5xx_gives_up_after_the_last_attempt(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/r").respond_with_data("boom", status=500)
    sleeps: list[float] = []
    with pytest.raises(ServerError, match="answered 500"):
        client(sleeps, attempts=3).get(httpserver.url_for("/r"))
    assert len(sleeps) == 2


def test_429_without_retry_after_gives_up_with_rate_limited(httpserver: HTTPServer) -> None:
    httpserver.expect_request("/r").respond_with_data("", status=429)
    with pytest.raises(RateLimitedError):
        client([], attempts=2).get(httpserver.url_for("/r"))


@pytest.mark.parametrize(
    ("status", "error", "words"),
    [
        (401, ConfigError, "credentials rejected"),
        (403, ConfigError, "access denied"),
        (404, NotReadyError, "not available yet"),
        (400, TerminalError, "bad filter"),
    ],
)
def test_other_4xx_are_not_retried(
    httpserver: HTTPServer, status: int, error: type[Exception], words: str
) -> None:
    body = {"error": {"code": status, "message": "bad filter value", "status": "X"}}
    httpserver.expect_request("/r").respond_with_json(body, status=status)
    sleeps: list[float] = []
    http = client(sleeps)
    with pytest.raises(error, match=words):
        http.get(httpserver.url_for("/r"))
    assert sleeps == [] and len(http.attempt_log) == 1


def test_unreachable_server_is_transient_and_retried() -> None:
    sleeps: list[float] = []
    http = client(sleeps, attempts=2, timeout_seconds=2)
    with pytest.raises(ServerError, match="cannot reach"):
        http.get("http://127.0.0.1:9/nothing")  # the discard port: connection refused
    assert len(sleeps) == 1


def test_retry_after_reads_seconds_and_http_dates() -> None:
    import httpx

    assert retry_after(httpx.Response(429, headers={"Retry-After": "12"})) == 12.0
    past = httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert retry_after(past) == 0.0  # a date already gone means "now"
    assert retry_after(httpx.Response(429)) is None
