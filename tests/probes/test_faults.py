"""The fault corpus: each way a server can misbehave, the reason the exporter gives it, and that no fault
costs more than its timeouts, raises, or leaks a file descriptor. Then all faults at once, under `serve`.

Servers: tests/support/simulators/faults.py (TCP, TLS, HTTP), dns_server.py and ntp_server.py; see
docs/network.md ("What each fault looks like") for the table in prose.
"""

from __future__ import annotations

import gc
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from exporter.config.file import load
from exporter.lab.certs import LabCA
from exporter.plan.expand import build_plan
from exporter.plan.probe_settings import probe_settings
from exporter.plan.targets import Target
from exporter.probes.dns import make_resolver, resolve
from exporter.probes.outcome import Phase, Reason
from exporter.probes.prober import ProbeTarget, Protocol
from exporter.probes.registry import run_probe
from exporter.probes.settings import ProbeSettings
from exporter.results.store import ResultStore
from exporter.scheduler.cycle import run_cycle
from tests.support.docs_tables import section
from tests.support.fault_lab import PROTOCOL_PORTS, arrange_dns, dns_host, write_catalogue, write_config
from tests.support.paths import ROOT
from tests.support.serving import exporter_serving, sample_values, wait_for
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.faults import Fault, FaultLab, running_faults
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.tls_servers import client_context

TIMEOUT = 1.0
"""Seconds allowed per phase in the probe cases."""
MARGIN = 1.5
"""Seconds a probe may take beyond its phases' timeouts (a busy 2-core machine)."""
PHASES = {"tcp": 1, "tls": 2, "http": 2, "https": 3, "ntp": 1, "dns": 1}
"""Timed phases a probe of each protocol may wait through."""

F = Fault
R = Reason
CASES: list[tuple[Fault, str, Reason | None]] = [
    (F.HEALTHY_HTTP, "tcp", None),
    (F.HEALTHY_HTTP, "http", None),
    (F.HEALTHY_TLS, "tls", None),
    (F.HEALTHY_TLS, "https", None),
    (F.RESET, "tcp", None),  # or RESET_RACE's reason: see there
    (F.RESET, "tls", R.TLS_HANDSHAKE_FAILED),
    (F.RESET, "http", R.HTTP_ERROR),
    (F.RESET, "https", R.TLS_HANDSHAKE_FAILED),
    (F.RESET_ON_DATA, "tcp", None),  # sent nothing, so never reset
    (F.RESET_ON_DATA, "tls", R.TLS_HANDSHAKE_FAILED),
    (F.RESET_ON_DATA, "http", R.HTTP_ERROR),
    (F.RESET_ON_DATA, "https", R.TLS_HANDSHAKE_FAILED),
    (F.BLACKHOLE, "tcp", R.CONNECT_TIMEOUT),
    (F.BLACKHOLE, "tls", R.CONNECT_TIMEOUT),
    (F.BLACKHOLE, "http", R.CONNECT_TIMEOUT),
    (F.BLACKHOLE, "https", R.CONNECT_TIMEOUT),
    (F.TARPIT, "tcp", None),
    (F.TARPIT, "tls", R.TLS_TIMEOUT),
    (F.TARPIT, "http", R.HTTP_TIMEOUT),
    (F.TARPIT, "https", R.TLS_TIMEOUT),
    (F.TLS_GARBAGE, "tls", R.TLS_HANDSHAKE_FAILED),
    (F.TLS_GARBAGE, "https", R.TLS_HANDSHAKE_FAILED),
    (F.TLS_CLOSE_MID_HANDSHAKE, "tls", R.TLS_HANDSHAKE_FAILED),
    (F.TLS_CLOSE_MID_HANDSHAKE, "https", R.TLS_HANDSHAKE_FAILED),
    (F.TLS_EXPIRED, "tls", R.TLS_EXPIRED),
    (F.TLS_EXPIRED, "https", R.TLS_EXPIRED),
    (F.TLS_WRONG_NAME, "tls", R.TLS_HOSTNAME_MISMATCH),
    (F.TLS_WRONG_NAME, "https", R.TLS_HOSTNAME_MISMATCH),
    (F.TLS_UNTRUSTED, "tls", R.TLS_UNTRUSTED),
    (F.TLS_UNTRUSTED, "https", R.TLS_UNTRUSTED),
    (F.ENDLESS_HEADERS, "http", R.HTTP_ERROR),
    (F.TLS_ENDLESS_HEADERS, "https", R.HTTP_ERROR),
    (F.ENDLESS_BODY, "http", None),  # only the headers are read
    (F.TLS_ENDLESS_BODY, "https", None),
    (F.DRIP, "http", R.HTTP_TIMEOUT),
    (F.TLS_DRIP, "https", R.HTTP_TIMEOUT),
    (F.HTTP09, "http", R.HTTP_ERROR),
    (F.TLS_HTTP09, "https", R.HTTP_ERROR),
    (F.GARBAGE_STATUS, "http", R.HTTP_ERROR),
    (F.HUGE_LENGTH, "http", None),  # only the headers are read
    (F.TLS_HUGE_LENGTH, "https", None),
]

RESET_RACE = R.CONNECT_ERROR
"""The other reason a RESET case may get: when the RST lands before the client's event loop has seen the
connection open, the connect itself fails with ECONNRESET. Which comes first is up to the scheduler."""


def accepted(fault: Fault, reason: Reason | None) -> set[Reason | None]:
    return {reason, RESET_RACE} if fault is F.RESET else {reason}


DNS_CASES: list[tuple[str, bool, Reason]] = [
    ("dns-timeout", True, R.DNS_TIMEOUT),
    ("dns-servfail", True, R.DNS_SERVFAIL),
    ("dns-refused", True, R.DNS_ERROR),
    ("dns-nxdomain", True, R.DNS_NXDOMAIN),
    ("dns-nodata", True, R.DNS_NO_ANSWER),
    ("dns-truncated", True, R.DNS_TIMEOUT),  # the TCP retry hangs
    ("dns-truncated", False, R.DNS_ERROR),  # the TCP retry is refused
    ("dns-garbage", True, R.DNS_TIMEOUT),  # unparseable replies are ignored
    ("dns-wrong-id", True, R.DNS_TIMEOUT),  # replies to another query are ignored
]
"""(host label, whether the server answers over TCP, reason)."""

NTP_CASES: list[tuple[str, dict[str, object], Reason]] = [
    ("no-answer", {"silent": True}, R.NTP_TIMEOUT),
    ("short-packet", {"garbage": b"\x24" * 12}, R.NTP_BAD_RESPONSE),
    ("garbage-packet", {"garbage": b"\xde" * 48}, R.NTP_BAD_RESPONSE),
    ("kiss-of-death", {"kiss": True}, R.NTP_BAD_RESPONSE),
]

pytestmark = pytest.mark.anyio


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="module")
def no_leaked_fds() -> Iterator[None]:
    """Every other fixture of the module depends on this one, so it brackets them all."""
    gc.collect()
    before = open_fds()
    yield
    gc.collect()
    deadline = time.monotonic() + 5
    while open_fds() > before and time.monotonic() < deadline:  # threads of stopped servers closing
        time.sleep(0.1)
        gc.collect()
    assert open_fds() <= before, sorted(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="module")
def fault_lab(no_leaked_fds: None, ca: LabCA, untrusted_ca: LabCA) -> Iterator[FaultLab]:
    with running_faults(ca, untrusted_ca) as lab:
        yield lab


@pytest.fixture(scope="module")
def fault_dns(no_leaked_fds: None) -> Iterator[dict[bool, DNSServer]]:
    """By whether the server also answers over TCP: both resolve the fault hosts and misbehave alike."""
    with DNSServer() as both, DNSServer(tcp=False) as udp_only:
        for server in (both, udp_only):
            arrange_dns(server)
        yield {True: both, False: udp_only}


def settings_for(lab: FaultLab, ca: LabCA, dns_server: DNSServer) -> ProbeSettings:
    return ProbeSettings(
        timeouts=dict.fromkeys(Phase, TIMEOUT),
        trust=client_context(ca),
        resolver=make_resolver(["127.0.0.1"], dns_server.port),
        port_remap=lab.port_remap,
    )


def bound(protocol: str, timeout: float = TIMEOUT) -> float:
    return timeout * PHASES[protocol] + MARGIN


@pytest.mark.parametrize(("fault", "protocol", "reason"), CASES, ids=[f"{f}-{p}" for f, p, _ in CASES])
async def test_fault(
    fault_lab: FaultLab,
    fault_dns: dict[bool, DNSServer],
    ca: LabCA,
    fault: Fault,
    protocol: str,
    reason: Reason | None,
) -> None:
    target = Target(fault.host, PROTOCOL_PORTS[protocol], Protocol(protocol))
    settings = settings_for(fault_lab, ca, fault_dns[True])

    started = time.monotonic()
    outcome = await run_probe(target.protocol, ProbeTarget(target.host, fault.address, target.port), settings)
    elapsed = time.monotonic() - started

    assert outcome.reason in accepted(fault, reason), outcome.detail
    assert outcome.ok is (outcome.reason is None)
    assert elapsed <= bound(protocol), f"{elapsed:.2f}s"
    if not outcome.ok:
        assert outcome.detail
    elif protocol in ("http", "https"):
        assert outcome.http_status == 200


@pytest.mark.parametrize(
    ("label", "tcp", "reason"),
    DNS_CASES,
    ids=[f"{label}{'' if tcp else '-udp-only'}" for label, tcp, _ in DNS_CASES],
)
async def test_dns_fault(
    fault_lab: FaultLab, fault_dns: dict[bool, DNSServer], ca: LabCA, label: str, tcp: bool, reason: Reason
) -> None:
    started = time.monotonic()
    outcome = await resolve(dns_host(label), settings_for(fault_lab, ca, fault_dns[tcp]))
    elapsed = time.monotonic() - started

    assert (outcome.ok, outcome.reason) == (False, reason), outcome.detail
    assert dns_host(label) in outcome.detail
    assert elapsed <= bound("dns"), f"{elapsed:.2f}s"


async def test_dns_details_say_what_the_server_did(
    fault_lab: FaultLab, fault_dns: dict[bool, DNSServer], ca: LabCA
) -> None:
    refused = await resolve(dns_host("dns-refused"), settings_for(fault_lab, ca, fault_dns[True]))
    truncated = await resolve(dns_host("dns-truncated"), settings_for(fault_lab, ca, fault_dns[False]))

    assert "REFUSED" in refused.detail
    assert "(UDP): truncated answer (TC bit)" in truncated.detail
    assert "(TCP): Connection refused" in truncated.detail


@pytest.mark.parametrize(("name", "behaviour", "reason"), NTP_CASES, ids=[name for name, _, _ in NTP_CASES])
async def test_ntp_fault(
    fault_lab: FaultLab,
    fault_dns: dict[bool, DNSServer],
    ca: LabCA,
    ntp_server: NTPServer,
    name: str,
    behaviour: dict[str, object],
    reason: Reason,
) -> None:
    for attribute, value in behaviour.items():
        setattr(ntp_server, attribute, value)
    settings = settings_for(fault_lab, ca, fault_dns[True])
    settings.port_remap[123] = ntp_server.port

    started = time.monotonic()
    outcome = await run_probe(Protocol.NTP, ProbeTarget("time.windows.com", "127.0.0.1", 123), settings)
    elapsed = time.monotonic() - started

    assert (outcome.ok, outcome.reason) == (False, reason), outcome.detail
    assert elapsed <= bound("ntp"), f"{elapsed:.2f}s"
    assert ntp_server.requests == 1


def corpus_config(
    directory: Path, fault_lab: FaultLab, dns_server: DNSServer, ca: LabCA, **extra: object
) -> tuple[Path, dict[Target, set[Reason | None]]]:
    """A configuration probing every case at once (DNS faults over https), and the reasons each accepts."""
    expected = {
        Target(fault.host, PROTOCOL_PORTS[protocol], Protocol(protocol)): accepted(fault, reason)
        for fault, protocol, reason in CASES
    }
    for label, tcp, reason in DNS_CASES:
        if tcp:
            expected[Target(dns_host(label), 443, Protocol.HTTPS)] = {reason}
    catalogue = write_catalogue(
        directory / "faults.yml", ((target.host, str(target.protocol)) for target in expected)
    )
    ca_file = directory / "lab-ca.pem"
    ca_file.write_bytes(ca.cert_pem)
    return write_config(
        directory / "faults-config.yml", catalogue, dns_server.port, fault_lab, ca_file, **extra
    ), expected


def test_one_cycle_over_every_fault(
    tmp_path: Path,
    fault_lab: FaultLab,
    fault_dns: dict[bool, DNSServer],
    ca: LabCA,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config, expected = corpus_config(tmp_path, fault_lab, fault_dns[True], ca, concurrency=64)
    loaded = load(config)
    plan = build_plan(loaded.config, loaded.catalogue)
    assert set(plan.targets) == set(expected)
    store = ResultStore()
    caplog.set_level(logging.INFO, logger="exporter")

    duration = anyio.run(run_cycle, plan, probe_settings(loaded), store, loaded.config.concurrency)

    results = store.snapshot()[0]
    assert set(results) == set(expected)
    wrong = {t: r.outcome.reason for t, r in results.items() if r.outcome.reason not in expected[t]}
    assert wrong == {}
    assert duration <= TIMEOUT * (PHASES["dns"] + PHASES["https"]) + MARGIN
    errors = [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR]
    assert errors == []


def test_serve_answers_scrapes_while_every_fault_is_probed(
    tmp_path: Path, fault_lab: FaultLab, fault_dns: dict[bool, DNSServer], ca: LabCA
) -> None:
    # 4 s per phase: tarpits, drips and DNS timeouts hold probes open across many scrapes.
    config, expected = corpus_config(
        tmp_path, fault_lab, fault_dns[True], ca, timeout="4s", interval="1s", concurrency=64
    )
    with exporter_serving(config) as served:
        deadline = time.monotonic() + 12
        scrapes = 0
        while scrapes < 10 or time.monotonic() < deadline:  # across several cycles of hanging probes
            started = time.monotonic()
            response = served.get("/metrics")  # fails on no answer within 5 s
            assert response.status_code == 200
            assert time.monotonic() - started < 5
            assert served.process.poll() is None
            scrapes += 1
            time.sleep(0.2)
        wait_for(
            lambda: sample_values(served.get("/metrics").text)[("intune_exporter_cycles_total", ())] >= 2,
            served.process,
            what="two cycles",
        )
        values = sample_values(served.get("/metrics").text)
        served.process.terminate()
        output, _ = served.process.communicate(timeout=15)
    assert served.process.returncode == 0, output
    assert "Traceback" not in output
    assert "raised" not in output
    reasons = {
        dict(labels)["host"] + ":" + dict(labels)["port"]: dict(labels)["reason"]
        for (name, labels), value in values.items()
        if name == "intune_endpoint_failure_reason" and value == 1
    }
    for target, allowed in expected.items():
        labels = {
            "set_id": f"fault-{target.protocol}",
            "host": target.host,
            "port": str(target.port),
            "protocol": str(target.protocol),
            "path": "direct",
        }
        up = values[("intune_endpoint_up", tuple(sorted(labels.items())))]
        reason = reasons.get(f"{target.host}:{target.port}")
        assert (up == 1) is (reason is None), target
        assert (None if reason is None else Reason(reason)) in allowed, target


def test_every_fault_is_documented() -> None:
    text = section(ROOT / "docs" / "network.md", "## What each fault looks like")
    names = {fault.value for fault in Fault}
    for fault in Fault:
        if fault.value.startswith("healthy-") or fault.value.removeprefix("tls-") in names - {fault.value}:
            continue  # not a fault, or the https column of a plain HTTP fault's row
        assert f"| `{fault.value}`" in text, fault
    for _, _, reason in [*CASES, *DNS_CASES, *NTP_CASES]:
        if reason is not None:
            assert f"`{reason.value}`" in text, reason
