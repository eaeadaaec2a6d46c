"""Loopback TCP servers that each misbehave in one way: the fault corpus of the tests and bench/soak.py.

Every fault listens on its own 127.0.2.x address, all on one port number, so that one ``port_remap`` (80,
443, 5223 and 8443 to that port) serves them all and a DNS simulator picks the fault by the address it
hands out (exporter.lab.fault_config sets both up)::

    fault                       after accepting a connection
    healthy-http                answers one HTTP request with 200
    healthy-tls                 TLS with a leaf from the lab CA, then as healthy-http
    reset                       RST at once (SO_LINGER 0)
    reset-on-data               RST when the first bytes from the client arrive
    blackhole                   never accepts: accept queue full, further SYNs dropped
    tarpit                      reads and discards, never says a word
    tls-garbage                 answers the ClientHello with bytes that are not TLS
    tls-close-mid-handshake     answers the ClientHello with half a TLS record, then closes
    tls-expired / tls-wrong-name / tls-untrusted
                                TLS with an expired leaf, a leaf for another name, a leaf from a CA
                                nobody trusts; then as healthy-http
    endless-headers             a status line, then header lines forever
    endless-body                200 headers, then a body that never ends
    drip                        the 200 answer, one byte per second
    http09                      a body without a status line (HTTP/0.9), then closes
    garbage-status              a status line that is not HTTP/1.x
    huge-length                 Content-Length of 10 MB, a few bytes, then silence
    tls-<http fault>            TLS with a good leaf, then the HTTP fault

Leaves cover `FAULT_DOMAIN`'s names (one label below it), except tls-wrong-name's. Connections are served
by one thread each; every thread ends when its client hangs up or the lab stops.
"""

from __future__ import annotations

import contextlib
import datetime
import select
import socket
import ssl
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum

from exporter.lab.certs import LabCA, utc_now
from exporter.lab.ports import blackhole

FAULT_DOMAIN = "fault.test"
POLL = 0.1
"""Seconds between looks at the stop flag, in every blocking server call."""


class Fault(StrEnum):
    HEALTHY_HTTP = "healthy-http"
    HEALTHY_TLS = "healthy-tls"
    RESET = "reset"
    RESET_ON_DATA = "reset-on-data"
    BLACKHOLE = "blackhole"
    TARPIT = "tarpit"
    TLS_GARBAGE = "tls-garbage"
    TLS_CLOSE_MID_HANDSHAKE = "tls-close-mid-handshake"
    TLS_EXPIRED = "tls-expired"
    TLS_WRONG_NAME = "tls-wrong-name"
    TLS_UNTRUSTED = "tls-untrusted"
    ENDLESS_HEADERS = "endless-headers"
    ENDLESS_BODY = "endless-body"
    DRIP = "drip"
    HTTP09 = "http09"
    GARBAGE_STATUS = "garbage-status"
    HUGE_LENGTH = "huge-length"
    TLS_ENDLESS_HEADERS = "tls-endless-headers"
    TLS_ENDLESS_BODY = "tls-endless-body"
    TLS_DRIP = "tls-drip"
    TLS_HTTP09 = "tls-http09"
    TLS_HUGE_LENGTH = "tls-huge-length"

    @property
    def address(self) -> str:
        return f"127.0.2.{list(Fault).index(self) + 1}"

    @property
    def host(self) -> str:
        """A name under `FAULT_DOMAIN` for this fault, for catalogues and DNS simulators."""
        return f"{self.value}.{FAULT_DOMAIN}"


HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\nConnection: close\r\n\r\n"
HTTP_OK += b"intune lab\n"
TLS_GARBAGE = b"\xde\xad\xbe\xef" * 64
"""Not a TLS record: 0xde is no record type."""
HALF_SERVER_HELLO = b"\x16\x03\x03\x00\x7a\x02\x00\x00\x76\x03\x03" + b"\x00" * 8
"""A handshake record announcing 122 bytes, of which a few come before the hang-up."""


class _Closed(Exception):
    """The client hung up, or the lab is stopping."""


class _Peer:
    """One accepted connection, with reads and writes that give up when the lab stops."""

    def __init__(self, sock: socket.socket, stop: threading.Event) -> None:
        self.sock = sock
        self.stop = stop
        sock.settimeout(POLL)

    def read_request(self) -> bytes:
        """Bytes up to the end of the request headers."""
        received = b""
        while b"\r\n\r\n" not in received:
            received += self.recv()
        return received

    def recv(self) -> bytes:
        while not self.stop.is_set():
            try:
                data = self.sock.recv(65536)
            except (TimeoutError, ssl.SSLWantReadError):
                continue
            except (OSError, ValueError) as exc:
                raise _Closed from exc
            if not data:
                raise _Closed
            return data
        raise _Closed

    def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            if self.stop.is_set():
                raise _Closed
            try:
                sent = self.sock.send(view)
            except (TimeoutError, ssl.SSLWantWriteError):
                continue
            except (OSError, ValueError) as exc:
                raise _Closed from exc
            view = view[sent:]

    def hold(self) -> None:
        """Read and discard until the client hangs up."""
        while True:
            self.recv()

    def wait(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise _Closed


def _reset(peer: _Peer) -> None:
    peer.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _reset_on_data(peer: _Peer) -> None:
    peer.recv()
    _reset(peer)


def _healthy(peer: _Peer) -> None:
    peer.read_request()
    peer.send(HTTP_OK)


def _tls_garbage(peer: _Peer) -> None:
    peer.recv()
    peer.send(TLS_GARBAGE)
    peer.hold()


def _close_mid_handshake(peer: _Peer) -> None:
    peer.recv()
    peer.send(HALF_SERVER_HELLO)


def _endless_headers(peer: _Peer) -> None:
    peer.read_request()
    peer.send(b"HTTP/1.1 200 OK\r\n")
    line = b"X-Padding: " + b"a" * 1000 + b"\r\n"
    while True:
        peer.send(line * 16)


def _endless_body(peer: _Peer) -> None:
    peer.read_request()
    peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n")
    chunk = b"\0" * 65536
    while True:
        peer.send(chunk)


def _drip(peer: _Peer) -> None:
    peer.read_request()
    for byte in HTTP_OK:
        peer.send(bytes([byte]))
        peer.wait(1.0)
    peer.hold()


def _http09(peer: _Peer) -> None:
    peer.read_request()
    peer.send(b"intune lab\n")


def _garbage_status(peer: _Peer) -> None:
    peer.read_request()
    peer.send(b"ICY 200 OK\r\nContent-Length: 0\r\n\r\n")
    peer.hold()


def _huge_length(peer: _Peer) -> None:
    peer.read_request()
    peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\nfirst bytes")
    peer.hold()


@dataclass(frozen=True)
class _Behaviour:
    serve: Callable[[_Peer], None]
    leaf: str | None = None
    """Which leaf to handshake with first ("good", "expired", "wrong-name", "untrusted"), or None."""


_BEHAVIOURS: dict[Fault, _Behaviour] = {
    Fault.HEALTHY_HTTP: _Behaviour(_healthy),
    Fault.HEALTHY_TLS: _Behaviour(_healthy, "good"),
    Fault.RESET: _Behaviour(_reset),
    Fault.RESET_ON_DATA: _Behaviour(_reset_on_data),
    Fault.TARPIT: _Behaviour(_Peer.hold),
    Fault.TLS_GARBAGE: _Behaviour(_tls_garbage),
    Fault.TLS_CLOSE_MID_HANDSHAKE: _Behaviour(_close_mid_handshake),
    Fault.TLS_EXPIRED: _Behaviour(_healthy, "expired"),
    Fault.TLS_WRONG_NAME: _Behaviour(_healthy, "wrong-name"),
    Fault.TLS_UNTRUSTED: _Behaviour(_healthy, "untrusted"),
    Fault.ENDLESS_HEADERS: _Behaviour(_endless_headers),
    Fault.ENDLESS_BODY: _Behaviour(_endless_body),
    Fault.DRIP: _Behaviour(_drip),
    Fault.HTTP09: _Behaviour(_http09),
    Fault.GARBAGE_STATUS: _Behaviour(_garbage_status),
    Fault.HUGE_LENGTH: _Behaviour(_huge_length),
    Fault.TLS_ENDLESS_HEADERS: _Behaviour(_endless_headers, "good"),
    Fault.TLS_ENDLESS_BODY: _Behaviour(_endless_body, "good"),
    Fault.TLS_DRIP: _Behaviour(_drip, "good"),
    Fault.TLS_HTTP09: _Behaviour(_http09, "good"),
    Fault.TLS_HUGE_LENGTH: _Behaviour(_huge_length, "good"),
}


@dataclass
class FaultLab:
    """Handle on the running fault servers; see the module docstring."""

    port: int
    accepted: Counter[Fault] = field(default_factory=Counter)
    """Connections accepted per fault (blackhole never accepts)."""

    @property
    def port_remap(self) -> dict[int, int]:
        """Every catalogue port the tests use (8443: plain TCP) to the lab's one port."""
        return dict.fromkeys((80, 443, 5223, 8443), self.port)


def _leaf_contexts(ca: LabCA, untrusted_ca: LabCA) -> dict[str, ssl.SSLContext]:
    names = [f"*.{FAULT_DOMAIN}", FAULT_DOMAIN]
    now = utc_now()
    leaves = {
        "good": ca.issue(names, common_name=FAULT_DOMAIN),
        "expired": ca.issue(
            names,
            common_name=FAULT_DOMAIN,
            not_before=now - datetime.timedelta(days=90),
            not_after=now - datetime.timedelta(days=1),
        ),
        "wrong-name": ca.issue(["other.invalid"], common_name="other.invalid"),
        "untrusted": untrusted_ca.issue(names, common_name=FAULT_DOMAIN),
    }
    return {name: leaf.server_context() for name, leaf in leaves.items()}


class _Servers:
    """Accept threads (one per listener) and connection threads, all stopped by one flag."""

    def __init__(self, lab: FaultLab, contexts: dict[str, ssl.SSLContext]) -> None:
        self.lab = lab
        self.contexts = contexts
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []
        self.lock = threading.Lock()

    def start(self, fault: Fault, listener: socket.socket) -> None:
        listener.listen(64)
        listener.settimeout(POLL)
        self._spawn(self._accept, fault, listener)

    def close(self) -> None:
        self.stop.set()
        while True:
            with self.lock:
                alive = [thread for thread in self.threads if thread.is_alive()]
                self.threads = alive
            if not alive:
                return
            for thread in alive:
                thread.join()

    def _spawn(self, target: Callable[..., None], *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self.lock:
            self.threads = [t for t in self.threads if t.is_alive()]
            self.threads.append(thread)
        thread.start()

    def _accept(self, fault: Fault, listener: socket.socket) -> None:
        while not self.stop.is_set():
            try:
                sock, _peer = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.lab.accepted[fault] += 1
            self._spawn(self._serve, fault, sock)

    def _serve(self, fault: Fault, sock: socket.socket) -> None:
        behaviour = _BEHAVIOURS[fault]
        try:
            if behaviour.leaf is not None:
                sock = self._handshake(sock, self.contexts[behaviour.leaf])
            behaviour.serve(_Peer(sock, self.stop))
        except _Closed:
            pass
        finally:
            sock.close()

    def _handshake(self, sock: socket.socket, context: ssl.SSLContext) -> socket.socket:
        tls = context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        tls.setblocking(False)
        while not self.stop.is_set():
            try:
                tls.do_handshake()
                return tls
            except ssl.SSLWantReadError:
                select.select([tls], [], [], POLL)
            except ssl.SSLWantWriteError:
                select.select([], [tls], [], POLL)
            except (OSError, ValueError) as exc:
                tls.close()
                raise _Closed from exc
        tls.close()
        raise _Closed


@contextlib.contextmanager
def running_faults(ca: LabCA, untrusted_ca: LabCA) -> Iterator[FaultLab]:
    """Start every fault server on one port number; stop them all and close every socket on exit."""
    with contextlib.ExitStack() as stack:
        port, listeners = _claim_port(stack)
        lab = FaultLab(port)
        servers = _Servers(lab, _leaf_contexts(ca, untrusted_ca))
        stack.callback(servers.close)
        for fault, listener in listeners.items():
            if fault is Fault.BLACKHOLE:
                stack.enter_context(blackhole(listener))
            else:
                servers.start(fault, listener)
        yield lab


def _claim_port(stack: contextlib.ExitStack) -> tuple[int, dict[Fault, socket.socket]]:
    """One port number free on every fault address, with a bound socket on each."""
    for _ in range(20):
        listeners: dict[Fault, socket.socket] = {}
        port = 0  # the first bind picks it
        try:
            for fault in Fault:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                listeners[fault] = sock
                sock.bind((fault.address, port))
                port = sock.getsockname()[1]
        except OSError:
            for sock in listeners.values():
                sock.close()
            continue
        for sock in listeners.values():
            stack.callback(sock.close)
        return port, listeners
    raise RuntimeError("found no port number free on every fault address")
