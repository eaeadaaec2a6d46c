"""The `check` summary as a text table: a row per set, its failing hosts and, when it fails, its impact;
then its hosts that are up although some of their addresses fail. During a failure storm (most targets
failing for one reason) each set's hosts failing for that reason share one line, and the storm, with its
likely cause, is said once under the table."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TextIO

from exporter.results.store import TargetResult
from exporter.results.storm import Storm
from exporter.results.verdicts import SetReport, Verdict, address_problem_line, failing, failure_line

COLOURS = {Verdict.OK: "32", Verdict.PARTIAL: "33", Verdict.FAIL: "31"}
"""SGR codes: green, yellow, red. UNPROBED stays plain."""


def use_colour(mode: str, stream: TextIO, environ: Mapping[str, str] | None = None) -> bool:
    """--color: 'always', 'never', or 'auto' (a terminal, and NO_COLOR unset or empty)."""
    if mode != "auto":
        return mode == "always"
    environ = os.environ if environ is None else environ
    return stream.isatty() and not environ.get("NO_COLOR")


def render(
    set_reports: list[SetReport], out: TextIO, *, colour: bool = False, storm: Storm | None = None
) -> None:
    id_width = max([len("SET"), *(len(r.set_id) for r in set_reports)])
    name_width = min(48, max([len("NAME"), *(len(r.name) for r in set_reports)]))
    indent = " " * (id_width + 4)
    header = f"{'SET':<{id_width}}  {'NAME':<{name_width}}  {'REQUIRED':<8}  {'VERDICT':<8}  {'UP':>7}"
    out.write(header + "\n")
    for report in set_reports:
        name = report.name if len(report.name) <= name_width else report.name[: name_width - 1] + "~"
        required = "yes" if report.required else "no"
        counts = f"{report.up}/{report.total}"
        verdict = _paint(report.verdict, colour) + " " * (8 - len(report.verdict))
        columns = f"{report.set_id:<{id_width}}  {name:<{name_width}}  {required:<8}  {verdict}"
        out.write(f"{columns}  {counts:>7}\n")
        for line in _failure_lines(report.failures, storm):
            out.write(f"{indent}- {line}\n")
        if report.failures:
            out.write(f"{indent}impact: {report.impact}\n")
        for result in report.address_problems:
            out.write(f"{indent}! {address_problem_line(result)}\n")
        if report.unprobed:
            wildcards = ", ".join(report.unprobed)
            out.write(f"{indent}? DNS-level check only (no representative host): {wildcards}\n")
    if storm is not None:
        out.write(f"\nmost targets fail the same way: {storm.line()}\n")
    failed = failing(set_reports)
    required_failing = [r.set_id for r in failed if r.required]
    out.write(
        f"\n{len(set_reports)} sets, {len(failed)} with failures"
        + (f"; required sets failing: {', '.join(required_failing)}\n" if required_failing else "\n")
    )


def _failure_lines(failures: list[TargetResult], storm: Storm | None) -> list[str]:
    """One line per failing target; under a storm, its reason's targets on one line (no detail)."""
    if storm is None:
        return [failure_line(result) for result in failures]
    stormed = [r for r in failures if r.outcome.reason == storm.reason]
    lines = [failure_line(r) for r in failures if r.outcome.reason != storm.reason]
    if stormed:
        hosts = ", ".join(f"{r.target.host}:{r.target.port}/{r.target.protocol}" for r in stormed)
        lines.insert(0, f"{storm.reason} (as most targets, see below): {hosts}")
    return lines


def _paint(verdict: Verdict, colour: bool) -> str:
    code = COLOURS.get(verdict)
    return f"\x1b[{code}m{verdict}\x1b[0m" if colour and code else str(verdict)
