"""`intune-exporter catalogue import --page FILE|URL`: an edition of Microsoft's Intune endpoint page as a
catalogue file (yaml, for `catalogue_files`) or in the web service's JSON shape (json, like `catalogue export
--format json --all`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from exporter.catalogue.export import to_json
from exporter.catalogue.model import Catalogue
from exporter.catalogue.page.model import PageError, ParsedPage
from exporter.commands.exit_codes import EXIT_OK
from exporter.commands.logs import setup_logging
from exporter.commands.references import page_problem, read_page_argument
from exporter.config.file import load
from exporter.errors import NO_VALUE, ConfigError
from exporter.reference.page_source import page_catalogue

FORMATS = ("yaml", "json")


def add_import_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--page",
        required=True,
        metavar="FILE|URL",
        help="the page: learn.microsoft.com HTML (any locale), its markdown source, or text copied from it",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="yaml",
        help="yaml: a catalogue file for catalogue_files (default); json: the web service's shape",
    )
    parser.add_argument("--out", type=Path, metavar="FILE", help="write here instead of standard output")


def run(args: argparse.Namespace) -> int:
    """The `catalogue import` command's handler."""
    loaded = load(args.config)
    setup_logging("error")
    location: str = args.page
    parsed = read_page_argument(loaded, location)
    try:
        catalogue = page_catalogue(parsed)
    except PageError as exc:
        raise ConfigError(location, "", NO_VALUE, page_problem(location, exc)) from None
    text = to_yaml(catalogue, parsed) if args.format == "yaml" else to_json(catalogue)
    out: Path | None = args.out
    if out is None:
        sys.stdout.write(text)
        return EXIT_OK
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError("--out", "", str(out), f"cannot write: {exc.strerror or exc}") from None
    return EXIT_OK


def to_yaml(catalogue: Catalogue, parsed: ParsedPage) -> str:
    """A catalogue file in our schema (defaults left out, the edition first) under a comment saying where it
    came from; `catalogue_files` loads it back to the same catalogue."""
    document = catalogue.model_dump(mode="json", exclude_defaults=True)
    edition = parsed.edition
    header = (
        f"# {edition.title}: imported by `intune-exporter catalogue import` from {edition.source}\n"
        f"# (page date {edition.date or 'not stated'}, locale {edition.locale or 'not stated'}, "
        f"read as {edition.form.value}).\n"
        "# List this file in catalogue_files: its sets replace the built-in sets with the same id.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=110)
