"""Progress of one probe cycle on stderr.

On a terminal: one line rewritten with a carriage return ("probing 123/456 targets · 3 failing · 4.2s") and
wiped at the end. Elsewhere (logs, CI): a plain line at every tenth of the targets, no control characters.
Results are observed from outside the engine, through `ResultStore.listen`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

import anyio

from exporter.results.store import TargetResult

REDRAW_SECONDS = 0.1
"""On a terminal, the line is redrawn at most this often, and at least this often while probes run."""


class Progress:
    def __init__(
        self, total: int, stream: TextIO, *, live: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total = total
        self.stream = stream
        self.live = live
        """Rewrite one line (a terminal) rather than print plain lines."""
        self.done = 0
        self.failing = 0
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None
        self._width = 0
        self._tenths = 0

    def elapsed(self) -> float:
        return self._clock() - self._started

    def result(self, result: TargetResult) -> None:
        self.done += 1
        self.failing += not result.outcome.ok
        if self.live:
            due = self._drawn_at is None or self._clock() - self._drawn_at >= REDRAW_SECONDS
            if due or self.done == self.total:
                self.draw()
            return
        tenths = self.done * 10 // max(self.total, 1)
        if tenths > self._tenths:
            self._tenths = tenths
            percent = self.done * 100 // max(self.total, 1)
            self.stream.write(
                f"probed {self.done}/{self.total} targets ({percent}%), {self.failing} failing, "
                f"{self.elapsed():.1f}s\n"
            )
            self.stream.flush()

    def draw(self) -> None:
        """Rewrite the terminal line."""
        line = f"probing {self.done}/{self.total} targets · {self.failing} failing · {self.elapsed():.1f}s"
        self.stream.write("\r" + line.ljust(self._width))
        self.stream.flush()
        self._width = max(self._width, len(line))
        self._drawn_at = self._clock()

    def clear(self) -> None:
        """Wipe the terminal line, leaving the cursor at its start."""
        if self.live and self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self.stream.flush()
            self._width = 0

    async def keep_drawing(self) -> None:
        """Redraw while probes run, so the clock moves even when no probe finishes (until cancelled)."""
        while True:
            await anyio.sleep(REDRAW_SECONDS)
            self.draw()
