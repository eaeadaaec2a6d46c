"""Runs probe cycles: each host resolved once, then each of its targets probed, under one concurrency limit.

Results land in a `ResultStore` as each target finishes; scrapes read the store and never wait for probes.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

import anyio

from exporter.probes.dns import resolve
from exporter.probes.http import probe_http
from exporter.probes.ntp import probe_ntp
from exporter.probes.result import Phase, ProbeOutcome, Reason
from exporter.probes.settings import ProbeSettings
from exporter.probes.tcp import probe_tcp
from exporter.probes.tls import probe_tls
from exporter.results import ResultStore, TargetResult
from exporter.targets import PlanHolder, Protocol, Target, TargetPlan

log = logging.getLogger(__name__)

PLAN_CHECK_SECONDS = 1.0
"""How often a waiting probe loop looks for a new plan."""

Probe = Callable[[str, str, int, ProbeSettings], Awaitable[ProbeOutcome]]


async def _https(host: str, address: str, port: int, settings: ProbeSettings) -> ProbeOutcome:
    handshake = await probe_tls(host, address, port, settings)
    if not handshake.ok:
        return handshake
    request = await probe_http(host, address, port, settings, scheme="https")
    return combine(handshake, request)


async def _http(host: str, address: str, port: int, settings: ProbeSettings) -> ProbeOutcome:
    connect = await probe_tcp(host, address, port, settings)
    if not connect.ok:
        return connect
    return combine(connect, await probe_http(host, address, port, settings, scheme="http"))


PROBES: dict[Protocol, Probe] = {
    Protocol.TCP: probe_tcp,
    Protocol.TLS: probe_tls,
    Protocol.HTTP: _http,
    Protocol.HTTPS: _https,
    Protocol.NTP: probe_ntp,
}


def combine(first: ProbeOutcome, second: ProbeOutcome) -> ProbeOutcome:
    """Outcome of two steps run one after the other: phases add up, the second step decides success."""
    return replace(
        second,
        phases={**first.phases, **second.phases},
        addresses=second.addresses or first.addresses,
        certificate=second.certificate or first.certificate,
        http_status=second.http_status if second.http_status is not None else first.http_status,
        ntp_offset=second.ntp_offset if second.ntp_offset is not None else first.ntp_offset,
    )


def pick_address(addresses: tuple[str, ...]) -> str:
    """IPv4 first: corporate egress paths are IPv4 far more often than not."""
    ordered = sorted(addresses, key=lambda a: (ipaddress.ip_address(a).version, a))
    return ordered[0]


async def _guarded(target: Target, address: str, settings: ProbeSettings) -> ProbeOutcome:
    """A probe that raises is a bug; it must cost one target's result, not the exporter."""
    try:
        return await PROBES[target.protocol](target.host, address, target.port, settings)
    except Exception as exc:
        log.exception("probe of %s:%d/%s raised", target.host, target.port, target.protocol)
        return ProbeOutcome.failure(Reason.PROBE_ERROR, f"{type(exc).__name__}: {exc}")


def _record(store: ResultStore, result: TargetResult) -> None:
    """Store the result and log when the target changes state, so the log tells the story too."""
    previous = store.put(result)
    target, outcome = result.target, result.outcome
    name = f"{target.host}:{target.port}/{target.protocol}"
    if not outcome.ok and (previous is None or previous.outcome.reason != outcome.reason):
        log.warning("%s failing: %s (%s)", name, outcome.reason, outcome.detail)
    elif outcome.ok and previous is not None and not previous.outcome.ok:
        log.info("%s up again", name)


async def run_cycle(plan: TargetPlan, settings: ProbeSettings, store: ResultStore, concurrency: int) -> float:
    """Probe every target once; returns the cycle's duration in seconds."""
    started = time.monotonic()
    limiter = anyio.CapacityLimiter(concurrency)
    by_host: dict[str, list[Target]] = {}
    for target in plan.targets:
        by_host.setdefault(target.host, []).append(target)

    async def probe_host(host: str, targets: list[Target]) -> None:
        # One lookup per host per cycle, shared by all its targets; a slow name delays only its own.
        async with limiter:
            lookup = await resolve(host, settings)
        async with anyio.create_task_group() as group:
            for target in targets:
                group.start_soon(probe_one, target, lookup)

    async def probe_one(target: Target, lookup: ProbeOutcome) -> None:
        if not lookup.ok:
            _record(store, TargetResult(target, lookup, "", time.time()))
            return
        address = pick_address(lookup.addresses)
        async with limiter:
            outcome = await _guarded(target, address, settings)
        outcome = replace(
            outcome,
            phases={Phase.DNS: lookup.phases[Phase.DNS], **outcome.phases},
            addresses=lookup.addresses,
        )
        _record(store, TargetResult(target, outcome, address, time.time()))

    async with anyio.create_task_group() as group:
        for host, targets in by_host.items():
            group.start_soon(probe_host, host, targets)
    duration = time.monotonic() - started
    store.cycle_done(duration)
    return duration


async def run_forever(
    plans: PlanHolder,
    settings: ProbeSettings,
    store: ResultStore,
    *,
    concurrency: int,
    interval: float,
    jitter: float,
) -> None:
    """Cycle until cancelled. A cycle longer than the interval is followed at once by the next.
    Each cycle probes the plan in force when it starts; a new plan starts a cycle without waiting."""
    while True:
        started = time.monotonic()
        generation = plans.generation
        plan = plans.current
        store.retain(set(plan.targets))
        duration = await run_cycle(plan, settings, store, concurrency)
        failed = sum(1 for r in store.snapshot()[0].values() if not r.outcome.ok)
        log.info("cycle done in %.2fs: %d targets, %d failing", duration, len(plan.targets), failed)
        if duration > interval:
            log.warning("cycle took %.1fs, longer than the %.0fs interval", duration, interval)
        next_cycle = started + interval + random.uniform(0, jitter)
        while time.monotonic() < next_cycle and plans.generation == generation:
            await anyio.sleep(min(PLAN_CHECK_SECONDS, max(next_cycle - time.monotonic(), 0)))
