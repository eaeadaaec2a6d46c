"""The threaded WSGI server behind /metrics, bounded so slow or hostile clients cannot exhaust it.

What `http.server` already bounds (one line of at most 64 KiB, at most 100 headers) is tightened here, and
what it lacks is added. A connection is first *pending*: it has a few seconds to finish the TLS handshake
(done in the connection's own thread, so the accept loop never waits on a client) and send its request line
and headers. Pending connections do not count against the cap on requests served at once; they are bounded
on their own, all clients together and per client address, and when either bound is reached the oldest
pending connection (of that address, or of anyone) is closed to make room for the new one: a client that
sends its request promptly stays pending for milliseconds, so slow or idle clients cannot keep it out.
Once its head is complete a request takes one of the serving slots, waiting a moment for one to free, else
gets a 503. The whole request (body included) has a deadline, every read and write after it a socket
timeout, and request bodies are bounded. The listen backlog is sized for bursts of connections.
"""

from __future__ import annotations

import contextlib
import http.client
import io
import logging
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from socketserver import ThreadingMixIn
from typing import IO, Any, cast
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer

log = logging.getLogger(__name__)

HEAD_TIMEOUT = 5.0
"""Seconds for a client to complete the TLS handshake and send the request line and headers."""
READ_TIMEOUT = 10.0
"""Seconds for a client to complete the TLS handshake and send the request line, headers and body."""
IO_TIMEOUT = 10.0
"""Seconds any single read or write on a connection may block."""
MAX_REQUEST_LINE = 8 * 1024
MAX_HEAD_BYTES = 32 * 1024
"""Request line and headers together."""
MAX_BODY_BYTES = 64 * 1024
MAX_CONNECTIONS = 64
"""Requests (request line and headers received) served at once."""
SLOT_WAIT = 1.0
"""Seconds a complete request waits for a serving slot before it gets a 503."""
MAX_PENDING = 256
"""Connections in their TLS handshake or sending their request line and headers, all clients together."""
MAX_PENDING_PER_CLIENT = 64
"""The same, per client address."""
LISTEN_BACKLOG = 1024
"""Connections the kernel queues before they are accepted (it caps this at net.core.somaxconn)."""

_BUSY = (
    b"HTTP/1.0 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Content-Length: 30\r\nRetry-After: 1\r\nConnection: close\r\n\r\ntoo many connections, try again\n"
)


@dataclass(frozen=True)
class Limits:
    head_timeout: float = HEAD_TIMEOUT
    read_timeout: float = READ_TIMEOUT
    io_timeout: float = IO_TIMEOUT
    max_request_line: int = MAX_REQUEST_LINE
    max_head_bytes: int = MAX_HEAD_BYTES
    max_body_bytes: int = MAX_BODY_BYTES
    max_connections: int = MAX_CONNECTIONS
    slot_wait: float = SLOT_WAIT
    max_pending: int = MAX_PENDING
    max_pending_per_client: int = MAX_PENDING_PER_CLIENT


DEFAULT_LIMITS = Limits()


class _RequestTooSlow(Exception):
    pass


class _DeadlineReader:
    """The connection's input while the request is read: every read ends by `deadline`, and the request
    line and headers together stop at `budget` bytes."""

    def __init__(self, raw: io.BufferedReader, sock: socket.socket, deadline: float, budget: int) -> None:
        self._raw, self._sock, self.deadline, self._budget = raw, sock, deadline, budget

    def _wait(self) -> None:
        left = self.deadline - time.monotonic()
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


_CONTENT_LENGTH = re.compile(r"[0-9]+")


class LimitedHandler(WSGIRequestHandler):
    """One request per connection, read within the limits of the server."""

    server: LimitedServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.limits.io_timeout)

    def handle(self) -> None:
        limits = self.server.limits
        accepted = self.server.accepted_at(self.connection)
        reader = None
        try:
            reader = self._read_head(limits, accepted)
            if reader is None:
                return
            if not self.server.start_serving(self.connection):
                self._send_busy()
                return
        except (_RequestTooSlow, TimeoutError, OSError, ValueError) as exc:
            log.debug("dropped a connection from %s: %s", self.client_address[0], type(exc).__name__)
            return
        try:
            self._serve(limits, accepted, reader)
        finally:
            self.server.stop_serving()

    def _serve(self, limits: Limits, accepted: float, reader: _DeadlineReader) -> None:
        try:
            body = self._read_body(limits, accepted, reader)
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

    def _read_head(self, limits: Limits, accepted: float) -> _DeadlineReader | None:
        """The request line and headers, parsed within the head deadline; None once an error is sent."""
        deadline = accepted + min(limits.head_timeout, limits.read_timeout)
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.settimeout(max(deadline - time.monotonic(), 0.001))
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
        return reader

    def _read_body(self, limits: Limits, accepted: float, reader: _DeadlineReader) -> bytes | None:
        """The request body; None once an error is sent. One Content-Length, no Transfer-Encoding."""
        lengths = self.headers.get_all("Content-Length") or []
        if "Transfer-Encoding" in self.headers:
            if lengths:  # RFC 9112 6.3: a message with both is to be refused
                self.send_error(400, "Content-Length with Transfer-Encoding")
            else:
                self.send_error(411, "Length Required", "send a body with Content-Length")
            return None
        if len(lengths) > 1:  # duplicates are refused even when identical (RFC 9112 6.3 allows either)
            self.send_error(400, "More than one Content-Length")
            return None
        length = lengths[0].strip() if lengths else "0"
        if not _CONTENT_LENGTH.fullmatch(length):
            self.send_error(400, "Bad Content-Length")
            return None
        if int(length) > limits.max_body_bytes:
            explain = f"request bodies are at most {limits.max_body_bytes} bytes"
            self.send_error(413, "Content Too Large", explain)
            return None
        reader.deadline = accepted + limits.read_timeout
        return reader.read_body(int(length))

    def _send_busy(self) -> None:
        try:
            self.connection.settimeout(1.0)
            self.connection.sendall(_BUSY)
        except OSError:
            pass

    def get_environ(self) -> dict[str, str]:
        environ: dict[str, str] = super().get_environ()
        if isinstance(self.connection, ssl.SSLSocket):
            environ["HTTPS"] = "on"
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class _Pending:
    client: str
    accepted: float


class LimitedServer(ThreadingMixIn, WSGIServer):
    """A thread per connection, TLS when `tls` is given. At most `limits.max_connections` requests served at
    once; connections that have not sent their request head yet are bounded apart from them (see the
    module's documentation)."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = LISTEN_BACKLOG

    def __init__(
        self, address: tuple[str, int], tls: ssl.SSLContext | None = None, limits: Limits = DEFAULT_LIMITS
    ) -> None:
        self.limits = limits
        self._tls = tls
        self._slots = threading.BoundedSemaphore(limits.max_connections)
        self._lock = threading.Lock()
        self._pending: dict[socket.socket, _Pending] = {}  # oldest first
        self._pending_per_client: dict[str, int] = {}
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
        client = str(client_address[0])
        with self._lock:
            if self._pending_per_client.get(client, 0) >= self.limits.max_pending_per_client:
                self._evict_locked(client)
            if len(self._pending) >= self.limits.max_pending:
                self._evict_locked(None)
            self._pending[request] = _Pending(client, time.monotonic())
            self._pending_per_client[client] = self._pending_per_client.get(client, 0) + 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._forget(request)
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self._forget(request)  # before the socket is closed: eviction only touches open sockets
            self.shutdown_request(request)

    def accepted_at(self, request: socket.socket) -> float:
        with self._lock:
            pending = self._pending.get(request)
        return pending.accepted if pending is not None else time.monotonic()

    def start_serving(self, request: socket.socket) -> bool:
        """Takes a serving slot for `request`, whose head is complete; False if none frees in time. Raises
        OSError if the connection was closed to make room for others meanwhile."""
        if not self._slots.acquire(timeout=self.limits.slot_wait):
            return False
        if not self._forget(request):
            self._slots.release()
            raise OSError("closed to make room for other connections")
        return True

    def stop_serving(self) -> None:
        self._slots.release()

    def _forget(self, request: socket.socket) -> bool:
        """Whether `request` was still pending; it no longer is."""
        with self._lock:
            pending = self._pending.pop(request, None)
            if pending is None:
                return False
            self._drop_count_locked(pending.client)
            return True

    def _drop_count_locked(self, client: str) -> None:
        left = self._pending_per_client[client] - 1
        if left:
            self._pending_per_client[client] = left
        else:
            del self._pending_per_client[client]

    def _evict_locked(self, client: str | None) -> None:
        """Closes the oldest pending connection (of `client`, if given): its thread sees the end of input."""
        oldest = next((r for r, p in self._pending.items() if client is None or p.client == client), None)
        if oldest is None:
            return
        pending = self._pending.pop(oldest)
        self._drop_count_locked(pending.client)
        log.debug("closed a slow connection from %s to make room", pending.client)
        with contextlib.suppress(OSError):  # not SSLSocket.shutdown, which unwraps under the reading thread
            socket.socket.shutdown(oldest, socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("error serving %s", client_address, exc_info=True)


class LimitedServer6(LimitedServer):
    address_family = socket.AF_INET6
