"""A probe told phase by phase: what the `probe` command and `/debug/probe` show.

The probers call `emit` at each step (DNS answer, address dialled, handshake, response head, ...). Outside
a `recording` block that is one context-variable read and nothing else, so the exporter's cycles pay
nothing for it; inside one, every event lands in the `Trace`, and in its `on_event` callback as it
happens (the `probe` command prints them there). Child tasks see the trace too: anyio copies the context
into the tasks a task group starts.

Events that cost work to describe (a certificate chain) are built only `if active()`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum


class Step(StrEnum):
    """Which part of a probe an event belongs to (the `phase` of a trace line)."""

    DNS = "dns"
    CONNECT = "connect"
    PROXY = "proxy"
    TLS = "tls"
    HTTP = "http"
    RANGE = "range"
    NTP = "ntp"
    VERDICT = "verdict"


@dataclass(frozen=True)
class TraceEvent:
    seconds: float
    """Since the trace began."""
    step: Step
    message: str
    """One line, for people."""
    fields: Mapping[str, object] = field(default_factory=dict)
    """The same facts as data (JSON-safe values), for `--format json`."""


class Trace:
    """The events of one probe, in the order they happened."""

    def __init__(self, on_event: Callable[[TraceEvent], None] | None = None) -> None:
        self.events: list[TraceEvent] = []
        self._on_event = on_event
        self._started = time.perf_counter()

    def add(self, step: Step, message: str, fields: Mapping[str, object]) -> None:
        event = TraceEvent(time.perf_counter() - self._started, step, message, dict(fields))
        self.events.append(event)
        if self._on_event is not None:
            self._on_event(event)


_current: ContextVar[Trace | None] = ContextVar("probe_trace", default=None)


def active() -> bool:
    """Whether a trace is recording in this context: guard events that cost work to describe."""
    return _current.get() is not None


def emit(step: Step, message: str, **fields: object) -> None:
    """Record an event in the current trace, if any."""
    trace = _current.get()
    if trace is not None:
        trace.add(step, message, fields)


@contextmanager
def recording(trace: Trace) -> Iterator[Trace]:
    """Within the block (and the tasks it starts), probes emit into `trace`."""
    token = _current.set(trace)
    try:
        yield trace
    finally:
        _current.reset(token)


def milliseconds(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"
