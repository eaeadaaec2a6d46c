"""What the result store remembers beyond the latest results: set verdicts per cycle, failures per target."""

from __future__ import annotations

import pytest

from exporter.plan.targets import Target
from exporter.probes.outcome import ProbeOutcome, Reason
from exporter.probes.prober import Protocol
from exporter.results.history import FAILURES_PER_TARGET, HISTORY_CYCLES, BoundedLog, CycleVerdict
from exporter.results.store import ResultStore, TargetResult

MANAGE = Target("manage.microsoft.com", 443, Protocol.HTTPS)
CONFIG = Target("config.office.com", 443, Protocol.HTTPS)


def test_bounded_log_keeps_the_last_entries_per_key() -> None:
    log: BoundedLog[str, int] = BoundedLog(3)
    for n in range(5):
        log.append("a", n)
    log.append("b", 9)
    assert log.entries("a") == (2, 3, 4)
    assert log.entries("missing") == ()
    log.retain(["b"])
    assert log.snapshot() == {"b": (9,)}


def test_bounded_log_needs_a_length() -> None:
    with pytest.raises(ValueError, match="at least 1, got 0"):
        BoundedLog(0)


def test_store_logs_failures_only_and_bounds_them() -> None:
    store = ResultStore()
    refused = ProbeOutcome.failure(Reason.CONNECT_REFUSED, "Connection refused")
    for n in range(FAILURES_PER_TARGET + 3):
        store.put(TargetResult(MANAGE, refused, "10.0.0.1", float(n)))
    store.put(TargetResult(MANAGE, ProbeOutcome(ok=True), "10.0.0.1", 100.0))
    store.put(TargetResult(CONFIG, ProbeOutcome(ok=True), "10.0.0.2", 100.0))
    failures = store.failures()
    assert list(failures) == [MANAGE]  # a target that never failed has no entry
    kept = failures[MANAGE]
    assert len(kept) == FAILURES_PER_TARGET
    assert [f.at for f in kept] == [float(n) for n in range(3, FAILURES_PER_TARGET + 3)]  # oldest dropped
    assert {(f.reason, f.detail, f.address) for f in kept} == {
        ("connect_refused", "Connection refused", "10.0.0.1")
    }
    store.retain({CONFIG})
    assert store.failures() == {}


def test_store_set_history_follows_cycles_and_the_plan() -> None:
    store = ResultStore()
    finished: list[float] = []
    store.on_cycle(finished.append)
    for n in range(HISTORY_CYCLES + 2):
        store.cycle_done(0.5)
        store.record_set_verdicts(
            {
                "163": CycleVerdict(float(n), "OK" if n % 2 else "FAIL", n % 2, 1),
                "170": CycleVerdict(n, "OK", 1, 1),
            }
        )
    assert len(finished) == HISTORY_CYCLES + 2
    history = store.set_history()
    assert [c.at for c in history["163"]] == [float(n) for n in range(2, HISTORY_CYCLES + 2)]
    assert [c.verdict for c in history["163"][:2]] == ["FAIL", "OK"]
    store.record_set_verdicts({"170": CycleVerdict(99.0, "OK", 1, 1)})  # 163 left the plan
    assert list(store.set_history()) == ["170"]
