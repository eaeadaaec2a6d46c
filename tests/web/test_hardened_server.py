"""The HTTP server's limits against slow, oversized and too many requests, scrapes answered while slow
clients hold connections, and TLS handshakes off the accept loop, on real servers on loopback with short
timeouts."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from exporter.web.app import MetricsServer
from exporter.web.hardened_server import LimitedServer, Limits
from exporter.web.web_config import load_web_config
from tests.support.web_certs import write_certs

LIMITS = Limits(head_timeout=1.0, read_timeout=1.0, io_timeout=1.0, max_connections=4)


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


def test_requests_beyond_the_cap_get_503_until_a_slot_frees() -> None:
    limits = Limits(read_timeout=10.0, max_connections=4, slot_wait=0.3)  # held requests outlast the test
    server = MetricsServer("127.0.0.1", 0, echo, limits=limits)
    server.start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        with ExitStack() as stack:
            idle = [stack.enter_context(connect(server)) for _ in range(2 * limits.max_connections)]
            assert httpx.get(url, timeout=5).status_code == 200  # connections without a request hold no slot
            held = [stack.enter_context(connect(server)) for _ in range(limits.max_connections)]
            for sock in held:  # a complete head, then a body that never comes
                sock.sendall(b"POST /-/reload HTTP/1.1\r\nContent-Length: 10\r\n\r\n")
            time.sleep(0.2)
            with connect(server) as extra:
                started = time.monotonic()
                extra.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                refused = answer(extra)
                assert limits.slot_wait * 0.8 < time.monotonic() - started < 2
            assert refused.startswith(b"HTTP/1.0 503 Service Unavailable\r\n")
            assert refused.endswith(b"too many connections, try again\n")
            held[0].sendall(b"x" * 10)
            assert answer(held[0]).endswith(b"POST /-/reload 10")
            deadline = time.monotonic() + 5
            while httpx.get(url, timeout=5).status_code != 200:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert all(sock.fileno() >= 0 for sock in idle)
    finally:
        server.stop()


def connect_from(server: MetricsServer, source: str) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(5)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", server.port))
    return sock


def test_the_oldest_pending_connection_makes_room_per_client_and_overall() -> None:
    limits = Limits(max_pending=4, max_pending_per_client=2)
    server = MetricsServer("127.0.0.1", 0, echo, limits=limits)
    server.start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        with ExitStack() as stack:
            first, second = (stack.enter_context(connect_from(server, "127.0.0.2")) for _ in range(2))
            time.sleep(0.1)
            third = stack.enter_context(connect_from(server, "127.0.0.2"))
            started = time.monotonic()
            assert answer(first) == b""  # closed to make room for its own client's next connection
            assert time.monotonic() - started < 2
            others = [stack.enter_context(connect_from(server, f"127.0.0.{i}")) for i in (3, 4)]
            time.sleep(0.1)
            assert httpx.get(url, timeout=5).text == "GET /metrics 0"  # pending were 4: the oldest went
            assert answer(second) == b""
            for sock in (third, *others):
                sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                assert answer(sock).endswith(b"GET /metrics 0")
    finally:
        server.stop()


class Slowloris:
    """`count` connections from `sources` that send a byte a second and never finish a request; each one
    closed by the server is opened again at once."""

    def __init__(self, server: MetricsServer, count: int, sources: Sequence[str]) -> None:
        self._port, self._sources = server.port, sources
        self._stop = threading.Event()
        self.reconnects = 0
        self._sockets = [self._open(i) for i in range(count)]
        self._thread = threading.Thread(target=self._drip, daemon=True)

    def _open(self, index: int) -> socket.socket:
        sock = socket.socket()
        sock.bind((self._sources[index % len(self._sources)], 0))
        sock.setblocking(False)
        with suppress(BlockingIOError):
            sock.connect(("127.0.0.1", self._port))
        return sock

    def _drip(self) -> None:
        while not self._stop.is_set():
            for index, sock in enumerate(self._sockets):
                try:
                    sock.send(b"G")
                    if sock.recv(1) == b"":
                        raise ConnectionResetError
                except BlockingIOError:
                    pass
                except OSError:
                    sock.close()
                    self._sockets[index] = self._open(index)
                    self.reconnects += 1
            self._stop.wait(1.0)

    def __enter__(self) -> Slowloris:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        for sock in self._sockets:
            sock.close()


def scrape_repeatedly(server: MetricsServer, times: int) -> list[float]:
    """Seconds each of `times` scrapes took; every one must be answered 200."""
    took = []
    for _ in range(times):
        started = time.monotonic()
        response = httpx.get(f"http://127.0.0.1:{server.port}/metrics", timeout=5)
        took.append(time.monotonic() - started)
        assert response.status_code == 200
        time.sleep(0.2)
    return took


@pytest.mark.parametrize("source", ["127.0.0.1", "127.0.0.2"])  # the scraper's own address, another one
def test_scrapes_are_answered_while_80_clients_drip_their_requests(source: str) -> None:
    server = MetricsServer("127.0.0.1", 0, echo, limits=Limits(head_timeout=2.0))
    server.start()
    try:
        with Slowloris(server, 80, [source]) as attack:
            time.sleep(1.0)
            took = scrape_repeatedly(server, 15)
            assert attack.reconnects > 0  # connections were dropped at the head deadline or evicted
        assert max(took) < 2.0, took
    finally:
        server.stop()


def test_scrapes_are_answered_through_500_reconnecting_clients() -> None:
    server = MetricsServer("127.0.0.1", 0, echo, limits=Limits(head_timeout=2.0))
    server.start()
    try:
        with Slowloris(server, 500, [f"127.0.1.{i}" for i in range(1, 251)]) as attack:
            time.sleep(1.0)
            took = scrape_repeatedly(server, 15)
            assert attack.reconnects >= 500 - server._server.limits.max_pending
        assert max(took) < 2.0, took
    finally:
        server.stop()


def test_a_burst_of_200_scrapes_is_answered_without_syn_retransmits(server: MetricsServer) -> None:
    assert LimitedServer.request_queue_size >= 128
    count = 200
    start = threading.Barrier(count)
    took: list[float] = []
    answers: list[bytes] = []

    def scrape() -> None:
        start.wait()
        started = time.monotonic()
        with connect(server) as sock:
            sock.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
            answers.append(answer(sock))
        took.append(time.monotonic() - started)

    threads = [threading.Thread(target=scrape) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert len(answers) == count
    assert all(a.startswith(b"HTTP/1.0 200 ") for a in answers)
    took.sort()
    assert took[int(count * 0.99) - 1] < 0.8, took[-5:]  # a dropped SYN is retransmitted after 1 s


def test_conflicting_or_duplicate_content_lengths_are_refused(server: MetricsServer) -> None:
    for headers in (
        b"Content-Length: 3\r\nContent-Length: 5\r\n",
        b"Content-Length: 3\r\nContent-Length: 3\r\n",  # identical ones too: refused, not folded
        b"Content-Length: 3, 3\r\n",
        b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",
        b"Content-Length: \xb2\r\n",  # a digit to str.isdigit, not to HTTP
        b"Content-Length: +3\r\n",
    ):
        with connect(server) as sock:
            sock.sendall(b"POST /-/reload HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\nabc")
            assert answer(sock).startswith(b"HTTP/1.0 400 "), headers
    with connect(server) as sock:
        sock.sendall(b"POST /-/reload HTTP/1.1\r\nHost: x\r\nContent-Length:  3 \r\n\r\nabc")
        assert answer(sock).endswith(b"POST /-/reload 3")


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
