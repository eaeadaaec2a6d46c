"""`intune-exporter serve`: the probe loop, the reference watchers and the HTTP server, until SIGTERM."""

from __future__ import annotations

import logging
import signal
import sys

import anyio
from prometheus_client import CollectorRegistry
from prometheus_client.process_collector import ProcessCollector

from exporter.checks_collector import NetworkChecksCollector
from exporter.collector import ExporterCollector
from exporter.config import LoadedConfig, split_listen
from exporter.engine import run_forever
from exporter.probes.settings import ProbeSettings
from exporter.reference.collector import DriftCollector
from exporter.reference.tracker import ReferenceTracker
from exporter.reference.wiring import added_hosts, build_trackers
from exporter.results import ResultStore
from exporter.routes import route_plan
from exporter.runtime import probe_settings, proxy_credentials
from exporter.server import MetricsServer, make_app
from exporter.targets import PlanHolder, TargetPlan, build_plan, with_extra_hosts

log = logging.getLogger("exporter")


def serve(loaded: LoadedConfig, listen: str) -> int:
    """Returns the process exit code."""
    config = loaded.config
    settings = probe_settings(loaded)
    base_plan = build_plan(config, loaded.catalogue)
    has_credentials = proxy_credentials(config, loaded.source) is not None

    def routed(plan: TargetPlan) -> TargetPlan:
        return route_plan(plan, config.proxy, has_credentials)

    plans = PlanHolder(routed(base_plan))
    store = ResultStore()
    registry = CollectorRegistry()
    host, port = split_listen(listen)
    try:
        server = MetricsServer(host, port, make_app(registry, store, lambda: _summary(plans, store)))
    except OSError as exc:
        print(f"intune-exporter: cannot listen on {listen}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    trackers = build_trackers(loaded)
    for tracker in trackers:
        tracker.restore()

    def replan() -> None:
        if config.drift.probe_added:
            plans.replace(routed(with_extra_hosts(base_plan, added_hosts(trackers))))

    replan()
    for tracker in trackers:
        tracker.on_change = replan

    registry.register(ExporterCollector(plans, loaded.catalogue, store))
    registry.register(NetworkChecksCollector(plans, store))
    registry.register(DriftCollector(trackers))
    ProcessCollector(registry=registry)
    server.start()
    plan = plans.current
    log.info(
        "serving on %s:%d (%s): %d sets, %d targets, interval %.0fs; reference sources: %s",
        host,
        server.port,
        loaded.source,
        len(plan.sets),
        len(plan.targets),
        config.interval,
        ", ".join(t.source.name for t in trackers) or "none",
    )
    for set_id, wildcards in plan.unprobed_wildcards.items():
        if wildcards:
            log.info("set %s: wildcards without a representative host, not probed: %s", set_id, wildcards)
    try:
        anyio.run(_run_until_signal, loaded, plans, settings, store, trackers)
    finally:
        server.stop()
    log.info("stopped")
    return 0


def _summary(plans: PlanHolder, store: ResultStore) -> str:
    plan = plans.current
    results, stats = store.snapshot()
    failing = sum(1 for r in results.values() if not r.outcome.ok)
    return (
        f"Probing {len(plan.targets)} targets in {len(plan.sets)} endpoint sets; "
        f"{stats.completed} cycles completed; {failing} targets failing in the latest results."
    )


async def _run_until_signal(
    loaded: LoadedConfig,
    plans: PlanHolder,
    settings: ProbeSettings,
    store: ResultStore,
    trackers: list[ReferenceTracker],
) -> None:
    config = loaded.config
    async with anyio.create_task_group() as group:
        group.start_soon(
            lambda: run_forever(
                plans,
                settings,
                store,
                concurrency=config.concurrency,
                interval=config.interval,
                jitter=config.jitter,
            )
        )
        for tracker in trackers:
            group.start_soon(tracker.run)
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for received in signals:
                log.info("received %s, shutting down", signal.Signals(received).name)
                group.cancel_scope.cancel()
                break
