"""`catalogue diff`: fetch each reference once and report its drift from the catalogue, for people and
pipelines (exit 3 when a reference adds endpoints the catalogue lacks)."""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import anyio

from exporter.commands.exit_codes import EXIT_ADDED_DRIFT, EXIT_FAILED, EXIT_OK
from exporter.commands.logs import setup_logging
from exporter.commands.references import build_trackers
from exporter.config.drift import ReferenceListSettings
from exporter.config.file import LoadedConfig, load
from exporter.errors import ConfigError
from exporter.reference.drift import Direction, DriftEntry, has_added
from exporter.reference.snapshot import SnapshotStore
from exporter.reference.sources import ListSource
from exporter.reference.tracker import ReferenceStatus, ReferenceTracker

_SYMBOL = {Direction.ADDED: "+", Direction.REMOVED: "-", Direction.CHANGED: "~"}


def add_diff_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reference",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a list in the web service's JSON shape to compare with instead (repeatable)",
    )
    parser.add_argument("--format", choices=["text", "json"], default="text")


def run(args: argparse.Namespace) -> int:
    """The `catalogue diff` command's handler."""
    loaded = load(args.config)
    setup_logging("error")
    references: list[Path] = args.reference
    for index, path in enumerate(references):
        if not path.is_file():
            raise ConfigError("--reference", f"#{index + 1}", str(path), "file not found")
    reports = anyio.run(collect_reports, loaded, references)
    if args.format == "json":
        sys.stdout.write(render_json(reports))
    else:
        render_text(reports, sys.stdout)
    return exit_code(reports)


@dataclass(frozen=True)
class SourceReport:
    status: ReferenceStatus
    fresh: bool
    """The list was fetched now (False: a saved snapshot stood in for a failed fetch)."""

    @property
    def usable(self) -> bool:
        return self.status.snapshot is not None


async def collect_reports(loaded: LoadedConfig, reference_files: Sequence[Path]) -> list[SourceReport]:
    """Check every source once: the configured ones, or only `reference_files` when given."""
    if reference_files:
        drift = loaded.config.drift
        trackers = [
            ReferenceTracker(
                ListSource(
                    ReferenceListSettings(name=_file_source_name(path), file=path), drift.max_response_bytes
                ),
                SnapshotStore(None),
                loaded.catalogue,
                drift.limits(),
            )
            for path in reference_files
        ]
    else:
        trackers = build_trackers(loaded)
    reports = []
    for tracker in trackers:
        tracker.restore()
        await tracker.refresh()
        status = tracker.status
        reports.append(SourceReport(status, fresh=not status.failures))
    return reports


def _file_source_name(path: Path) -> str:
    return "file-" + (re.sub(r"[^a-z0-9_-]+", "-", path.stem.lower()).strip("-") or "reference")[:50]


def exit_code(reports: Sequence[SourceReport]) -> int:
    """3 when a reference adds endpoints, else 1 when a source gave no list, else 0."""
    if any(has_added(report.status.drift) for report in reports):
        return EXIT_ADDED_DRIFT
    if any(not report.usable for report in reports):
        return EXIT_FAILED
    return EXIT_OK


def render_text(reports: Sequence[SourceReport], out: TextIO) -> None:
    if not reports:
        out.write(
            "no reference sources configured (drift.web_service / drift.references) and no --reference\n"
        )
    for report in reports:
        status = report.status
        out.write(f"{status.source}: {_describe(report)}\n")
        if status.snapshot is None:
            continue
        current = None
        for entry in status.drift:
            if entry.set_id != current:
                current = entry.set_id
                out.write(f"  set {current}\n")
            out.write(f"    {_SYMBOL[entry.direction]} {entry.kind.value} {entry.value}\n")
        counts = Counter(entry.direction for entry in status.drift)
        summary = ", ".join(f"{counts[d]} {d.value}" for d in Direction)
        out.write(
            f"  {summary}"
            + (f"; {status.invalid_entries} invalid entries ignored" if status.invalid_entries else "")
            + "\n"
        )


def _describe(report: SourceReport) -> str:
    status = report.status
    if status.snapshot is None:
        return f"no list: {status.last_error}"
    fetched = datetime.datetime.fromtimestamp(status.snapshot.fetched_at, datetime.UTC).strftime(
        "%Y-%m-%d %H:%M UTC"
    )
    text = f"version {status.snapshot.version} (fetched {fetched})"
    if not report.fresh:
        text += f"; fetching now failed ({status.last_error}), so this is the saved snapshot"
    return text


def render_json(reports: Sequence[SourceReport]) -> str:
    document = {
        "sources": [
            {
                "source": report.status.source,
                "instance": report.status.instance,
                "version": report.status.snapshot.version if report.status.snapshot else None,
                "fetchedAt": report.status.snapshot.fetched_at if report.status.snapshot else None,
                "fresh": report.fresh,
                "error": report.status.last_error or None,
                "invalidEntries": report.status.invalid_entries,
                "drift": [_entry(entry) for entry in report.status.drift],
            }
            for report in reports
        ]
    }
    return json.dumps(document, indent=2) + "\n"


def _entry(entry: DriftEntry) -> dict[str, str]:
    return {
        "setId": entry.set_id,
        "kind": entry.kind.value,
        "direction": entry.direction.value,
        "value": entry.value,
    }
