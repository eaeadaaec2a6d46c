"""`serve`'s signals held from before the HTTP server accepts until the event loop's receiver takes them.

Without this, a SIGHUP sent as soon as /healthz answers (a config reloader sidecar, `kill -HUP` right after
a rollout) met the default action, which ends the process, because the event loop installs its handlers
only after the server has started. `HeldSignals` records SIGHUP, SIGTERM and SIGINT from `install()` on;
`serve` opens its receiver, then handles what was recorded (`take()`), so none is lost or fatal. After the
receiver closes (shutdown), signals are recorded again and ignored until `restore()`.
"""

from __future__ import annotations

import signal
from types import FrameType

__all__ = ["HANDLED", "HeldSignals"]

HANDLED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class HeldSignals:
    def __init__(self, signals: tuple[signal.Signals, ...] = HANDLED) -> None:
        self._signals = signals
        self._pending: list[int] = []
        self._previous: dict[signal.Signals, object] = {}

    def install(self) -> None:
        """Record the signals from now on (main thread only); the first call remembers the handlers before."""
        for received in self._signals:
            previous = signal.signal(received, self._record)
            self._previous.setdefault(received, previous)

    def take(self) -> list[int]:
        """The signals recorded since the last call, oldest first."""
        pending, self._pending = self._pending, []
        return pending

    def restore(self) -> None:
        """Put back the handlers that were in place before `install()`."""
        for received, previous in self._previous.items():
            signal.signal(received, previous)  # type: ignore[arg-type]
        self._previous.clear()

    def _record(self, received: int, frame: FrameType | None) -> None:
        # Runs in the main thread between bytecodes: list.append is atomic, and a signal that arrives while
        # `take` swaps the list lands in the list `take` returns.
        self._pending.append(received)
