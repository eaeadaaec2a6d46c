"""Command line: serve, check, config check, catalogue export."""

from __future__ import annotations

import argparse
import logging
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio

from exporter import __version__
from exporter.commands import lab as lab_command
from exporter.commands.check import EXIT_CODES, CheckOptions, add_check_flags, run_check
from exporter.commands.diff import collect_reports, exit_code, render_json, render_text
from exporter.commands.export import ExportOptions, add_export_flags, export
from exporter.commands.monitoring import write
from exporter.commands.serve import serve
from exporter.config.file import DEFAULT_LISTEN, LoadedConfig, load, split_listen
from exporter.errors import NO_VALUE, ConfigError
from exporter.monitoring.thresholds import MonitoringSettings
from exporter.plan.builder import probe_settings, routed_plan
from exporter.reference.snapshot import SnapshotStore, load_or_create_client_id
from exporter.reference.sources import WebServiceSource
from exporter.reference.types import ReferenceFetchError
from exporter.reference.webservice import format_changes
from exporter.web.web_config import load_web_config

log = logging.getLogger("exporter")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intune-exporter",
        description="Probe the endpoints Microsoft Intune devices need; export the results to Prometheus.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve = commands.add_parser("serve", help="probe continuously and serve /metrics")
    _config_flag(serve)
    serve.add_argument("--listen", help=f"address to serve on (default from config, else {DEFAULT_LISTEN})")
    _web_config_flag(serve)

    check = commands.add_parser(
        "check",
        help="probe once, print a verdict per endpoint set, exit 1 on failures",
        epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _config_flag(check)
    add_check_flags(check)

    config = commands.add_parser("config", help="configuration commands")
    config_commands = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    config_check = config_commands.add_parser("check", help="validate the configuration without probing")
    _config_flag(config_check)
    _web_config_flag(config_check)

    catalogue = commands.add_parser("catalogue", help="catalogue commands")
    catalogue_commands = catalogue.add_subparsers(
        dest="catalogue_command", metavar="SUBCOMMAND", required=True
    )
    export = catalogue_commands.add_parser(
        "export", help="print the catalogue (as the configuration selects it)"
    )
    _config_flag(export)
    add_export_flags(export)
    diff = catalogue_commands.add_parser(
        "diff",
        help="compare the catalogue with the configured reference lists; exit 3 if they add endpoints",
    )
    _config_flag(diff)
    diff.add_argument(
        "--reference",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a list in the web service's JSON shape to compare with instead (repeatable)",
    )
    diff.add_argument("--format", choices=["text", "json"], default="text")
    changes = catalogue_commands.add_parser(
        "changes", help="print the web service's change log since a version"
    )
    _config_flag(changes)
    changes.add_argument(
        "--since", metavar="VERSION", help="e.g. 2025110100 (default: the version of the saved snapshot)"
    )
    monitoring = commands.add_parser("monitoring", help="alerting rules and Grafana dashboards")
    monitoring_commands = monitoring.add_subparsers(
        dest="monitoring_command", metavar="SUBCOMMAND", required=True
    )
    generate = monitoring_commands.add_parser(
        "generate",
        help="write the alert rules and dashboards (and the Helm chart's copies) for other selectors",
    )
    generate.add_argument(
        "--out", type=Path, default=Path("."), metavar="DIR", help="default: current directory"
    )
    generate.add_argument(
        "--selector",
        default=MonitoringSettings().selector,
        help="PromQL label matchers selecting the exporter's series (default: %(default)s)",
    )
    lab_command.add_parser(commands)
    return parser


def _config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="YAML configuration (default: built-in defaults)"
    )


def _web_config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--web-config-file",
        "--web.config.file",
        dest="web_config_file",
        type=Path,
        metavar="FILE",
        help="TLS and basic auth for the HTTP endpoint (exporter-toolkit format; see docs/security.md)",
    )


def main(argv: Sequence[str] | None = None) -> int:  # noqa: C901 -- a flat dispatch: one branch per command
    args = build_parser().parse_args(argv)
    if args.command == "monitoring":
        for path in write(args.out, MonitoringSettings(selector=args.selector)):
            print(path)
        return EXIT_OK
    try:
        if args.command == "lab":
            return lab_command.run(args)
        loaded = load(args.config)
        if args.command == "serve":
            if args.listen is not None:
                _check_listen_flag(args.listen)
            web = load_web_config(args.web_config_file)
            _setup_logging(loaded.config.log_level)
            return serve(loaded, args.listen or loaded.config.listen, args.config, web)
        if args.command == "check":
            _setup_logging("error")  # failures are in the summary; warnings would break the progress line
            return run_check(loaded, CheckOptions(args.format, args.color, args.set, args.section))
        if args.command == "config":
            plan = routed_plan(loaded, probe_settings(loaded))
            print(f"{loaded.source}: OK, {len(plan.sets)} sets, {len(plan.targets)} targets")
            if args.web_config_file is not None:
                web = load_web_config(args.web_config_file)
                print(f"{web.source}: OK, {web.describe()}")
            return EXIT_OK
        if args.catalogue_command == "diff":
            return _diff(loaded, args.reference, args.format)
        if args.catalogue_command == "changes":
            return _changes(loaded, args.since)
        sys.stdout.write(
            export(
                loaded,
                ExportOptions(args.format, args.set, args.section, args.all, args.proxy, args.pac_default),
            )
        )
        return EXIT_OK
    except ConfigError as exc:
        print(f"intune-exporter: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _check_listen_flag(listen: str) -> None:
    try:
        split_listen(listen)
    except ValueError as exc:
        raise ConfigError("--listen", "", listen, str(exc)) from None


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )


def _diff(loaded: LoadedConfig, references: list[Path], fmt: str) -> int:
    _setup_logging("error")
    for index, path in enumerate(references):
        if not path.is_file():
            raise ConfigError("--reference", f"#{index + 1}", str(path), "file not found")
    reports = anyio.run(collect_reports, loaded, references)
    if fmt == "json":
        sys.stdout.write(render_json(reports))
    else:
        render_text(reports, sys.stdout)
    return exit_code(reports)


def _changes(loaded: LoadedConfig, since: str | None) -> int:
    _setup_logging("error")
    settings = loaded.config.drift.web_service
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
