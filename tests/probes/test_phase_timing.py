"""Every phase that started has a duration, the one that failed or timed out included (issue 16): a tarpit
shows as a tls (or http, ntp, connect, dns) phase as long as its timeout, not as a probe with no time."""

from __future__ import annotations

import gc
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest

from exporter.probes import http, https, ntp, tcp, tls
from exporter.probes.dns import make_resolver, resolve
from exporter.probes.outcome import Phase, ProbeOutcome, Reason
from exporter.probes.prober import ProbeTarget
from exporter.probes.settings import ProbeSettings, ProxyRoute
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.scripted_proxy import scripted_proxy, silent
from tests.support.simulators.tls_servers import LoopbackLab

pytestmark = pytest.mark.anyio

HOST = "enrollment.manage.microsoft.com"
TIMEOUT = 0.5
SLACK = 1.0
"""Seconds a timed-out phase may run past its timeout on a busy 2-core machine."""


def assert_took_the_timeout(outcome: ProbeOutcome, phase: Phase, reason: Reason) -> None:
    assert (outcome.ok, outcome.reason) == (False, reason), outcome.detail
    assert TIMEOUT * 0.9 <= outcome.phases[phase] < TIMEOUT + SLACK, outcome.phases


async def test_tls_tarpit_times_the_tls_phase(loopback_lab: LoopbackLab) -> None:
    settings = loopback_lab.probe_settings(timeout=TIMEOUT)

    for prober in (tls.probe, https.probe):
        outcome = await prober(ProbeTarget(HOST, loopback_lab.SILENT, 443), settings)
        gc.collect()

        assert_took_the_timeout(outcome, Phase.TLS, Reason.TLS_TIMEOUT)
        assert set(outcome.phases) == {Phase.CONNECT, Phase.TLS}
        assert outcome.phases[Phase.CONNECT] < TIMEOUT


async def test_http_that_never_answers_times_the_http_phase(loopback_lab: LoopbackLab) -> None:
    outcome = await http.probe(
        ProbeTarget(HOST, loopback_lab.SILENT, 80), loopback_lab.probe_settings(timeout=TIMEOUT)
    )
    gc.collect()

    assert_took_the_timeout(outcome, Phase.HTTP, Reason.HTTP_TIMEOUT)
    assert set(outcome.phases) == {Phase.CONNECT, Phase.HTTP}


@pytest.mark.parametrize("protocol", ["tcp", "tls", "http", "https"])
async def test_connect_blackhole_times_the_connect_phase(loopback_lab: LoopbackLab, protocol: str) -> None:
    prober = {"tcp": tcp.probe, "tls": tls.probe, "http": http.probe, "https": https.probe}[protocol]
    port = 80 if protocol == "http" else 443

    outcome = await prober(
        ProbeTarget(HOST, loopback_lab.BLACKHOLE, port), loopback_lab.probe_settings(timeout=TIMEOUT)
    )
    gc.collect()

    assert_took_the_timeout(outcome, Phase.CONNECT, Reason.CONNECT_TIMEOUT)
    assert set(outcome.phases) == {Phase.CONNECT}


async def test_refused_connect_is_timed_too(loopback_lab: LoopbackLab) -> None:
    outcome = await tcp.probe(ProbeTarget(HOST, loopback_lab.REFUSED, 443), loopback_lab.probe_settings())

    assert outcome.reason is Reason.CONNECT_REFUSED
    assert list(outcome.phases) == [Phase.CONNECT]
    assert 0 <= outcome.phases[Phase.CONNECT] < TIMEOUT


async def test_silent_ntp_server_times_the_ntp_phase(ntp_server: NTPServer) -> None:
    ntp_server.silent = True
    settings = ProbeSettings(
        timeouts={phase: 2.0 for phase in Phase} | {Phase.NTP: TIMEOUT},
        trust=ssl.create_default_context(),
        resolver=make_resolver(["127.0.0.1"]),
    )

    outcome = await ntp.probe(ProbeTarget("time.windows.com", "127.0.0.1", ntp_server.port), settings)

    assert_took_the_timeout(outcome, Phase.NTP, Reason.NTP_TIMEOUT)
    assert list(outcome.phases) == [Phase.NTP]


async def test_silent_dns_server_times_the_dns_phase(dns_server: DNSServer) -> None:
    # dns.py is not changed by issue 16: it already timed its failures; this holds it to that.
    dns_server.drop.add(HOST)
    settings = ProbeSettings(
        timeouts={phase: 2.0 for phase in Phase} | {Phase.DNS: TIMEOUT},
        trust=ssl.create_default_context(),
        resolver=make_resolver(["127.0.0.1"], dns_server.port),
    )

    outcome = await resolve(HOST, settings)

    assert_took_the_timeout(outcome, Phase.DNS, Reason.DNS_TIMEOUT)
    assert list(outcome.phases) == [Phase.DNS]


@contextmanager
def silent_proxy(*, answer_connect: bool) -> Iterator[ProxyRoute]:
    """A proxy that reads the request head, then (with `answer_connect`, after a 200 to a CONNECT) never
    says anything more until the client hangs up."""
    with scripted_proxy(silent(answer_connect=answer_connect)) as (route, _heads):
        yield route


async def test_connect_request_a_proxy_never_answers_is_the_connect_phase(loopback_lab: LoopbackLab) -> None:
    with silent_proxy(answer_connect=False) as route:
        settings = replace(loopback_lab.probe_settings(timeout=TIMEOUT), proxy=route, port_remap={})
        outcome = await tls.probe(ProbeTarget(HOST, HOST, 443), settings)

    assert_took_the_timeout(outcome, Phase.CONNECT, Reason.CONNECT_TIMEOUT)
    assert set(outcome.phases) == {Phase.CONNECT}


async def test_tunnel_that_never_answers_the_handshake_is_the_tls_phase(loopback_lab: LoopbackLab) -> None:
    with silent_proxy(answer_connect=True) as route:
        settings = replace(loopback_lab.probe_settings(timeout=TIMEOUT), proxy=route, port_remap={})
        outcome = await https.probe(ProbeTarget(HOST, HOST, 443), settings)

    assert_took_the_timeout(outcome, Phase.TLS, Reason.TLS_TIMEOUT)
    assert set(outcome.phases) == {Phase.CONNECT, Phase.TLS}


async def test_plain_http_through_a_proxy_that_never_answers_is_the_http_phase(
    loopback_lab: LoopbackLab,
) -> None:
    with silent_proxy(answer_connect=False) as route:
        settings = replace(loopback_lab.probe_settings(timeout=TIMEOUT), proxy=route, port_remap={})
        outcome = await http.probe(ProbeTarget(HOST, HOST, 80), settings)

    assert_took_the_timeout(outcome, Phase.HTTP, Reason.HTTP_TIMEOUT)
    assert set(outcome.phases) == {Phase.CONNECT, Phase.HTTP}
    assert outcome.phases[Phase.CONNECT] < TIMEOUT
