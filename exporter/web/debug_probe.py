"""`GET /debug/probe?target=HOST[:PORT]`: the `probe` command's trace, from the running exporter.

Only a host and port the plan probes can be asked for, so the endpoint is no port scanner for whoever
reaches it; a few run at once (`MAX_RUNNING`), others get 429. Each runs in the request's thread, in an
event loop of its own, under the configured timeouts.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus

import anyio

from exporter.plan.targets import NetworkPath, PlanHolder
from exporter.probes.prober import Protocol
from exporter.probes.settings import ProbeSettings
from exporter.scheduler.single_probe import TargetChoiceError, choose, parse_host_port, probe_traced
from exporter.scheduler.trace_report import json_document, text_report

PATH = "/debug/probe"
MAX_RUNNING = 2
"""Debug probes at once; each may last the configured timeouts."""
PROTOCOLS = {str(p): p for p in Protocol if p is not Protocol.DNS}
PATHS = {"direct": NetworkPath.DIRECT, "proxy": NetworkPath.PROXY}
FORMATS = ("text", "json")

Answer = tuple[HTTPStatus, str, str]
"""Status, content type and body."""


class DebugProbes:
    """Answers /debug/probe with a traced probe of one of the plan's targets."""

    def __init__(
        self, plans: PlanHolder, settings: Callable[[], ProbeSettings], max_running: int = MAX_RUNNING
    ) -> None:
        self._plans = plans
        self._settings = settings
        self._max_running = max_running
        self._slots = threading.BoundedSemaphore(max_running)

    def answer(self, query: Mapping[str, Sequence[str]]) -> Answer:
        try:
            request = _Request.parse(query)
        except ValueError as exc:
            return _plain(HTTPStatus.BAD_REQUEST, f"{exc}")
        settings = self._settings()
        try:
            host, port = parse_host_port(request.target)
            choice = choose(self._plans.current, settings, host, port, request.protocol, request.path)
        except TargetChoiceError as exc:
            return _plain(HTTPStatus.BAD_REQUEST, str(exc))
        if not choice.in_plan:
            return _plain(
                HTTPStatus.FORBIDDEN,
                f"{host}:{port} is not a target of this exporter's plan, and {PATH} probes only those "
                "(run `intune-exporter probe` for any other)",
            )
        if not self._slots.acquire(blocking=False):
            busy = f"{self._max_running} debug probes are running already; try again in a few seconds"
            return _plain(HTTPStatus.TOO_MANY_REQUESTS, busy)
        try:
            traced = anyio.run(probe_traced, choice, settings)
        finally:
            self._slots.release()
        if request.format == "json":
            return HTTPStatus.OK, "application/json", json.dumps(json_document(traced), indent=1) + "\n"
        return HTTPStatus.OK, "text/plain; charset=utf-8", text_report(traced)


@dataclass(frozen=True)
class _Request:
    target: str
    protocol: Protocol | None
    path: NetworkPath | None
    format: str

    @classmethod
    def parse(cls, query: Mapping[str, Sequence[str]]) -> _Request:
        """Raises ValueError naming the parameter and the values it takes."""
        target = _one(query, "target", None)
        if not target:
            raise ValueError("target=HOST[:PORT] is required, e.g. ?target=manage.microsoft.com:443")
        protocol = _one(query, "protocol", list(PROTOCOLS))
        path = _one(query, "via", list(PATHS))
        output_format = _one(query, "format", FORMATS) or "text"
        return cls(
            target,
            PROTOCOLS[protocol] if protocol else None,
            PATHS[path] if path else None,
            output_format,
        )


def _one(query: Mapping[str, Sequence[str]], name: str, allowed: Sequence[str] | None) -> str:
    values = query.get(name, [])
    if len(values) > 1:
        raise ValueError(f"{name}: give it once")
    value = values[0] if values else ""
    if value and allowed is not None and value not in allowed:
        raise ValueError(f"{name}={value!r}: must be one of {', '.join(allowed)}")
    return value


def _plain(status: HTTPStatus, message: str) -> Answer:
    return status, "text/plain; charset=utf-8", message + "\n"
