"""HTTP endpoints: /metrics, /healthz (alive), /ready (first cycle done), POST /-/reload, the status page
(/) and its JSON (/api/status)."""

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
from exporter.web.hardened_server import DEFAULT_LIMITS, LimitedServer, LimitedServer6, Limits
from exporter.web.status import Status
from exporter.web.status_page import refresh_seconds, render_page

StartResponse = Callable[..., Any]


def make_app(  # noqa: C901 -- a flat dispatch: one branch per endpoint of the WSGI app
    registry: CollectorRegistry,
    store: ResultStore,
    status: Callable[[], Status],
    reload: Callable[[], tuple[HTTPStatus, str]] | None = None,
    series_cap: SeriesCap | None = None,
) -> Callable[..., Any]:
    metrics = metrics_app(registry, series_cap)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            result: Iterable[bytes] = metrics(environ, start_response)
            return result
        if path == "/-/reload":
            if environ.get("REQUEST_METHOD") != "POST":
                return _text(start_response, "405 Method Not Allowed", "use POST\n", [("Allow", "POST")])
            if reload is None:
                return _text(start_response, "404 Not Found", "not found\n")
            answer, message = reload()
            return _text(start_response, f"{answer.value} {answer.phrase}", message + "\n")
        if path == "/healthz":
            return _text(start_response, "200 OK", "ok\n")
        if path == "/ready":
            if store.ready:
                return _text(start_response, "200 OK", "ready\n")
            return _text(start_response, "503 Service Unavailable", "first probe cycle not finished yet\n")
        if path == "/":
            refresh = refresh_seconds(parse_qs(environ.get("QUERY_STRING", "")).get("refresh", []))
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [render_page(status(), refresh).encode()]
        if path == "/api/status":
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(status().model_dump(mode="json"), indent=1).encode()]
        return _text(start_response, "404 Not Found", "not found\n")

    return app


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
