"""Builds the configured reference sources and turns what they add into probe targets."""

from __future__ import annotations

from collections.abc import Callable

from exporter.config.file import LoadedConfig
from exporter.plan.targets import ExtraHost
from exporter.reference.drift import Direction, Kind
from exporter.reference.snapshot import SnapshotStore, load_or_create_client_id
from exporter.reference.sources import ListSource, ReferenceSource, WebServiceSource
from exporter.reference.tracker import ReferenceTracker


def build_sources(loaded: LoadedConfig) -> list[ReferenceSource]:
    drift = loaded.config.drift
    sources: list[ReferenceSource] = []
    if drift.web_service.enabled:
        client_id = load_or_create_client_id(loaded.config.state_dir)
        sources.append(WebServiceSource(drift.web_service, client_id, drift.max_response_bytes))
    sources.extend(ListSource(reference, drift.max_response_bytes) for reference in drift.references)
    return sources


def build_trackers(
    loaded: LoadedConfig, on_change: Callable[[], None] = lambda: None
) -> list[ReferenceTracker]:
    store = SnapshotStore(loaded.config.state_dir)
    limits = loaded.config.drift.limits()
    return [
        ReferenceTracker(source, store, loaded.catalogue, limits, on_change)
        for source in build_sources(loaded)
    ]


def added_hosts(trackers: list[ReferenceTracker]) -> list[ExtraHost]:
    """Concrete hosts the references add, with the ports their sets list. Wildcards cannot be probed."""
    hosts = []
    for tracker in trackers:
        status = tracker.status
        items = {item.id: item for item in status.items}
        for entry in status.drift:
            item = items.get(entry.set_id)
            if entry.kind is not Kind.URL or entry.direction is not Direction.ADDED or item is None:
                continue
            if entry.value.startswith("*."):
                continue
            hosts.append(ExtraHost(entry.set_id, entry.value, item.tcp_ports, item.udp_ports, status.source))
    return hosts
