"""Command line: serve, check, config check, catalogue export."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import anyio
from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from exporter import __version__
from exporter.catalogue.export import to_csv, to_json
from exporter.check import failed_required, render, reports
from exporter.collector import ExporterCollector
from exporter.config import DEFAULT_LISTEN, Config, LoadedConfig, load, split_listen
from exporter.engine import run_cycle, run_forever
from exporter.errors import ConfigError
from exporter.probes.settings import ProbeSettings
from exporter.results import ResultStore
from exporter.runtime import probe_settings
from exporter.server import MetricsServer, make_app
from exporter.targets import TargetPlan, build_plan

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

    check = commands.add_parser(
        "check", help="probe once, print a verdict per endpoint set, exit 1 on failures"
    )
    _config_flag(check)

    config = commands.add_parser("config", help="configuration commands")
    config_commands = config.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    _config_flag(config_commands.add_parser("check", help="validate the configuration without probing"))

    catalogue = commands.add_parser("catalogue", help="catalogue commands")
    catalogue_commands = catalogue.add_subparsers(
        dest="catalogue_command", metavar="SUBCOMMAND", required=True
    )
    export = catalogue_commands.add_parser(
        "export", help="print the catalogue (as the configuration selects it)"
    )
    _config_flag(export)
    export.add_argument("--format", choices=["json", "csv"], default="json")
    return parser


def _config_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="YAML configuration (default: built-in defaults)"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        loaded = load(args.config)
        if args.command == "serve":
            if args.listen is not None:
                _check_listen_flag(args.listen)
            return _serve(loaded, args.listen or loaded.config.listen)
        if args.command == "check":
            return _check(loaded)
        if args.command == "config":
            plan = build_plan(loaded.config, loaded.catalogue)
            print(f"{loaded.source}: OK, {len(plan.sets)} sets, {len(plan.targets)} targets")
            return EXIT_OK
        return _export(loaded, args.format)
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


def _export(loaded: LoadedConfig, fmt: str) -> int:
    sys.stdout.write(to_json(loaded.catalogue) if fmt == "json" else to_csv(loaded.catalogue))
    return EXIT_OK


def _check(loaded: LoadedConfig) -> int:
    _setup_logging("warning")
    plan = build_plan(loaded.config, loaded.catalogue)
    store = ResultStore()
    settings = probe_settings(loaded)
    duration = anyio.run(run_cycle, plan, settings, store, loaded.config.concurrency)
    results, _ = store.snapshot()
    set_reports = reports(plan, results)
    render(set_reports, sys.stdout)
    print(f"{len(plan.targets)} targets probed in {duration:.1f}s")
    return EXIT_FAILED if failed_required(set_reports) else EXIT_OK


def _summary(plan: TargetPlan, store: ResultStore) -> str:
    results, stats = store.snapshot()
    failing = sum(1 for r in results.values() if not r.outcome.ok)
    return (
        f"Probing {len(plan.targets)} targets in {len(plan.sets)} endpoint sets; "
        f"{stats.completed} cycles completed; {failing} targets failing in the latest results."
    )


def _serve(loaded: LoadedConfig, listen: str) -> int:
    config = loaded.config
    _setup_logging(config.log_level)
    plan = build_plan(config, loaded.catalogue)
    settings = probe_settings(loaded)
    store = ResultStore()
    registry = CollectorRegistry()
    registry.register(ExporterCollector(plan, loaded.catalogue, store))
    ProcessCollector(registry=registry)
    host, port = split_listen(listen)
    try:
        server = MetricsServer(host, port, make_app(registry, store, lambda: _summary(plan, store)))
    except OSError as exc:
        print(f"intune-exporter: cannot listen on {listen}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    server.start()
    log.info(
        "serving on %s:%d (%s): %d sets, %d targets, interval %.0fs",
        host,
        server.port,
        loaded.source,
        len(plan.sets),
        len(plan.targets),
        config.interval,
    )
    for set_id, wildcards in plan.unprobed_wildcards.items():
        if wildcards:
            log.info("set %s: wildcards without a representative host, not probed: %s", set_id, wildcards)
    try:
        anyio.run(_run_until_signal, config, plan, settings, store)
    finally:
        server.stop()
    log.info("stopped")
    return EXIT_OK


async def _run_until_signal(
    config: Config, plan: TargetPlan, settings: ProbeSettings, store: ResultStore
) -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(
            lambda: run_forever(
                plan,
                settings,
                store,
                concurrency=config.concurrency,
                interval=config.interval,
                jitter=config.jitter,
            )
        )
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for received in signals:
                log.info("received %s, shutting down", signal.Signals(received).name)
                group.cancel_scope.cancel()
                break
