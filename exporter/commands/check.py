"""`intune-exporter check`: one probe cycle with progress on stderr, then the summary on stdout."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

import anyio

from exporter.commands.check_json import render_json
from exporter.commands.check_text import render, use_colour
from exporter.commands.exit_codes import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from exporter.commands.logs import add_log_flags, setup_logging
from exporter.commands.progress import Progress
from exporter.config.file import LoadedConfig, load
from exporter.plan.builder import build
from exporter.plan.filters import add_filter_flags, narrowed
from exporter.plan.probe_settings import probe_settings
from exporter.plan.targets import TargetPlan
from exporter.probes.settings import ProbeSettings
from exporter.results.store import ResultStore
from exporter.results.verdicts import failed_required, reports
from exporter.scheduler.cycle import run_cycle

EXIT_CODES = f"""exit codes:
  {EXIT_OK:<4} every required set is fully reachable
  {EXIT_FAILED:<4} a required set has failures
  {EXIT_USAGE:<4} usage or configuration error
  {EXIT_INTERRUPTED:<4} interrupted (Ctrl-C)"""
"""The epilog of `check --help`."""


def run(args: argparse.Namespace) -> int:
    """The `check` command's handler."""
    loaded = load(args.config)
    # Failures are in the summary, and warnings would break the progress line: errors only unless asked.
    setup_logging(args.log_level or "error", args.log_format or loaded.config.log_format)
    return run_check(loaded, CheckOptions(args.format, args.color, args.set, args.section))


@dataclass(frozen=True)
class CheckOptions:
    format: str = "text"
    colour: str = "auto"
    set_ids: Sequence[str] = ()
    sections: Sequence[str] = ()


def run_check(
    loaded: LoadedConfig, options: CheckOptions, out: TextIO | None = None, err: TextIO | None = None
) -> int:
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    loaded = narrowed(loaded, options.set_ids, options.sections)
    settings = probe_settings(loaded)
    plan = build(loaded, settings)
    progress = Progress(len(plan.targets), err, live=err.isatty())
    store = ResultStore()
    store.listen(progress.result)
    try:
        duration = anyio.run(_cycle, plan, settings, store, loaded.config.concurrency, progress)
    finally:
        progress.clear()
    results, _ = store.snapshot()
    set_reports = reports(plan, results)
    code = EXIT_FAILED if failed_required(set_reports) else EXIT_OK
    if options.format == "json":
        out.write(render_json(set_reports, len(plan.targets), duration, code, store.storm))
    else:
        render(set_reports, out, colour=use_colour(options.colour, out), storm=store.storm)
        out.write(f"{len(plan.targets)} targets probed in {duration:.1f}s\n")
    return code


async def _cycle(
    plan: TargetPlan, settings: ProbeSettings, store: ResultStore, concurrency: int, progress: Progress
) -> float:
    async with anyio.create_task_group() as group:
        if progress.live:
            group.start_soon(progress.keep_drawing)
        duration = await run_cycle(plan, settings, store, concurrency)
        group.cancel_scope.cancel()
    return duration


def add_check_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=["text", "json"], default="text", help="default: %(default)s")
    parser.add_argument(
        "--color",
        choices=["auto", "always", "never"],
        default="auto",
        help="colour the verdicts (auto: when stdout is a terminal and NO_COLOR is unset)",
    )
    add_filter_flags(parser)
    add_log_flags(parser, default_level="error")
