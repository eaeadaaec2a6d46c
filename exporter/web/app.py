"""HTTP endpoints: /metrics, /healthz (alive), /ready (first cycle done), POST /-/reload, the status page
(/), its JSON (/api/status) and one probe's trace (/debug/probe)."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

from prometheus_client import CollectorRegistry

from exporter.metrics.exposition import SeriesCap, metrics_app
from exporter.results.store import ResultStore
from exporter.web import debug_probe
from exporter.web.debug_probe import DebugProbes
from exporter.web.hardened_server import DEFAULT_LIMITS, LimitedServer, LimitedServer6, Limits
from exporter.web.status import Status
from exporter.web.status_page import refresh_seconds, render_page

StartResponse = Callable[..., Any]


def make_app(  # noqa: C901 -- one small handler per endpoint, nested to share the app's parts
    registry: CollectorRegistry,
    store: ResultStore,
    status: Callable[[], Status],
    reload: Callable[[], tuple[HTTPStatus, str]] | None = None,
    series_cap: SeriesCap | None = None,
    debug_probes: DebugProbes | None = None,
) -> Callable[..., Any]:
    """The WSGI app: one handler per path, `(environ, start_response) -> body`."""
    metrics = metrics_app(registry, series_cap)

    def reload_config(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _text(start_response, "405 Method Not Allowed", "use POST\n", [("Allow", "POST")])
        if reload is None:
            return _text(start_response, "404 Not Found", "not found\n")
        answer, message = reload()
        return _text(start_response, f"{answer.value} {answer.phrase}", message + "\n")

    def ready(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if store.ready:
            return _text(start_response, "200 OK", "ready\n")
        return _text(start_response, "503 Service Unavailable", "first probe cycle not finished yet\n")

    def page(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        refresh = refresh_seconds(_query(environ).get("refresh", []))
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [render_page(status(), refresh).encode()]

    def status_json(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(status().model_dump(mode="json"), indent=1).encode()]

    def probe_trace(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        assert debug_probes is not None
        answer, content_type, body = debug_probes.answer(_query(environ))
        start_response(f"{answer.value} {answer.phrase}", [("Content-Type", content_type)])
        return [body.encode()]

    routes: dict[str, Callable[[dict[str, Any], StartResponse], Iterable[bytes]]] = {
        "/metrics": metrics,
        "/-/reload": reload_config,
        "/healthz": lambda environ, start_response: _text(start_response, "200 OK", "ok\n"),
        "/ready": ready,
        "/": page,
        "/api/status": status_json,
    }
    if debug_probes is not None:
        routes[debug_probe.PATH] = probe_trace

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        handler = routes.get(environ.get("PATH_INFO", "/"))
        if handler is None:
            return _text(start_response, "404 Not Found", "not found\n")
        return handler(environ, start_response)

    return app


def _query(environ: dict[str, Any]) -> dict[str, list[str]]:
    return parse_qs(environ.get("QUERY_STRING", ""))


def _text(
    start_response: StartResponse, status: str, body: str, headers: list[tuple[str, str]] | None = None
) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), *(headers or [])])
    return [body.encode()]


class MetricsServer:
    """The WSGI server in a background thread; HTTPS when `tls` is given, bounded by `limits`."""

    def __init__(
        self,
        host: str,
        port: int,
        app: Callable[..., Any],
        tls: ssl.SSLContext | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        server_class = LimitedServer6 if ":" in host else LimitedServer
        self._server = server_class((host, port), tls, limits)
        self._server.set_app(app)
        self._thread = threading.Thread(target=self._server.serve_forever, name="metrics-http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
