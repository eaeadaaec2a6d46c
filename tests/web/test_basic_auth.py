"""Basic auth in front of the exporter's app, on a real server on 127.0.0.1."""

from __future__ import annotations

import base64
import statistics
import time
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


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_every_check_costs_the_work_of_the_highest_configured_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    hashes = {
        "low": bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)),
        "mid": b"$2y$" + bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=6))[4:],
        "high": bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=8)),
    }
    auth = BasicAuth(hashes)
    assert auth.cost == 8
    assert basic_auth.bcrypt_cost(auth.checked_hashes(None)[0]) == 8  # the unknown users' hash
    work: list[int] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        work.append(2 ** basic_auth.bcrypt_cost(hashed))
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    for user in ("low", "mid", "high", "nobody"):
        for password in ("wrong", "pw"):
            work.clear()
            assert auth.allowed(basic(user, password)) == (password == "pw" and user != "nobody")
            assert sum(work) == 2**8, (user, password)
    work.clear()
    assert auth.allowed(basic("low", "pw"))
    assert work == []  # remembered
    assert BasicAuth({}).cost == basic_auth.DEFAULT_COST


def test_unknown_and_known_users_take_as_long_to_refuse() -> None:
    """htpasswd's default cost (5) beside a higher one (12): the time of a wrong password tells nothing."""
    auth = BasicAuth(
        {
            "htpasswd": bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=5)),
            "strong": bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=12)),
        }
    )

    def median_seconds(user: str) -> float:
        took = []
        for attempt in range(5):
            started = time.perf_counter()
            assert not auth.allowed(basic(user, f"wrong-{attempt}"))
            took.append(time.perf_counter() - started)
        return statistics.median(took)

    unknown = median_seconds("nobody")
    for user in ("htpasswd", "strong"):
        assert 0.5 < median_seconds(user) / unknown < 2, user
