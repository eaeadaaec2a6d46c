"""A proxy on loopback that answers exactly what a test scripts: one connection at a time, the request
head read first, then the script runs on the connection. squid and mitmproxy cover well-behaved proxies."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from exporter.probes.settings import ProxyRoute

Script = Callable[[socket.socket, bytes, threading.Event], None]
"""What the proxy does with a connection, given the request head it read and the event that stops it."""

POLL_SECONDS = 0.2
"""How often a waiting read looks whether the proxy is being stopped."""


class _Stopped(Exception):
    pass


@contextmanager
def scripted_proxy(
    script: Script, credentials: str | None = None
) -> Iterator[tuple[ProxyRoute, list[bytes]]]:
    """Yields the proxy's route (with `credentials`) and the request heads it read, oldest first."""
    heads: list[bytes] = []
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(POLL_SECONDS)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(POLL_SECONDS)
                try:
                    head = _read_head(connection, stop)
                    heads.append(head)
                    script(connection, head, stop)
                except _Stopped:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield ProxyRoute("127.0.0.1", listener.getsockname()[1], credentials), heads
    finally:
        stop.set()
        thread.join()
        listener.close()


def _read_head(connection: socket.socket, stop: threading.Event) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = receive(connection, stop)
        if not chunk:
            break
        head += chunk
    return head


def receive(connection: socket.socket, stop: threading.Event) -> bytes:
    """The next bytes from the client, b'' when it hung up; waits while `stop` is not set."""
    while not stop.is_set():
        try:
            return connection.recv(4096)
        except TimeoutError:
            continue
    raise _Stopped


def answer(data: bytes) -> Script:
    """Send `data`, then hang up."""

    def script(connection: socket.socket, _head: bytes, _stop: threading.Event) -> None:
        connection.sendall(data)

    return script


def silent(*, answer_connect: bool) -> Script:
    """Say nothing (with `answer_connect`, only a 200 to a CONNECT) until the client hangs up."""

    def script(connection: socket.socket, head: bytes, stop: threading.Event) -> None:
        if answer_connect and head.startswith(b"CONNECT"):
            connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        while receive(connection, stop):
            pass

    return script
