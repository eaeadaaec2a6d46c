"""One-shot check: probe every target once and print a verdict per endpoint set."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TextIO

from exporter.results import TargetResult
from exporter.targets import Target, TargetPlan


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
    failures: list[str]
    unprobed: list[str]


def reports(plan: TargetPlan, results: dict[Target, TargetResult]) -> list[SetReport]:
    out = []
    for endpoint_set in plan.sets:
        targets = plan.targets_of(endpoint_set.id)
        probed = [results[t] for t in targets if t in results]
        failures = [_failure_line(r) for r in probed if not r.outcome.ok]
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
            )
        )
    return out


def _failure_line(result: TargetResult) -> str:
    target, outcome = result.target, result.outcome
    line = f"{target.host}:{target.port}/{target.protocol} {outcome.reason}"
    return f"{line} ({outcome.detail})" if outcome.detail else line


def failed_required(set_reports: list[SetReport]) -> bool:
    return any(r.required and r.verdict in (Verdict.FAIL, Verdict.PARTIAL) for r in set_reports)


def render(set_reports: list[SetReport], out: TextIO) -> None:
    id_width = max([len("SET"), *(len(r.set_id) for r in set_reports)])
    name_width = min(48, max([len("NAME"), *(len(r.name) for r in set_reports)]))
    header = f"{'SET':<{id_width}}  {'NAME':<{name_width}}  {'REQUIRED':<8}  {'VERDICT':<8}  {'UP':>7}"
    out.write(header + "\n")
    for report in set_reports:
        name = report.name if len(report.name) <= name_width else report.name[: name_width - 1] + "~"
        required = "yes" if report.required else "no"
        counts = f"{report.up}/{report.total}"
        columns = f"{report.set_id:<{id_width}}  {name:<{name_width}}  {required:<8}  {report.verdict:<8}"
        out.write(f"{columns}  {counts:>7}\n")
        for failure in report.failures:
            out.write(f"{'':<{id_width}}    - {failure}\n")
        if report.unprobed:
            out.write(
                f"{'':<{id_width}}    ? not probed (no representative host): {', '.join(report.unprobed)}\n"
            )
    failing = [r for r in set_reports if r.verdict in (Verdict.FAIL, Verdict.PARTIAL)]
    required_failing = [r.set_id for r in failing if r.required]
    out.write(
        f"\n{len(set_reports)} sets, {len(failing)} with failures"
        + (f"; required sets failing: {', '.join(required_failing)}\n" if required_failing else "\n")
    )
