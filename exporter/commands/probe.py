"""`intune-exporter probe HOST[:PORT]`: one target probed phase by phase, each step printed as it happens."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TextIO

import anyio

from exporter.commands.exit_codes import EXIT_FAILED, EXIT_OK, EXIT_USAGE
from exporter.commands.logs import add_log_flags, setup_logging
from exporter.config.file import LoadedConfig, load
from exporter.plan.builder import build
from exporter.plan.probe_settings import probe_settings
from exporter.plan.targets import NetworkPath
from exporter.probes.prober import Protocol
from exporter.probes.trace import TraceEvent
from exporter.scheduler.single_probe import TargetChoiceError, choose, parse_host_port, probe_traced
from exporter.scheduler.trace_report import event_line, heading, json_document

PROTOCOLS = [str(p) for p in Protocol if p is not Protocol.DNS]
PATHS = {"direct": NetworkPath.DIRECT, "proxy": NetworkPath.PROXY}

EXIT_CODES = f"""exit codes:
  {EXIT_OK:<4} the probe passed
  {EXIT_FAILED:<4} the probe failed (the last line says why)
  {EXIT_USAGE:<4} usage or configuration error (bad HOST[:PORT], --via proxy without a proxy)"""
"""The epilog of `probe --help`."""


def add_probe_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="HOST[:PORT]", help="the host to probe; port 443 unless given")
    parser.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        help="default: the one the plan probes this host and port with, else by port "
        "(443 https, 80 http, 5223 tls, 123 ntp, others tcp)",
    )
    parser.add_argument(
        "--via",
        choices=sorted(PATHS),
        help="default: direct, unless the plan reaches this target only through the proxy",
    )
    parser.add_argument("--format", choices=["text", "json"], default="text", help="default: %(default)s")
    add_log_flags(parser, default_level="error")


def run(args: argparse.Namespace) -> int:
    """The `probe` command's handler."""
    loaded = load(args.config)
    setup_logging(args.log_level or "error", args.log_format or loaded.config.log_format)
    protocol = Protocol(args.protocol) if args.protocol else None
    path = PATHS[args.via] if args.via else None
    return run_probe(loaded, args.target, protocol, path, args.format)


def run_probe(
    loaded: LoadedConfig,
    target: str,
    protocol: Protocol | None = None,
    path: NetworkPath | None = None,
    output_format: str = "text",
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    settings = probe_settings(loaded)
    try:
        host, port = parse_host_port(target)
        choice = choose(build(loaded, settings), settings, host, port, protocol, path)
    except TargetChoiceError as exc:
        print(f"intune-exporter probe: {exc}", file=err)
        return EXIT_USAGE
    streaming = output_format == "text"
    if streaming:
        _write(out, heading(choice))

    def print_event(event: TraceEvent) -> None:
        _write(out, event_line(event))

    traced = anyio.run(probe_traced, choice, settings, print_event if streaming else None)
    if not streaming:
        out.write(json.dumps(json_document(traced), indent=1) + "\n")
    return EXIT_OK if traced.outcome.ok else EXIT_FAILED


def _write(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()
