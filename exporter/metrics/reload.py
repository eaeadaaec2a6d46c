"""Metrics of configuration reloads: whether the latest one took, and when the configuration in force was
loaded."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.metrics import table

ReloadStatus = Callable[[], tuple[bool, float]]
"""Whether the latest reload (or the start) succeeded, and the Unix time of the latest success."""


class ReloadCollector(Collector):
    def __init__(self, status: ReloadStatus) -> None:
        self._status = status

    def collect(self) -> Iterable[Metric]:
        successful, last_success = self._status()
        ok = table.CONFIG_LAST_RELOAD_SUCCESSFUL.gauge()
        ok.add_metric([], 1.0 if successful else 0.0)
        when = table.CONFIG_LAST_RELOAD_SUCCESS_TIMESTAMP.gauge()
        when.add_metric([], last_success)
        yield from (ok, when)
