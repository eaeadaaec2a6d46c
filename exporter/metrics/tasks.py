"""Restarts of `serve`'s background tasks after unexpected errors (`exporter.commands.supervisor`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from exporter.metrics import table

TaskRestarts = Callable[[], Mapping[str, int]]
"""Restarts so far, by task name."""


class TaskRestartsCollector(Collector):
    def __init__(self, restarts: TaskRestarts) -> None:
        self._restarts = restarts

    def collect(self) -> Iterable[Metric]:
        family = table.EXPORTER_TASK_RESTARTS.counter()
        for task, count in sorted(self._restarts().items()):
            family.add_metric([task], float(count))
        yield family
