"""fetch_json and read_json_file: bounded reads and one failure reason per fault, against a local server."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from exporter.reference.fetch import (
    MAX_JSON_DEPTH,
    check_json,
    encode_json,
    fetch_json,
    parse_retry_after,
    read_json_file,
)
from exporter.reference.types import FetchFailure, ReferenceFetchError
from tests.support.paths import DATA as TEST_DATA

DATA = TEST_DATA / "webservice"
MB = 1024 * 1024
PARAMS = {"clientrequestid": "6f1c2a4e-9a53-4d6b-8f3e-2b7c1d0e5a91"}
LOGIN_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Proxy login</title></head><body>"
    "<form action='/login'><input type='hidden' name='csrf' value='SECRET-TOKEN-123'></form></body></html>"
)


async def fetch(
    url: str, *, max_bytes: int = MB, client_timeout: float = 5.0, timeout: float | None = None
) -> Any:
    async with httpx.AsyncClient(timeout=client_timeout, follow_redirects=False) as client:
        return await fetch_json(client, url, PARAMS, max_bytes=max_bytes, timeout=timeout)


async def fetch_error(url: str, **kwargs: Any) -> ReferenceFetchError:
    with pytest.raises(ReferenceFetchError) as caught:
        await fetch(url, **kwargs)
    error = caught.value
    assert "\n" not in error.detail
    assert len(error.detail) <= 200
    assert PARAMS["clientrequestid"] not in error.detail
    return error


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """Set at the end of a test, so that a handler that waits does not outlive it."""
    event = threading.Event()
    yield event
    event.set()


pytestmark = pytest.mark.anyio


async def test_decodes_json_and_sends_params(httpserver: HTTPServer) -> None:
    body = (DATA / "endpoints-mem.json").read_text()
    httpserver.expect_oneshot_request("/endpoints/Worldwide", query_string=PARAMS).respond_with_data(
        body, content_type="application/json; charset=utf-8"
    )
    data = await fetch(httpserver.url_for("/endpoints/Worldwide"))
    assert data == json.loads(body)
    httpserver.check_assertions()


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/problem+json", '{"a": 1}'),
        ("text/plain; charset=utf-8", '\n  {"a": 1}'),
        (None, '{"a": 1}'),
        ("application/json", '\ufeff{"a": 1}'),
    ],
)
async def test_json_content_types_accepted(
    httpserver: HTTPServer, content_type: str | None, body: str
) -> None:
    response = Response(body.encode())
    if content_type is None:
        del response.headers["Content-Type"]
    else:
        response.headers["Content-Type"] = content_type
    httpserver.expect_oneshot_request("/list").respond_with_response(response)
    assert await fetch(httpserver.url_for("/list")) == {"a": 1}


async def test_http_error_status(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/version/Worldwide").respond_with_data("boom", status=500)
    error = await fetch_error(httpserver.url_for("/version/Worldwide"))
    assert error.reason is FetchFailure.HTTP_STATUS
    assert "HTTP 500" in error.detail
    assert "/version/Worldwide" in error.detail
    assert "boom" not in error.detail


async def test_redirect_not_followed(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/list").respond_with_data(
        "", status=302, headers={"Location": "http://127.0.0.1:1/login"}
    )
    error = await fetch_error(httpserver.url_for("/list"))
    assert error.reason is FetchFailure.HTTP_STATUS
    assert "HTTP 302 redirect to http://127.0.0.1:1/login not followed" in error.detail


@pytest.mark.parametrize(
    ("header", "expected"),
    [({"Retry-After": "3600"}, 3600.0), ({"Retry-After": "soon"}, None), ({}, None)],
)
async def test_rate_limited(httpserver: HTTPServer, header: dict[str, str], expected: float | None) -> None:
    httpserver.expect_oneshot_request("/version/Worldwide").respond_with_data(
        "Too many requests", status=429, headers=header
    )
    error = await fetch_error(httpserver.url_for("/version/Worldwide"))
    assert error.reason is FetchFailure.RATE_LIMITED
    assert error.retry_after == expected


def test_retry_after_forms() -> None:
    now = 1_764_230_400.0  # Thu, 27 Nov 2025 08:00:00 GMT
    assert parse_retry_after("120", now=now) == 120.0
    assert parse_retry_after("Thu, 27 Nov 2025 09:00:00 GMT", now=now) == 3600.0
    assert parse_retry_after("Thu, 27 Nov 2025 07:00:00 GMT", now=now) == 0.0
    for invalid in (None, "", "-5", "1.5", "yesterday", "99999999999"):
        assert parse_retry_after(invalid, now=now) is None


async def test_client_timeout(httpserver: HTTPServer, release: threading.Event) -> None:
    def stall(request: Request) -> Response:
        release.wait(10)
        return Response("[]", content_type="application/json")

    httpserver.expect_oneshot_request("/version/Worldwide").respond_with_handler(stall)
    error = await fetch_error(httpserver.url_for("/version/Worldwide"), client_timeout=0.5)
    assert error.reason is FetchFailure.TIMEOUT
    assert "ReadTimeout" in error.detail


async def test_overall_deadline_covers_a_slow_body(httpserver: HTTPServer, release: threading.Event) -> None:
    """Each chunk arrives within the read timeout, but the whole body never does."""

    def drip() -> Iterator[bytes]:
        yield b"["
        while not release.wait(0.1):
            yield b'"x",'

    httpserver.expect_oneshot_request("/list").respond_with_response(
        Response(drip(), content_type="application/json")
    )
    error = await fetch_error(httpserver.url_for("/list"), client_timeout=5.0, timeout=0.5)
    assert error.reason is FetchFailure.TIMEOUT
    assert "no complete response within 0.5s" in error.detail


async def test_connection_refused() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    error = await fetch_error(f"http://127.0.0.1:{port}/version/Worldwide")
    assert error.reason is FetchFailure.CONNECTION
    assert "ConnectError" in error.detail


async def test_truncated_json(httpserver: HTTPServer) -> None:
    body = (DATA / "endpoints-mem.json").read_text()[:500]
    httpserver.expect_oneshot_request("/list").respond_with_data(body, content_type="application/json")
    error = await fetch_error(httpserver.url_for("/list"))
    assert error.reason is FetchFailure.MALFORMED_JSON
    assert "body ends early" in error.detail


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "empty body"),
        (b'{"a": 1,}', "invalid JSON at line 1 column 9"),
        (b'["\xff"]', "not UTF-8 text at byte 2"),
        (b"[" * 100_000, "nested too deeply"),
    ],
)
async def test_malformed_json(httpserver: HTTPServer, body: bytes, expected: str) -> None:
    httpserver.expect_oneshot_request("/list").respond_with_data(body, content_type="application/json")
    error = await fetch_error(httpserver.url_for("/list"))
    assert error.reason is FetchFailure.MALFORMED_JSON
    assert expected in error.detail


async def test_html_login_page(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/version/Worldwide").respond_with_data(
        LOGIN_PAGE, content_type="text/html; charset=utf-8"
    )
    error = await fetch_error(httpserver.url_for("/version/Worldwide"))
    assert error.reason is FetchFailure.NOT_JSON
    assert "Content-Type text/html" in error.detail
    assert "<!DOCTYPE html> <html><head><title>Prox" in error.detail
    assert "SECRET" not in error.detail


async def test_text_plain_that_is_not_json(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/list").respond_with_data(
        "Access denied by policy", content_type="text/plain"
    )
    error = await fetch_error(httpserver.url_for("/list"))
    assert error.reason is FetchFailure.NOT_JSON
    assert "Access denied" in error.detail


def _large_json(total: int, produced: list[int], finished: threading.Event) -> Iterator[bytes]:
    """A JSON list of `total` bytes, made one 64 KiB chunk at a time; counts what the server produced."""
    chunk = b'"' + b"a" * (64 * 1024 - 4) + b'",'
    try:
        yield b"["
        produced[0] += 1
        while produced[0] < total:
            yield chunk
            produced[0] += len(chunk)
    finally:
        finished.set()


@pytest.mark.parametrize("declare_length", [False, True])
async def test_large_body_is_abandoned(httpserver: HTTPServer, declare_length: bool) -> None:
    total = 50 * MB
    produced = [0]
    finished = threading.Event()
    response = Response(_large_json(total, produced, finished), content_type="application/json")
    if declare_length:
        response.headers["Content-Length"] = str(total)
    httpserver.expect_oneshot_request("/endpoints/Worldwide").respond_with_response(response)

    error = await fetch_error(httpserver.url_for("/endpoints/Worldwide"), max_bytes=5 * MB)

    assert error.reason is FetchFailure.TOO_LARGE
    assert "5242880 bytes" in error.detail
    assert finished.wait(10), "the server kept sending"
    # The client hung up early: the server stopped long before the end (socket buffers hold a few MB at most).
    assert produced[0] < total // 2


def test_read_json_file(tmp_path: Path) -> None:
    assert read_json_file(DATA / "version-worldwide.json", max_bytes=MB) == {
        "instance": "Worldwide",
        "latest": "2025112700",
    }


@pytest.mark.parametrize(
    ("content", "max_bytes", "reason"),
    [
        (None, MB, FetchFailure.FILE_ERROR),
        (b"[1, 2, 3]", 5, FetchFailure.TOO_LARGE),
        (b"[1, 2", MB, FetchFailure.MALFORMED_JSON),
        (b"<html></html>", MB, FetchFailure.MALFORMED_JSON),
    ],
)
def test_read_json_file_errors(
    tmp_path: Path, content: bytes | None, max_bytes: int, reason: FetchFailure
) -> None:
    path = tmp_path / "list.json"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ReferenceFetchError) as caught:
        read_json_file(path, max_bytes=max_bytes)
    assert caught.value.reason is reason
    assert str(path) in caught.value.detail


def test_read_json_file_directory(tmp_path: Path) -> None:
    with pytest.raises(ReferenceFetchError) as caught:
        read_json_file(tmp_path, max_bytes=MB)
    assert caught.value.reason is FetchFailure.FILE_ERROR


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'[{"urls": ["a\\ud800.example.com"]}]', FetchFailure.INVALID_TEXT),
        (b'[{"id\\udc00": 1}]', FetchFailure.INVALID_TEXT),
        (b"[" * 980 + b"]" * 980, FetchFailure.MALFORMED_JSON),
        (b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), FetchFailure.MALFORMED_JSON),
    ],
)
async def test_text_and_depth_are_checked_where_json_is_decoded(
    httpserver: HTTPServer, tmp_path: Path, body: bytes, reason: FetchFailure
) -> None:
    httpserver.expect_request("/list").respond_with_data(body, content_type="application/json")
    assert (await fetch_error(httpserver.url_for("/list"))).reason is reason
    path = tmp_path / "list.json"
    path.write_bytes(body)
    with pytest.raises(ReferenceFetchError) as caught:
        read_json_file(path, max_bytes=1024 * 1024)
    assert caught.value.reason is reason


def test_as_deep_as_allowed_and_any_valid_text_decode(tmp_path: Path) -> None:
    path = tmp_path / "list.json"
    path.write_bytes(b"[" * MAX_JSON_DEPTH + b'"\\ud83d\\ude00 \xc3\xa9"' + b"]" * MAX_JSON_DEPTH)
    value = read_json_file(path, max_bytes=1024)
    check_json(value, "here")
    assert json.loads(encode_json(value)) == value


def test_the_encoder_never_raises_anything_else() -> None:
    assert encode_json({"b": ["\u00e9"], "a": 1}, sort_keys=True) == b'{"a":1,"b":["\\u00e9"]}'
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    for value, reason in (
        (["\ud800"], FetchFailure.INVALID_TEXT),
        (deep, FetchFailure.MALFORMED_JSON),
        ([{1, 2}], FetchFailure.BAD_SHAPE),
    ):
        with pytest.raises(ReferenceFetchError) as caught:
            encode_json(value)
        assert caught.value.reason is reason
