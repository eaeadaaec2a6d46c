"""The status model behind `/` and `/api/status`: per endpoint set, its verdict and failing targets.

Built on each request from the plan in force and the latest results; verdicts come from `check.reports`,
the same as `intune-exporter check` prints. `as_json` fixes the field names docs/status.md documents.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from exporter import __version__
from exporter.plan.targets import PlanHolder, Target, TargetPlan
from exporter.results.store import CycleStats, ResultStore, TargetResult
from exporter.results.verdicts import Verdict, reports

VERDICT_ORDER = {Verdict.FAIL: 0, Verdict.PARTIAL: 1, Verdict.UNPROBED: 2, Verdict.OK: 3}
"""Failing sets first, then partial, unprobed, OK."""


@dataclass(frozen=True)
class TlsIssuer:
    cn: str
    org: str
    intercepted: bool | None
    """The probe judged the certificate an inspecting proxy's; None when it could not tell."""


@dataclass(frozen=True)
class FailingTarget:
    host: str
    port: int
    protocol: str
    path: str
    via: str
    reason: str
    detail: str
    address: str
    """The resolved address dialled; '' when resolution failed."""
    tls_issuer: TlsIssuer | None
    probed_at: float


@dataclass(frozen=True)
class SetStatus:
    id: str
    name: str
    section: str
    category: str
    required: bool
    impact: str
    """What breaks when the set fails: the catalogue's `impact`, else one derived from the name."""
    notes: str
    verdict: Verdict
    up: int
    total: int
    failing: tuple[FailingTarget, ...]
    unprobed_wildcards: tuple[str, ...]
    tls_issuers: tuple[TlsIssuer, ...]
    """Distinct issuers of the certificates the set's targets presented."""
    last_probe_at: float | None


@dataclass(frozen=True)
class ExporterFacts:
    version: str
    config_source: str
    targets: int
    sets: int
    cycles_completed: int
    last_cycle_duration: float | None
    last_cycle_finished_at: float | None
    ready: bool


@dataclass(frozen=True)
class Summary:
    sets_ok: int
    sets_partial: int
    sets_failing: int
    sets_unprobed: int
    targets_probed: int
    targets_failing: int


@dataclass(frozen=True)
class Status:
    generated_at: float
    exporter: ExporterFacts
    summary: Summary
    sets: tuple[SetStatus, ...]
    """Failing sets first (see VERDICT_ORDER), required before optional, then in plan order."""


def build_status(
    plan: TargetPlan,
    results: dict[Target, TargetResult],
    stats: CycleStats,
    config_source: str,
    now: float,
) -> Status:
    by_set: dict[str, list[TargetResult]] = defaultdict(list)
    for target, members in plan.targets.items():
        result = results.get(target)
        if result is not None:
            for set_id in {member.set_id for member in members}:
                by_set[set_id].append(result)
    sets_by_id = {endpoint_set.id: endpoint_set for endpoint_set in plan.sets}
    sets = []
    for report in reports(plan, results):
        endpoint_set = sets_by_id[report.set_id]
        probed = by_set.get(report.set_id, [])
        sets.append(
            SetStatus(
                id=report.set_id,
                name=report.name,
                section=report.section,
                category=endpoint_set.category.value,
                required=report.required,
                impact=report.impact,
                notes=endpoint_set.notes,
                verdict=report.verdict,
                up=report.up,
                total=report.total,
                failing=tuple(_failing(r) for r in report.failures),
                unprobed_wildcards=tuple(report.unprobed),
                tls_issuers=_issuers(probed),
                last_probe_at=max((r.finished_at for r in probed), default=None),
            )
        )
    sets.sort(key=lambda s: (VERDICT_ORDER[s.verdict], not s.required))
    probed_targets = [results[t] for t in plan.targets if t in results]
    verdicts = [s.verdict for s in sets]
    return Status(
        generated_at=now,
        exporter=ExporterFacts(
            version=__version__,
            config_source=config_source,
            targets=len(plan.targets),
            sets=len(plan.sets),
            cycles_completed=stats.completed,
            last_cycle_duration=stats.last_duration,
            last_cycle_finished_at=stats.last_finished_at,
            ready=stats.completed > 0,
        ),
        summary=Summary(
            sets_ok=verdicts.count(Verdict.OK),
            sets_partial=verdicts.count(Verdict.PARTIAL),
            sets_failing=verdicts.count(Verdict.FAIL),
            sets_unprobed=verdicts.count(Verdict.UNPROBED),
            targets_probed=len(probed_targets),
            targets_failing=sum(1 for r in probed_targets if not r.outcome.ok),
        ),
        sets=tuple(sets),
    )


def _issuer(result: TargetResult) -> TlsIssuer | None:
    certificate = result.outcome.certificate
    if certificate is None:
        return None
    return TlsIssuer(certificate.issuer_cn, certificate.issuer_org, result.outcome.intercepted)


def _failing(result: TargetResult) -> FailingTarget:
    target, outcome = result.target, result.outcome
    return FailingTarget(
        host=target.host,
        port=target.port,
        protocol=target.protocol.value,
        path=target.path.value,
        via=target.via,
        reason=outcome.reason.value if outcome.reason is not None else "",
        detail=outcome.detail,
        address=result.address,
        tls_issuer=_issuer(result),
        probed_at=result.finished_at,
    )


def _issuers(probed: list[TargetResult]) -> tuple[TlsIssuer, ...]:
    """One entry per (cn, org); intercepted if any of its targets was judged intercepted."""
    seen: dict[tuple[str, str], bool | None] = {}
    for result in probed:
        issuer = _issuer(result)
        if issuer is None:
            continue
        key = (issuer.cn, issuer.org)
        judged = (seen.get(key), issuer.intercepted)
        seen[key] = True if True in judged else False if False in judged else None
    return tuple(TlsIssuer(cn, org, intercepted) for (cn, org), intercepted in sorted(seen.items()))


class StatusSource:
    """Builds the current status on each call, for the HTTP routes."""

    def __init__(
        self,
        plans: PlanHolder,
        store: ResultStore,
        config_source: Callable[[], str],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._plans = plans
        self._store = store
        self._config_source = config_source
        self._clock = clock

    def __call__(self) -> Status:
        plan = self._plans.current
        results, stats = self._store.snapshot()
        return build_status(plan, results, stats, self._config_source(), self._clock())


def iso(timestamp: float | None) -> str | None:
    """Unix time as UTC ISO 8601 to the second, e.g. '2026-01-31T12:00:00Z'."""
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _issuer_json(issuer: TlsIssuer | None) -> dict[str, Any] | None:
    if issuer is None:
        return None
    return {"cn": issuer.cn, "org": issuer.org, "intercepted": issuer.intercepted}


def as_json(status: Status) -> dict[str, Any]:
    """The `/api/status` document; field names are documented in docs/status.md."""
    facts, summary = status.exporter, status.summary
    return {
        "generated_at": iso(status.generated_at),
        "exporter": {
            "version": facts.version,
            "config_source": facts.config_source,
            "targets": facts.targets,
            "sets": facts.sets,
            "cycles_completed": facts.cycles_completed,
            "last_cycle_duration_seconds": facts.last_cycle_duration,
            "last_cycle_finished_at": iso(facts.last_cycle_finished_at),
            "ready": facts.ready,
        },
        "summary": {
            "sets_ok": summary.sets_ok,
            "sets_partial": summary.sets_partial,
            "sets_failing": summary.sets_failing,
            "sets_unprobed": summary.sets_unprobed,
            "targets_probed": summary.targets_probed,
            "targets_failing": summary.targets_failing,
        },
        "sets": [
            {
                "id": s.id,
                "name": s.name,
                "section": s.section,
                "category": s.category,
                "required": s.required,
                "impact": s.impact,
                "notes": s.notes,
                "verdict": s.verdict.value,
                "up": s.up,
                "total": s.total,
                "last_probe_at": iso(s.last_probe_at),
                "tls_issuers": [_issuer_json(i) for i in s.tls_issuers],
                "unprobed_wildcards": list(s.unprobed_wildcards),
                "failing": [
                    {
                        "host": f.host,
                        "port": f.port,
                        "protocol": f.protocol,
                        "path": f.path,
                        "via": f.via,
                        "reason": f.reason,
                        "detail": f.detail,
                        "address": f.address,
                        "tls_issuer": _issuer_json(f.tls_issuer),
                        "probed_at": iso(f.probed_at),
                    }
                    for f in s.failing
                ],
            }
            for s in status.sets
        ],
    }
