"""The status model behind `/` and `/api/status`: per endpoint set, its verdict and failing targets.

Built on each request from the plan in force and the latest results; verdicts come from
`results.verdicts.reports`, the same as `intune-exporter check` prints. The models are the `/api/status`
document: `Status.model_dump(mode="json")` is it, with the field names docs/status.md documents and times
rendered by `iso` (in Python they stay Unix times).
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, model_validator

from exporter import __version__
from exporter.catalogue import Category
from exporter.plan.targets import PlanHolder, Target, TargetPlan
from exporter.results.history import CycleVerdict, FailureEntry
from exporter.results.store import CycleStats, ResultStore, TargetResult
from exporter.results.storm import Storm
from exporter.results.verdicts import Verdict, address_problem_record, failure_record, reports

VERDICT_ORDER = {Verdict.FAIL: 0, Verdict.PARTIAL: 1, Verdict.UNPROBED: 2, Verdict.OK: 3}
"""Failing sets first, then partial, unprobed, OK."""


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso(timestamp: float | None) -> str | None:
    """Unix time as UTC ISO 8601 to the second, e.g. '2026-01-31T12:00:00Z'."""
    return None if timestamp is None else _iso(timestamp)


Timestamp = Annotated[float, PlainSerializer(_iso, return_type=str, when_used="json")]
"""Unix time; in the JSON document, as `iso` renders it."""


class _Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TlsIssuer(_Document):
    cn: str
    org: str
    intercepted: bool | None
    """The probe judged the certificate an inspecting proxy's; None when it could not tell."""
    product: str = ""
    """The TLS-inspection product the issuer names (e.g. Zscaler); '' when unknown."""
    dn: str = ""
    """The whole issuer name (RFC 4514), shown on hover on the status page."""

    @classmethod
    def of(cls, result: TargetResult) -> TlsIssuer | None:
        """The issuer of the certificate `result`'s target presented; None when it presented none."""
        certificate = result.outcome.certificate
        if certificate is None:
            return None
        return cls(
            cn=certificate.issuer_cn,
            org=certificate.issuer_org,
            intercepted=result.outcome.intercepted,
            product=certificate.product,
            dn=certificate.issuer_dn,
        )


class AddressProbe(_Document):
    """The probe of one resolved address of a direct target."""

    address: str
    family: str
    """'ipv4' or 'ipv6'."""
    ok: bool
    reason: str
    """Failure reason; '' when the address passed."""


class FailingTarget(_Document):
    """Validated from the failing `TargetResult` itself."""

    host: str
    port: int
    protocol: str
    path: str
    via: str
    reason: str
    detail: str
    address: str
    """The resolved address dialled; '' when resolution failed."""
    family: str
    """'ipv4' or 'ipv6' for `address`; '' when there is none."""
    intercepted: bool | None
    """The certificate presented was judged TLS-inspected; None when the probe saw none."""
    issuer: str
    """Issuer of the certificate presented: CN, else O, else the whole DN; '' when none was seen."""
    product: str
    """The TLS-inspection product the issuer identifies; '' when unknown."""
    addresses: tuple[AddressProbe, ...]
    """Every address probed, in the order a client tries them; empty when resolution failed or a proxy
    resolved the name."""
    tls_issuer: TlsIssuer | None
    probed_at: Timestamp

    @model_validator(mode="before")
    @classmethod
    def _from_result(cls, value: Any) -> Any:
        if not isinstance(value, TargetResult):
            return value
        return {**failure_record(value), "tls_issuer": TlsIssuer.of(value), "probed_at": value.finished_at}


class AddressProblem(_Document):
    """A target that is up while some of its addresses fail; validated from its `TargetResult`."""

    host: str
    port: int
    protocol: str
    address: str
    """The address the target is up through."""
    family: str
    addresses: tuple[AddressProbe, ...]
    probed_at: Timestamp

    @model_validator(mode="before")
    @classmethod
    def _from_result(cls, value: Any) -> Any:
        if not isinstance(value, TargetResult):
            return value
        return {**address_problem_record(value), "probed_at": value.finished_at}

    def failing(self) -> tuple[AddressProbe, ...]:
        return tuple(probe for probe in self.addresses if not probe.ok)


class SetWarning(_Document):
    """Something to look at on a set that is up: one host, and what was seen."""

    kind: str
    """'outside_published_ranges' (DNS answers outside the set's CIDRs) or 'tls_intercepted' (up through an
    inspecting proxy)."""
    host: str
    addresses: tuple[str, ...]
    """The addresses outside the ranges, or the address the intercepted target was probed on."""


class HistoryCell(_Document):
    """The set's verdict at the end of one cycle."""

    at: Timestamp
    verdict: Verdict
    up: int
    total: int


class RecentFailure(_Document):
    at: Timestamp
    reason: str
    detail: str
    address: str


class TargetFailures(_Document):
    """A target's last failures: while it fails, and for the cycles the history shows once it recovers."""

    host: str
    port: int
    protocol: str
    up: bool
    """The latest probe passed: the target recovered."""
    failures: tuple[RecentFailure, ...]
    """Newest first."""


class SetStatus(_Document):
    """Validated from the set's `SetReport` (what `check` prints), plus what only the status shows."""

    id: str = Field(validation_alias="set_id")
    name: str
    section: str
    category: Category
    required: bool
    impact: str
    """What breaks when the set fails: the catalogue's `impact`, else one derived from the name."""
    notes: str
    verdict: Verdict
    up: int
    total: int
    last_probe_at: Timestamp | None
    tls_issuers: tuple[TlsIssuer, ...]
    """Distinct issuers of the certificates the set's targets presented."""
    unprobed_wildcards: tuple[str, ...] = Field(validation_alias="unprobed")
    failing: tuple[FailingTarget, ...] = Field(validation_alias="failures")
    address_problems: tuple[AddressProblem, ...]
    """Targets that are up although some of their addresses fail the probe."""
    warnings: tuple[SetWarning, ...]
    history: tuple[HistoryCell, ...]
    """The set's verdict over the last cycles, oldest first."""
    recent_failures: tuple[TargetFailures, ...]


class ExporterFacts(_Document):
    version: str
    config_source: str
    targets: int
    sets: int
    cycles_completed: int
    last_cycle_duration_seconds: float | None
    last_cycle_finished_at: Timestamp | None
    ready: bool


class Summary(_Document):
    sets_ok: int
    sets_partial: int
    sets_failing: int
    sets_unprobed: int
    required_sets_failing: int
    optional_sets_failing: int
    required_sets_partial: int
    optional_sets_partial: int
    targets_probed: int
    targets_failing: int


class StormStatus(_Document):
    """Most targets of the latest cycle failing for one reason: a cause near the exporter."""

    reason: str
    cause: str
    """'resolver', 'egress', 'proxy', 'tls_inspection' or 'unknown' (results.storm.Cause)."""
    failing: int
    targets: int
    advice: str

    @classmethod
    def of(cls, storm: Storm | None) -> StormStatus | None:
        if storm is None:
            return None
        return cls(
            reason=storm.reason,
            cause=storm.cause.value,
            failing=storm.failing,
            targets=storm.total,
            advice=storm.advice,
        )


class Status(_Document):
    generated_at: Timestamp
    exporter: ExporterFacts
    summary: Summary
    storm: StormStatus | None
    """Set when most targets of the latest cycle fail for one reason."""
    sets: tuple[SetStatus, ...]
    """Failing sets first (see VERDICT_ORDER), required before optional, then in plan order."""


def build_status(
    plan: TargetPlan,
    results: dict[Target, TargetResult],
    stats: CycleStats,
    config_source: str,
    now: float,
    memory: Memory | None = None,
) -> Status:
    memory = memory or Memory()
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
        only_here = {
            "category": endpoint_set.category,
            "notes": endpoint_set.notes,
            "tls_issuers": _issuers(probed),
            "last_probe_at": max((r.finished_at for r in probed), default=None),
            **memory.of_set(report.set_id, probed),
        }
        report_fields = {field.name: getattr(report, field.name) for field in dataclasses.fields(report)}
        sets.append(SetStatus.model_validate(report_fields | only_here))
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
            last_cycle_duration_seconds=stats.last_duration,
            last_cycle_finished_at=stats.last_finished_at,
            ready=stats.completed > 0,
        ),
        summary=Summary(
            sets_ok=verdicts.count(Verdict.OK),
            sets_partial=verdicts.count(Verdict.PARTIAL),
            sets_failing=verdicts.count(Verdict.FAIL),
            sets_unprobed=verdicts.count(Verdict.UNPROBED),
            required_sets_failing=_count(sets, Verdict.FAIL, required=True),
            optional_sets_failing=_count(sets, Verdict.FAIL, required=False),
            required_sets_partial=_count(sets, Verdict.PARTIAL, required=True),
            optional_sets_partial=_count(sets, Verdict.PARTIAL, required=False),
            targets_probed=len(probed_targets),
            targets_failing=sum(1 for r in probed_targets if not r.outcome.ok),
        ),
        storm=StormStatus.of(memory.storm),
        sets=tuple(sets),
    )


def _count(sets: list[SetStatus], verdict: Verdict, required: bool) -> int:
    return sum(1 for s in sets if s.verdict is verdict and s.required is required)


@dataclasses.dataclass(frozen=True)
class Memory:
    """What the store remembers beyond the latest results: range checks, set history, target failures, the
    latest cycle's failure storm."""

    range_checks: dict[tuple[str, str], tuple[str, ...]] = dataclasses.field(default_factory=dict)
    history: dict[str, tuple[CycleVerdict, ...]] = dataclasses.field(default_factory=dict)
    failures: dict[Target, tuple[FailureEntry, ...]] = dataclasses.field(default_factory=dict)
    storm: Storm | None = None

    @classmethod
    def of_store(cls, store: ResultStore) -> Memory:
        return cls(store.range_checks(), store.set_history(), store.failures(), store.storm)

    def of_set(self, set_id: str, probed: list[TargetResult]) -> dict[str, Any]:
        """The set's `warnings`, `history` and `recent_failures` fields."""
        history = self.history.get(set_id, ())
        return {
            "warnings": self._warnings(set_id, probed),
            "history": tuple(
                HistoryCell(at=c.at, verdict=Verdict(c.verdict), up=c.up, total=c.total) for c in history
            ),
            "recent_failures": self._recent_failures(probed, history[0].at if history else None),
        }

    def _warnings(self, set_id: str, probed: list[TargetResult]) -> tuple[SetWarning, ...]:
        outside = [
            SetWarning(kind="outside_published_ranges", host=host, addresses=addresses)
            for (checked_set, host), addresses in sorted(self.range_checks.items())
            if checked_set == set_id and addresses
        ]
        intercepted = [
            SetWarning(kind="tls_intercepted", host=r.target.host, addresses=tuple(filter(None, [r.address])))
            for r in probed
            if r.outcome.ok and r.outcome.intercepted
        ]
        return tuple(outside + intercepted)

    def _recent_failures(self, probed: list[TargetResult], since: float | None) -> tuple[TargetFailures, ...]:
        """Failing targets, and targets up again whose last failure is within the history (`since`)."""
        out = []
        for result in probed:
            logged = self.failures.get(result.target, ())
            if not logged:
                continue
            up = result.outcome.ok
            if up and since is not None and logged[-1].at < since:
                continue
            target = result.target
            failures = tuple(
                RecentFailure(at=f.at, reason=f.reason, detail=f.detail, address=f.address)
                for f in reversed(logged)
            )
            out.append(
                TargetFailures(
                    host=target.host, port=target.port, protocol=target.protocol, up=up, failures=failures
                )
            )
        return tuple(out)


def _issuers(probed: list[TargetResult]) -> tuple[TlsIssuer, ...]:
    """One entry per (cn, org, product, dn); intercepted if any of its targets was judged intercepted."""
    seen: dict[tuple[str, str, str, str], bool | None] = {}
    for result in probed:
        issuer = TlsIssuer.of(result)
        if issuer is None:
            continue
        key = (issuer.cn, issuer.org, issuer.product, issuer.dn)
        judged = (seen.get(key), issuer.intercepted)
        seen[key] = True if True in judged else False if False in judged else None
    return tuple(
        TlsIssuer(cn=cn, org=org, intercepted=intercepted, product=product, dn=dn)
        for (cn, org, product, dn), intercepted in sorted(seen.items())
    )


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
        store.on_cycle(self._record_cycle)

    def _record_cycle(self, finished_at: float) -> None:
        """Append each set's verdict of the cycle just finished to the store's set history."""
        results, _ = self._store.snapshot()
        self._store.record_set_verdicts(
            {
                report.set_id: CycleVerdict(finished_at, report.verdict.value, report.up, report.total)
                for report in reports(self._plans.current, results)
            }
        )

    def __call__(self) -> Status:
        plan = self._plans.current
        results, stats = self._store.snapshot()
        memory = Memory.of_store(self._store)
        return build_status(plan, results, stats, self._config_source(), self._clock(), memory)
