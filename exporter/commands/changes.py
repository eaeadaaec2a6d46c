"""`intune-exporter catalogue changes`: the web service's change log since a version (by default, the
version of the saved snapshot)."""

from __future__ import annotations

import argparse
import re
import sys

import anyio

from exporter.commands.exit_codes import EXIT_FAILED, EXIT_OK
from exporter.commands.logs import setup_logging
from exporter.config.file import load
from exporter.errors import NO_VALUE, ConfigError
from exporter.reference.snapshot import SnapshotStore, load_or_create_client_id
from exporter.reference.sources import WebServiceSource
from exporter.reference.types import ReferenceFetchError
from exporter.reference.webservice import format_changes


def add_changes_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", metavar="VERSION", help="e.g. 2025110100 (default: the version of the saved snapshot)"
    )


def run(args: argparse.Namespace) -> int:
    """The `catalogue changes` command's handler."""
    loaded = load(args.config)
    setup_logging("error")
    settings = loaded.config.drift.web_service
    since: str | None = args.since
    if since is None:
        saved = SnapshotStore(loaded.config.state_dir).load(settings.source_name)
        if saved is None or saved.version is None:
            raise ConfigError(
                "--since", "", NO_VALUE, "no saved snapshot to start from; give --since VERSION"
            )
        since = saved.version
    if not re.fullmatch(r"[0-9]{10}", since):
        raise ConfigError("--since", "", since, "a version is 10 digits, e.g. 2025110100")
    service = WebServiceSource(
        settings, load_or_create_client_id(loaded.config.state_dir), loaded.config.drift.max_response_bytes
    ).service
    try:
        records = anyio.run(service.changes, since)
    except ReferenceFetchError as exc:
        print(f"intune-exporter: {settings.base_url}: cannot read the change log: {exc}", file=sys.stderr)
        return EXIT_FAILED
    lines = format_changes(records)
    print(f"{settings.source_name}: change log since {since}")
    for line in lines:
        print(f"  {line}")
    return EXIT_OK
