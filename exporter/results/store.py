"""Latest probe result per target, shared between the probe loop and scrapes."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from exporter.plan.targets import Target
from exporter.probes.dns import FamilyAnswer
from exporter.probes.outcome import ProbeOutcome, Reason
from exporter.results.history import (
    FAILURES_PER_TARGET,
    HISTORY_CYCLES,
    BoundedLog,
    CycleVerdict,
    FailureEntry,
)
from exporter.results.storm import Storm


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
    _cycle_listeners: list[Callable[[float], None]] = field(default_factory=list)
    _failures: BoundedLog[Target, FailureEntry] = field(
        default_factory=lambda: BoundedLog(FAILURES_PER_TARGET)
    )
    _set_history: BoundedLog[str, CycleVerdict] = field(default_factory=lambda: BoundedLog(HISTORY_CYCLES))
    _storm: Storm | None = None

    def put(self, result: TargetResult) -> TargetResult | None:
        """Store `result`, then tell the listeners; returns the result it replaces."""
        with self._lock:
            previous = self._results.get(result.target)
            self._results[result.target] = result
        if not result.outcome.ok:
            reason = result.outcome.reason.value if result.outcome.reason else ""
            entry = FailureEntry(result.finished_at, reason, result.outcome.detail, result.address)
            self._failures.append(result.target, entry)
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
        """Count a completed cycle, then call the cycle listeners with the time it finished."""
        finished_at = time.time()
        with self._lock:
            self._stats = CycleStats(self._stats.completed + 1, duration, finished_at)
        for listener in self._cycle_listeners:
            listener(finished_at)

    def set_storm(self, storm: Storm | None) -> Storm | None:
        """Record the latest cycle's failure storm (None: none); returns the previous cycle's."""
        with self._lock:
            previous, self._storm = self._storm, storm
        return previous

    @property
    def storm(self) -> Storm | None:
        """The failure storm of the latest finished cycle, if there was one."""
        return self._storm

    def on_cycle(self, listener: Callable[[float], None]) -> None:
        """Call `listener` with the finish time of every cycle completed from now on."""
        self._cycle_listeners.append(listener)

    def retain(self, targets: set[Target]) -> None:
        """Forget the results and failures of every target not in `targets` (it left the plan)."""
        with self._lock:
            self._results = {t: r for t, r in self._results.items() if t in targets}
        self._failures.retain(targets)

    def failures(self) -> dict[Target, tuple[FailureEntry, ...]]:
        """The last failures of each target that failed, oldest first (FAILURES_PER_TARGET at most)."""
        return self._failures.snapshot()

    def record_set_verdicts(self, verdicts: dict[str, CycleVerdict]) -> None:
        """Append one cycle's verdict per set; sets not in `verdicts` (left the plan) are forgotten."""
        for set_id, verdict in verdicts.items():
            self._set_history.append(set_id, verdict)
        self._set_history.retain(verdicts)

    def set_history(self) -> dict[str, tuple[CycleVerdict, ...]]:
        """Each set's verdicts over the last cycles, oldest first (HISTORY_CYCLES at most)."""
        return self._set_history.snapshot()

    def snapshot(self) -> tuple[dict[Target, TargetResult], CycleStats]:
        with self._lock:
            return dict(self._results), replace(self._stats)

    @property
    def ready(self) -> bool:
        with self._lock:
            return self._stats.completed > 0
