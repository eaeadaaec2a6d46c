"""A reference source over time: version checks, last good list, every fault, restart, metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from pytest_httpserver import HTTPServer
from werkzeug import Response

from exporter.catalogue import load_builtin
from exporter.config.drift import Limits, ReferenceListSettings, WebServiceSettings
from exporter.metrics.drift import DriftCollector
from exporter.reference.drift import Direction, DriftEntry, Kind
from exporter.reference.snapshot import SnapshotStore
from exporter.reference.sources import ListSource, WebServiceSource
from exporter.reference.tracker import RATE_LIMIT_BACKOFF, ReferenceTracker
from exporter.reference.types import FetchFailure
from tests.support.simulators.webservice import FIRST_VERSION, NEW_VERSION, WebServiceSimulator, fixture

CLIENT_ID = "7b0c4c1e-58b4-4c1e-9a36-0c4f2b8d3a11"
EDITION = "seed"
"""The web service fixtures (tests/data/webservice) hold the seed edition's MEM sets: drift is against it."""
EXPECTED_NEW_DRIFT = [
    DriftEntry("163", Kind.IP, Direction.REMOVED, "13.67.13.176/28"),
    DriftEntry("163", Kind.URL, Direction.ADDED, "intunecdnpeasd.manage.microsoft.com"),
    DriftEntry("172", Kind.ATTRIBUTE, Direction.CHANGED, "category: Default -> Allow"),
    DriftEntry("200", Kind.PORT, Direction.ADDED, "tcp/443"),
    DriftEntry("200", Kind.SET, Direction.ADDED, "200"),
    DriftEntry("200", Kind.URL, Direction.ADDED, "*.newservice.manage.microsoft.com"),
    DriftEntry("200", Kind.URL, Direction.ADDED, "mem-newservice.manage.microsoft.com"),
]


@pytest.fixture
def simulator(httpserver: HTTPServer) -> WebServiceSimulator:
    return WebServiceSimulator(httpserver)


def tracker_for(simulator: WebServiceSimulator, state: Path, **settings: Any) -> ReferenceTracker:
    web = WebServiceSettings(base_url=simulator.base_url, timeout=settings.pop("timeout", 5.0))
    source = WebServiceSource(web, CLIENT_ID, max_bytes=settings.pop("max_bytes", 10 * 1024 * 1024))
    return ReferenceTracker(source, SnapshotStore(state), load_builtin(EDITION), Limits(**settings))


@pytest.mark.anyio
async def test_fetches_endpoints_only_when_the_version_moves(
    simulator: WebServiceSimulator, tmp_path: Path
) -> None:
    tracker = tracker_for(simulator, tmp_path)
    assert await tracker.refresh() == 3600
    status = tracker.status
    assert status.snapshot is not None and status.snapshot.version == FIRST_VERSION
    assert status.drift == ()
    assert status.last_success is not None
    await tracker.refresh()
    assert simulator.calls == {"version": 2, "endpoints": 1}
    assert simulator.client_ids == {CLIENT_ID}

    simulator.publish_new_list()
    await tracker.refresh()
    assert simulator.calls["endpoints"] == 2
    assert tracker.status.snapshot is not None and tracker.status.snapshot.version == NEW_VERSION
    assert sorted(tracker.status.drift) == sorted(EXPECTED_NEW_DRIFT)


def html_login() -> Response:
    return Response("<html><body>Proxy sign-in</body></html>", content_type="text/html")


FAULTS = [
    pytest.param("version", Response("oops", status=500), FetchFailure.HTTP_STATUS, id="500"),
    pytest.param("version", Response("slow down", status=429), FetchFailure.RATE_LIMITED, id="429"),
    pytest.param(
        "endpoints",
        Response('[{"id": 163, "serv', content_type="application/json"),
        FetchFailure.MALFORMED_JSON,
        id="truncated",
    ),
    pytest.param("endpoints", html_login(), FetchFailure.NOT_JSON, id="html-login-page"),
    pytest.param(
        "endpoints",
        Response(json.dumps({"id": 163}), content_type="application/json"),
        FetchFailure.BAD_SHAPE,
        id="object-not-list",
    ),
    pytest.param(
        "endpoints",
        Response(json.dumps([{"id": [1], "urls": 5}, "x"]), content_type="application/json"),
        FetchFailure.EMPTY,
        id="wrong-types",
    ),
    pytest.param(
        "endpoints", Response("[]", content_type="application/json"), FetchFailure.EMPTY, id="empty"
    ),
    pytest.param(
        "version",
        Response(json.dumps({"latest": 5}), content_type="application/json"),
        FetchFailure.BAD_SHAPE,
        id="version-wrong-type",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("method", "response", "reason"), FAULTS)
async def test_a_fault_keeps_the_last_good_list(
    simulator: WebServiceSimulator, tmp_path: Path, method: str, response: Response, reason: FetchFailure
) -> None:
    tracker = tracker_for(simulator, tmp_path)
    await tracker.refresh()
    good = tracker.status.snapshot
    saved = next(tmp_path.glob("*.json")).read_bytes()

    simulator.publish_new_list()
    simulator.fault, simulator.fault_on = response, method
    delay = await tracker.refresh()

    status = tracker.status
    assert status.snapshot == good
    assert status.failures == {reason: 1}
    assert str(reason) in status.last_error
    assert next(tmp_path.glob("*.json")).read_bytes() == saved
    assert delay == (RATE_LIMIT_BACKOFF if reason is FetchFailure.RATE_LIMITED else 300)

    simulator.fault = None
    await tracker.refresh()
    assert tracker.status.snapshot is not None and tracker.status.snapshot.version == NEW_VERSION


@pytest.mark.anyio
async def test_timeout_and_oversized_body_keep_the_last_good_list(
    simulator: WebServiceSimulator, tmp_path: Path
) -> None:
    tracker = tracker_for(simulator, tmp_path, max_bytes=5 * 1024 * 1024, timeout=1.0)
    await tracker.refresh()
    simulator.publish_new_list()
    simulator.fault_on = "endpoints"
    chunk = b'"padding.example.com",' * 4096
    simulator.fault = lambda: Response(
        iter([b'[{"id": 163, "serviceArea": "MEM", "urls": [', *([chunk] * 600), b'"x.com"]}]']),
        content_type="application/json",
    )  # about 50 MB, streamed
    await tracker.refresh()
    assert tracker.status.failures[FetchFailure.TOO_LARGE] == 1

    def stall() -> Response:
        import time

        time.sleep(2)
        return Response("[]", content_type="application/json")

    simulator.fault = stall
    await tracker.refresh()
    assert tracker.status.failures[FetchFailure.TIMEOUT] == 1
    assert tracker.status.snapshot is not None and tracker.status.snapshot.version == FIRST_VERSION


@pytest.mark.anyio
async def test_malicious_entries_are_counted_never_used(
    simulator: WebServiceSimulator, tmp_path: Path
) -> None:
    items = fixture("endpoints-mem.json")
    hostile = ['x.com"}\n# HELP evil', "a b.com", "https://x.com/", "*.com", "1.2.3.4"]
    items[0]["urls"] = [*items[0]["urls"], *hostile]
    items[0]["ips"] = [*items[0]["ips"], "10.0.0.0/33"]
    simulator.endpoints = items
    tracker = tracker_for(simulator, tmp_path)
    await tracker.refresh()
    status = tracker.status
    assert status.invalid_entries == 6
    assert status.drift == ()  # nothing hostile became drift, so nothing hostile is probed or labelled


@pytest.mark.anyio
async def test_hosts_outside_the_allowed_domains_are_rejected(
    simulator: WebServiceSimulator, tmp_path: Path
) -> None:
    items = fixture("endpoints-mem.json")
    items[0]["urls"] = [*items[0]["urls"], "evil.example.org"]
    simulator.endpoints = items
    tracker = tracker_for(simulator, tmp_path)
    await tracker.refresh()
    assert (
        DriftEntry(str(items[0]["id"]), Kind.URL, Direction.ADDED, "evil.example.org") in tracker.status.drift
    )
    domains = {
        ".".join(url.removeprefix("*.").split(".")[-2:]) for item in items for url in item.get("urls", [])
    }
    restricted = tracker_for(
        simulator, tmp_path / "restricted", allowed_suffixes=tuple(domains - {"example.org"})
    )
    await restricted.refresh()
    assert restricted.status.invalid_entries == 1
    assert all("evil" not in entry.value for entry in restricted.status.drift)


@pytest.mark.anyio
async def test_a_new_tracker_restores_the_saved_list(simulator: WebServiceSimulator, tmp_path: Path) -> None:
    simulator.publish_new_list()
    await tracker_for(simulator, tmp_path).refresh()

    simulator.fault = Response("down", status=503)
    restarted = tracker_for(simulator, tmp_path)
    restarted.restore()
    assert restarted.status.snapshot is not None and restarted.status.snapshot.version == NEW_VERSION
    assert sorted(restarted.status.drift) == sorted(EXPECTED_NEW_DRIFT)
    await restarted.refresh()
    assert restarted.status.snapshot.version == NEW_VERSION
    assert restarted.status.failures == {FetchFailure.HTTP_STATUS: 1}


@pytest.mark.anyio
async def test_drift_metrics(simulator: WebServiceSimulator, tmp_path: Path) -> None:
    tracker = tracker_for(simulator, tmp_path)
    registry = CollectorRegistry()
    registry.register(DriftCollector([tracker]))
    source = "webservice-worldwide"
    assert (
        registry.get_sample_value(
            "intune_catalogue_reference_fetch_failures_total", {"source": source, "reason": "http_status"}
        )
        == 0
    )
    assert (
        registry.get_sample_value(
            "intune_catalogue_reference_version_info",
            {"source": source, "instance": "Worldwide", "version": FIRST_VERSION},
        )
        is None
    )

    simulator.publish_new_list()
    await tracker.refresh()
    simulator.fault = Response("oops", status=500)
    await tracker.refresh()

    def drift(set_id: str, kind: str, direction: str) -> float | None:
        labels = {"source": source, "set_id": set_id, "kind": kind, "direction": direction}
        return registry.get_sample_value("intune_catalogue_drift_entries", labels)

    assert drift("200", "url", "added") == 2
    assert drift("200", "set", "added") == 1
    assert drift("163", "ip", "removed") == 1
    assert drift("172", "attribute", "changed") == 1
    assert drift("163", "port", "added") is None
    version = {"source": source, "instance": "Worldwide", "version": NEW_VERSION}
    assert registry.get_sample_value("intune_catalogue_reference_version_info", version) == 1
    assert (
        registry.get_sample_value(
            "intune_catalogue_reference_fetch_failures_total", {"source": source, "reason": "http_status"}
        )
        == 1
    )
    assert registry.get_sample_value("intune_catalogue_reference_invalid_entries", {"source": source}) == 0
    assert (
        registry.get_sample_value(
            "intune_catalogue_reference_last_success_timestamp_seconds", {"source": source}
        )
        is not None
    )


def list_tracker(settings: ReferenceListSettings, state: Path) -> ReferenceTracker:
    return ReferenceTracker(
        ListSource(settings, max_bytes=10 * 1024 * 1024),
        SnapshotStore(state),
        load_builtin(EDITION),
        Limits(),
    )


@pytest.mark.anyio
async def test_a_reference_list_at_a_url(httpserver: HTTPServer, tmp_path: Path) -> None:
    httpserver.expect_request("/consolidated.json").respond_with_json(fixture("endpoints-mem-new.json"))
    settings = ReferenceListSettings(name="consolidated", url=httpserver.url_for("/consolidated.json"))
    tracker = list_tracker(settings, tmp_path)
    assert await tracker.refresh() == 3600
    first = tracker.status.snapshot
    assert first is not None and first.version is not None and first.version.startswith("sha256:")
    assert sorted(tracker.status.drift) == sorted(EXPECTED_NEW_DRIFT)
    await tracker.refresh()
    assert tracker.status.snapshot == first  # same content: same version, nothing replaced


@pytest.mark.anyio
async def test_a_reference_list_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "consolidated.json"
    tracker = list_tracker(ReferenceListSettings(name="consolidated", file=path), tmp_path / "state")
    await tracker.refresh()
    assert tracker.status.failures == {FetchFailure.FILE_ERROR: 1}
    path.write_text(json.dumps(fixture("endpoints-mem.json")))
    await tracker.refresh()
    assert tracker.status.snapshot is not None
    assert tracker.status.drift == ()
    path.write_text('[{"id": 163,')
    await tracker.refresh()
    assert tracker.status.failures[FetchFailure.MALFORMED_JSON] == 1
    assert tracker.status.drift == ()
