"""Microsoft's page as a reference source, polled from a local server: editions that change, conditional
requests, every fault, implausible editions, restart. The parser is replaced by the `ParsedPage` editions of
tests/support/page_editions.py, so these tests are about the poller; tests/reference/test_page_fixtures.py
polls the page's real fixtures through the real parser."""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from pytest_httpserver import HTTPServer
from werkzeug import Response

from exporter.catalogue.model import Catalogue
from exporter.catalogue.page.model import ParsedPage
from exporter.config.drift import Limits, PageSettings
from exporter.metrics.drift import DriftCollector
from exporter.reference import page_source
from exporter.reference.page_edition import edition_info, implausibility
from exporter.reference.page_source import HttpOptions, PageSource, page_catalogue, snapshot_of
from exporter.reference.snapshot import Snapshot, SnapshotStore
from exporter.reference.tracker import ReferenceTracker
from exporter.reference.types import FetchFailure
from tests.support.page_editions import (
    CORE,
    EDITIONS,
    FIRST,
    SECOND,
    SECOND_DRIFT,
    TWO_SETS,
    page_set,
    use_fake_parser,
)
from tests.support.simulators.page_server import PATH, PageSimulator

HOUR = 3600.0


@pytest.fixture(autouse=True)
def fake_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_parser(monkeypatch)


@pytest.fixture
def page(httpserver: HTTPServer) -> PageSimulator:
    simulator = PageSimulator(httpserver)
    simulator.publish(b"first")
    return simulator


def catalogue() -> Catalogue:
    return page_catalogue(FIRST)


def tracker_for(page: PageSimulator, state: Path, **settings: object) -> ReferenceTracker:
    max_bytes = settings.pop("max_bytes", 10 * 1024 * 1024)
    source = PageSource(PageSettings(url=page.url, **settings), int(max_bytes), HttpOptions())  # type: ignore[arg-type, call-overload]
    return ReferenceTracker(source, SnapshotStore(state), catalogue(), Limits(), page=True)


@pytest.mark.anyio
async def test_an_edition_then_a_new_one_drifts(page: PageSimulator, tmp_path: Path) -> None:
    tracker = tracker_for(page, tmp_path)
    assert await tracker.refresh() == HOUR
    status = tracker.status
    assert status.snapshot is not None and status.snapshot.version is not None
    assert status.drift == ()
    assert status.failures == {}
    first = status.snapshot.version
    info = edition_info(status.snapshot)
    assert info is not None and (info.date, info.locale, info.source) == ("2025-08-21", "en-us", page.url)

    page.publish(b"second")
    assert await tracker.refresh() == HOUR
    status = tracker.status
    assert status.snapshot is not None and status.snapshot.version != first
    assert list(status.drift) == SECOND_DRIFT
    assert len(list(tmp_path.glob("*.json"))) == 1


@pytest.mark.anyio
async def test_conditional_requests_and_304(page: PageSimulator, tmp_path: Path) -> None:
    tracker = tracker_for(page, tmp_path)
    await tracker.refresh()
    first = tracker.status.snapshot
    first_success = tracker.status.last_success
    assert "If-None-Match" not in page.requests[0]
    time.sleep(0.01)

    assert await tracker.refresh() == HOUR
    assert page.requests[1]["If-None-Match"] == page.etag
    assert page.requests[1]["If-Modified-Since"] == page.last_modified
    status = tracker.status
    assert status.snapshot == first
    assert status.failures == {}
    assert (
        status.last_success is not None and first_success is not None and status.last_success > first_success
    )

    page.publish(b"second")
    await tracker.refresh()
    assert page.requests[2]["If-None-Match"] == '"edition-1"'
    assert tracker.status.snapshot is not None and tracker.status.snapshot.version != first.version  # type: ignore[union-attr]
    await tracker.refresh()
    assert page.requests[3]["If-None-Match"] == '"edition-2"'


@pytest.mark.anyio
async def test_same_content_without_validators_is_the_same_version(
    page: PageSimulator, tmp_path: Path
) -> None:
    page.validators = False
    tracker = tracker_for(page, tmp_path)
    await tracker.refresh()
    first = tracker.status.snapshot
    page.publish(b"first")  # re-rendered, same content
    await tracker.refresh()
    assert tracker.status.snapshot == first
    assert all("If-None-Match" not in headers for headers in page.requests)


def truncated() -> Response:
    response = Response(b"first", content_type="text/markdown")
    response.headers["Content-Length"] = "500"
    response.automatically_set_content_length = False
    return response


def huge() -> Response:
    chunk = b"| endpoint.manage.microsoft.com | 443 |\n" * 4096
    return Response(iter([chunk] * 320), content_type="text/markdown")  # about 50 MB, streamed


def stall() -> Response:
    time.sleep(2)
    return Response(b"first", content_type="text/markdown")


FAULTS = [
    pytest.param(Response("oops", status=500), FetchFailure.HTTP_STATUS, id="500"),
    pytest.param(stall, FetchFailure.TIMEOUT, id="timeout"),
    pytest.param(truncated, FetchFailure.CONNECTION, id="truncated"),
    pytest.param(
        Response("<html><body><h1>Proxy sign-in</h1></body></html>", content_type="text/html"),
        FetchFailure.PARSE_ERROR,
        id="html-error-page",
    ),
    pytest.param(huge, FetchFailure.TOO_LARGE, id="50MB"),
    pytest.param(
        Response(b"\xff\xfe| set | \xe9t\xe9 |", content_type="text/markdown"),
        FetchFailure.PARSE_ERROR,
        id="not-utf-8",
    ),
    pytest.param(Response("slow down", status=429), FetchFailure.RATE_LIMITED, id="429"),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("fault", "reason"), FAULTS)
async def test_a_fault_keeps_the_last_good_edition(
    page: PageSimulator, tmp_path: Path, fault: Response, reason: FetchFailure
) -> None:
    tracker = tracker_for(page, tmp_path, timeout=1.0, max_bytes=5 * 1024 * 1024)
    page.publish(b"second")
    await tracker.refresh()
    good = tracker.status.snapshot
    saved = next(tmp_path.glob("*.json")).read_bytes()

    page.fault = fault
    delay = await tracker.refresh()

    status = tracker.status
    assert status.snapshot == good
    assert list(status.drift) == SECOND_DRIFT
    assert status.failures == {reason: 1}
    assert status.last_error.startswith(f"{reason}: ")
    assert next(tmp_path.glob("*.json")).read_bytes() == saved
    assert delay == HOUR  # never sooner than the check interval, even after a failure

    page.fault = None
    page.publish(b"first")
    await tracker.refresh()
    assert tracker.status.drift == ()


@pytest.mark.anyio
async def test_an_implausible_edition_is_refused_and_logged_once(
    page: PageSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tracker = tracker_for(page, tmp_path)
    page.publish(b"second")
    await tracker.refresh()
    good = tracker.status.snapshot

    page.publish(b"two-sets")
    with caplog.at_level(logging.DEBUG, logger="exporter.reference"):
        for _ in range(3):
            assert await tracker.refresh() == HOUR
    status = tracker.status
    assert status.snapshot == good
    assert list(status.drift) == SECOND_DRIFT
    assert status.failures == {FetchFailure.IMPLAUSIBLE: 3}
    assert status.last_error == "implausible: 2 endpoint sets where the last good edition (2025-09-30) had 6"
    warnings = [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    assert warnings == [
        f"intune-page: fetch failed, implausible (keeping version {good.version}): "  # type: ignore[union-attr]
        "2 endpoint sets where the last good edition (2025-09-30) had 6"
    ]

    page.publish(b"first")
    await tracker.refresh()
    assert tracker.status.drift == ()


def snapshot(parsed: ParsedPage) -> Snapshot:
    return snapshot_of(parsed, "intune-page", "https://learn.microsoft.com/intune-endpoints")


IMPLAUSIBLE = [
    pytest.param(TWO_SETS, "2 endpoint sets where the last good edition (2025-08-21) had 5", id="few-sets"),
    pytest.param(
        replace(FIRST, sets=(replace(CORE, cidrs=CORE.cidrs[:1]), *FIRST.sets[1:])),
        "1 CIDR ranges where the last good edition (2025-08-21) had 4",
        id="few-cidrs",
    ),
    pytest.param(
        replace(
            FIRST,
            sets=(replace(CORE, cidrs=()), page_set("999", cidrs=CORE.cidrs), *FIRST.sets[1:]),
        ),
        "set 163 without subnets where the last good edition (2025-08-21) listed 4 for it",
        id="163-without-subnets",
    ),
    pytest.param(
        replace(FIRST, consolidated_fqdns=(), consolidated_subnets=()),
        "no consolidated endpoint list where the last good edition (2025-08-21) had one",
        id="consolidated-list-gone",
    ),
]


@pytest.mark.parametrize(("parsed", "reason"), IMPLAUSIBLE)
def test_implausible_against_the_last_good_edition(parsed: ParsedPage, reason: str) -> None:
    assert implausibility(snapshot(FIRST), snapshot(parsed)) == reason


def test_plausible_editions() -> None:
    assert implausibility(None, snapshot(TWO_SETS)) is None  # nothing to compare the first edition with
    assert implausibility(snapshot(FIRST), snapshot(SECOND)) is None
    assert implausibility(snapshot(FIRST), snapshot(FIRST)) is None
    half = replace(FIRST, sets=(replace(CORE, cidrs=CORE.cidrs[:2]), *FIRST.sets[1:]))
    assert implausibility(snapshot(FIRST), snapshot(half)) is None
    without_list = replace(FIRST, consolidated_fqdns=(), consolidated_subnets=())
    assert implausibility(snapshot(without_list), snapshot(without_list)) is None


def test_unstated_attributes_are_not_compared() -> None:
    items = {item["id"]: item for item in snapshot(FIRST).data}
    assert {"category", "required", "expressRoute"} <= set(items["163"])
    assert "category" not in items["asu-na"] and "required" not in items["asu-na"]
    assert "expressRoute" not in items["asu-na"]
    assert "category" not in items["maa"] and items["maa"]["expressRoute"] is False


@pytest.mark.anyio
async def test_a_restart_restores_the_last_good_edition(page: PageSimulator, tmp_path: Path) -> None:
    page.publish(b"second")
    await tracker_for(page, tmp_path).refresh()

    page.fault = Response("down", status=503)
    restarted = tracker_for(page, tmp_path)
    restarted.restore()
    status = restarted.status
    assert status.snapshot is not None
    assert list(status.drift) == SECOND_DRIFT
    info = edition_info(status.snapshot)
    assert info is not None and info.date == "2025-09-30"
    await restarted.refresh()
    assert restarted.status.snapshot == status.snapshot
    assert restarted.status.failures == {FetchFailure.HTTP_STATUS: 1}

    page.fault = None
    await restarted.refresh()  # no validators after a restart: one full download, same content
    assert "If-None-Match" not in page.requests[-1]
    assert restarted.status.snapshot == status.snapshot
    await restarted.refresh()
    assert page.requests[-1]["If-None-Match"] == page.etag


@pytest.mark.anyio
async def test_parser_warnings_are_logged_when_the_edition_is_taken(
    page: PageSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(EDITIONS, b"first", replace(FIRST, warnings=("set 181: a row without ports",)))
    tracker = tracker_for(page, tmp_path)
    with caplog.at_level(logging.WARNING, logger="exporter.reference"):
        await tracker.refresh()
    version = tracker.status.snapshot.version  # type: ignore[union-attr]
    assert [r.getMessage() for r in caplog.records] == [
        f"intune-page: version {version}: set 181: a row without ports"
    ]


@pytest.mark.anyio
async def test_page_metrics(page: PageSimulator, tmp_path: Path) -> None:
    tracker = tracker_for(page, tmp_path)
    registry = CollectorRegistry()
    registry.register(DriftCollector([tracker]))
    edition = {
        "source": "intune-page",
        "title": "Network endpoints for Microsoft Intune",
        "date": "2025-08-21",
        "locale": "en-us",
    }
    assert registry.get_sample_value("intune_catalogue_page_edition_info", edition) is None
    await tracker.refresh()
    assert registry.get_sample_value("intune_catalogue_page_edition_info", edition) == 1

    page.publish(b"two-sets")
    await tracker.refresh()
    assert registry.get_sample_value("intune_catalogue_page_edition_info", edition) == 1
    failures = {"source": "intune-page", "reason": "implausible"}
    assert registry.get_sample_value("intune_catalogue_reference_fetch_failures_total", failures) == 1

    page.publish(b"second")
    await tracker.refresh()
    assert registry.get_sample_value("intune_catalogue_page_edition_info", edition) is None
    assert (
        registry.get_sample_value("intune_catalogue_page_edition_info", {**edition, "date": "2025-09-30"})
        == 1
    )

    def drift(set_id: str, kind: str, direction: str) -> float | None:
        labels = {"source": "intune-page", "set_id": set_id, "kind": kind, "direction": direction}
        return registry.get_sample_value("intune_catalogue_drift_entries", labels)

    assert drift("163", "url", "covered") == 1
    assert drift("163", "url", "added") is None
    assert drift("200", "url", "added") == 1
    assert drift("200", "url", "covered") == 1


@pytest.mark.anyio
async def test_the_page_goes_through_the_proxy(httpserver: HTTPServer, tmp_path: Path) -> None:
    proxy = PageSimulator(httpserver)  # as an HTTP proxy: the request arrives in absolute form
    proxy.publish(b"first")
    settings = PageSettings(url=f"http://learn.microsoft.invalid{PATH}")
    source = PageSource(settings, 1024 * 1024, HttpOptions(proxy=proxy.server.url_for("/").rstrip("/")))
    tracker = ReferenceTracker(source, SnapshotStore(tmp_path), catalogue(), Limits())
    await tracker.refresh()
    assert tracker.status.failures == {}
    assert proxy.requests[0]["Host"] == "learn.microsoft.invalid"


@pytest.mark.anyio
async def test_a_parser_bug_is_a_parse_error_not_a_crash(
    page: PageSimulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tracker = tracker_for(page, tmp_path)
    await tracker.refresh()
    good = tracker.status.snapshot

    def broken(body: bytes, source: str, content_type: str = "") -> ParsedPage:
        raise IndexError("tuple index out of range")

    monkeypatch.setattr(page_source, "parse_page", broken)
    page.publish(b"second")
    assert await tracker.refresh() == HOUR
    assert tracker.status.snapshot == good
    assert tracker.status.last_error == (
        f"parse_error: {page.url}: the parser failed: IndexError: tuple index out of range"
    )


@pytest.mark.anyio
async def test_a_moved_article_is_followed(
    page: PageSimulator, httpserver: HTTPServer, tmp_path: Path
) -> None:
    httpserver.expect_request("/old-article").respond_with_response(
        Response(status=301, headers={"Location": page.url})
    )
    source = PageSource(PageSettings(url=httpserver.url_for("/old-article")), 1024 * 1024, HttpOptions())
    tracker = ReferenceTracker(source, SnapshotStore(tmp_path), catalogue(), Limits(), page=True)
    await tracker.refresh()
    info = edition_info(tracker.status.snapshot)
    assert info is not None and info.source == page.url


@pytest.mark.anyio
async def test_304_to_a_request_that_was_not_conditional_is_a_failure(
    page: PageSimulator, tmp_path: Path
) -> None:
    page.fault = Response(status=304)
    tracker = tracker_for(page, tmp_path)
    await tracker.refresh()
    assert tracker.status.snapshot is None
    assert tracker.status.last_error == (
        f"http_status: HTTP 304 to a request that was not conditional ({page.url})"
    )
