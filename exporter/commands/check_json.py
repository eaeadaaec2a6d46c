"""The `check` result as one JSON object (`--format json`), for scripts and CI jobs."""

from __future__ import annotations

import json

from exporter.results.storm import Storm
from exporter.results.verdicts import SetReport, Verdict, address_problem_record, failing, failure_record


def render_json(
    set_reports: list[SetReport], targets: int, duration: float, exit_code: int, storm: Storm | None = None
) -> str:
    verdicts = [r.verdict for r in set_reports]
    document = {
        "sets": [_set(report) for report in set_reports],
        "totals": {
            "sets": len(set_reports),
            "ok": verdicts.count(Verdict.OK),
            "partial": verdicts.count(Verdict.PARTIAL),
            "fail": verdicts.count(Verdict.FAIL),
            "unprobed": verdicts.count(Verdict.UNPROBED),
            "required_failing": [r.set_id for r in failing(set_reports) if r.required],
            "targets": targets,
            "targets_failing": len({f.target for r in set_reports for f in r.failures}),
        },
        "storm": None if storm is None else _storm(storm),
        "duration": round(duration, 3),
        "exit_code": exit_code,
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def _storm(storm: Storm) -> dict[str, object]:
    """The fields of `/api/status`'s `storm`."""
    return {
        "reason": storm.reason,
        "cause": storm.cause.value,
        "failing": storm.failing,
        "targets": storm.total,
        "advice": storm.advice,
    }


def _set(report: SetReport) -> dict[str, object]:
    return {
        "id": report.set_id,
        "name": report.name,
        "section": report.section,
        "required": report.required,
        "verdict": report.verdict.value,
        "up": report.up,
        "total": report.total,
        "failures": [failure_record(result) for result in report.failures],
        "address_problems": [address_problem_record(result) for result in report.address_problems],
        "unprobed": list(report.unprobed),
        "impact": report.impact,
    }
