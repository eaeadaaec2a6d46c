"""The HTTP server's limits against slow, oversized and too many requests, and TLS handshakes off the
accept loop, on real servers on 127.0.0.1 with short timeouts."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.web.app import MetricsServer
from exporter.web.hardened_server import Limits
from exporter.web.web_config import load_web_config
from tests.support.web_certs import write_certs

LIMITS = Limits(read_timeout=1.0, io_timeout=1.0, max_connections=4)


def echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Answers with the request's method, path and body length."""
    body = environ["wsgi.input"].read()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']} {len(body)}".encode()]


@pytest.fixture
def server() -> Iterator[MetricsServer]:
    server = MetricsServer("127.0.0.1", 0, echo, limits=LIMITS)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def connect(server: MetricsServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=5)


def answer(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_a_stalled_request_does_not_stop_a_scrape_and_is_dropped(server: MetricsServer) -> None:
    with connect(server) as slow:
        slow.sendall(b"GET /metr")
        started = time.monotonic()
        assert httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5).text == "GET /metrics 0"
        assert answer(slow) == b""  # closed without an answer
        assert time.monotonic() - started < LIMITS.read_timeout + 2


def test_a_trickled_request_is_dropped_at_the_deadline(server: MetricsServer) -> None:
    with connect(server) as slow:
        slow.settimeout(0.2)
        started = time.monotonic()
        closed = False
        for byte in b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100:
            try:
                slow.sendall(bytes([byte]))
                closed = slow.recv(1) == b""
            except TimeoutError:
                continue
            except ConnectionError:
                closed = True
            if closed:
                break
        assert closed
        assert 0.8 * LIMITS.read_timeout <= time.monotonic() - started < LIMITS.read_timeout + 2


def test_oversized_request_line_and_headers_are_refused(server: MetricsServer) -> None:
    with connect(server) as sock:
        sock.sendall(b"GET /" + b"a" * LIMITS.max_request_line + b" HTTP/1.1\r\n\r\n")
        assert answer(sock).startswith(b"HTTP/1.0 414 ")
    headers = "".join(f"X-Filler-{i}: {'b' * 1000}\r\n" for i in range(40))  # 40 KiB in short lines
    with connect(server) as sock:
        sock.sendall(f"GET /metrics HTTP/1.1\r\nHost: x\r\n{headers}\r\n".encode())
        assert answer(sock).startswith(b"HTTP/1.0 431 ")
    fitting = {f"X-Filler-{i}": "b" * 1000 for i in range(20)}
    assert httpx.get(f"http://127.0.0.1:{server.port}/metrics", headers=fitting).status_code == 200


def test_request_bodies_are_bounded(server: MetricsServer) -> None:
    url = f"http://127.0.0.1:{server.port}/-/reload"
    assert httpx.post(url, content=b"x" * 1000).text == "POST /-/reload 1000"
    with connect(server) as sock:
        sock.sendall(
            f"POST /-/reload HTTP/1.1\r\nContent-Length: {LIMITS.max_body_bytes + 1}\r\n\r\n".encode()
        )
        assert answer(sock).startswith(b"HTTP/1.0 413 ")
    with connect(server) as sock:
        sock.sendall(b"POST /-/reload HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n")
        assert answer(sock).startswith(b"HTTP/1.0 411 ")
    with connect(server) as sock:
        sock.sendall(b"POST /-/reload HTTP/1.1\r\nContent-Length: -5\r\n\r\n")
        assert answer(sock).startswith(b"HTTP/1.0 400 ")


def test_connections_beyond_the_cap_get_503_until_a_slot_frees() -> None:
    limits = Limits(read_timeout=10.0, max_connections=4)  # idle connections outlast the test
    server = MetricsServer("127.0.0.1", 0, echo, limits=limits)
    server.start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        with ExitStack() as stack:
            idle = [stack.enter_context(connect(server)) for _ in range(limits.max_connections)]
            with connect(server) as extra:
                started = time.monotonic()
                refused = answer(extra)
                assert time.monotonic() - started < 2
            assert refused.startswith(b"HTTP/1.0 503 Service Unavailable\r\n")
            assert refused.endswith(b"too many connections, try again\n")
            idle[0].close()
            deadline = time.monotonic() + 5
            while httpx.get(url).status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
    finally:
        server.stop()


def test_tls_handshakes_happen_off_the_accept_loop(tmp_path: Path) -> None:
    certs = write_certs(tmp_path)
    (tmp_path / "web.yml").write_text("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n")
    web = load_web_config(tmp_path / "web.yml")
    server = MetricsServer("127.0.0.1", 0, echo, tls=web.tls, limits=LIMITS)
    server.start()
    try:
        client = httpx.Client(verify=certs.client_context(), timeout=5)
        with connect(server) as silent, connect(server) as garbage:  # never send a ClientHello
            garbage.sendall(b"GET / HTTP/1.0\r\n\r\n")
            response = client.get(f"https://127.0.0.1:{server.port}/metrics")
            assert response.text == "GET /metrics 0"
            assert answer(garbage) == b""
            started = time.monotonic()
            assert answer(silent) == b""
            assert time.monotonic() - started < LIMITS.read_timeout + 2
    finally:
        server.stop()
