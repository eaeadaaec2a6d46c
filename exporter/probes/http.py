"""HTTP probe: one GET to the pinned address, as if to the catalogue host name; any status will do.

The request goes to the address the exporter resolved, while the Host header (and for HTTPS the SNI and
certificate name checks) use the catalogue name. Only the response head is read (`http11`). `request`
runs on a stream the TCP or TLS probe opened, so a target costs one connection. Through a proxy, plain
HTTP goes to the proxy as an absolute-form request (many proxies refuse CONNECT to port 80).
"""

from __future__ import annotations

import ipaddress
import time

import anyio
from anyio.abc import ByteStream

from exporter.probes import http11, trace
from exporter.probes.failures import ProbeFailed
from exporter.probes.outcome import Phase, ProbeOutcome, Reason
from exporter.probes.prober import ProbeTarget
from exporter.probes.proxy import authorization, connect_proxy, status_reason
from exporter.probes.settings import ProbeSettings, ProxyRoute
from exporter.probes.tcp import open_tcp
from exporter.probes.trace import Step

DEFAULT_PORTS = {"http": 80, "https": 443}
TRACED_HEADERS = (
    "server",
    "location",
    "content-type",
    "content-length",
    "content-range",
    "accept-ranges",
    "via",
    "proxy-status",
    "x-squid-error",
    "x-cache",
)
"""Response headers a trace shows: who answered, where it points, what came back, which proxy touched it."""


async def probe(target: ProbeTarget, settings: ProbeSettings, *, byte_range: bool = False) -> ProbeOutcome:
    """Connect and GET `settings.http_path` (through `settings.proxy`: the target's address is the host
    name, and the proxy resolves it). With `byte_range`, ask for `Range: bytes=0-0` and tell whether
    the answer honoured it."""
    if settings.proxy is not None:
        return await _through_proxy(target, settings, settings.proxy, byte_range)
    opened, stream = await open_tcp(target, settings)
    if stream is None:
        return opened
    try:
        answered = await request(stream, target, settings, scheme="http", byte_range=byte_range)
    finally:
        await anyio.aclose_forcefully(stream)
    return opened.then(answered)


async def request(
    stream: ByteStream, target: ProbeTarget, settings: ProbeSettings, *, scheme: str, byte_range: bool = False
) -> ProbeOutcome:
    """GET `settings.http_path` for the target's host on an open stream (TCP for "http", TLS for "https")."""
    headers = _headers(target, scheme, settings, byte_range)
    started = time.perf_counter()
    try:
        response = await _get(stream, settings.http_path, headers, settings.timeouts[Phase.HTTP])
    except ProbeFailed as failure:  # timed too: a server that never answers costs the whole timeout
        return ProbeOutcome.failure(failure.reason, failure.detail, _since(Phase.HTTP, started))
    return _answered(response, byte_range)


async def _get(
    stream: ByteStream, url: str, headers: list[tuple[str, str]], timeout: float
) -> http11.Response:
    """`http11.get`, told to the trace when one records."""
    if not trace.active():
        return await http11.get(stream, url, headers, timeout)
    sent = ", ".join(f"{name}: {value}" for name, value in headers if name.lower() in ("host", "range"))
    trace.emit(Step.HTTP, f"GET {url} ({sent})", url=url)
    try:
        response = await http11.get(stream, url, headers, timeout)
    except ProbeFailed as failure:
        trace.emit(Step.HTTP, f"{failure.reason} ({failure.detail})", reason=str(failure.reason))
        raise
    shown = {name: response.headers[name] for name in TRACED_HEADERS if name in response.headers}
    trace.emit(
        Step.HTTP,
        f"{response.status} {response.reason} in {trace.milliseconds(response.seconds)}"
        + "".join(f"; {name}: {value}" for name, value in shown.items()),
        status=response.status,
        headers=shown,
        seconds=response.seconds,
    )
    return response


async def _through_proxy(
    target: ProbeTarget, settings: ProbeSettings, route: ProxyRoute, byte_range: bool
) -> ProbeOutcome:
    # The connection to the proxy is the connect phase; every phase that started is timed, failed or not.
    timeout = settings.timeouts[Phase.CONNECT]
    started = time.perf_counter()
    try:
        with anyio.fail_after(timeout):
            stream = await connect_proxy(route)
    except TimeoutError:  # our deadline: the kernel's ETIMEDOUT is a ProbeFailed already
        why = f"no connection within {timeout:g}s"
        detail = f"proxy {route.display} unreachable: {why}"
        return ProbeOutcome.failure(Reason.PROXY_ERROR, detail, _since(Phase.CONNECT, started))
    except ProbeFailed as failure:
        return ProbeOutcome.failure(failure.reason, failure.detail, _since(Phase.CONNECT, started))
    connected = ProbeOutcome(ok=True, phases=_since(Phase.CONNECT, started))
    trace.emit(Step.PROXY, f"connected to proxy {route.display}; it resolves {target.host} itself")
    headers = _headers(target, "http", settings, byte_range)
    headers += list(authorization(route).items())
    url = request_url("http", target.address, settings.dial_port(target.port), settings.http_path)
    started = time.perf_counter()
    try:
        response = await _get(stream, url, headers, settings.timeouts[Phase.HTTP])
    except ProbeFailed as failure:
        failed = ProbeOutcome.failure(failure.reason, failure.detail, _since(Phase.HTTP, started))
        return connected.then(failed)
    finally:
        await anyio.aclose_forcefully(stream)
    proxy_failure = _proxy_answer(response, route)
    if proxy_failure is not None:
        answered = {Phase.HTTP: response.seconds}
        return connected.then(ProbeOutcome.failure(proxy_failure.reason, proxy_failure.detail, answered))
    return connected.then(_answered(response, byte_range))


def _since(phase: Phase, started: float) -> dict[Phase, float]:
    """`phase` timed from `started` (a `time.perf_counter()` reading) to now."""
    return {phase: time.perf_counter() - started}


def _headers(
    target: ProbeTarget, scheme: str, settings: ProbeSettings, byte_range: bool
) -> list[tuple[str, str]]:
    headers = [
        ("Host", host_header(target.host, target.port, scheme)),
        ("User-Agent", settings.user_agent),
        ("Accept", "*/*"),
        ("Connection", "close"),
    ]
    if byte_range:
        headers.append(("Range", "bytes=0-0"))
    return headers


def _answered(response: http11.Response, byte_range: bool) -> ProbeOutcome:
    range_supported = None
    if byte_range:
        range_supported = True if response.status == 206 else False if response.status == 200 else None
    return ProbeOutcome(
        ok=True,
        phases={Phase.HTTP: response.seconds},
        http_status=response.status,
        range_supported=range_supported,
    )


def _proxy_answer(response: http11.Response, route: ProxyRoute) -> ProbeFailed | None:
    """A plain-HTTP answer that the proxy wrote itself (auth required, blocked, upstream failed)."""
    if response.status < 400:
        return None
    from_proxy = response.status == 407 or any(
        name in response.headers for name in ("proxy-status", "x-squid-error")
    )
    return status_reason(response.status, f" {response.reason}", route) if from_proxy else None


def request_url(scheme: str, address: str, port: int, path: str) -> str:
    host = f"[{address}]" if ":" in address and ipaddress.ip_address(address).version == 6 else address
    return f"{scheme}://{host}:{port}{path}"


def host_header(host: str, port: int, scheme: str) -> str:
    return host if DEFAULT_PORTS[scheme] == port else f"{host}:{port}"
