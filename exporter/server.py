"""HTTP endpoints: /metrics, /healthz (alive), /ready (first cycle done), POST /-/reload and an HTML index."""

from __future__ import annotations

import html
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from exporter import __version__
from exporter.results import ResultStore

StartResponse = Callable[..., Any]


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Server6(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_app(
    registry: CollectorRegistry,
    store: ResultStore,
    summary: Callable[[], str],
    reload: Callable[[], tuple[bool, str]] | None = None,
) -> Callable[..., Any]:
    metrics = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            result: Iterable[bytes] = metrics(environ, start_response)
            return result
        if path == "/-/reload":
            if environ.get("REQUEST_METHOD") != "POST":
                return _text(start_response, "405 Method Not Allowed", "use POST\n")
            if reload is None:
                return _text(start_response, "404 Not Found", "not found\n")
            ok, message = reload()
            return _text(start_response, "200 OK" if ok else "500 Internal Server Error", message + "\n")
        if path == "/healthz":
            return _text(start_response, "200 OK", "ok\n")
        if path == "/ready":
            if store.ready:
                return _text(start_response, "200 OK", "ready\n")
            return _text(start_response, "503 Service Unavailable", "first probe cycle not finished yet\n")
        if path == "/":
            page = _INDEX.format(version=html.escape(__version__), summary=html.escape(summary()))
            start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
            return [page.encode()]
        return _text(start_response, "404 Not Found", "not found\n")

    return app


def _text(start_response: StartResponse, status: str, body: str) -> list[bytes]:
    start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
    return [body.encode()]


_INDEX = """<!doctype html>
<html><head><meta charset="utf-8"><title>Intune endpoint exporter</title></head>
<body>
<h1>Intune endpoint exporter {version}</h1>
<p>{summary}</p>
<ul>
<li><a href="metrics">metrics</a></li>
<li><a href="healthz">healthz</a> (alive)</li>
<li><a href="ready">ready</a> (first probe cycle done)</li>
</ul>
</body></html>
"""


class MetricsServer:
    """The WSGI server in a background thread."""

    def __init__(self, host: str, port: int, app: Callable[..., Any]) -> None:
        server_class = _Server6 if ":" in host else _ThreadingServer
        self._server = make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
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
