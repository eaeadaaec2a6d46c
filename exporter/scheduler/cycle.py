"""Runs probe cycles: each host resolved once, then each of its targets probed, under one concurrency limit.

The scheduler only schedules: what a target's probe does is its protocol's prober
(`exporter.probes.registry`). Results land in a `ResultStore` as each target finishes; scrapes read the
store and never wait for probes.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import time
from collections.abc import Callable
from dataclasses import replace

import anyio

from exporter.plan.targets import NetworkPath, PlanHolder, Target, TargetPlan
from exporter.probes import registry
from exporter.probes.dns import resolve
from exporter.probes.outcome import ProbeOutcome, Reason
from exporter.probes.prober import ProbeTarget
from exporter.probes.settings import ProbeSettings
from exporter.results.store import ResultStore, TargetResult
from exporter.scheduler.published_ranges import PublishedRanges

log = logging.getLogger(__name__)

PLAN_CHECK_SECONDS = 1.0
"""How often a waiting probe loop looks for a new plan."""


def pick_address(addresses: tuple[str, ...]) -> str:
    """IPv4 first: corporate egress paths are IPv4 far more often than not."""
    ordered = sorted(addresses, key=lambda a: (ipaddress.ip_address(a).version, a))
    return ordered[0]


def _record(store: ResultStore, result: TargetResult) -> None:
    """Store the result and log when the target changes state, so the log tells the story too."""
    previous = store.put(result)
    target, outcome = result.target, result.outcome
    name = f"{target.host}:{target.port}/{target.protocol}" + (f" via {target.via}" if target.via else "")
    if not outcome.ok and (previous is None or previous.outcome.reason != outcome.reason):
        log.warning("%s failing: %s (%s)", name, outcome.reason, outcome.detail)
    elif outcome.ok and previous is not None and not previous.outcome.ok:
        log.info("%s up again", name)


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
    ranges = PublishedRanges(plan, store)
    lookups = _Lookups(settings, ranges.check)

    async def probe_one(target: Target) -> None:
        flags = plan.flags_of(target)
        if target.path is not NetworkPath.DIRECT:
            # The proxy resolves names, and clients behind one often cannot.
            route = settings.routes[target.via]
            proxied = replace(
                settings, proxy=route.anonymous() if target.path is NetworkPath.PROXY_ANONYMOUS else route
            )
            probed = ProbeTarget(target.host, target.host, target.port, flags)
            outcome = await registry.run_probe(target.protocol, probed, proxied)
            _record(store, TargetResult(target, outcome, "", time.time()))
            return
        lookup = await lookups.get(target.host)
        if not lookup.ok:
            _record(store, TargetResult(target, lookup, "", time.time()))
            return
        address = pick_address(lookup.addresses)
        probed = ProbeTarget(target.host, address, target.port, flags)
        outcome = await registry.run_probe(target.protocol, probed, settings)
        _record(store, TargetResult(target, lookup.then(outcome), address, time.time()))

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
