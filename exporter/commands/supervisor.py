"""Keeps `serve`'s background tasks running: a bug in one of them never stops the exporter.

The probe loop, each reference tracker (the page poller among them) and configuration reloads run under a
`Supervisor`. An unexpected exception (anything but cancellation, which still stops everything at once) is

- logged at ERROR with its traceback the first time that failure is seen (same task, exception type and the
  line that raised it); a repeat is one WARNING line, so a crash loop cannot flood the log;
- counted in `intune_exporter_task_restarts_total{task}` (`restarts()`, read by
  `exporter.metrics.tasks.TaskRestartsCollector`);
- followed by a restart of the task after a backoff that starts at `first_backoff` and doubles up to
  `max_backoff`, back to `first_backoff` once a run has lasted `healthy_after` seconds.

Meanwhile the last good state stays served: results, reference lists and the configuration in force belong
to objects the task only updates, and /metrics runs in the web server's threads.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TypeVar

import anyio

__all__ = ["FIRST_BACKOFF", "HEALTHY_AFTER", "MAX_BACKOFF", "Supervisor"]

log = logging.getLogger(__name__)

FIRST_BACKOFF = 1.0
MAX_BACKOFF = 300.0
HEALTHY_AFTER = 300.0
"""A run that lasted this long before failing was healthy: the next restart waits `FIRST_BACKOFF` again."""
MAX_REMEMBERED_FAILURES = 256
"""Distinct failures remembered for logging once; beyond that, new ones are logged with a traceback again."""

T = TypeVar("T")


class Supervisor:
    def __init__(
        self,
        tasks: Iterable[str] = (),
        *,
        first_backoff: float = FIRST_BACKOFF,
        max_backoff: float = MAX_BACKOFF,
        healthy_after: float = HEALTHY_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`tasks`: names whose restart count is exported from the start, at 0."""
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.healthy_after = healthy_after
        self._clock = clock
        self._lock = threading.Lock()
        self._restarts: dict[str, int] = dict.fromkeys(tasks, 0)
        self._seen: set[tuple[str, str, str]] = set()

    def expect(self, task: str) -> None:
        """Export `task`'s restart count from now on, at 0 until it fails."""
        with self._lock:
            self._restarts.setdefault(task, 0)

    def restarts(self) -> Mapping[str, int]:
        """Unexpected failures so far, by task (a copy; safe from any thread)."""
        with self._lock:
            return dict(self._restarts)

    async def run(self, task: str, body: Callable[[], Awaitable[object]]) -> None:
        """Run `body()` until it returns, restarting it after each unexpected exception; cancellation (a
        signal) passes through at once, also while waiting to restart."""
        self.expect(task)
        backoff = self.first_backoff
        while True:
            started = self._clock()
            try:
                await body()
                return
            except Exception as exc:
                if self._clock() - started >= self.healthy_after:
                    backoff = self.first_backoff
                self.failed(task, exc, f"restarting in {backoff:g}s")
            await anyio.sleep(backoff)
            backoff = min(backoff * 2, self.max_backoff)

    def call(self, task: str, body: Callable[[], T], fallback: T) -> T:
        """`body()`, or `fallback` after an unexpected exception (counted and logged as by `run`): for what
        runs once per request, such as a reload."""
        try:
            return body()
        except Exception as exc:
            self.failed(task, exc, "the running state is kept")
            return fallback

    def failed(self, task: str, exc: BaseException, then: str) -> None:
        """Count `exc` against `task` and log it: with its traceback the first time it is seen."""
        key = (task, type(exc).__qualname__, _origin(exc))
        with self._lock:
            self._restarts[task] = self._restarts.get(task, 0) + 1
            count = self._restarts[task]
            first = key not in self._seen
            if first:
                if len(self._seen) >= MAX_REMEMBERED_FAILURES:
                    self._seen.clear()
                self._seen.add(key)
        summary = _one_line(exc)
        if first:
            log.error("task %s failed: %s; %s", task, summary, then, exc_info=exc)
        else:
            log.warning("task %s failed again (%d so far, logged before): %s; %s", task, count, summary, then)


def _origin(exc: BaseException) -> str:
    """Where `exc` was raised: the innermost frame of its traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno}"


def _one_line(exc: BaseException, limit: int = 300) -> str:
    try:
        text = " ".join(str(exc).split())
    except Exception:
        text = "(no message)"
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates, printable
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
