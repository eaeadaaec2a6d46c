"""The page source end to end: real editions of the page (tests/data) served by a local server, read by the
real parser, compared with a catalogue, and the ways a real document goes wrong."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Response

from exporter.catalogue.model import Catalogue
from exporter.catalogue.page import parse_page
from exporter.config.drift import Limits, PageSettings
from exporter.reference.drift import Direction, DriftEntry, Kind, has_added
from exporter.reference.page_edition import edition_info
from exporter.reference.page_source import HttpOptions, PageSource, page_catalogue
from exporter.reference.snapshot import SnapshotStore
from exporter.reference.tracker import ReferenceTracker
from exporter.reference.types import FetchFailure
from tests.support.paths import DATA
from tests.support.simulators.page_server import PageSimulator

SEED = DATA / "intune-endpoints-ko.txt"
EDITION_MD = DATA / "page" / "2025-08-21.md"
EDITION_KO_HTML = DATA / "page" / "2025-08-21.ko-kr.html"
FIRST = DATA / "drift-page" / "first.md"
SECOND = DATA / "drift-page" / "second.md"
TEXT = "text/plain; charset=utf-8"


def catalogue_of(path: Path) -> Catalogue:
    return page_catalogue(parse_page(path.read_bytes(), str(path)))


@pytest.fixture
def page(httpserver: HTTPServer) -> PageSimulator:
    return PageSimulator(httpserver)


def tracker_for(page: PageSimulator, state: Path, catalogue: Catalogue) -> ReferenceTracker:
    source = PageSource(PageSettings(url=page.url, timeout=5.0), 10 * 1024 * 1024, HttpOptions())
    return ReferenceTracker(source, SnapshotStore(state), catalogue, Limits(), page=True)


@pytest.mark.anyio
async def test_the_seed_edition_then_the_2025_08_21_edition(
    page: PageSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    page.publish(SEED.read_bytes(), TEXT)
    tracker = tracker_for(page, tmp_path, catalogue_of(SEED))
    await tracker.refresh()
    assert tracker.status.snapshot is not None
    assert tracker.status.drift == ()

    page.publish(EDITION_MD.read_bytes())
    await tracker.refresh()
    status = tracker.status
    assert status.failures == {}
    info = edition_info(status.snapshot)
    assert info is not None and (info.date, info.locale, info.form) == ("2025-08-21", "en-us", "markdown")
    assert has_added(status.drift)
    for entry in [
        DriftEntry("192", Kind.SET, Direction.ADDED, "192"),
        DriftEntry("192", Kind.URL, Direction.ADDED, "fd.api.orgmsg.microsoft.com"),
        DriftEntry("163", Kind.IP, Direction.ADDED, "2620:1ec:40::/48"),
        DriftEntry("163", Kind.IP, Direction.REMOVED, "13.71.199.64/28"),
        DriftEntry("170", Kind.PORT, Direction.ADDED, "tcp/80"),
        DriftEntry("179", Kind.URL, Direction.COVERED, "intunecdnpeasd.manage.microsoft.com"),
        DriftEntry("macos-na", Kind.SET, Direction.ADDED, "macos-na"),
    ]:
        assert entry in status.drift
    assert not any(entry.kind is Kind.ATTRIBUTE for entry in status.drift)  # same facts, other words
    new = status

    # The seed again: a page without the consolidated list the last good edition had is refused.
    page.publish(SEED.read_bytes(), TEXT)
    with caplog.at_level(logging.WARNING, logger="exporter.reference"):
        await tracker.refresh()
    assert (tracker.status.snapshot, tracker.status.drift) == (new.snapshot, new.drift)
    assert tracker.status.last_error == (
        "implausible: no consolidated endpoint list where the last good edition (2025-08-21) had one"
    )
    assert len(caplog.records) == 1

    # The same edition in Korean HTML: another edition (title, locale), the same drift.
    page.publish(EDITION_KO_HTML.read_bytes(), "text/html; charset=utf-8")
    await tracker.refresh()
    korean = tracker.status
    info = edition_info(korean.snapshot)
    assert info is not None and (info.date, info.locale, info.form) == ("2025-08-21", "ko-kr", "html")
    assert korean.drift == new.drift


@pytest.mark.anyio
async def test_a_new_edition_of_the_page_drifts(page: PageSimulator, tmp_path: Path) -> None:
    page.publish(FIRST.read_bytes())
    tracker = tracker_for(page, tmp_path, catalogue_of(FIRST))
    await tracker.refresh()
    assert tracker.status.snapshot is not None
    assert tracker.status.drift == ()

    page.publish(SECOND.read_bytes())
    await tracker.refresh()
    status = tracker.status
    assert status.failures == {}
    info = edition_info(status.snapshot)
    assert info is not None and (info.date, info.locale, info.form) == ("2025-09-30", "en-us", "markdown")
    assert list(status.drift) == [
        DriftEntry("163", Kind.IP, Direction.REMOVED, "13.67.13.176/28"),
        DriftEntry("163", Kind.URL, Direction.COVERED, "intunecdnpeasd.manage.microsoft.com"),
        DriftEntry("170", Kind.URL, Direction.ADDED, "enterpriseregistration.windows.net"),
        DriftEntry("172", Kind.ATTRIBUTE, Direction.CHANGED, "category: Default -> Allow"),
        DriftEntry("200", Kind.PORT, Direction.ADDED, "tcp/443"),
        DriftEntry("200", Kind.SET, Direction.ADDED, "200"),
        DriftEntry("200", Kind.URL, Direction.ADDED, "*.newservice.manage.microsoft.com"),
        DriftEntry("200", Kind.URL, Direction.COVERED, "mem-newservice.manage.microsoft.com"),
    ]


@pytest.mark.anyio
async def test_the_seed_then_a_page_with_few_sets_is_implausible(
    page: PageSimulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    page.publish(SEED.read_bytes(), TEXT)
    tracker = tracker_for(page, tmp_path, catalogue_of(FIRST))
    await tracker.refresh()
    good = tracker.status
    assert good.snapshot is not None and len(good.items) == 31
    assert has_added(good.drift)  # the seed lists far more than the small catalogue
    info = edition_info(good.snapshot)
    assert info is not None and (info.locale, info.date, info.form) == ("ko-kr", "", "text")

    page.publish(FIRST.read_bytes())  # parses (6 sets), but a fifth of the last good edition
    with caplog.at_level(logging.WARNING, logger="exporter.reference"):
        await tracker.refresh()
        await tracker.refresh()
    status = tracker.status
    assert (status.snapshot, status.drift) == (good.snapshot, good.drift)
    assert status.failures == {FetchFailure.IMPLAUSIBLE: 2}
    assert status.last_error == "implausible: 6 endpoint sets where the last good edition (undated) had 31"
    assert len(caplog.records) == 1


def cut_short() -> bytes:
    text = FIRST.read_text(encoding="utf-8")
    return text[: text.index("| 172 |")].encode()


BROKEN = [
    pytest.param(
        Response("<html><head><title>502 Bad Gateway</title></head></html>", content_type="text/html"),
        "an HTML error page ('502 Bad Gateway'), not the endpoints article",
        id="html-error-page",
    ),
    pytest.param(
        Response("<html><body><h1>Sign in to the proxy</h1></body></html>", content_type="text/html"),
        "not the Intune endpoints article: no table has an ID column",
        id="proxy-login-page",
    ),
    pytest.param(
        Response(FIRST.read_text(encoding="utf-8").encode("utf-16"), content_type="text/markdown"),
        "not UTF-8 text (byte 0xff at offset 0 is not UTF-8)",
        id="not-utf-8",
    ),
    pytest.param(
        Response(cut_short(), content_type="text/markdown"),
        "only 2 endpoint sets in ID tables (a whole edition has about 20): the document is truncated",
        id="two-sets",
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("response", "problem"), BROKEN)
async def test_a_document_that_is_not_the_page_keeps_the_last_good_edition(
    page: PageSimulator, tmp_path: Path, response: Response, problem: str
) -> None:
    page.publish(SECOND.read_bytes())
    tracker = tracker_for(page, tmp_path, catalogue_of(FIRST))
    await tracker.refresh()
    good = tracker.status

    page.fault = response
    await tracker.refresh()
    status = tracker.status
    assert (status.snapshot, status.drift) == (good.snapshot, good.drift)
    assert status.failures == {FetchFailure.PARSE_ERROR: 1}
    assert status.last_error == f"parse_error: {page.url}: {problem}"
