"""The CONNECT tunnel against a proxy that answers exactly what each test scripts (squid and mitmproxy
cover the well-behaved answers in tests/e2e/test_network.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from exporter.probes import tcp
from exporter.probes.outcome import Reason
from exporter.probes.prober import ProbeTarget
from tests.support.simulators.scripted_proxy import Script, answer, scripted_proxy
from tests.support.simulators.tls_servers import LoopbackLab

pytestmark = pytest.mark.anyio

TARGET = ProbeTarget("manage.microsoft.com", "manage.microsoft.com", 443)


async def probe_through(loopback_lab: LoopbackLab, script: Script) -> tuple[Reason | None, str, list[bytes]]:
    with scripted_proxy(script, "user:secret") as (route, heads):
        settings = replace(loopback_lab.probe_settings(timeout=1.0), proxy=route, port_remap={})
        outcome = await tcp.probe(TARGET, settings)
    return outcome.reason, outcome.detail, heads


async def test_the_connect_request_names_the_target_and_carries_the_credentials(
    loopback_lab: LoopbackLab,
) -> None:
    reason, detail, heads = await probe_through(
        loopback_lab, answer(b"HTTP/1.1 200 Connection established\r\n\r\n")
    )

    assert reason is None, detail
    request_line, *headers = heads[0].decode("ascii").split("\r\n")
    assert request_line == "CONNECT manage.microsoft.com:443 HTTP/1.1"
    assert "Host: manage.microsoft.com:443" in headers
    assert "Proxy-Authorization: Basic dXNlcjpzZWNyZXQ=" in headers  # user:secret


@pytest.mark.parametrize(
    ("reply", "reason", "detail"),
    [
        (
            b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n",
            Reason.PROXY_AUTH_REQUIRED,
            "answered 407 Proxy Authentication Required",
        ),
        (b"HTTP/1.1 403 Forbidden\r\n\r\n", Reason.PROXY_REFUSED, "answered 403 Forbidden"),
        (b"HTTP/1.0 502 Bad Gateway\r\n\r\n", Reason.PROXY_ERROR, "answered 502 Bad Gateway"),
        (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", Reason.PROXY_ERROR, "did not answer in HTTP"),
        (b"HTTP/1.1 200 OK\r\n" + b"X-Filler: a\r\n" * 2_000, Reason.PROXY_ERROR, "too long"),
        (b"HTTP/1.1 200 Connection", Reason.PROXY_ERROR, "closed the connection"),
        (b"", Reason.PROXY_ERROR, "closed the connection"),
    ],
    ids=["407", "403", "502", "not-http", "oversized-head", "cut-short", "silent-close"],
)
async def test_what_the_proxy_answers_becomes_the_reason(
    loopback_lab: LoopbackLab, reply: bytes, reason: Reason, detail: str
) -> None:
    got_reason, got_detail, _ = await probe_through(loopback_lab, answer(reply))

    assert got_reason is reason
    assert detail in got_detail
    assert "secret" not in got_detail
