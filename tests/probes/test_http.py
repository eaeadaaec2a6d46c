from __future__ import annotations

import gc

import pytest

from exporter.probes import http, https
from exporter.probes.http import host_header, request_url
from exporter.probes.outcome import Phase, Reason
from exporter.probes.prober import ProbeTarget, Protocol
from exporter.probes.registry import PROBERS
from tests.support.simulators.tls_servers import LoopbackLab

pytestmark = pytest.mark.anyio

HOST = "enrollment.manage.microsoft.com"


async def test_plain_http_status_and_headers(loopback_lab: LoopbackLab) -> None:
    settings = loopback_lab.probe_settings(user_agent="probe-test/1")

    outcome = await http.probe(ProbeTarget(HOST, loopback_lab.HEALTHY, 80), settings)

    assert outcome.ok
    assert outcome.http_status == 200
    assert set(outcome.phases) == {Phase.CONNECT, Phase.HTTP}
    request, _ = loopback_lab.http_server.log[-1]
    assert request.headers["Host"] == HOST
    assert request.headers["User-Agent"] == "probe-test/1"
    assert request.path == "/"


async def test_https_to_the_pinned_address_uses_the_catalogue_name(loopback_lab: LoopbackLab) -> None:
    outcome = await https.probe(ProbeTarget(HOST, loopback_lab.HEALTHY, 443), loopback_lab.probe_settings())

    assert outcome.ok
    assert outcome.http_status == 200
    assert outcome.intercepted is False
    assert loopback_lab.server_names[-1] == HOST
    request, _ = loopback_lab.https_server.log[-1]
    assert request.headers["Host"] == HOST


@pytest.mark.parametrize("status", [404, 503, 302])
async def test_any_status_is_success_and_redirects_are_not_followed(
    loopback_lab: LoopbackLab, status: int
) -> None:
    settings = loopback_lab.probe_settings(http_path=f"/status/{status}")

    outcome = await https.probe(ProbeTarget(HOST, loopback_lab.HEALTHY, 443), settings)

    assert outcome.ok
    assert outcome.reason is None
    assert outcome.http_status == status
    request, _ = loopback_lab.https_server.log[-1]
    assert request.path == f"/status/{status}"


async def test_non_default_catalogue_port_goes_into_the_host_header(loopback_lab: LoopbackLab) -> None:
    settings = loopback_lab.probe_settings(port_remap={8443: loopback_lab.https_port})

    outcome = await https.probe(ProbeTarget(HOST, loopback_lab.HEALTHY, 8443), settings)

    assert outcome.http_status == 200
    request, _ = loopback_lab.https_server.log[-1]
    assert request.headers["Host"] == f"{HOST}:8443"


@pytest.mark.parametrize(
    ("address", "host", "reason"),
    [
        ("127.0.0.4", HOST, Reason.TLS_UNTRUSTED),
        ("127.0.0.6", HOST, Reason.TLS_EXPIRED),
        ("127.0.0.1", "wrong-name.invalid", Reason.TLS_HOSTNAME_MISMATCH),
    ],
)
async def test_certificate_problems_have_the_tls_reasons(
    loopback_lab: LoopbackLab, address: str, host: str, reason: Reason
) -> None:
    outcome = await https.probe(ProbeTarget(host, address, 443), loopback_lab.probe_settings())

    assert outcome.reason is reason
    assert outcome.detail.startswith("certificate verify failed: ")
    assert outcome.http_status is None


async def test_inspection_ca_answers_when_trusted(loopback_lab: LoopbackLab) -> None:
    settings = loopback_lab.probe_settings(trust=loopback_lab.untrusted_context)

    outcome = await https.probe(ProbeTarget(HOST, loopback_lab.UNTRUSTED, 443), settings)

    assert outcome.http_status == 200
    assert outcome.intercepted is True  # "Contoso TLS Inspection CA" says what it is


async def test_silent_https_server_is_a_tls_timeout(loopback_lab: LoopbackLab) -> None:
    outcome = await https.probe(
        ProbeTarget(HOST, loopback_lab.SILENT, 443), loopback_lab.probe_settings(timeout=0.5)
    )
    gc.collect()  # a socket abandoned by the cancelled handshake would warn now and fail the test

    assert outcome.reason is Reason.TLS_TIMEOUT
    assert outcome.detail == "no TLS handshake within 0.5s"


async def test_silent_http_server_is_an_http_timeout(loopback_lab: LoopbackLab) -> None:
    outcome = await http.probe(
        ProbeTarget(HOST, loopback_lab.SILENT, 80), loopback_lab.probe_settings(timeout=0.5)
    )
    gc.collect()

    assert outcome.reason is Reason.HTTP_TIMEOUT
    assert outcome.detail == "no response headers within 0.5s"


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_blackhole_is_a_connect_timeout(loopback_lab: LoopbackLab, scheme: str) -> None:
    port = 80 if scheme == "http" else 443

    prober = PROBERS[Protocol(scheme)]
    outcome = await prober(
        ProbeTarget(HOST, loopback_lab.BLACKHOLE, port), loopback_lab.probe_settings(timeout=0.5)
    )
    gc.collect()

    assert outcome.reason is Reason.CONNECT_TIMEOUT


@pytest.mark.parametrize("scheme", ["http", "https"])
async def test_refused(loopback_lab: LoopbackLab, scheme: str) -> None:
    port = 80 if scheme == "http" else 443

    prober = PROBERS[Protocol(scheme)]
    outcome = await prober(ProbeTarget(HOST, loopback_lab.REFUSED, port), loopback_lab.probe_settings())

    assert outcome.reason is Reason.CONNECT_REFUSED
    assert outcome.detail == "Connection refused"


async def test_plain_http_to_a_tls_port_is_an_http_error(loopback_lab: LoopbackLab) -> None:
    # The HTTPS server fails its handshake on the request line and drops the connection.
    outcome = await http.probe(ProbeTarget(HOST, loopback_lab.HEALTHY, 443), loopback_lab.probe_settings())

    assert outcome.reason is Reason.HTTP_ERROR
    assert outcome.detail


async def test_https_to_a_plain_port_is_a_handshake_failure(loopback_lab: LoopbackLab) -> None:
    outcome = await https.probe(ProbeTarget(HOST, loopback_lab.HEALTHY, 80), loopback_lab.probe_settings())

    assert outcome.reason is Reason.TLS_HANDSHAKE_FAILED
    assert outcome.detail == "wrong version number"


def test_request_url_brackets_ipv6() -> None:
    assert request_url("https", "127.0.0.1", 8443, "/x") == "https://127.0.0.1:8443/x"
    assert request_url("http", "2001:db8::1", 80, "/") == "http://[2001:db8::1]:80/"


@pytest.mark.parametrize(
    ("port", "scheme", "header"),
    [(443, "https", HOST), (80, "http", HOST), (8080, "http", f"{HOST}:8080"), (80, "https", f"{HOST}:80")],
)
def test_host_header_names_only_non_default_ports(port: int, scheme: str, header: str) -> None:
    assert host_header(HOST, port, scheme) == header
