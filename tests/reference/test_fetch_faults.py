"""Web service faults that test_fetch.py leaves out: a body cut short by the connection closing."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import httpx
import pytest

from exporter.reference.fetch import fetch_json
from exporter.reference.types import FetchFailure, ReferenceFetchError

pytestmark = pytest.mark.anyio

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
CUT_SHORT = {
    "content-length": HEAD + b"Content-Length: 1000\r\n\r\n[1, 2, ",
    "chunked": HEAD + b"Transfer-Encoding: chunked\r\n\r\n7\r\n[1, 2, \r\n",
    "reset": HEAD + b"Content-Length: 1000\r\n\r\n[1, 2, ",
}
"""What the server sends before hanging up (with a RST for "reset")."""


@pytest.fixture
def cut_short_server(request: pytest.FixtureRequest) -> Iterator[str]:
    """A one-shot HTTP server on 127.0.0.1 that sends CUT_SHORT[param] and closes; yields its URL."""
    kind: str = request.param
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            received = b""
            while b"\r\n\r\n" not in received:
                received += connection.recv(4096)
            connection.sendall(CUT_SHORT[kind])
            if kind == "reset":
                connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    with listener:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/endpoints/Worldwide"
        thread.join(5)


@pytest.mark.parametrize("cut_short_server", list(CUT_SHORT), indirect=True)
async def test_body_cut_short_is_a_connection_failure(cut_short_server: str) -> None:
    async with httpx.AsyncClient(timeout=5, follow_redirects=False) as client:
        with pytest.raises(ReferenceFetchError) as caught:
            await fetch_json(client, cut_short_server, {}, max_bytes=1024 * 1024)
    assert caught.value.reason is FetchFailure.CONNECTION, caught.value.detail
    assert "\n" not in caught.value.detail
