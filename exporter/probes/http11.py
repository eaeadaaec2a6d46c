"""One HTTP/1.1 GET over a stream that is already open, read up to the end of the response headers.

h11 writes the request and parses the answer; we only move bytes. Reusing the stream of the TCP or TLS
probe means an https target costs one connection and one handshake, as a browser's first request does.

What can go wrong, and the reason it becomes::

    no complete response head within the timeout ........ HTTP_TIMEOUT
    not HTTP, a head over MAX_HEAD_BYTES, closed early .. HTTP_ERROR (detail: what h11 or the socket said)
"""

from __future__ import annotations

import os
import ssl
import time
from dataclasses import dataclass

import anyio
import h11
from anyio.abc import ByteStream

from exporter.probes.failures import ProbeFailed
from exporter.probes.outcome import Reason

MAX_HEAD_BYTES = 64 * 1024
"""Status line plus headers; a server sending more (or headers without end) fails the probe."""

_RECEIVE_BYTES = 16 * 1024


@dataclass(frozen=True)
class Response:
    status: int
    reason: str
    headers: dict[str, str]
    """Lower-case names; a repeated header keeps its last value."""
    seconds: float
    """From the first request byte sent to the last header byte received."""


async def get(stream: ByteStream, target: str, headers: list[tuple[str, str]], timeout: float) -> Response:
    """Send `GET target` with `headers` (Host first) and read the response head. Raises ProbeFailed."""
    connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD_BYTES)
    request = connection.send(h11.Request(method="GET", target=target, headers=headers))
    request += connection.send(h11.EndOfMessage())
    started = time.perf_counter()
    try:
        with anyio.fail_after(timeout):
            await stream.send(request)
            while True:
                event = connection.next_event()
                if event is h11.NEED_DATA:
                    connection.receive_data(await _receive(stream))
                elif isinstance(event, h11.Response):
                    return Response(
                        status=event.status_code,
                        reason=event.reason.decode("latin-1"),
                        headers={k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers},
                        seconds=time.perf_counter() - started,
                    )
                elif not isinstance(event, h11.InformationalResponse):
                    raise ProbeFailed(Reason.HTTP_ERROR, "connection closed before a response")
    except TimeoutError as exc:
        if exc.errno is None:  # our deadline
            raise ProbeFailed(Reason.HTTP_TIMEOUT, f"no response headers within {timeout:g}s") from None
        raise ProbeFailed(Reason.HTTP_ERROR, os.strerror(exc.errno)) from None
    except h11.ProtocolError as exc:
        raise ProbeFailed(Reason.HTTP_ERROR, f"not a valid HTTP response: {exc}") from None
    except (anyio.BrokenResourceError, anyio.ClosedResourceError) as exc:
        raise ProbeFailed(Reason.HTTP_ERROR, _broken_text(exc)) from None
    except OSError as exc:
        raise ProbeFailed(Reason.HTTP_ERROR, _os_error_text(exc)) from None


async def _receive(stream: ByteStream) -> bytes:
    """The next bytes, or b'' at end of stream (which h11 turns into ConnectionClosed or an error)."""
    try:
        return await stream.receive(_RECEIVE_BYTES)
    except anyio.EndOfStream:
        return b""


def _broken_text(exc: BaseException) -> str:
    cause = exc.__cause__ or exc.__context__
    if isinstance(cause, OSError):
        return _os_error_text(cause)
    return "connection broken before a response"


def _os_error_text(exc: OSError) -> str:
    if isinstance(exc, ssl.SSLError):
        return (exc.reason or str(exc)).lower().replace("_", " ")
    return os.strerror(exc.errno) if exc.errno is not None else str(exc) or type(exc).__name__
