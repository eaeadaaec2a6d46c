"""Metrics about reference lists and the catalogue's drift from them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from exporter.reference.tracker import ReferenceTracker
from exporter.reference.types import FetchFailure


class DriftCollector(Collector):
    def __init__(self, trackers: Sequence[ReferenceTracker]) -> None:
        self._trackers = trackers

    def collect(self) -> Iterable[Metric]:
        drift = GaugeMetricFamily(
            "intune_catalogue_drift_entries",
            "Differences between the catalogue and a reference list, per set, kind and direction "
            "(added: listed by the reference only; removed: by the catalogue only; changed: attributes).",
            labels=["source", "set_id", "kind", "direction"],
        )
        version = GaugeMetricFamily(
            "intune_catalogue_reference_version_info",
            "Always 1: the version of the reference list in use (last good one).",
            labels=["source", "instance", "version"],
        )
        fetched = GaugeMetricFamily(
            "intune_catalogue_reference_snapshot_timestamp_seconds",
            "Unix time the reference list in use was fetched.",
            labels=["source"],
        )
        success = GaugeMetricFamily(
            "intune_catalogue_reference_last_success_timestamp_seconds",
            "Unix time of the latest successful check of the source, also when the list had not changed.",
            labels=["source"],
        )
        failures = CounterMetricFamily(
            "intune_catalogue_reference_fetch_failures",
            "Failed fetches of the source by reason; the last good list stays in use.",
            labels=["source", "reason"],
        )
        invalid = GaugeMetricFamily(
            "intune_catalogue_reference_invalid_entries",
            "Entries of the reference list in use that failed validation and are ignored.",
            labels=["source"],
        )
        for tracker in self._trackers:
            status = tracker.status
            name = status.source
            counts = Counter((e.set_id, e.kind.value, e.direction.value) for e in status.drift)
            for (set_id, kind, direction), count in sorted(counts.items()):
                drift.add_metric([name, set_id, kind, direction], float(count))
            if status.snapshot is not None:
                version.add_metric([name, status.instance, status.snapshot.version or ""], 1.0)
                fetched.add_metric([name], status.snapshot.fetched_at)
                invalid.add_metric([name], float(status.invalid_entries))
            if status.last_success is not None:
                success.add_metric([name], status.last_success)
            for reason in FetchFailure:
                failures.add_metric([name, reason.value], float(status.failures[reason]))
        yield from (drift, version, fetched, success, failures, invalid)
