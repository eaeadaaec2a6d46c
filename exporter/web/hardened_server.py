"""The threaded WSGI server behind /metrics, bounded so slow or hostile clients cannot exhaust it.

What `http.server` already bounds (one line of at most 64 KiB, at most 100 headers) is tightened here, and
what it lacks is added: a deadline for reading the whole request (TLS handshake included, done in the
connection's own thread so the accept loop never waits on a client), a socket timeout for every read and
write after it, a bound on request bodies and a cap on connections served at once. Beyond the cap a new
connection gets a 503 at once (plain HTTP) or is closed (TLS).
"""

from __future__ import annotations

import http.client
import io
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import IO, Any, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

log = logging.getLogger(__name__)

READ_TIMEOUT = 10.0
"""Seconds for a client to complete the TLS handshake and send the request line, headers and body."""
IO_TIMEOUT = 10.0
"""Seconds any single read or write on a connection may block."""
MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD_BYTES = 32 * 1024
"""Request line and headers together."""
MAX_BODY_BYTES = 64 * 1024
MAX_CONNECTIONS = 64

_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 30\r\nRetry-After: 1\r\nConnection: close\r\n\r\ntoo many connections, try again\n"
)


@dataclass(frozen=True)
class Limits:
    read_timeout: float = READ_TIMEOUT
    io_timeout: float = IO_TIMEOUT
    max_request_line: int = MAX_REQUEST_LINE
    max_head_bytes: int = MAX_HEAD_BYTES
    max_body_bytes: int = MAX_BODY_BYTES
    max_connections: int = MAX_CONNECTIONS


DEFAULT_LIMITS = Limits()


class _RequestTooSlow(Exception):
    pass


class _DeadlineReader:
    """The connection's input while the request is read: every read ends by `deadline`, and the request
    line and headers together stop at `budget` bytes."""

    def __init__(self, raw: io.BufferedReader, sock: socket.socket, deadline: float, budget: int) -> None:
        self._raw, self._sock, self._deadline, self._budget = raw, sock, deadline, budget

    def _wait(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise _RequestTooSlow
        self._sock.settimeout(left)

    def readline(self, size: int = -1) -> bytes:
        limit = self._budget if size < 0 else min(size, self._budget)
        line = b""
        while len(line) < limit and not line.endswith(b"\n"):
            self._wait()
            chunk = self._raw.peek(1)  # at most one read from the socket
            if not chunk:
                break
            end = chunk.find(b"\n", 0, limit - len(line))
            take = end + 1 if end >= 0 else min(len(chunk), limit - len(line))
            line += self._raw.read(take)
        self._budget -= len(line)
        if self._budget <= 0 and not line.endswith(b"\n"):
            raise http.client.LineTooLong("request head")  # parse_request answers 431
        return line

    def read_body(self, length: int) -> bytes:
        body = b""
        while len(body) < length:
            self._wait()
            chunk = self._raw.read1(length - len(body))
            if not chunk:
                break
            body += chunk
        return body


class LimitedHandler(WSGIRequestHandler):
    """One request per connection, read within the limits of the server."""

    server: LimitedServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.limits.io_timeout)

    def handle(self) -> None:
        limits = self.server.limits
        deadline = time.monotonic() + limits.read_timeout
        try:
            body = self._read_request(limits, deadline)
        except (_RequestTooSlow, TimeoutError, OSError, ValueError) as exc:
            log.debug("dropped a connection from %s: %s", self.client_address[0], type(exc).__name__)
            return
        if body is None:
            return
        self.connection.settimeout(limits.io_timeout)
        app = self.server.get_app()
        assert app is not None, "set_app() was not called"
        output = cast(IO[bytes], self.wfile)
        handler = ServerHandler(
            io.BytesIO(body), output, self.get_stderr(), self.get_environ(), multithread=False
        )
        handler.request_handler = self  # type: ignore[attr-defined]
        handler.run(app)

    def _read_request(self, limits: Limits, deadline: float) -> bytes | None:
        """The request body, having parsed the request line and headers; None once an error is sent."""
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.settimeout(limits.read_timeout)
            self.connection.do_handshake()
        stream = self.rfile
        reader = _DeadlineReader(
            cast(io.BufferedReader, stream), self.connection, deadline, limits.max_head_bytes
        )
        self.rfile = cast(Any, reader)
        try:
            self.raw_requestline = reader.readline(limits.max_request_line + 1)
            if len(self.raw_requestline) > limits.max_request_line:
                self.requestline = self.request_version = self.command = ""
                self.send_error(414)
                return None
            if not self.raw_requestline or not self.parse_request():
                return None
        finally:
            self.rfile = stream
        if "Transfer-Encoding" in self.headers:
            self.send_error(411, "Length Required", "send a body with Content-Length")
            return None
        length = self.headers.get("Content-Length", "0").strip()
        if not length.isdigit():
            self.send_error(400, "Bad Content-Length")
            return None
        if int(length) > limits.max_body_bytes:
            explain = f"request bodies are at most {limits.max_body_bytes} bytes"
            self.send_error(413, "Content Too Large", explain)
            return None
        return reader.read_body(int(length))

    def get_environ(self) -> dict[str, str]:
        environ: dict[str, str] = super().get_environ()
        if isinstance(self.connection, ssl.SSLSocket):
            environ["HTTPS"] = "on"
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        pass


class LimitedServer(ThreadingMixIn, WSGIServer):
    """A thread per connection, at most `limits.max_connections` at once, TLS when `tls` is given."""

    daemon_threads = True
    block_on_close = False

    def __init__(
        self, address: tuple[str, int], tls: ssl.SSLContext | None = None, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        self.limits = limits
        self._tls = tls
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        super().__init__(address, LimitedHandler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self._tls is None:
            return sock, address
        try:  # no I/O here: the handshake happens in the connection's thread
            return self._tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address
        except (OSError, ValueError):
            sock.close()
            raise OSError("cannot start TLS") from None

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def _refuse(self, request: socket.socket) -> None:
        if not isinstance(request, ssl.SSLSocket):
            try:
                request.setblocking(False)
                request.send(_BUSY)
            except OSError:
                pass
        self.shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("error serving %s", client_address, exc_info=True)


class LimitedServer6(LimitedServer):
    address_family = socket.AF_INET6
