"""Runs probe cycles: each host resolved once, then each of its targets probed, under one concurrency limit.

Results land in a `ResultStore` as each target finishes; scrapes read the store and never wait for probes.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import replace

import anyio
from anyio.abc import ByteStream

from exporter.catalogue import Flag
from exporter.plan.targets import Path, PlanHolder, Protocol, Target, TargetPlan
from exporter.probes.dns import resolve
from exporter.probes.http import probe_http, request
from exporter.probes.ntp import probe_ntp
from exporter.probes.outcome import Phase, ProbeOutcome, Reason
from exporter.probes.settings import ProbeSettings
from exporter.probes.tcp import open_tcp, probe_tcp
from exporter.probes.tls import open_tls
from exporter.results.store import ResultStore, TargetResult

log = logging.getLogger(__name__)

PLAN_CHECK_SECONDS = 1.0
"""How often a waiting probe loop looks for a new plan."""


async def probe_target(
    target: Target, address: str, settings: ProbeSettings, flags: frozenset[Flag]
) -> ProbeOutcome:
    """Every check a target gets, in order; the first failure ends it.

    tcp: connect. tls: connect + handshake. http: connect + GET on that connection (through a proxy: an
    absolute-form GET to the proxy, which often refuses CONNECT to port 80). https: connect + handshake +
    GET on that connection. Where the page's notes ask: no TLS inspection allowed, and byte ranges
    honoured (a second request). ntp: one SNTP exchange.
    """
    host, port = target.host, target.port
    if target.protocol is Protocol.NTP:
        return await probe_ntp(host, address, port, settings)
    if target.protocol is Protocol.TCP:
        return await probe_tcp(host, address, port, settings)
    if target.protocol is Protocol.HTTP and settings.proxy is not None:
        outcome = await probe_http(host, address, port, settings, scheme="http")
    else:
        outcome = await _on_one_connection(target, address, settings, flags)
    if not outcome.ok or target.protocol is Protocol.TLS or Flag.BYTE_RANGES_REQUIRED not in flags:
        return outcome
    if outcome.intercepted and settings.inspection_trust is not None:
        settings = replace(settings, trust=settings.inspection_trust)
    scheme = "https" if target.protocol is Protocol.HTTPS else "http"
    ranged = await probe_http(
        host, address, port, replace(settings, http_path=settings.range_path), scheme=scheme, byte_range=True
    )
    if ranged.range_supported is False:
        return replace(
            outcome,
            ok=False,
            reason=Reason.RANGE_STRIPPED,
            detail=f"asked for bytes=0-0, got the whole body ({ranged.http_status})",
            range_supported=False,
        )
    return replace(outcome, range_supported=ranged.range_supported)


async def _on_one_connection(
    target: Target, address: str, settings: ProbeSettings, flags: frozenset[Flag]
) -> ProbeOutcome:
    """tls, https, and direct http: open the connection once; the HTTP request reuses it."""
    host, port = target.host, target.port
    stream: ByteStream | None
    if target.protocol is Protocol.HTTP:
        outcome, stream = await open_tcp(address, port, settings)
    else:
        outcome, stream = await open_tls(host, address, port, settings)
        outcome = judge_interception(outcome, flags)
    if stream is None:
        return outcome
    try:
        if not outcome.ok or target.protocol is Protocol.TLS:
            return outcome
        scheme = "https" if target.protocol is Protocol.HTTPS else "http"
        return combine(outcome, await request(stream, host, port, settings, scheme=scheme))
    finally:
        await anyio.aclose_forcefully(stream)


def judge_interception(outcome: ProbeOutcome, flags: frozenset[Flag]) -> ProbeOutcome:
    """An intercepted handshake fails endpoints on which the page says TLS inspection is unsupported."""
    if not outcome.intercepted or Flag.SSL_INSPECTION_UNSUPPORTED not in flags:
        return outcome
    issuer = outcome.certificate.issuer_cn if outcome.certificate is not None else "unknown issuer"
    return replace(
        outcome,
        ok=False,
        reason=Reason.TLS_INTERCEPTED,
        detail=f"TLS inspected (certificate issued by {issuer}); unsupported on this endpoint",
    )


def combine(first: ProbeOutcome, second: ProbeOutcome) -> ProbeOutcome:
    """Outcome of two steps run one after the other: phases add up, the second step decides success."""
    return replace(
        second,
        phases={**first.phases, **second.phases},
        addresses=second.addresses or first.addresses,
        certificate=second.certificate or first.certificate,
        http_status=second.http_status if second.http_status is not None else first.http_status,
        ntp_offset=second.ntp_offset if second.ntp_offset is not None else first.ntp_offset,
        intercepted=second.intercepted if second.intercepted is not None else first.intercepted,
    )


def pick_address(addresses: tuple[str, ...]) -> str:
    """IPv4 first: corporate egress paths are IPv4 far more often than not."""
    ordered = sorted(addresses, key=lambda a: (ipaddress.ip_address(a).version, a))
    return ordered[0]


async def _guarded(
    target: Target, address: str, settings: ProbeSettings, flags: frozenset[Flag]
) -> ProbeOutcome:
    """A probe that raises is a bug; it must cost one target's result, not the exporter."""
    try:
        return await probe_target(target, address, settings, flags)
    except Exception as exc:
        log.exception("probe of %s:%d/%s raised", target.host, target.port, target.protocol)
        return ProbeOutcome.failure(Reason.PROBE_ERROR, f"{type(exc).__name__}: {exc}")


def _record(store: ResultStore, result: TargetResult) -> None:
    """Store the result and log when the target changes state, so the log tells the story too."""
    previous = store.put(result)
    target, outcome = result.target, result.outcome
    name = f"{target.host}:{target.port}/{target.protocol}" + (f" via {target.via}" if target.via else "")
    if not outcome.ok and (previous is None or previous.outcome.reason != outcome.reason):
        log.warning("%s failing: %s (%s)", name, outcome.reason, outcome.detail)
    elif outcome.ok and previous is not None and not previous.outcome.ok:
        log.info("%s up again", name)


def _sets_with_ranges_by_host(plan: TargetPlan, ranges: Mapping[str, object]) -> dict[str, set[str]]:
    by_host: dict[str, set[str]] = {}
    for target, members in plan.targets.items():
        if target.path is Path.DIRECT:
            for member in members:
                if member.set_id in ranges:
                    by_host.setdefault(target.host, set()).add(member.set_id)
    return by_host


def _check_published_ranges(
    host: str,
    set_ids: set[str],
    addresses: tuple[str, ...],
    ranges: dict[str, list[ipaddress.IPv4Network | ipaddress.IPv6Network]],
    store: ResultStore,
) -> None:
    """For sets with published CIDRs: would an IP-allowlist firewall let every resolved address through?"""
    for set_id in sorted(set_ids):
        outside = tuple(
            a for a in addresses if not any(ipaddress.ip_address(a) in net for net in ranges[set_id])
        )
        previous = store.put_range_check(set_id, host, outside)
        if outside and previous != outside:
            log.warning(
                "%s resolves to %s, outside set %s's published ranges: an IP allowlist would block it",
                host,
                ", ".join(outside),
                set_id,
            )


class _Lookups:
    """One DNS lookup per host per cycle, shared by all its direct targets: the first worker to need a
    host resolves it, the others wait for that answer."""

    def __init__(self, settings: ProbeSettings, on_resolved: Callable[[str, ProbeOutcome], None]) -> None:
        self._settings = settings
        self._on_resolved = on_resolved
        self._answers: dict[str, tuple[anyio.Event, list[ProbeOutcome]]] = {}

    async def get(self, host: str) -> ProbeOutcome:
        entry = self._answers.get(host)
        if entry is not None:
            await entry[0].wait()
            return entry[1][0]
        done, answer = anyio.Event(), list[ProbeOutcome]()
        self._answers[host] = (done, answer)
        try:
            answer.append(await resolve(host, self._settings))
            self._on_resolved(host, answer[0])
        finally:
            if not answer:  # cancelled: the cycle is ending; keep waiters from waiting forever
                answer.append(ProbeOutcome.failure(Reason.DNS_ERROR, "lookup cancelled"))
            done.set()
        return answer[0]


async def run_cycle(plan: TargetPlan, settings: ProbeSettings, store: ResultStore, concurrency: int) -> float:
    """Probe every target once; returns the cycle's duration in seconds.

    `concurrency` workers take targets one at a time, so memory stays flat however many targets there
    are. Targets of one host are taken together and share its lookup; a slow name delays only its own."""
    started = time.monotonic()
    ranges = {s.id: [ipaddress.ip_network(cidr) for cidr in s.ips] for s in plan.sets if s.ips}
    range_sets = _sets_with_ranges_by_host(plan, ranges)

    def resolved(host: str, lookup: ProbeOutcome) -> None:
        if lookup.ok:
            _check_published_ranges(host, range_sets.get(host, set()), lookup.addresses, ranges, store)

    lookups = _Lookups(settings, resolved)

    async def probe_one(target: Target) -> None:
        flags = plan.flags_of(target)
        if target.path is not Path.DIRECT:
            # The proxy resolves names, and clients behind one often cannot.
            route = settings.routes[target.via]
            proxied = replace(
                settings, proxy=route.anonymous() if target.path is Path.PROXY_ANONYMOUS else route
            )
            outcome = await _guarded(target, target.host, proxied, flags)
            _record(store, TargetResult(target, outcome, "", time.time()))
            return
        lookup = await lookups.get(target.host)
        if not lookup.ok:
            _record(store, TargetResult(target, lookup, "", time.time()))
            return
        address = pick_address(lookup.addresses)
        outcome = await _guarded(target, address, settings, flags)
        outcome = replace(
            outcome,
            phases={Phase.DNS: lookup.phases[Phase.DNS], **outcome.phases},
            addresses=lookup.addresses,
        )
        _record(store, TargetResult(target, outcome, address, time.time()))

    by_host: dict[str, list[Target]] = {}
    for target in plan.targets:
        by_host.setdefault(target.host, []).append(target)
    pending = (target for targets in by_host.values() for target in targets)

    async def worker() -> None:
        for target in pending:  # one shared iterator: each target goes to exactly one worker
            await probe_one(target)

    async with anyio.create_task_group() as group:
        for _ in range(max(1, min(concurrency, len(plan.targets)))):
            group.start_soon(worker)
    duration = time.monotonic() - started
    store.cycle_done(duration)
    return duration


async def run_forever(
    plans: PlanHolder,
    settings: ProbeSettings | Callable[[], ProbeSettings],
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
        cycle_settings = settings() if callable(settings) else settings
        duration = await run_cycle(plan, cycle_settings, store, concurrency)
        failed = sum(1 for r in store.snapshot()[0].values() if not r.outcome.ok)
        log.info("cycle done in %.2fs: %d targets, %d failing", duration, len(plan.targets), failed)
        if duration > interval:
            log.warning("cycle took %.1fs, longer than the %.0fs interval", duration, interval)
        next_cycle = started + interval + random.uniform(0, jitter)
        while time.monotonic() < next_cycle and plans.generation == generation:
            await anyio.sleep(min(PLAN_CHECK_SECONDS, max(next_cycle - time.monotonic(), 0)))
