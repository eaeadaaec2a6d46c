"""Command line: the parser, and the errors every command reports the same way.

Each command's handler, `(args) -> int`, lives with the command in `exporter.commands` and is attached to
its sub-command with `set_defaults(func=...)`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from exporter import __version__
from exporter.commands import (
    catalogue_import,
    changes,
    check,
    config_check,
    diff,
    export,
    lab,
    monitoring,
    probe,
    serve,
)
from exporter.commands.exit_codes import EXIT_INTERRUPTED, EXIT_USAGE
from exporter.errors import ConfigError

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intune-exporter",
        description="Probe the endpoints Microsoft Intune devices need; export the results to Prometheus.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    serve_parser = commands.add_parser("serve", help="probe continuously and serve /metrics")
    serve_parser.set_defaults(func=serve.run)
    _config_flag(serve_parser)
    serve.add_serve_flags(serve_parser)
    _web_config_flag(serve_parser)

    check_parser = commands.add_parser(
        "check",
        help="probe once, print a verdict per endpoint set, exit 1 on failures",
        epilog=check.EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    check_parser.set_defaults(func=check.run)
    _config_flag(check_parser)
    check.add_check_flags(check_parser)

    probe_parser = commands.add_parser(
        "probe",
        help="probe one target and print each phase as it happens (DNS, connect, TLS, HTTP, NTP)",
        epilog=probe.EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    probe_parser.set_defaults(func=probe.run)
    _config_flag(probe_parser)
    probe.add_probe_flags(probe_parser)

    config = commands.add_parser("config", help="configuration commands")
    config_commands = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    config_check_parser = config_commands.add_parser(
        "check", help="validate the configuration without probing"
    )
    config_check_parser.set_defaults(func=config_check.run)
    _config_flag(config_check_parser)
    _web_config_flag(config_check_parser)

    catalogue = commands.add_parser("catalogue", help="catalogue commands")
    catalogue_commands = catalogue.add_subparsers(
        dest="catalogue_command", metavar="SUBCOMMAND", required=True
    )
    export_parser = catalogue_commands.add_parser(
        "export", help="print the catalogue (as the configuration selects it)"
    )
    export_parser.set_defaults(func=export.run)
    _config_flag(export_parser)
    export.add_export_flags(export_parser)
    import_parser = catalogue_commands.add_parser(
        "import",
        help="read an edition of Microsoft's Intune endpoint page into a catalogue file (or JSON)",
    )
    import_parser.set_defaults(func=catalogue_import.run)
    _config_flag(import_parser)
    catalogue_import.add_import_flags(import_parser)
    diff_parser = catalogue_commands.add_parser(
        "diff",
        help="compare the catalogue with the configured reference lists (or --page); exit 3 if they add "
        "endpoints, 1 if one cannot be fetched",
        epilog=diff.EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    diff_parser.set_defaults(func=diff.run)
    _config_flag(diff_parser)
    diff.add_diff_flags(diff_parser)
    changes_parser = catalogue_commands.add_parser(
        "changes", help="print the web service's change log since a version"
    )
    changes_parser.set_defaults(func=changes.run)
    _config_flag(changes_parser)
    changes.add_changes_flags(changes_parser)

    monitoring_parser = commands.add_parser("monitoring", help="alerting rules and Grafana dashboards")
    monitoring_commands = monitoring_parser.add_subparsers(
        dest="monitoring_command", metavar="SUBCOMMAND", required=True
    )
    generate_parser = monitoring_commands.add_parser(
        "generate",
        help="write the alert rules and dashboards (and the Helm chart's copies) for other selectors",
    )
    generate_parser.set_defaults(func=monitoring.run)
    monitoring.add_generate_flags(generate_parser)

    lab_parser = commands.add_parser(
        "lab", help="run a simulated Intune network on loopback and an exporter probing it (a demo)"
    )
    lab_parser.set_defaults(func=lab.run)
    lab.add_lab_flags(lab_parser)
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


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.func
    try:
        return handler(args)
    except ConfigError as exc:
        print(f"intune-exporter: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
