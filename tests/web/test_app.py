from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry

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
