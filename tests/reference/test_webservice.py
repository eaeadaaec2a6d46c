"""WebService against a local stand-in for endpoints.office.com; format_changes on good and bad records."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from exporter import __version__
from exporter.config.drift import INSTANCES
from exporter.reference.types import FetchFailure, ReferenceFetchError
from exporter.reference.webservice import WebService, format_changes
from tests.support.paths import DATA as TEST_DATA

DATA = TEST_DATA / "webservice"
CLIENT_ID = "6f1c2a4e-9a53-4d6b-8f3e-2b7c1d0e5a91"
MB = 1024 * 1024


def fixture(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def service(base_url: str, instance: str = "Worldwide", timeout: float = 5.0) -> WebService:
    return WebService(
        base_url=base_url, instance=instance, client_request_id=CLIENT_ID, max_bytes=MB, timeout=timeout
    )


@pytest.fixture
def release() -> Iterator[threading.Event]:
    event = threading.Event()
    yield event
    event.set()


@pytest.mark.anyio
async def test_version(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(
        "/version/Worldwide",
        query_string={"clientrequestid": CLIENT_ID},
        headers={"User-Agent": f"intune-endpoint-exporter/{__version__}"},
    ).respond_with_json(fixture("version-worldwide.json"))
    assert await service(httpserver.url_for("/")).version() == "2025112700"
    httpserver.check_assertions()


@pytest.mark.anyio
async def test_endpoints_sends_service_areas(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(
        "/endpoints/USGovGCCHigh", query_string={"ServiceAreas": "MEM,Common", "clientrequestid": CLIENT_ID}
    ).respond_with_json(fixture("endpoints-mem.json"))
    data = await service(httpserver.url_for(""), "USGovGCCHigh").endpoints(["MEM", "Common"])
    assert data == fixture("endpoints-mem.json")
    httpserver.check_assertions()


@pytest.mark.anyio
async def test_changes(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request(
        "/changes/Worldwide/2025103000", query_string={"clientrequestid": CLIENT_ID}
    ).respond_with_json(fixture("changes-since.json"))
    assert await service(httpserver.url_for("")).changes("2025103000") == fixture("changes-since.json")
    httpserver.check_assertions()


@pytest.mark.anyio
async def test_base_url_with_a_path(httpserver: HTTPServer) -> None:
    """A mirror below a path prefix keeps its prefix."""
    httpserver.expect_oneshot_request("/mirror/o365/version/China").respond_with_json(
        {"instance": "China", "latest": "2025112701"}
    )
    assert await service(httpserver.url_for("/mirror/o365/"), "China").version() == "2025112701"


@pytest.mark.anyio
async def test_uses_the_proxy_from_the_environment(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """trust_env: HTTP(S)_PROXY is honoured, as corporate networks need. The 'proxy' here is the local server,
    which receives the absolute URL; nothing leaves loopback."""
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", httpserver.url_for(""))
    httpserver.expect_oneshot_request("/version/Worldwide").respond_with_json(
        fixture("version-worldwide.json")
    )
    assert await service("http://endpoints.example.invalid").version() == "2025112700"
    httpserver.check_assertions()


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body",
    [
        {"latest": 5},
        [],
        {"instance": "Worldwide"},
        {"latest": "2025-11-27"},
        {"latest": "٢٠٢٥١١٢٧٠٠"},
        "2025112700",
    ],
)
async def test_version_of_the_wrong_shape(httpserver: HTTPServer, body: Any) -> None:
    httpserver.expect_oneshot_request("/version/Worldwide").respond_with_json(body)
    with pytest.raises(ReferenceFetchError) as caught:
        await service(httpserver.url_for("")).version()
    assert caught.value.reason is FetchFailure.BAD_SHAPE


@pytest.mark.anyio
async def test_changes_of_the_wrong_shape(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/changes/Worldwide/2025103000").respond_with_json({"error": "no"})
    with pytest.raises(ReferenceFetchError) as caught:
        await service(httpserver.url_for("")).changes("2025103000")
    assert caught.value.reason is FetchFailure.BAD_SHAPE
    assert "got dict" in caught.value.detail


FAULTS = [
    pytest.param(Response("oops", status=500), FetchFailure.HTTP_STATUS, None, id="500"),
    pytest.param(
        Response(status=429, headers={"Retry-After": "3600"}), FetchFailure.RATE_LIMITED, 3600.0, id="429"
    ),
    pytest.param(
        Response('{"latest": "20251', content_type="application/json"),
        FetchFailure.MALFORMED_JSON,
        None,
        id="truncated",
    ),
    pytest.param(
        Response("<html>Sign in</html>", content_type="text/html"), FetchFailure.NOT_JSON, None, id="html"
    ),
]


@pytest.mark.anyio
@pytest.mark.parametrize(("response", "reason", "retry_after"), FAULTS)
async def test_faults(
    httpserver: HTTPServer, response: Response, reason: FetchFailure, retry_after: float | None
) -> None:
    httpserver.expect_oneshot_request("/version/Worldwide").respond_with_response(response)
    with pytest.raises(ReferenceFetchError) as caught:
        await service(httpserver.url_for("")).version()
    assert caught.value.reason is reason
    assert caught.value.retry_after == retry_after


@pytest.mark.anyio
async def test_timeout(httpserver: HTTPServer, release: threading.Event) -> None:
    def stall(request: Request) -> Response:
        release.wait(10)
        return Response("{}", content_type="application/json")

    httpserver.expect_oneshot_request("/version/Worldwide").respond_with_handler(stall)
    with pytest.raises(ReferenceFetchError) as caught:
        await service(httpserver.url_for(""), timeout=0.5).version()
    assert caught.value.reason is FetchFailure.TIMEOUT


@pytest.mark.anyio
async def test_connection_refused() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(ReferenceFetchError) as caught:
        await service(f"http://127.0.0.1:{port}").version()
    assert caught.value.reason is FetchFailure.CONNECTION


@pytest.mark.anyio
async def test_too_large(httpserver: HTTPServer) -> None:
    httpserver.expect_oneshot_request("/endpoints/Worldwide").respond_with_response(
        Response(iter([b"[", b'"a",' * MB, b'"a"]']), content_type="application/json")
    )
    with pytest.raises(ReferenceFetchError) as caught:
        await service(httpserver.url_for("")).endpoints(["MEM"])
    assert caught.value.reason is FetchFailure.TOO_LARGE


@pytest.mark.parametrize(
    "arguments",
    [
        {"instance": "Germany"},
        {"client_request_id": "not-a-guid"},
        {"base_url": "ftp://endpoints.office.com"},
        {"max_bytes": 0},
        {"timeout": 0},
    ],
)
def test_invalid_construction(arguments: dict[str, Any]) -> None:
    settings: dict[str, Any] = {
        "base_url": "https://endpoints.office.com",
        "instance": INSTANCES[0],
        "client_request_id": CLIENT_ID,
        "max_bytes": MB,
        "timeout": 30.0,
    }
    with pytest.raises(ValueError):
        WebService(**{**settings, **arguments})


@pytest.mark.anyio
async def test_invalid_arguments_never_reach_the_server() -> None:
    web_service = service("http://127.0.0.1:9")
    with pytest.raises(ValueError):
        await web_service.changes("../version/Worldwide")
    with pytest.raises(ValueError):
        await web_service.endpoints("MEM")
    with pytest.raises(ValueError):
        await web_service.endpoints(["MEM&x=1"])


def test_format_changes_of_the_fixture() -> None:
    assert format_changes(fixture("changes-since.json")) == [
        "2025112700 set 163 change: urls +intunecdnpeasd.manage.microsoft.com (effective 20251127)",
        "2025112700 set 163 change: ips -13.67.13.176/28",
        "2025112700 set 172 change: category Default -> Allow",
        "2025112700 set 200 add: now expressRoute false, serviceArea MEM, category Default, required true, "
        "tcpPorts 443; urls +mem-newservice.manage.microsoft.com, +*.newservice.manage.microsoft.com "
        "(effective 20251127)",
    ]


def test_format_changes_of_garbage() -> None:
    garbage: list[Any] = [
        "a string",
        None,
        {"disposition": "add"},
        {"endpointSetId": True, "disposition": "add"},
        {"endpointSetId": 163, "disposition": 5},
        {"endpointSetId": "164", "disposition": "remove", "version": 2025, "remove": {"urls": "x.example"}},
        {"endpointSetId": 165, "disposition": "change", "previous": [], "current": {"required": 1}},
        {
            "endpointSetId": 166,
            "disposition": "change",
            "previous": {"required": True},
            "current": {"required": 1},
        },
        {
            "endpointSetId": 167,
            "disposition": "add",
            "add": {"urls": [None, 3, {"a": 1}, "ok.example\n\x1b[31m"]},
        },
        {"endpointSetId": 168, "disposition": "change\nforged line", "impact": "AddedUrl"},
        {
            "endpointSetId": 169,
            "disposition": "change",
            "add": {"urls": ["h.example"] * 25, "effectiveDate": 7},
        },
    ]
    assert format_changes(garbage) == [
        "change record #0 skipped: not an object but str",
        "change record #1 skipped: not an object but NoneType",
        "change record #2 skipped: endpointSetId missing or not an integer",
        "change record #3 skipped: endpointSetId missing or not an integer",
        "change record #4 skipped: disposition missing or not a string",
        "? set 164 remove: urls malformed (str)",
        "? set 165 change: previous malformed (list); now required 1",
        "? set 166 change: required true -> 1",
        "? set 167 add: urls +(none), +3, +<dict>, +ok.example [31m",
        "? set 168 change forged line: impact AddedUrl",
        "? set 169 change: urls " + ", ".join(["+h.example"] * 10) + " (and 15 more)",
    ]


@pytest.mark.parametrize("changes", [None, {"id": 1}, "[]", 42])
def test_format_changes_of_a_non_list(changes: Any) -> None:
    (line,) = format_changes(changes)
    assert line.startswith("change records skipped: expected a list")


def test_format_changes_is_bounded() -> None:
    record = {"endpointSetId": 163, "disposition": "change", "version": "2025112700", "impact": "AddedUrl"}
    lines = format_changes([record] * 1000, limit=5)
    assert lines[:5] == ["2025112700 set 163 change: impact AddedUrl"] * 5
    assert lines[5:] == ["995 more change records not shown"]
