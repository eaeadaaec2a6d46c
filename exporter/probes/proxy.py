"""Reaching a target through an HTTP proxy: a CONNECT tunnel, and what the proxy's answer means.

What the proxy says, and the reason it becomes::

    cannot reach the proxy at all ............... PROXY_ERROR ("proxy unreachable: ...")
    407 Proxy Authentication Required ............ PROXY_AUTH_REQUIRED
    403 and other 4xx (policy, blocked domain) ... PROXY_REFUSED
    5xx (could not reach the target for us) ...... PROXY_ERROR (detail: status line)
    anything that is not HTTP ..................... PROXY_ERROR
"""

from __future__ import annotations

import base64

import anyio
import h11
from anyio.abc import SocketStream

from exporter.probes import trace
from exporter.probes.failures import ProbeFailed, connect_failure
from exporter.probes.outcome import Reason
from exporter.probes.settings import ProxyRoute
from exporter.probes.trace import Step

MAX_RESPONSE_HEAD = 16 * 1024


def authorization(route: ProxyRoute) -> dict[str, str]:
    """The Proxy-Authorization header for `route`, if it has credentials."""
    if not route.credentials:
        return {}
    token = base64.b64encode(route.credentials.encode()).decode("ascii")
    return {"Proxy-Authorization": f"Basic {token}"}


def status_reason(status: int, text: str, route: ProxyRoute) -> ProbeFailed:
    """The failure a proxy's non-2xx answer stands for."""
    detail = f"proxy {route.display} answered {status}{text}".rstrip()
    if status == 407:
        return ProbeFailed(Reason.PROXY_AUTH_REQUIRED, detail)
    if 400 <= status < 500:
        return ProbeFailed(Reason.PROXY_REFUSED, detail)
    return ProbeFailed(Reason.PROXY_ERROR, detail)


async def connect_proxy(route: ProxyRoute) -> SocketStream:
    """A TCP connection to the proxy itself, or PROXY_ERROR. The caller sets the deadline."""
    try:
        return await anyio.connect_tcp(route.host, route.port)
    except (OSError, ExceptionGroup) as exc:
        failure = connect_failure(exc)
        why = failure.detail if failure is not None else str(exc)
        raise ProbeFailed(Reason.PROXY_ERROR, f"proxy {route.display} unreachable: {why}") from None


async def open_tunnel(route: ProxyRoute, host: str, port: int) -> SocketStream:
    """A TCP stream to `host`:`port` through `route`. The caller sets the deadline."""
    stream = await connect_proxy(route)
    try:
        status, text = await _connect(stream, route, f"{host}:{port}")
    except BaseException:
        await anyio.aclose_forcefully(stream)
        raise
    trace.emit(Step.PROXY, f"CONNECT {host}:{port} -> {status}{text}", status=status, target=f"{host}:{port}")
    if not 200 <= status < 300:
        await anyio.aclose_forcefully(stream)
        raise status_reason(status, text, route)
    return stream


async def _connect(stream: SocketStream, route: ProxyRoute, target: str) -> tuple[int, str]:
    """Send CONNECT and read the proxy's answer head (h11 writes and parses it); returns status and reason."""
    connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_RESPONSE_HEAD)
    headers = [("Host", target), *authorization(route).items()]
    await stream.send(connection.send(h11.Request(method="CONNECT", target=target, headers=headers)))
    closed = ProbeFailed(Reason.PROXY_ERROR, f"proxy {route.display} closed the connection")
    while True:
        try:
            event = connection.next_event()
        except h11.RemoteProtocolError as exc:
            why = f"proxy {route.display} did not answer in HTTP ({exc})"
            raise ProbeFailed(Reason.PROXY_ERROR, why) from None
        if event is h11.NEED_DATA:
            try:
                connection.receive_data(await stream.receive())
            except (anyio.EndOfStream, anyio.BrokenResourceError, OSError):
                raise closed from None
        elif isinstance(event, h11.Response):
            # Bytes after the head would belong to the tunnel; a proxy sends none before we speak.
            return event.status_code, (b" " + event.reason).decode("latin-1") if event.reason else ""
        elif not isinstance(event, h11.InformationalResponse):
            raise closed
