"""HTTP(S) probe: one GET to the pinned address, as if to the catalogue host name; any status will do.

The request goes to the address the exporter resolved, while the Host header, SNI and certificate name
checks use the catalogue name. Only the response head is read (`http11`). `request` runs on a stream the
TCP or TLS probe opened; `probe_http` opens its own. Through a proxy, plain HTTP goes to the proxy as an
absolute-form request (many proxies refuse CONNECT to port 80), HTTPS through a CONNECT tunnel.
"""

from __future__ import annotations

import ipaddress

import anyio
from anyio.abc import ByteStream

from exporter.probes import http11
from exporter.probes.failures import ProbeFailed
from exporter.probes.outcome import Phase, ProbeOutcome, Reason
from exporter.probes.proxy import authorization, connect_proxy, status_reason
from exporter.probes.settings import ProbeSettings, ProxyRoute
from exporter.probes.tcp import open_tcp
from exporter.probes.tls import open_tls

_DEFAULT_PORTS = {"http": 80, "https": 443}


async def probe_http(
    host: str, address: str, port: int, settings: ProbeSettings, *, scheme: str, byte_range: bool = False
) -> ProbeOutcome:
    """Open a connection to `address` for `host` (TLS with `scheme` "https") and GET `settings.http_path`.

    Through `settings.proxy`, `address` is the host name and the proxy resolves it. With `byte_range`, the
    request asks for `Range: bytes=0-0` and the outcome tells whether the answer honoured it."""
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"scheme must be 'http' or 'https', not {scheme!r}")
    if settings.proxy is not None and scheme == "http":
        return await _through_proxy(host, address, port, settings, settings.proxy, byte_range)
    opened, stream = await (open_tls if scheme == "https" else _open_tcp)(host, address, port, settings)
    if stream is None:
        return opened
    try:
        answered = await request(stream, host, port, settings, scheme=scheme, byte_range=byte_range)
    finally:
        await anyio.aclose_forcefully(stream)
    return _after(opened, answered)


async def _open_tcp(
    host: str, address: str, port: int, settings: ProbeSettings
) -> tuple[ProbeOutcome, ByteStream | None]:
    return await open_tcp(address, port, settings)


async def request(
    stream: ByteStream,
    host: str,
    port: int,
    settings: ProbeSettings,
    *,
    scheme: str,
    byte_range: bool = False,
) -> ProbeOutcome:
    """GET `settings.http_path` for `host` on an open stream (TCP for "http", TLS for "https")."""
    headers = _headers(host, port, scheme, settings, byte_range)
    try:
        response = await http11.get(stream, settings.http_path, headers, settings.timeouts[Phase.HTTP])
    except ProbeFailed as failure:
        return ProbeOutcome.failure(failure.reason, failure.detail)
    return _answered(response, byte_range)


async def _through_proxy(
    host: str, address: str, port: int, settings: ProbeSettings, route: ProxyRoute, byte_range: bool
) -> ProbeOutcome:
    timeout = settings.timeouts[Phase.CONNECT]
    try:
        with anyio.fail_after(timeout):
            stream = await connect_proxy(route)
    except TimeoutError:  # our deadline: the kernel's ETIMEDOUT is a ProbeFailed already
        why = f"no connection within {timeout:g}s"
        return ProbeOutcome.failure(Reason.PROXY_ERROR, f"proxy {route.display} unreachable: {why}")
    except ProbeFailed as failure:
        return ProbeOutcome.failure(failure.reason, failure.detail)
    headers = _headers(host, port, "http", settings, byte_range)
    headers += list(authorization(route).items())
    url = request_url("http", address, settings.dial_port(port), settings.http_path)
    try:
        response = await http11.get(stream, url, headers, settings.timeouts[Phase.HTTP])
    except ProbeFailed as failure:
        return ProbeOutcome.failure(failure.reason, failure.detail)
    finally:
        await anyio.aclose_forcefully(stream)
    proxy_failure = _proxy_answer(response, route)
    if proxy_failure is not None:
        return ProbeOutcome.failure(proxy_failure.reason, proxy_failure.detail)
    return _answered(response, byte_range)


def _headers(
    host: str, port: int, scheme: str, settings: ProbeSettings, byte_range: bool
) -> list[tuple[str, str]]:
    headers = [
        ("Host", host_header(host, port, scheme)),
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


def _after(opened: ProbeOutcome, answered: ProbeOutcome) -> ProbeOutcome:
    """The request's outcome, with the phases and certificate of the connection it ran on."""
    return ProbeOutcome(
        ok=answered.ok,
        reason=answered.reason,
        detail=answered.detail,
        phases={**opened.phases, **answered.phases},
        certificate=opened.certificate,
        http_status=answered.http_status,
        intercepted=opened.intercepted,
        range_supported=answered.range_supported,
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
    return host if _DEFAULT_PORTS[scheme] == port else f"{host}:{port}"
