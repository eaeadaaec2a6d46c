"""`intune-exporter serve`: the probe loop, the reference watchers and the HTTP server, until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from exporter.commands.exit_codes import EXIT_FAILED, EXIT_OK
from exporter.commands.logs import setup_logging
from exporter.commands.references import added_hosts, build_trackers
from exporter.commands.reload import Reloader
from exporter.commands.shutdown import ShutdownDeadline
from exporter.config.file import DEFAULT_LISTEN, Config, LoadedConfig, load, split_listen
from exporter.errors import ConfigError
from exporter.metrics.drift import DriftCollector
from exporter.metrics.endpoints import ExporterCollector
from exporter.metrics.exposition import SeriesCap
from exporter.metrics.network_checks import NetworkChecksCollector
from exporter.metrics.reload import ReloadCollector
from exporter.plan.builder import build
from exporter.plan.probe_settings import probe_settings
from exporter.plan.targets import PlanHolder, TargetPlan
from exporter.reference.tracker import ReferenceTracker
from exporter.results.store import ResultStore
from exporter.scheduler.cycle import run_forever
from exporter.web.app import MetricsServer, make_app
from exporter.web.basic_auth import BasicAuth, require_basic_auth
from exporter.web.status import StatusSource
from exporter.web.web_config import WebConfig, load_web_config

log = logging.getLogger("exporter")


class _Probing:
    """What the probe loop runs on, replaced whole by a configuration reload."""

    def __init__(self, loaded: LoadedConfig, trackers: list[ReferenceTracker]) -> None:
        self.trackers = trackers
        self.plans = PlanHolder(TargetPlan(sets=[]))
        self.on_apply: list[Callable[[LoadedConfig], None]] = []
        """Told each configuration put in force after the first (e.g. the collector of the edition info)."""
        self.apply(loaded)

    def apply(self, loaded: LoadedConfig) -> None:
        """Raises ConfigError, changing nothing, when `loaded` cannot run."""
        settings = probe_settings(loaded)
        self.loaded, self.settings = loaded, settings
        self.replan()
        for listener in self.on_apply:
            listener(loaded)

    def replan(self) -> None:
        extras = added_hosts(self.trackers) if self.loaded.config.drift.probe_added else []
        self.plans.replace(build(self.loaded, self.settings, extras))


def add_serve_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", help=f"address to serve on (default from config, else {DEFAULT_LISTEN})")


def run(args: argparse.Namespace) -> int:
    """The `serve` command's handler."""
    loaded = load(args.config)
    if args.listen is not None:
        check_listen_flag(args.listen)
    web = load_web_config(args.web_config_file)
    setup_logging(loaded.config.log_level)
    return serve(loaded, args.listen or loaded.config.listen, args.config, web)


def check_listen_flag(listen: str) -> None:
    """Raises ConfigError naming `--listen` when `listen` is no host:port."""
    try:
        split_listen(listen)
    except ValueError as exc:
        raise ConfigError("--listen", "", listen, str(exc)) from None


def serve(loaded: LoadedConfig, listen: str, path: Path | None = None, web: WebConfig | None = None) -> int:
    """Returns the exit code. `path`, the configuration file, is reloaded on SIGHUP or POST /-/reload;
    `web` (the web configuration file) adds TLS and basic auth."""
    web = web or WebConfig()
    config = loaded.config
    trackers: list[ReferenceTracker] = []
    probing = _Probing(loaded, trackers)
    plans = probing.plans
    reloader = Reloader(path, loaded, probing.apply)
    store = ResultStore()
    registry = CollectorRegistry()
    host, port = split_listen(listen)
    try:
        status = StatusSource(plans, store, lambda: probing.loaded.source)
        app = make_app(
            registry,
            store,
            status,
            reload=reloader.reload,
            series_cap=SeriesCap(lambda: probing.loaded.config.max_series),
        )
        if web.users:
            app = require_basic_auth(app, BasicAuth(web.users))
        server = MetricsServer(host, port, app, tls=web.tls)
    except OSError as exc:
        print(f"intune-exporter: cannot listen on {listen}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    trackers.extend(build_trackers(loaded))
    for tracker in trackers:
        tracker.restore()
    probing.replan()
    for tracker in trackers:
        tracker.on_change = probing.replan

    collector = ExporterCollector(plans, loaded.catalogue, store)
    probing.on_apply.append(lambda applied: collector.set_catalogue(applied.catalogue))
    registry.register(collector)
    registry.register(NetworkChecksCollector(plans, store))
    registry.register(DriftCollector(trackers))
    registry.register(ReloadCollector(reloader.status))
    ProcessCollector(registry=registry)
    server.start()
    plan = plans.current
    log.info(
        "serving on %s:%d (%s; %s): %d sets, %d targets, interval %.0fs; reference sources: %s",
        host,
        server.port,
        loaded.source,
        web.describe(),
        len(plan.sets),
        len(plan.targets),
        config.interval,
        ", ".join(t.source.name for t in trackers) or "none",
    )
    for set_id, wildcards in plan.unprobed_wildcards.items():
        if wildcards:
            log.info("set %s: wildcards without a representative host, not probed: %s", set_id, wildcards)
    deadline = ShutdownDeadline()
    try:
        anyio.run(_run_until_signal, config, probing, store, trackers, reloader, deadline)
    finally:
        server.stop()
    deadline.cancel()
    log.info("stopped")
    return EXIT_OK


async def _run_until_signal(
    config: Config,
    probing: _Probing,
    store: ResultStore,
    trackers: list[ReferenceTracker],
    reloader: Reloader,
    deadline: ShutdownDeadline,
) -> None:
    async with anyio.create_task_group() as group:
        group.start_soon(
            lambda: run_forever(
                probing.plans,
                lambda: probing.settings,
                store,
                concurrency=config.concurrency,
                interval=config.interval,
                jitter=config.jitter,
            )
        )
        for tracker in trackers:
            group.start_soon(tracker.run)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
            async for received in signals:
                if received == signal.SIGHUP:
                    reloader.reload()
                    continue
                log.info("received %s, shutting down", signal.Signals(received).name)
                deadline.start()
                group.cancel_scope.cancel()
                break
