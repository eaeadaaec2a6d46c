"""Metrics about reference lists and the catalogue's drift from them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.metrics import table
from exporter.reference.page_edition import edition_info
from exporter.reference.tracker import ReferenceTracker
from exporter.reference.types import FetchFailure


class DriftCollector(Collector):
    def __init__(self, trackers: Sequence[ReferenceTracker]) -> None:
        self._trackers = trackers

    def collect(self) -> Iterable[Metric]:
        drift = table.CATALOGUE_DRIFT_ENTRIES.gauge()
        version = table.REFERENCE_VERSION_INFO.gauge()
        edition = table.PAGE_EDITION_INFO.gauge()
        fetched = table.REFERENCE_SNAPSHOT_TIMESTAMP.gauge()
        success = table.REFERENCE_LAST_SUCCESS_TIMESTAMP.gauge()
        failures = table.REFERENCE_FETCH_FAILURES.counter()
        invalid = table.REFERENCE_INVALID_ENTRIES.gauge()
        for tracker in self._trackers:
            status = tracker.status
            name = status.source
            counts = Counter((e.set_id, e.kind.value, e.direction.value) for e in status.drift)
            for (set_id, kind, direction), count in sorted(counts.items()):
                drift.add_metric([name, set_id, kind, direction], float(count))
            if status.snapshot is not None:
                version.add_metric([name, status.instance, status.snapshot.version or ""], 1.0)
                page = edition_info(status.snapshot)
                if page is not None:
                    edition.add_metric([name, page.title, page.date, page.locale], 1.0)
                fetched.add_metric([name], status.snapshot.fetched_at)
                invalid.add_metric([name], float(status.invalid_entries))
            if status.last_success is not None:
                success.add_metric([name], status.last_success)
            for reason in FetchFailure:
                failures.add_metric([name, reason.value], float(status.failures[reason]))
        yield from (drift, version, edition, fetched, success, failures, invalid)
