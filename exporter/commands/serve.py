"""`intune-exporter serve`: the probe loop, the reference watchers and the HTTP server, until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from collections.abc import Callable
from http import HTTPStatus
from pathlib import Path

import anyio
from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from exporter.commands.exit_codes import EXIT_FAILED, EXIT_OK
from exporter.commands.logs import add_log_flags, setup_logging
from exporter.commands.references import added_hosts, build_trackers
from exporter.commands.reload import Reloader
from exporter.commands.shutdown import ShutdownDeadline
from exporter.commands.signals import HANDLED, HeldSignals
from exporter.commands.supervisor import Supervisor
from exporter.config.file import DEFAULT_LISTEN, Config, LoadedConfig, load, split_listen
from exporter.errors import ConfigError
from exporter.metrics.drift import DriftCollector
from exporter.metrics.endpoints import ExporterCollector
from exporter.metrics.exposition import SeriesCap
from exporter.metrics.network_checks import NetworkChecksCollector
from exporter.metrics.reload import ReloadCollector
from exporter.metrics.tasks import TaskRestartsCollector
from exporter.plan.builder import build
from exporter.plan.probe_settings import probe_settings
from exporter.plan.targets import PlanHolder, TargetPlan
from exporter.probes.settings import ProbeSettings
from exporter.reference.state_cleanup import remove_stale_temporaries
from exporter.reference.tracker import ReferenceTracker
from exporter.results.store import ResultStore
from exporter.scheduler.cycle import run_forever
from exporter.web.app import MetricsServer, make_app
from exporter.web.basic_auth import BasicAuth, require_basic_auth
from exporter.web.debug_probe import DebugProbes
from exporter.web.status import StatusSource
from exporter.web.web_config import WebConfig, load_web_config

log = logging.getLogger("exporter")

PROBE_LOOP_TASK = "probe_loop"
RELOAD_TASK = "reload"
RELOAD_FALLBACK = (
    HTTPStatus.INTERNAL_SERVER_ERROR,
    "the reload failed unexpectedly (see the log); the running configuration is kept",
)


def reference_task(tracker: ReferenceTracker) -> str:
    """The `task` label of a reference tracker's loop."""
    return f"reference:{tracker.source.name}"


class _Probing:
    """What the probe loop runs on, replaced whole by a configuration reload."""

    def __init__(self, loaded: LoadedConfig, trackers: list[ReferenceTracker]) -> None:
        self.trackers = trackers
        self.plans = PlanHolder(TargetPlan(sets=[]))
        self.on_apply: list[Callable[[LoadedConfig], None]] = []
        """Told each configuration put in force after the first (e.g. the collector of the edition info)."""
        self.apply(loaded)

    def apply(self, loaded: LoadedConfig) -> None:
        """Raises ConfigError when `loaded` cannot run; nothing changes when it (or anything) raises."""
        settings = probe_settings(loaded)
        plan = self._plan(loaded, settings)
        self.loaded, self.settings = loaded, settings
        self.plans.replace(plan)
        for listener in self.on_apply:
            listener(loaded)

    def replan(self) -> None:
        self.plans.replace(self._plan(self.loaded, self.settings))

    def _plan(self, loaded: LoadedConfig, settings: ProbeSettings) -> TargetPlan:
        extras = added_hosts(self.trackers) if loaded.config.drift.probe_added else []
        return build(loaded, settings, extras)


def add_serve_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", help=f"address to serve on (default from config, else {DEFAULT_LISTEN})")
    add_log_flags(parser, default_level="the configuration's log_level, else info")


def run(args: argparse.Namespace) -> int:
    """The `serve` command's handler."""
    loaded = load(args.config)
    if args.listen is not None:
        check_listen_flag(args.listen)
    web = load_web_config(args.web_config_file)
    setup_logging(args.log_level or loaded.config.log_level, args.log_format or loaded.config.log_format)
    return serve(loaded, args.listen or loaded.config.listen, args.config, web)


def check_listen_flag(listen: str) -> None:
    """Raises ConfigError naming `--listen` when `listen` is no host:port."""
    try:
        split_listen(listen)
    except ValueError as exc:
        raise ConfigError("--listen", "", listen, str(exc)) from None


def serve(
    loaded: LoadedConfig,
    listen: str,
    path: Path | None = None,
    web: WebConfig | None = None,
    supervisor: Supervisor | None = None,
) -> int:
    """Returns the exit code. `path`, the configuration file, is reloaded on SIGHUP or POST /-/reload;
    `web` (the web configuration file) adds TLS and basic auth. Background tasks run under `supervisor`
    (default: `Supervisor()`): a bug in one restarts it, only a signal stops `serve`. Must run in the main
    thread (signals)."""
    web = web or WebConfig()
    config = loaded.config
    trackers: list[ReferenceTracker] = []
    probing = _Probing(loaded, trackers)
    plans = probing.plans
    reloader = Reloader(path, loaded, probing.apply)
    supervisor = supervisor or Supervisor()

    def reload() -> tuple[HTTPStatus, str]:
        return supervisor.call(RELOAD_TASK, reloader.reload, RELOAD_FALLBACK)

    store = ResultStore()
    registry = CollectorRegistry()
    host, port = split_listen(listen)
    try:
        status = StatusSource(plans, store, lambda: probing.loaded.source)
        app = make_app(
            registry,
            store,
            status,
            reload=reload,
            series_cap=SeriesCap(lambda: probing.loaded.config.max_series),
            debug_probes=DebugProbes(plans, lambda: probing.settings),
        )
        if web.users:
            app = require_basic_auth(app, BasicAuth(web.users))
        server = MetricsServer(host, port, app, tls=web.tls)
    except OSError as exc:
        print(f"intune-exporter: cannot listen on {listen}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    remove_stale_temporaries(config.state_dir)
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
    for task in (PROBE_LOOP_TASK, RELOAD_TASK, *map(reference_task, trackers)):
        supervisor.expect(task)
    registry.register(TaskRestartsCollector(supervisor.restarts))
    ProcessCollector(registry=registry)
    held = HeldSignals()
    held.install()  # before the server accepts: a SIGHUP right after /healthz answers must not kill us
    try:
        server.start()
    except BaseException:
        held.restore()
        raise
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
            log.info("set %s: wildcards with no representative host, zone check only: %s", set_id, wildcards)
    deadline = ShutdownDeadline()
    tasks = _Tasks(config, probing, store, trackers, supervisor, reload, held, deadline)
    try:
        anyio.run(tasks.run_until_signal)
    finally:
        server.stop()
        held.restore()
    deadline.cancel()
    log.info("stopped")
    return EXIT_OK


class _Tasks:
    """The background tasks of `serve`, each under the supervisor, until SIGTERM or SIGINT."""

    def __init__(
        self,
        config: Config,
        probing: _Probing,
        store: ResultStore,
        trackers: list[ReferenceTracker],
        supervisor: Supervisor,
        reload: Callable[[], object],
        held: HeldSignals,
        deadline: ShutdownDeadline,
    ) -> None:
        self._config = config
        self._probing = probing
        self._store = store
        self._trackers = trackers
        self._supervisor = supervisor
        self._reload = reload
        self._held = held
        self._deadline = deadline

    async def run_until_signal(self) -> None:
        async with anyio.create_task_group() as group:
            group.start_soon(self._supervisor.run, PROBE_LOOP_TASK, self._probe_loop)
            for tracker in self._trackers:
                group.start_soon(self._supervisor.run, reference_task(tracker), tracker.run)
            with anyio.open_signal_receiver(*HANDLED) as signals:
                # First the signals that came before the receiver was in place, then the receiver's.
                stopping = False
                for received in self._held.take():
                    stopping = stopping or self._handle(received, group.cancel_scope)
                if not stopping:
                    async for received in signals:
                        if self._handle(received, group.cancel_scope):
                            break
            self._held.install()  # while shutting down, further signals are recorded and ignored

    async def _probe_loop(self) -> None:
        probing, config = self._probing, self._config
        await run_forever(
            probing.plans,
            lambda: probing.settings,
            self._store,
            concurrency=config.concurrency,
            interval=config.interval,
            jitter=config.jitter,
        )

    def _handle(self, received: int, scope: anyio.CancelScope) -> bool:
        """Reload on SIGHUP; on SIGTERM or SIGINT, start shutting down and return True."""
        if received == signal.SIGHUP:
            self._reload()
            return False
        log.info("received %s, shutting down", signal.Signals(received).name)
        self._deadline.start()
        scope.cancel()
        return True
