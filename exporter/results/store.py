"""Latest probe result per target, shared between the probe loop and scrapes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from exporter.plan.targets import Target
from exporter.probes.dns import FamilyAnswer
from exporter.probes.outcome import ProbeOutcome, Reason


@dataclass(frozen=True)
class AddressOutcome:
    """The probe of one resolved address of a target."""

    address: str
    family: str
    """'ipv4' or 'ipv6'."""
    ok: bool
    reason: Reason | None = None
    detail: str = ""


@dataclass(frozen=True)
class TargetResult:
    target: Target
    outcome: ProbeOutcome
    """The outcome a client gets: of the first address that works in resolver order, else of the first."""
    address: str
    """The address of the reported outcome ('' when resolution failed or a proxy resolved the name)."""
    finished_at: float
    """Unix time the probe finished."""
    per_address: tuple[AddressOutcome, ...] = ()
    """Every address probed, in the order a client tries them (bounded per family)."""
    families: tuple[FamilyAnswer, ...] = ()
    """Each family's DNS answer of the lookup (empty for proxied targets)."""

    def failing_addresses(self) -> tuple[AddressOutcome, ...]:
        return tuple(probe for probe in self.per_address if not probe.ok)


@dataclass
class CycleStats:
    completed: int = 0
    last_duration: float | None = None
    last_finished_at: float | None = None


@dataclass
class ResultStore:
    """Latest result per target. Written by the probe loop, read by scrapes from other threads."""

    _results: dict[Target, TargetResult] = field(default_factory=dict)
    _stats: CycleStats = field(default_factory=CycleStats)
    _range_checks: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listeners: list[Callable[[TargetResult], None]] = field(default_factory=list)

    def put(self, result: TargetResult) -> TargetResult | None:
        """Store `result`, then tell the listeners; returns the result it replaces."""
        with self._lock:
            previous = self._results.get(result.target)
            self._results[result.target] = result
        for listener in self._listeners:
            listener(result)
        return previous

    def listen(self, listener: Callable[[TargetResult], None]) -> None:
        """Call `listener` with every result stored from now on, in the thread that stores it."""
        self._listeners.append(listener)

    def put_range_check(self, set_id: str, host: str, outside: tuple[str, ...]) -> tuple[str, ...] | None:
        """Record the addresses of `host` outside `set_id`'s CIDRs; returns the previous record."""
        with self._lock:
            previous = self._range_checks.get((set_id, host))
            self._range_checks[(set_id, host)] = outside
            return previous

    def range_checks(self) -> dict[tuple[str, str], tuple[str, ...]]:
        with self._lock:
            return dict(self._range_checks)

    def cycle_done(self, duration: float) -> None:
        with self._lock:
            self._stats = CycleStats(self._stats.completed + 1, duration, time.time())

    def retain(self, targets: set[Target]) -> None:
        with self._lock:
            self._results = {t: r for t, r in self._results.items() if t in targets}

    def snapshot(self) -> tuple[dict[Target, TargetResult], CycleStats]:
        with self._lock:
            return dict(self._results), replace(self._stats)

    @property
    def ready(self) -> bool:
        with self._lock:
            return self._stats.completed > 0
