"""HTTP(S) probe: one GET to the pinned address, as if to the catalogue host name; any status will do.

The request goes to the address the exporter resolved, while the Host header, SNI and certificate name
checks use the catalogue name. Only the response headers are read. httpx's `trace` extension tells which
step was running when something failed, so a failure carries the reason of its step: CONNECT_* while
connecting, TLS_* during the handshake, HTTP_* afterwards.
"""

from __future__ import annotations

import ipaddress
import os
import re
import ssl
import time
from enum import Enum
from typing import Any

import anyio
import httpx

from exporter.probes.failures import ProbeFailed, connect_failure, exception_chain, tls_failure
from exporter.probes.proxy import authorization, status_reason
from exporter.probes.result import Phase, ProbeOutcome, Reason
from exporter.probes.settings import ProbeSettings, ProxyRoute

_DEFAULT_PORTS = {"http": 80, "https": 443}


async def probe_http(
    host: str, address: str, port: int, settings: ProbeSettings, *, scheme: str, byte_range: bool = False
) -> ProbeOutcome:
    """GET `settings.http_path` from `address` for `host`; `scheme` is "http" or "https".

    Through `settings.proxy`, `address` is the host name and the proxy resolves it. With `byte_range`, the
    request asks for `Range: bytes=0-0` and the outcome tells whether the answer honoured it."""
    if scheme not in _DEFAULT_PORTS:
        raise ValueError(f"scheme must be 'http' or 'https', not {scheme!r}")
    timeout = settings.timeouts[Phase.HTTP]
    trace = _Trace()
    extensions: dict[str, Any] = {"trace": trace}
    if scheme == "https" and settings.proxy is None:
        extensions["sni_hostname"] = host
    headers = {"Host": host_header(host, port, scheme), "User-Agent": settings.user_agent}
    if byte_range:
        headers["Range"] = "bytes=0-0"
    url = request_url(scheme, address, settings.dial_port(port), settings.http_path)
    started = time.perf_counter()
    try:
        with anyio.fail_after(timeout):
            async with (
                httpx.AsyncClient(
                    verify=settings.trust,
                    trust_env=False,
                    follow_redirects=False,
                    timeout=timeout,
                    proxy=_httpx_proxy(settings.proxy),
                ) as client,
                client.stream("GET", url, headers=headers, extensions=extensions) as response,
            ):
                status = response.status_code
                proxy_failure = _proxy_answer(response, settings.proxy)
    except (TimeoutError, httpx.HTTPError) as exc:
        failure = _failure(exc, trace.step(), timeout, settings.proxy)
        return ProbeOutcome.failure(failure.reason, failure.detail)
    finally:
        await trace.close_connections()
    if proxy_failure is not None:
        return ProbeOutcome.failure(proxy_failure.reason, proxy_failure.detail)
    elapsed = trace.request_seconds()
    if elapsed is None:
        elapsed = time.perf_counter() - started
    range_supported = None
    if byte_range:
        range_supported = True if status == 206 else False if status == 200 else None
    return ProbeOutcome(
        ok=True, phases={Phase.HTTP: elapsed}, http_status=status, range_supported=range_supported
    )


def _httpx_proxy(route: ProxyRoute | None) -> httpx.Proxy | None:
    if route is None:
        return None
    return httpx.Proxy(f"http://{route.host}:{route.port}", headers=authorization(route))


def _proxy_answer(response: httpx.Response, route: ProxyRoute | None) -> ProbeFailed | None:
    """A plain-HTTP answer that the proxy wrote itself (auth required, blocked, upstream failed)."""
    if route is None or response.status_code < 400:
        return None
    from_proxy = response.status_code == 407 or any(
        name in response.headers for name in ("proxy-status", "x-squid-error")
    )
    return status_reason(response.status_code, f" {response.reason_phrase}", route) if from_proxy else None


def request_url(scheme: str, address: str, port: int, path: str) -> str:
    host = f"[{address}]" if ":" in address and ipaddress.ip_address(address).version == 6 else address
    return f"{scheme}://{host}:{port}{path}"


def host_header(host: str, port: int, scheme: str) -> str:
    return host if _DEFAULT_PORTS[scheme] == port else f"{host}:{port}"


class _Step(Enum):
    UNKNOWN = "unknown"
    CONNECT = "connect"
    TLS = "tls"
    HTTP = "http"


class _Trace:
    """Receives httpcore's trace events and remembers when each first happened."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self._connections: list[Any] = []

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        self.seen.setdefault(event, time.perf_counter())
        if event == "connection.connect_tcp.complete":
            self._connections.append(info["return_value"])

    async def close_connections(self) -> None:
        """Close the sockets httpcore opened. Needed when our deadline cancelled it mid-connect or
        mid-handshake: httpcore then drops the socket without closing it. A no-op otherwise."""
        with anyio.CancelScope(shield=True):
            for connection in self._connections:
                await connection.aclose()

    def step(self) -> _Step:
        if not self.seen:
            return _Step.UNKNOWN
        for name, step in (("connect_tcp", _Step.CONNECT), ("start_tls", _Step.TLS)):
            if f"connection.{name}.started" in self.seen and f"connection.{name}.complete" not in self.seen:
                return step
        return _Step.HTTP

    def request_seconds(self) -> float | None:
        """Request headers sent until response headers received (http11.* or http2.* events)."""
        sent = self._first_ending("send_request_headers.started")
        answered = self._first_ending("receive_response_headers.complete")
        if sent is None or answered is None:
            return None
        return answered - sent

    def _first_ending(self, suffix: str) -> float | None:
        return next((when for event, when in self.seen.items() if event.endswith(suffix)), None)


def _failure(exc: BaseException, step: _Step, timeout: float, route: ProxyRoute | None) -> ProbeFailed:
    if route is not None and isinstance(exc, httpx.ProxyError):
        # httpcore words a refused CONNECT as "<status> <reason>".
        match = re.match(r"(\d{3})(.*)", str(exc))
        if match is not None:
            return status_reason(int(match.group(1)), match.group(2), route)
        return ProbeFailed(Reason.PROXY_ERROR, f"proxy {route.display}: {_error_text(exc)}")
    if route is not None and step in (_Step.CONNECT, _Step.UNKNOWN) and isinstance(exc, httpx.ConnectError):
        return ProbeFailed(Reason.PROXY_ERROR, f"proxy {route.display} unreachable: {_error_text(exc)}")
    if step is _Step.UNKNOWN:
        step = _guess_step(exc)
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        if step is _Step.CONNECT:
            return ProbeFailed(Reason.CONNECT_TIMEOUT, f"no connection within {timeout:g}s")
        if step is _Step.TLS:
            return ProbeFailed(Reason.TLS_TIMEOUT, f"no TLS handshake within {timeout:g}s")
        return ProbeFailed(Reason.HTTP_TIMEOUT, f"no response headers within {timeout:g}s")
    if step is _Step.CONNECT:
        failure = connect_failure(exc)
        if failure is not None:
            return failure
    if step is _Step.TLS:
        return tls_failure(exc)
    return ProbeFailed(Reason.HTTP_ERROR, _error_text(exc))


def _error_text(exc: BaseException) -> str:
    """The most telling message in the chain: httpx's own, else the kernel's, else the class name."""
    for error in exception_chain(exc):
        if isinstance(error, OSError) and error.errno is not None:
            return os.strerror(error.errno)
        if str(error):
            return str(error)
    return type(exc).__name__


def _guess_step(exc: BaseException) -> _Step:
    """The step that failed when no trace event arrived; only connection errors name one."""
    if not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout):
        return _Step.HTTP
    if any(isinstance(error, ssl.SSLError) for error in exception_chain(exc)):
        return _Step.TLS
    return _Step.CONNECT
