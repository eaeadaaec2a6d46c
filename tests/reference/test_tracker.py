"""A reference source over time: version checks, last good list, every fault, restart, metrics."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from prometheus_client import CollectorRegistry
from pytest_httpserver import HTTPServer
from werkzeug import Response

from exporter.catalogue import load_builtin
from exporter.commands.references import added_hosts
from exporter.config.drift import Limits, ReferenceListSettings, WebServiceSettings
from exporter.metrics.drift import DriftCollector
from exporter.plan.expand import with_extra_hosts
from exporter.plan.targets import TargetPlan
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


def with_surrogate(key: str) -> list[dict[str, Any]]:
    """The new list, its first item's `key` holding a lone surrogate (sent as the JSON escape "\\ud800")."""
    items: list[dict[str, Any]] = fixture("endpoints-mem-new.json")
    first = items[0]
    first[key] = [*first["urls"], "bad\ud800.manage.microsoft.com"] if key == "urls" else "MEM\ud800"
    return items


def deeply_nested(depth: int) -> str:
    """The new list with one more item nested `depth` arrays deep."""
    items = json.dumps(fixture("endpoints-mem-new.json"))
    return items[:-1] + ", " + "[" * depth + "]" * depth + "]"


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
    pytest.param(
        "version",
        Response(json.dumps({"latest": "2025112700\ud800"}), content_type="application/json"),
        FetchFailure.INVALID_TEXT,
        id="surrogate-in-version",
    ),
    pytest.param(
        "endpoints",
        Response(json.dumps(with_surrogate("urls")), content_type="application/json"),
        FetchFailure.INVALID_TEXT,
        id="surrogate-in-url",
    ),
    pytest.param(
        "endpoints",
        Response(json.dumps(with_surrogate("serviceArea")), content_type="application/json"),
        FetchFailure.INVALID_TEXT,
        id="surrogate-in-set-name",
    ),
    pytest.param(
        "endpoints",
        Response(json.dumps(with_surrogate("notes")), content_type="application/json"),
        FetchFailure.INVALID_TEXT,
        id="surrogate-in-notes",
    ),
    pytest.param(
        "endpoints",
        Response(deeply_nested(980), content_type="application/json"),
        FetchFailure.MALFORMED_JSON,
        id="nested-980-deep",
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


# ------------------------------------------------------------- remote data that cannot crash or explode


def good_list_then(path: Path) -> tuple[ReferenceTracker, Path]:
    state = path.parent / "state"
    tracker = list_tracker(ReferenceListSettings(name="consolidated", file=path), state)
    path.write_text(json.dumps(fixture("endpoints-mem.json")))
    return tracker, state


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(json.dumps(with_surrogate("urls")), FetchFailure.INVALID_TEXT, id="surrogate-in-url"),
        pytest.param(
            json.dumps(with_surrogate("serviceArea")), FetchFailure.INVALID_TEXT, id="surrogate-in-set-name"
        ),
        pytest.param(deeply_nested(980), FetchFailure.MALFORMED_JSON, id="nested-980-deep"),
        pytest.param(deeply_nested(100_000), FetchFailure.MALFORMED_JSON, id="nested-100000-deep"),
    ],
)
async def test_a_hostile_file_is_a_counted_failure_and_the_last_good_list_stays(
    tmp_path: Path, body: str, reason: FetchFailure
) -> None:
    """A lone surrogate used to crash the snapshot save (UnicodeEncodeError) and deep nesting the content
    version (RecursionError on the event loop): both stopped the exporter, at every restart."""
    path = tmp_path / "consolidated.json"
    tracker, state = good_list_then(path)
    await tracker.refresh()
    good = tracker.status.snapshot
    assert good is not None
    saved = {file.name: file.read_bytes() for file in state.glob("*.json")}

    path.write_text(body)
    assert await tracker.refresh() == 300
    status = tracker.status
    assert status.failures == {reason: 1}
    assert status.snapshot == good
    assert {file.name: file.read_bytes() for file in state.glob("*.json")} == saved

    restarted = list_tracker(ReferenceListSettings(name="consolidated", file=path), state)
    restarted.restore()
    assert restarted.status.snapshot is not None and restarted.status.snapshot.version == good.version


@pytest.mark.anyio
async def test_a_hostile_list_at_a_url_is_a_counted_failure(httpserver: HTTPServer, tmp_path: Path) -> None:
    bodies = [json.dumps(with_surrogate("id")), deeply_nested(980)]
    httpserver.expect_request("/list.json").respond_with_handler(
        lambda request: Response(bodies.pop(0), content_type="application/json")
    )
    settings = ReferenceListSettings(name="consolidated", url=httpserver.url_for("/list.json"))
    tracker = list_tracker(settings, tmp_path)
    await tracker.refresh()
    await tracker.refresh()
    assert tracker.status.failures == {FetchFailure.INVALID_TEXT: 1, FetchFailure.MALFORMED_JSON: 1}
    assert tracker.status.snapshot is None
    assert list(tmp_path.glob("*.json")) == []


@pytest.mark.anyio
async def test_a_list_that_drips_times_out(httpserver: HTTPServer, tmp_path: Path) -> None:
    """Each byte arrives well within the read timeout; the whole body never does. `timeout` bounds it all."""
    stop = threading.Event()

    def drip() -> Iterator[bytes]:
        yield b"["
        while not stop.wait(0.05):
            yield b" "

    httpserver.expect_request("/drip.json").respond_with_response(
        Response(drip(), content_type="application/json")
    )
    settings = ReferenceListSettings(name="drip", url=httpserver.url_for("/drip.json"), timeout=0.5)
    tracker = list_tracker(settings, tmp_path)
    registry = CollectorRegistry()
    registry.register(DriftCollector([tracker]))
    try:
        with anyio.fail_after(10):
            await tracker.refresh()
    finally:
        stop.set()
    assert tracker.status.failures == {FetchFailure.TIMEOUT: 1}
    assert "no complete response within 0.5s" in tracker.status.last_error
    # Never successful, yet its failures are there for IntuneReferenceFetchFailing.
    sample = {"source": "drip", "reason": "timeout"}
    assert registry.get_sample_value("intune_catalogue_reference_fetch_failures_total", sample) == 1


def million_target_list() -> list[dict[str, Any]]:
    """The seed's list plus one item of 1,000 new hosts on tcp 1-1000, and one that is fine."""
    items: list[dict[str, Any]] = fixture("endpoints-mem.json")
    huge = [f"h{index}.manage.microsoft.com" for index in range(1000)]
    items.append({"id": 900, "serviceArea": "MEM", "urls": huge, "tcpPorts": "1-1000"})
    items.append({"id": 901, "serviceArea": "MEM", "urls": ["ok.manage.microsoft.com"], "tcpPorts": "443,22"})
    return items


@pytest.mark.anyio
async def test_a_million_target_item_is_refused_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "huge.json"
    path.write_text(json.dumps(million_target_list()))
    limits = Limits(max_values_per_item=100_000, allowed_suffixes=("com", "net", "us"), probe_added=True)
    tracker = ReferenceTracker(
        ListSource(ReferenceListSettings(name="huge", file=path), max_bytes=10 * 1024 * 1024),
        SnapshotStore(None),
        load_builtin(EDITION),
        limits,
    )
    await tracker.refresh()
    status = tracker.status
    # Both items are drift all the same ...
    assert DriftEntry("900", Kind.URL, Direction.ADDED, "h999.manage.microsoft.com") in status.drift
    # ... but only the reasonable one is probed, and only on a port the catalogue uses.
    assert [(h.set_id, h.host, h.tcp_ports) for h in status.added_hosts] == [
        ("901", "ok.manage.microsoft.com", frozenset({443}))
    ]
    assert status.invalid_entries == 2  # item 900 refused; tcp/22 of item 901 dropped
    registry = CollectorRegistry()
    registry.register(DriftCollector([tracker]))
    assert registry.get_sample_value("intune_catalogue_reference_invalid_entries", {"source": "huge"}) == 2
    # The plan the exporter probes stays small: one target.
    plan = with_extra_hosts(TargetPlan(sets=[]), added_hosts([tracker]))
    assert [(target.host, target.port) for target in plan.targets] == [("ok.manage.microsoft.com", 443)]


@pytest.mark.anyio
async def test_all_lists_together_add_at_most_max_extra_targets(tmp_path: Path) -> None:
    limits = Limits(allowed_suffixes=("com",), probe_added=True, max_extra_targets=3)
    trackers = []
    for name, hosts in (("first", 2), ("second", 2)):
        path = tmp_path / f"{name}.json"
        urls = [f"{name}{index}.manage.microsoft.com" for index in range(hosts)]
        path.write_text(json.dumps([{"id": 900, "serviceArea": "MEM", "urls": urls, "tcpPorts": "443"}]))
        source = ListSource(ReferenceListSettings(name=name, file=path), max_bytes=1024 * 1024)
        trackers.append(ReferenceTracker(source, SnapshotStore(None), load_builtin(EDITION), limits))
    for tracker in trackers:
        await tracker.refresh()
        assert len(tracker.status.added_hosts) == 2
    assert {extra.origin for extra in added_hosts(trackers)} == {"first"}
