"""One-shot check: a verdict per endpoint set from one cycle's results (see check_text, check_json)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from exporter.catalogue import EndpointSet
from exporter.plan.targets import Target, TargetPlan
from exporter.results.store import TargetResult


class Verdict(StrEnum):
    OK = "OK"
    PARTIAL = "PARTIAL"
    FAIL = "FAIL"
    UNPROBED = "UNPROBED"


@dataclass(frozen=True)
class SetReport:
    set_id: str
    name: str
    required: bool
    verdict: Verdict
    up: int
    total: int
    failures: list[TargetResult]
    unprobed: list[str]
    section: str = ""
    impact: str = ""
    """What breaks for users when the set fails: the catalogue's `impact`, else one derived from the name."""


def reports(plan: TargetPlan, results: dict[Target, TargetResult]) -> list[SetReport]:
    out = []
    for endpoint_set in plan.sets:
        targets = plan.targets_of(endpoint_set.id)
        probed = [results[t] for t in targets if t in results]
        failures = [r for r in probed if not r.outcome.ok]
        up = len(probed) - len(failures)
        if not probed:
            verdict = Verdict.UNPROBED
        elif not failures:
            verdict = Verdict.OK
        elif up:
            verdict = Verdict.PARTIAL
        else:
            verdict = Verdict.FAIL
        unprobed = plan.unprobed_wildcards.get(endpoint_set.id, [])
        out.append(
            SetReport(
                endpoint_set.id,
                endpoint_set.name,
                endpoint_set.required,
                verdict,
                up,
                len(probed),
                failures,
                unprobed,
                endpoint_set.section,
                impact_of(endpoint_set),
            )
        )
    return out


def impact_of(endpoint_set: EndpointSet) -> str:
    """The set's `impact`; sets without one (user catalogues, extra endpoints) get one from their name."""
    return endpoint_set.impact or f"What needs {endpoint_set.name!r} fails: its endpoints are unreachable."


def failure_record(result: TargetResult) -> dict[str, str | int]:
    """A failing target as `check --format json` and `/api/status` both show it."""
    target, outcome = result.target, result.outcome
    return {
        "host": target.host,
        "port": target.port,
        "protocol": target.protocol.value,
        "path": target.path.value,
        "via": target.via,
        "reason": outcome.reason.value if outcome.reason is not None else "",
        "detail": outcome.detail,
        "address": result.address,
    }


def failure_line(result: TargetResult) -> str:
    """'host:port/protocol reason (detail)', plus the path when the target was probed through a proxy."""
    target, outcome = result.target, result.outcome
    line = f"{target.host}:{target.port}/{target.protocol} {outcome.reason}"
    if target.via:
        line += f" [{target.path} via {target.via}]"
    return f"{line} ({outcome.detail})" if outcome.detail else line


def failed_required(set_reports: list[SetReport]) -> bool:
    return any(r.required for r in failing(set_reports))


def failing(set_reports: list[SetReport]) -> list[SetReport]:
    return [r for r in set_reports if r.verdict in (Verdict.FAIL, Verdict.PARTIAL)]
