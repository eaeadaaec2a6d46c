"""Basic auth in front of the exporter's app, on a real server on 127.0.0.1."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import bcrypt
import httpx
import pytest

from exporter.web import basic_auth
from exporter.web.app import MetricsServer
from exporter.web.basic_auth import BasicAuth, require_basic_auth

PASSWORD = "planted-password-3b9a"
HASH = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4))


def echo(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
    """Answers every request with its method and path."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [f"{environ['REQUEST_METHOD']} {environ['PATH_INFO']}".encode()]


@pytest.fixture
def base() -> Iterator[str]:
    server = MetricsServer("127.0.0.1", 0, require_basic_auth(echo, BasicAuth({"prometheus": HASH})))
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_every_path_but_the_probes_needs_credentials(base: str) -> None:
    for path in ("/metrics", "/", "/api/status", "/nope"):
        response = httpx.get(base + path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == 'Basic realm="intune-endpoint-exporter"'
        assert PASSWORD not in response.text
    assert httpx.post(base + "/-/reload").status_code == 401
    assert httpx.get(base + "/healthz").text == "GET /healthz"
    assert httpx.get(base + "/ready").text == "GET /ready"


def test_wrong_unknown_and_right_credentials(base: str) -> None:
    assert httpx.get(base + "/metrics", auth=("prometheus", "wrong")).status_code == 401
    assert httpx.get(base + "/metrics", auth=("prometheus", PASSWORD + "x")).status_code == 401
    assert httpx.get(base + "/metrics", auth=("grafana", PASSWORD)).status_code == 401
    assert httpx.get(base + "/metrics", auth=("prometheus", PASSWORD)).text == "GET /metrics"
    assert httpx.post(base + "/-/reload", auth=("prometheus", PASSWORD)).text == "POST /-/reload"


@pytest.mark.parametrize(
    "header",
    [
        "Bearer abc",
        "Basic !!!not-base64",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"prometheus:" + b"x" * 100).decode(),  # beyond bcrypt's 72 bytes
        "Basic",
    ],
)
def test_malformed_authorization_is_refused(base: str, header: str) -> None:
    assert httpx.get(base + "/metrics", headers={"Authorization": header}).status_code == 401


def test_successful_checks_are_cached_failures_are_not(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        calls.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    auth = BasicAuth({"prometheus": HASH})
    good = "Basic " + base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode()
    bad = "Basic " + base64.b64encode(b"prometheus:wrong").decode()
    assert auth.allowed(good) and auth.allowed(good)
    assert len(calls) == 1
    assert not auth.allowed(bad) and not auth.allowed(bad)
    assert len(calls) == 3
    unknown = "Basic " + base64.b64encode(f"nobody:{PASSWORD}".encode()).decode()
    assert not auth.allowed(unknown)
    assert len(calls) == 4  # unknown users cost a bcrypt check too


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(basic_auth, "CACHE_SIZE", 3)
    hashes = {f"user{i}": bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)) for i in range(5)}
    auth = BasicAuth(hashes)
    for user in hashes:
        assert auth.allowed("Basic " + base64.b64encode(f"{user}:pw".encode()).decode())
    assert len(auth._verified) == 3


@pytest.mark.parametrize("prefix", [b"$2a$", b"$2b$", b"$2y$"])
def test_every_bcrypt_prefix_verifies(prefix: bytes) -> None:
    auth = BasicAuth({"prometheus": prefix + HASH[4:]})
    assert auth.allowed("Basic " + base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode())
    assert not auth.allowed("Basic " + base64.b64encode(b"prometheus:wrong").decode())
