"""The lab's TCP services: HTTP(S) responders and tarpits, run by one asyncio loop in a background thread.

Every service gets a socket bound beforehand (`exporter.lab.ports`). A responder answers one HTTP/1.1
request per connection with 200 "intune lab" and honours one byte range (206), as the Win32 app and
Delivery Optimization hosts must; bytes that are not HTTP make it hang up. A tarpit accepts connections,
reads, and never says a word.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import re
import socket
import ssl
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("exporter.lab")

BODY = b"intune lab\n"
HEAD_TIMEOUT = 10.0
"""Seconds a responder waits for a complete request head."""
START_TIMEOUT = 10.0

_REQUEST_LINE = re.compile(rb"([A-Z]+) (\S+) HTTP/1\.[01]")
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Behaviour(enum.Enum):
    RESPOND = "respond"
    TARPIT = "tarpit"


@dataclass(frozen=True)
class Service:
    sock: socket.socket
    """Bound, not yet listening; the services own it from `start` on."""
    behaviour: Behaviour
    tls: ssl.SSLContext | None = None
    """Handshake first (responders only; a tarpit never gets that far)."""


def http_answer(head: bytes) -> bytes | None:
    """The response to a request head (up to the blank line), or None if it is not HTTP."""
    lines = head.decode("latin-1").split("\r\n")
    request = _REQUEST_LINE.fullmatch(lines[0].encode("latin-1"))
    if request is None:
        return None
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    status, extra, body = ranged_response(BODY, headers.get("range", ""))
    head_lines = [
        f"HTTP/1.1 {status} {_PHRASES[status]}",
        "Content-Type: text/plain",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in extra.items()),
    ]
    payload = b"" if request.group(1) == b"HEAD" else body
    return ("\r\n".join(head_lines) + "\r\n\r\n").encode("latin-1") + payload


_PHRASES = {200: "OK", 206: "Partial Content", 416: "Range Not Satisfiable"}


def ranged_response(body: bytes, value: str) -> tuple[int, dict[str, str], bytes]:
    """Status, extra headers and body of a 200 answer given one `Range` value (`bytes=A-B`, `A-` or
    `-N`); others are ignored, as RFC 9110 allows."""
    spec = _RANGE.fullmatch(value.strip())
    first, last = spec.groups() if spec else ("", "")
    if not (first or last) or (first and last and int(last) < int(first)):
        return 200, {}, body
    size = len(body)
    if first:
        start, stop = int(first), min(int(last) + 1, size) if last else size
    else:  # suffix range: the last N bytes
        start, stop = max(size - int(last), 0), size
    if start >= stop:
        return 416, {"Content-Range": f"bytes */{size}"}, b""
    return 206, {"Content-Range": f"bytes {start}-{stop - 1}/{size}"}, body[start:stop]


async def _respond(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    first = await reader.read(1)
    if not first.isupper():  # not an HTTP request line: hang up
        return
    head = first + await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
    answer = http_answer(head)
    if answer is not None:
        writer.write(answer)
        await writer.drain()


async def _tarpit(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
    while await reader.read(65536):
        pass


_HANDLERS: dict[Behaviour, Handler] = {Behaviour.RESPOND: _respond, Behaviour.TARPIT: _tarpit}


class TcpServices:
    """Serves `services` from `start` until `stop`, which closes every socket and connection."""

    def __init__(self, services: Sequence[Service]) -> None:
        self._services = list(services)
        self._thread = threading.Thread(target=self._run, name="intune-lab", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT):
            raise OSError("the lab's TCP services did not start")
        if self._error is not None:
            self._thread.join()
            raise self._error

    def stop(self) -> None:
        if self._loop is not None and self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread.is_alive():
            self._thread.join()
        for service in self._services:
            service.sock.close()  # a no-op for those the loop closed already

    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported by start(), which re-raises it in the caller's thread
            if not self._ready.is_set():
                self._error = exc
                self._ready.set()
            else:
                log.exception("lab services failed")

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(_quiet)
        self._loop, self._stopping = loop, asyncio.Event()
        connections: set[asyncio.Task[Any]] = set()
        servers = []
        try:
            for service in self._services:
                handler = _tracked(_HANDLERS[service.behaviour], connections)
                tls = service.tls if service.behaviour is Behaviour.RESPOND else None
                servers.append(await asyncio.start_server(handler, sock=service.sock, ssl=tls, backlog=256))
            self._ready.set()
            await self._stopping.wait()
        finally:
            for server in servers:
                server.close()
            for task in connections:
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)
            for server in servers:
                await server.wait_closed()


def _tracked(handler: Handler, connections: set[asyncio.Task[Any]]) -> Handler:
    """`handler`, registered in `connections` while it runs, closing the connection however it ends."""

    async def run(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        connections.add(task)
        try:
            await handler(reader, writer)
        except (OSError, EOFError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the prober hung up, or sent no complete HTTP head: nothing to answer
        finally:
            connections.discard(task)
            writer.close()
            with contextlib.suppress(OSError, asyncio.CancelledError):
                await writer.wait_closed()

    return run


def _quiet(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Failed handshakes and resets are the lab working as meant: debug, not tracebacks on the console."""
    log.debug("lab services: %s", context.get("message"), exc_info=context.get("exception"))
