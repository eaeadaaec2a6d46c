"""`catalogue diff`: fetch each reference once and report its drift from the catalogue, for people and
pipelines (exit 3 when a reference adds endpoints the catalogue lacks). `--page FILE|URL` compares one
edition of Microsoft's Intune endpoint page instead, and reports where the page disagrees with itself."""

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

from exporter.catalogue.page.model import PageError
from exporter.commands.exit_codes import EXIT_ADDED_DRIFT, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from exporter.commands.logs import setup_logging
from exporter.commands.references import build_trackers, page_problem, read_page_argument
from exporter.config.drift import ReferenceListSettings
from exporter.config.file import LoadedConfig, load
from exporter.errors import NO_VALUE, ConfigError
from exporter.reference.drift import Direction, DriftEntry, has_added
from exporter.reference.page_edition import edition_info
from exporter.reference.page_source import Inconsistencies, PageDiff, compare_page
from exporter.reference.snapshot import SnapshotStore
from exporter.reference.sources import ListSource
from exporter.reference.tracker import ReferenceStatus, ReferenceTracker

EXIT_CODES = f"""exit codes:
  {EXIT_OK:<4} no reference adds endpoints the catalogue lacks
  {EXIT_FAILED:<4} a reference could not be fetched or read, and none that could adds endpoints
  {EXIT_USAGE:<4} usage or configuration error
  {EXIT_ADDED_DRIFT:<4} a reference adds endpoints the catalogue lacks (a firewall built from the catalogue
       would block them)"""
"""The epilog of `catalogue diff --help`."""

_SYMBOL = {Direction.ADDED: "+", Direction.REMOVED: "-", Direction.CHANGED: "~", Direction.COVERED: "="}


def add_diff_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reference",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a list in the web service's JSON shape to compare with instead (repeatable)",
    )
    parser.add_argument(
        "--page",
        metavar="FILE|URL",
        help="an edition of Microsoft's Intune endpoint page (HTML, markdown or copied text) to compare with "
        "instead; also reports where its consolidated list and its tables disagree",
    )
    parser.add_argument("--format", choices=["text", "json"], default="text")


def run(args: argparse.Namespace) -> int:
    """The `catalogue diff` command's handler."""
    loaded = load(args.config)
    setup_logging("error")
    references: list[Path] = args.reference
    if args.page is not None:
        if references:
            raise ConfigError("--page", "", NO_VALUE, "cannot be combined with --reference")
        return run_page(loaded, args.page, args.format)
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
        out.write(f"  {_summary(status.drift, status.invalid_entries)}\n")


def _summary(drift: Sequence[DriftEntry], invalid_entries: int) -> str:
    """'5 added, 1 removed, 1 changed' (', 2 covered' when there are), then the invalid entries ignored."""
    counts = Counter(entry.direction for entry in drift)
    shown = [d for d in Direction if d is not Direction.COVERED or counts[d]]
    summary = ", ".join(f"{counts[d]} {d.value}" for d in shown)
    return summary + (f"; {invalid_entries} invalid entries ignored" if invalid_entries else "")


def _describe(report: SourceReport) -> str:
    status = report.status
    if status.snapshot is None:
        return f"no list: {status.last_error}"
    fetched = datetime.datetime.fromtimestamp(status.snapshot.fetched_at, datetime.UTC).strftime(
        "%Y-%m-%d %H:%M UTC"
    )
    text = f"version {status.snapshot.version} (fetched {fetched})"
    page = edition_info(status.snapshot)
    if page is not None:
        text = f"page dated {page.date or '(no date)'}, {page.locale or 'no locale'}, " + text
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


# ------------------------------------------------------------------------------------------ --page


def run_page(loaded: LoadedConfig, location: str, output: str) -> int:
    parsed = read_page_argument(loaded, location)
    try:
        diff = compare_page(loaded.catalogue, parsed, loaded.config.drift.limits())
    except PageError as exc:
        raise ConfigError(location, "", NO_VALUE, page_problem(location, exc)) from None
    if output == "json":
        sys.stdout.write(render_page_json(diff))
    else:
        render_page_text(diff, sys.stdout)
    return EXIT_ADDED_DRIFT if has_added(diff.drift) else EXIT_OK


def render_page_text(diff: PageDiff, out: TextIO) -> None:
    edition = diff.parsed.edition
    out.write(
        f'page {edition.source}: "{edition.title}", dated '
        f"{edition.date or '(no date)'}, "
        f"{edition.locale or 'no locale'}, read as {edition.form.value}\n"
    )
    current = None
    for entry in diff.drift:
        if entry.set_id != current:
            current = entry.set_id
            out.write(f"  set {current}\n")
        line = f"    {_SYMBOL[entry.direction]} {entry.kind.value} {entry.value}"
        if entry.value in diff.covered_by and entry.direction is Direction.COVERED:
            wildcard, set_id = diff.covered_by[entry.value]
            line += f" (covered by {wildcard} in set {set_id})"
        out.write(line + "\n")
    out.write(f"  {_summary(diff.drift, len(diff.invalid))}\n")
    _render_inconsistencies(diff.inconsistencies, out)
    for warning in diff.parsed.warnings:
        out.write(f"page warning: {warning}\n")


def _render_inconsistencies(found: Inconsistencies, out: TextIO) -> None:
    if not found.consolidated_list:
        out.write("page inconsistencies: none checked, this edition has no consolidated endpoint list\n")
        return
    if not found:
        out.write("page inconsistencies: none, the consolidated list and the tables agree\n")
        return
    out.write("page inconsistencies (consolidated list vs tables):\n")
    for host in found.fqdns_only_in_list:
        out.write(f"  fqdn in the consolidated list only: {host}\n")
    for host, set_id in found.fqdns_only_in_tables:
        out.write(f"  fqdn in the tables only: {host} (set {set_id})\n")
    for subnet in found.subnets_only_in_list:
        out.write(f"  subnet in the consolidated list only: {subnet}\n")
    for subnet, set_id in found.subnets_only_in_tables:
        out.write(f"  subnet in the tables only: {subnet} (set {set_id})\n")


def render_page_json(diff: PageDiff) -> str:
    edition = diff.parsed.edition
    found = diff.inconsistencies
    drift = []
    for entry in diff.drift:
        item = _entry(entry)
        if entry.direction is Direction.COVERED and entry.value in diff.covered_by:
            item["coveredBy"], item["coveredBySet"] = diff.covered_by[entry.value]
        drift.append(item)
    document = {
        "page": {
            "source": edition.source,
            "title": edition.title,
            "date": edition.date,
            "locale": edition.locale,
            "form": edition.form.value,
        },
        "drift": drift,
        "invalidEntries": len(diff.invalid),
        "inconsistencies": {
            "consolidatedList": found.consolidated_list,
            "fqdnsOnlyInConsolidatedList": list(found.fqdns_only_in_list),
            "fqdnsOnlyInTables": [{"value": h, "setId": s} for h, s in found.fqdns_only_in_tables],
            "subnetsOnlyInConsolidatedList": list(found.subnets_only_in_list),
            "subnetsOnlyInTables": [{"value": n, "setId": s} for n, s in found.subnets_only_in_tables],
        },
        "warnings": list(diff.parsed.warnings),
    }
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
