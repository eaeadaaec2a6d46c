"""A simulator of Microsoft's endpoint web service on a pytest-httpserver, serving the documented shape from
tests/data/webservice and, on demand, faults."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tests.support.paths import DATA as TEST_DATA

DATA = TEST_DATA / "webservice"
FIRST_VERSION = "2025110100"
NEW_VERSION = "2025112700"


def fixture(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


class WebServiceSimulator:
    """Answers /version, /endpoints and /changes.

    Tests change `version` and `endpoints`, or set `fault` (a Response, or a callable building one) for the
    requests of `fault_on` ('version' or 'endpoints')."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.version = FIRST_VERSION
        self.endpoints: Any = fixture("endpoints-mem.json")
        self.fault: Response | Callable[[], Response] | None = None
        self.fault_on = "version"
        self.calls: Counter[str] = Counter()
        self.client_ids: set[str] = set()
        server.expect_request(re.compile(r"^/version/\w+$")).respond_with_handler(self._version)
        server.expect_request(re.compile(r"^/endpoints/\w+$")).respond_with_handler(self._endpoints)
        server.expect_request(re.compile(r"^/changes/\w+/\d+$")).respond_with_handler(self._changes)

    @property
    def base_url(self) -> str:
        return self.server.url_for("").rstrip("/")

    def publish_new_list(self) -> None:
        self.version = NEW_VERSION
        self.endpoints = fixture("endpoints-mem-new.json")

    def _faulty(self, method: str) -> Response | None:
        if self.fault is None or self.fault_on != method:
            return None
        return self.fault if isinstance(self.fault, Response) else self.fault()

    def _version(self, request: Request) -> Response:
        self.calls["version"] += 1
        self.client_ids.add(request.args.get("clientrequestid", ""))
        instance = request.path.rsplit("/", 1)[1]
        return self._faulty("version") or _json({"instance": instance, "latest": self.version})

    def _endpoints(self, request: Request) -> Response:
        self.calls["endpoints"] += 1
        self.client_ids.add(request.args.get("clientrequestid", ""))
        return self._faulty("endpoints") or _json(self.endpoints)

    def _changes(self, request: Request) -> Response:
        self.calls["changes"] += 1
        return _json(fixture("changes-since.json"))


def _json(data: Any) -> Response:
    return Response(json.dumps(data), content_type="application/json")
