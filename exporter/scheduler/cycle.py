"""Runs probe cycles: each host resolved once, then each of its targets probed, under one concurrency limit.

The scheduler only schedules: what a target's probe does is its protocol's prober
(`exporter.probes.registry`). Results land in a `ResultStore` as each target finishes; scrapes read the
store and never wait for probes.

A direct target is probed on every address its host resolves to (IPv4 and IPv6, bounded per family by the
lookup), each probe under the concurrency limit. Its verdict is what a client falling back across the
addresses gets (`client_view`): the outcome of the first address that works in resolver order, else the
first address's failure, with the failing addresses named in the detail.
"""

from __future__ import annotations

import ipaddress
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import anyio

from exporter.catalogue import Flag
from exporter.plan.targets import NetworkPath, PlanHolder, Target, TargetPlan
from exporter.probes import registry
from exporter.probes.dns import Resolution, family_of, lookup
from exporter.probes.outcome import ProbeOutcome, Reason
from exporter.probes.prober import ProbeTarget, Protocol
from exporter.probes.settings import ProbeSettings
from exporter.results.store import AddressOutcome, ResultStore, TargetResult
from exporter.results.storm import Storm, judge_storm
from exporter.scheduler.published_ranges import PublishedRanges

log = logging.getLogger(__name__)

PLAN_CHECK_SECONDS = 1.0
"""How often a waiting probe loop looks for a new plan."""


def pick_address(addresses: tuple[str, ...]) -> str:
    """The lowest address, IPv4 first, compared as numbers ("10.0.0.9" before "10.0.0.10"). The cycle probes
    every address (`client_view`); this is for callers that want one."""
    return str(min((ipaddress.ip_address(a) for a in addresses), key=lambda ip: (ip.version, int(ip))))


def client_view(
    lookup_outcome: ProbeOutcome, addresses: Sequence[str], outcomes: Sequence[ProbeOutcome]
) -> tuple[ProbeOutcome, str, tuple[AddressOutcome, ...]]:
    """The outcome a client trying `addresses` in order gets, the address it ends on, and every address's.

    Up through the first address that works; when none does, the first address's failure. Either way the
    detail names the failing addresses when there are any besides the one reported."""
    per_address = tuple(
        AddressOutcome(address, family_of(address), outcome.ok, outcome.reason, outcome.detail)
        for address, outcome in zip(addresses, outcomes, strict=True)
    )
    chosen = next((i for i, outcome in enumerate(outcomes) if outcome.ok), 0)
    reported = lookup_outcome.then(outcomes[chosen])
    failing = [probe for probe in per_address if not probe.ok]
    named = ", ".join(f"{probe.address} ({probe.reason})" for probe in failing)
    if reported.ok and failing:
        reported = replace(reported, detail=f"up through {addresses[chosen]}; failing: {named}")
    elif not reported.ok and len(addresses) > 1:
        detail = f"{addresses[chosen]}: {reported.detail}; all {len(addresses)} addresses failed: {named}"
        reported = replace(reported, detail=detail)
    return reported, addresses[chosen], per_address


def path_settings(target: Target, settings: ProbeSettings) -> ProbeSettings:
    """`settings` for the target's network path: through its proxy (without credentials on the anonymous
    path), or as they are when direct."""
    if target.path is NetworkPath.DIRECT:
        return settings
    route = settings.routes[target.via]
    return replace(settings, proxy=route.anonymous() if target.path is NetworkPath.PROXY_ANONYMOUS else route)


@dataclass(frozen=True)
class _Change:
    """A target that started failing (or failing differently) or came back, to log at the cycle's end."""

    result: TargetResult
    set_ids: str

    def log(self, storm: Storm | None) -> None:
        """One line with the target's fields; at debug level when it is part of `storm`."""
        target, outcome = self.result.target, self.result.outcome
        name = f"{target.host}:{target.port}/{target.protocol}" + (f" via {target.via}" if target.via else "")
        fields = {
            "set": self.set_ids,
            "host": target.host,
            "port": target.port,
            "protocol": str(target.protocol),
            "path": str(target.path),
        }
        if outcome.ok:
            log.info("%s up again", name, extra=fields)
            return
        reason = str(outcome.reason)
        level = logging.DEBUG if storm is not None and storm.reason == reason else logging.WARNING
        fields |= {"reason": reason, "address": self.result.address, "detail": outcome.detail}
        log.log(level, "%s failing: %s (%s)", name, reason, outcome.detail, extra=fields)


def _changed(previous: TargetResult | None, result: TargetResult) -> bool:
    outcome = result.outcome
    if not outcome.ok:
        return previous is None or previous.outcome.reason != outcome.reason
    return previous is not None and not previous.outcome.ok


class _StateChanges:
    """Stores a cycle's results, and logs the targets that changed state once the cycle is over and has
    shown whether most targets fail the same way (then one line says so instead of one line per target)."""

    def __init__(self, plan: TargetPlan, store: ResultStore) -> None:
        self._plan = plan
        self._store = store
        self._changes: list[_Change] = []

    def record(self, result: TargetResult) -> None:
        if _changed(self._store.put(result), result):
            set_ids = ",".join(sorted({m.set_id for m in self._plan.targets.get(result.target, ())}))
            self._changes.append(_Change(result, set_ids))

    def finish(self) -> None:
        """Judge the cycle's storm, keep it in the store, log it and the changes."""
        results, _ = self._store.snapshot()
        storm = judge_storm(results[t].outcome for t in self._plan.targets if t in results)
        _log_storm(self._store.set_storm(storm), storm)
        for change in self._changes:
            change.log(storm)


def _log_storm(previous: Storm | None, storm: Storm | None) -> None:
    """One line when a storm starts or changes reason, one when it ends; nothing while it lasts."""
    if storm is not None and (previous is None or previous.reason != storm.reason):
        fields = {"reason": storm.reason, "failing": storm.failing, "targets": storm.total}
        log.warning("most targets fail the same way: %s", storm.line(), extra=fields | {"cause": storm.cause})
    elif storm is None and previous is not None:
        log.info("failure storm over: most targets no longer fail with %s", previous.reason)


async def _probe_each(
    target: Target,
    flags: frozenset[Flag],
    addresses: Sequence[str],
    settings: ProbeSettings,
    limiter: anyio.CapacityLimiter,
) -> list[ProbeOutcome]:
    """`target` probed on each of `addresses` at once, each probe holding a slot of `limiter`."""
    outcomes = [ProbeOutcome.failure(Reason.PROBE_ERROR, "not probed")] * len(addresses)

    async def dial(index: int) -> None:
        probed = ProbeTarget(target.host, addresses[index], target.port, flags)
        async with limiter:
            outcomes[index] = await registry.run_probe(target.protocol, probed, settings)

    if len(addresses) == 1:  # the common case: no task group to pay for
        await dial(0)
        return outcomes
    async with anyio.create_task_group() as group:
        for index in range(len(addresses)):
            group.start_soon(dial, index)
    return outcomes


class _Lookups:
    """One DNS lookup per host per cycle, shared by all its direct targets: the first worker to need a
    host resolves it, the others wait for that answer."""

    def __init__(self, settings: ProbeSettings, on_resolved: Callable[[str, ProbeOutcome], None]) -> None:
        self._settings = settings
        self._on_resolved = on_resolved
        self._answers: dict[str, tuple[anyio.Event, list[Resolution]]] = {}

    async def get(self, host: str) -> Resolution:
        entry = self._answers.get(host)
        if entry is not None:
            await entry[0].wait()
            return entry[1][0]
        done, answer = anyio.Event(), list[Resolution]()
        self._answers[host] = (done, answer)
        try:
            answer.append(await lookup(host, self._settings))
            self._on_resolved(host, answer[0].outcome)
        finally:
            if not answer:  # cancelled: the cycle is ending; keep waiters from waiting forever
                answer.append(Resolution(ProbeOutcome.failure(Reason.DNS_ERROR, "lookup cancelled")))
            done.set()
        return answer[0]


async def run_cycle(plan: TargetPlan, settings: ProbeSettings, store: ResultStore, concurrency: int) -> float:
    """Probe every target once; returns the cycle's duration in seconds.

    `concurrency` workers take targets one at a time, so memory stays flat however many targets there
    are. Targets of one host are taken together and share its lookup; a slow name delays only its own."""
    started = time.monotonic()
    changes = _StateChanges(plan, store)
    record = changes.record
    ranges = PublishedRanges(plan, store)
    lookups = _Lookups(settings, ranges.check)
    limiter = anyio.CapacityLimiter(max(1, concurrency))

    async def probe_one(target: Target) -> None:
        flags = plan.flags_of(target)
        if target.path is not NetworkPath.DIRECT:
            # The proxy resolves names, and clients behind one often cannot.
            probed = ProbeTarget(target.host, target.host, target.port, flags)
            async with limiter:
                outcome = await registry.run_probe(target.protocol, probed, path_settings(target, settings))
            record(TargetResult(target, outcome, "", time.time()))
            return
        if target.protocol is Protocol.DNS:
            # A zone check asks the resolver itself: there is no address to look up first.
            zone = ProbeTarget(target.host, target.host, target.port, flags)
            async with limiter:
                outcome = await registry.run_probe(target.protocol, zone, settings)
            record(TargetResult(target, outcome, "", time.time()))
            return
        resolution = await lookups.get(target.host)
        found = resolution.outcome
        if not found.ok:
            record(TargetResult(target, found, "", time.time(), families=resolution.families))
            return
        addresses = found.addresses
        outcomes = await _probe_each(target, flags, addresses, settings, limiter)
        outcome, address, per_address = client_view(found, addresses, outcomes)
        result = TargetResult(target, outcome, address, time.time(), per_address, resolution.families)
        record(result)

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
    changes.finish()
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
