from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from exporter.commands.reload import Reloader
from exporter.config.file import load
from exporter.plan.targets import PlanHolder, TargetPlan
from exporter.results.store import ResultStore
from exporter.web.app import MetricsServer, make_app
from exporter.web.status import StatusSource


@pytest.fixture
def store() -> ResultStore:
    return ResultStore()


@pytest.fixture
def base(store: ResultStore) -> Iterator[str]:
    status = StatusSource(PlanHolder(TargetPlan(sets=[])), store, lambda: "config <b>")
    server = MetricsServer("127.0.0.1", 0, make_app(CollectorRegistry(), store, status))
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def serve_reloads(store: ResultStore, reloader: Reloader) -> MetricsServer:
    status = StatusSource(PlanHolder(TargetPlan(sets=[])), store, lambda: "built-in")
    server = MetricsServer(
        "127.0.0.1", 0, make_app(CollectorRegistry(), store, status, reload=reloader.reload)
    )
    server.start()
    return server


def test_reload_answers(tmp_path: Path, store: ResultStore) -> None:
    """409 on the built-in configuration, 500 for an invalid file, 200 once reloaded, 405 without POST."""
    path = tmp_path / "exporter.yml"
    path.write_text("interval: 60s\n")
    builtin = serve_reloads(store, Reloader(None, load(path), lambda loaded: None))
    from_file = serve_reloads(store, Reloader(path, load(path), lambda loaded: None))
    try:
        answer = httpx.post(f"http://127.0.0.1:{builtin.port}/-/reload")
        assert answer.status_code == 409
        assert answer.text == (
            "the exporter runs on its built-in default configuration: there is no file to reload "
            "(start it with --config FILE to make it reloadable)\n"
        )
        url = f"http://127.0.0.1:{from_file.port}/-/reload"
        path.write_text("interval: soon\n")
        answer = httpx.post(url)
        assert answer.status_code == 500 and "field 'interval': not a duration" in answer.text
        path.write_text("interval: 30s\n")
        assert (httpx.post(url).status_code, httpx.post(url).text) == (200, "reloaded\n")
        answer = httpx.get(url)
        assert (answer.status_code, answer.headers["allow"]) == (405, "POST")
    finally:
        builtin.stop()
        from_file.stop()


def test_ready_only_after_the_first_cycle(base: str, store: ResultStore) -> None:
    response = httpx.get(base + "/ready")
    assert response.status_code == 503
    assert response.text == "first probe cycle not finished yet\n"
    assert httpx.get(base + "/healthz").status_code == 200
    store.cycle_done(1.0)
    assert httpx.get(base + "/ready").status_code == 200


def test_status_page_and_its_json(base: str, store: ResultStore) -> None:
    page = httpx.get(base + "/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "config &lt;b&gt;" in page.text
    assert "First probe cycle running" in page.text
    store.cycle_done(1.0)
    document = httpx.get(base + "/api/status")
    assert document.headers["content-type"] == "application/json"
    assert document.json()["exporter"]["config_source"] == "config <b>"
    assert document.json()["exporter"]["ready"] is True
    assert "First probe cycle running" not in httpx.get(base + "/").text


def test_metrics_served_in_text_format(base: str) -> None:
    response = httpx.get(base + "/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
