"""TCP probe: can we open a connection to the pinned address at all?"""

from __future__ import annotations

import time

import anyio
from anyio.abc import SocketStream

from exporter.probes import trace
from exporter.probes.failures import ProbeFailed, connect_failure
from exporter.probes.outcome import Phase, ProbeOutcome, Reason
from exporter.probes.prober import ProbeTarget, closing
from exporter.probes.proxy import open_tunnel
from exporter.probes.settings import ProbeSettings, ProxyRoute
from exporter.probes.trace import Step


async def probe(target: ProbeTarget, settings: ProbeSettings) -> ProbeOutcome:
    """Connect to the target's address on the dialled port, then hang up at once."""
    return await closing(await open_tcp(target, settings))


async def open_tcp(target: ProbeTarget, settings: ProbeSettings) -> tuple[ProbeOutcome, SocketStream | None]:
    """As `probe`, and when the connection opened, the stream: the caller closes it."""
    started = time.perf_counter()
    try:
        stream = await connect(
            target.address, settings.dial_port(target.port), settings.timeouts[Phase.CONNECT], settings.proxy
        )
    except ProbeFailed as failure:
        phases = {Phase.CONNECT: time.perf_counter() - started}  # timed too: a blackhole costs the timeout
        return ProbeOutcome.failure(failure.reason, failure.detail, phases), None
    return ProbeOutcome(ok=True, phases={Phase.CONNECT: time.perf_counter() - started}), stream


async def connect(address: str, port: int, timeout: float, proxy: ProxyRoute | None = None) -> SocketStream:
    """A TCP connection to `address` (directly, or tunnelled through `proxy`), or ProbeFailed with a
    CONNECT_* (or PROXY_*) reason."""
    if not trace.active():
        return await _connect(address, port, timeout, proxy)
    where = f"{address}:{port}" + (f" through proxy {proxy.display}" if proxy is not None else "")
    trace.emit(Step.CONNECT, f"connecting to {where}", address=address, port=port)
    started = time.perf_counter()
    try:
        stream = await _connect(address, port, timeout, proxy)
    except ProbeFailed as failure:
        spent = time.perf_counter() - started
        trace.emit(
            Step.CONNECT,
            f"{where}: {failure.reason} ({failure.detail}) after {trace.milliseconds(spent)}",
            reason=str(failure.reason),
            detail=failure.detail,
            seconds=spent,
        )
        raise
    spent = time.perf_counter() - started
    trace.emit(Step.CONNECT, f"connected to {where} in {trace.milliseconds(spent)}", seconds=spent)
    return stream


async def _connect(address: str, port: int, timeout: float, proxy: ProxyRoute | None) -> SocketStream:
    try:
        with anyio.fail_after(timeout):
            if proxy is not None:
                return await open_tunnel(proxy, address, port)
            return await anyio.connect_tcp(address, port)
    except TimeoutError as exc:
        if exc.errno is None:  # our deadline, not the kernel's ETIMEDOUT
            raise ProbeFailed(Reason.CONNECT_TIMEOUT, f"no connection within {timeout:g}s") from None
        raise _classified(exc) from None
    except (OSError, ExceptionGroup) as exc:
        raise _classified(exc) from None


def _classified(exc: BaseException) -> ProbeFailed:
    failure = connect_failure(exc)
    if failure is None:
        raise exc
    return failure
