"""A stand-in for learn.microsoft.com serving Microsoft's Intune endpoint page on a pytest-httpserver:
editions that change, ETag and Last-Modified with 304 answers to conditional requests, faults on demand."""

from __future__ import annotations

from collections.abc import Callable

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

PATH = "/en-us/intune/intune-service/fundamentals/intune-endpoints"
MARKDOWN = "text/markdown; charset=utf-8"


class PageSimulator:
    """Serves `body` at PATH. Each `publish` is a new edition with a new ETag and Last-Modified; a request
    whose If-None-Match is the current ETag gets 304. Tests set `fault` (a Response, or a callable building
    one) to answer with it instead; `requests` holds the headers of every request, oldest first."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.body = b""
        self.content_type = MARKDOWN
        self.edition = 0
        self.validators = True
        """Send ETag and Last-Modified (and honour them)."""
        self.fault: Response | Callable[[], Response] | None = None
        self.requests: list[dict[str, str]] = []
        server.expect_request(PATH).respond_with_handler(self._page)

    @property
    def url(self) -> str:
        return self.server.url_for(PATH)

    @property
    def etag(self) -> str:
        return f'"edition-{self.edition}"'

    @property
    def last_modified(self) -> str:
        return f"Thu, {self.edition + 1:02d} Aug 2025 00:00:00 GMT"

    def publish(self, body: bytes, content_type: str = MARKDOWN) -> None:
        self.body, self.content_type = body, content_type
        self.edition += 1

    def _page(self, request: Request) -> Response:
        self.requests.append(dict(request.headers))
        if self.fault is not None:
            return self.fault if isinstance(self.fault, Response) else self.fault()
        if self.validators and request.headers.get("If-None-Match") == self.etag:
            return Response(status=304, headers={"ETag": self.etag})
        headers = {"ETag": self.etag, "Last-Modified": self.last_modified} if self.validators else {}
        return Response(self.body, content_type=self.content_type, headers=headers)
