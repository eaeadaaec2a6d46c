"""A hard bound on stopping: a shutdown that outlasts its grace period is logged and the process exits.

Cancelling the probe loop is prompt while probes wait on sockets, but a call that blocks a thread (a stuck
file system, a C library that ignores cancellation) would hold the process forever, and an orchestrator
would have to SIGKILL it with no word in the log. The deadline runs in its own thread, so nothing the
event loop is stuck on can delay it.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable

from exporter.commands.exit_codes import EXIT_FAILED

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 10.0
"""Seconds `serve` may take to stop after SIGTERM or SIGINT."""


class ShutdownDeadline:
    """Once `start`ed, exits the process with `EXIT_FAILED` unless `cancel`led within `grace` seconds."""

    def __init__(self, grace: float = SHUTDOWN_GRACE, exit: Callable[[int], object] = os._exit) -> None:
        self.grace = grace
        self._exit = exit
        self._cancelled = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="shutdown-deadline", daemon=True)
            self._thread.start()

    def cancel(self) -> None:
        self._cancelled.set()

    def _watch(self) -> None:
        if self._cancelled.wait(self.grace):
            return
        log.error("shutdown did not finish within %gs; exiting now", self.grace)
        for handler in logging.getLogger().handlers:
            handler.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        self._exit(EXIT_FAILED)
