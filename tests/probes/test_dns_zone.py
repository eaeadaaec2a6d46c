"""The zone check (protocol `dns`) against the lab's DNS simulator on loopback."""

from __future__ import annotations

import ssl

import pytest

from exporter.probes import dns_zone
from exporter.probes.dns import make_resolver
from exporter.probes.outcome import Phase, ProbeOutcome, Reason
from exporter.probes.prober import ProbeTarget
from exporter.probes.settings import ProbeSettings
from tests.support.simulators.dns_server import DNSServer

pytestmark = pytest.mark.anyio

ZONE = "dm.microsoft.com"


async def check(server: DNSServer, dns_timeout: float = 2.0) -> ProbeOutcome:
    settings = ProbeSettings(
        timeouts={phase: 2.0 for phase in Phase} | {Phase.DNS: dns_timeout},
        trust=ssl.create_default_context(),
        resolver=make_resolver(["127.0.0.1"], server.port),
    )
    return await dns_zone.probe(ProbeTarget(ZONE, ZONE, dns_zone.PORT), settings)


def random_names(server: DNSServer) -> list[str]:
    return sorted({name for name, _ in server.log if name.startswith(dns_zone.RANDOM_LABEL_PREFIX)})


def assert_failed(outcome: ProbeOutcome, reason: Reason) -> None:
    assert (outcome.ok, outcome.reason) == (False, reason), outcome.detail
    assert outcome.detail
    assert outcome.phases[Phase.DNS] >= 0


async def test_zone_up_answers_soa_and_its_random_names_do_not_exist(dns_server: DNSServer) -> None:
    dns_server.zones.add(ZONE)

    outcome = await check(dns_server)

    assert outcome.ok and outcome.reason is None, outcome.detail
    assert list(outcome.phases) == [Phase.DNS]
    assert dns_server.log[0] == (ZONE, "SOA")
    names = random_names(dns_server)
    assert len(names) == dns_zone.RANDOM_LABELS
    assert all(name.endswith(f".{ZONE}") for name in names)
    # NXDOMAIN for A ends the question about a name: no AAAA asked
    assert [rdtype for name, rdtype in dns_server.log if name in names] == ["A"] * dns_zone.RANDOM_LABELS


async def test_random_names_differ_between_checks(dns_server: DNSServer) -> None:
    dns_server.zones.add(ZONE)

    await check(dns_server)
    first = random_names(dns_server)
    await check(dns_server)

    assert len(random_names(dns_server)) == 2 * len(first)


async def test_a_name_below_a_zone_cut_with_no_soa_still_exists(dns_server: DNSServer) -> None:
    dns_server.no_answer.add(ZONE)  # NOERROR, no record: names exist below it, it is no zone apex

    outcome = await check(dns_server)

    assert outcome.ok, outcome.detail


async def test_zone_nxdomain(dns_server: DNSServer) -> None:
    outcome = await check(dns_server)  # no zone, no record: NXDOMAIN

    assert_failed(outcome, Reason.DNS_NXDOMAIN)
    assert ZONE in outcome.detail
    assert random_names(dns_server) == []


async def test_zone_timing_out(dns_server: DNSServer) -> None:
    dns_server.drop.add(ZONE)

    outcome = await check(dns_server, dns_timeout=0.3)

    assert_failed(outcome, Reason.DNS_TIMEOUT)
    assert 0.25 <= outcome.phases[Phase.DNS] < 1.5


async def test_random_names_timing_out(dns_server: DNSServer) -> None:
    dns_server.zones.add(ZONE)
    dns_server.drop.add(f"*.{ZONE}")

    outcome = await check(dns_server, dns_timeout=0.3)

    assert_failed(outcome, Reason.DNS_TIMEOUT)
    assert dns_zone.RANDOM_LABEL_PREFIX in outcome.detail


async def test_zone_servfail(dns_server: DNSServer) -> None:
    dns_server.servfail.add(ZONE)

    assert_failed(await check(dns_server), Reason.DNS_SERVFAIL)


async def test_zone_refused_is_a_dns_error(dns_server: DNSServer) -> None:
    dns_server.refused.add(ZONE)

    assert_failed(await check(dns_server), Reason.DNS_ERROR)


async def test_random_name_sinkholed_to_0_0_0_0(dns_server: DNSServer) -> None:
    dns_server.zones.add(ZONE)
    dns_server.records[f"*.{ZONE}"] = ["0.0.0.0"]

    outcome = await check(dns_server)

    assert_failed(outcome, Reason.DNS_SINKHOLED)
    assert "0.0.0.0" in outcome.detail and ZONE in outcome.detail


async def test_random_names_all_answered_with_the_same_private_address(dns_server: DNSServer) -> None:
    dns_server.zones.add(ZONE)
    dns_server.records[f"*.{ZONE}"] = ["10.20.30.40"]

    outcome = await check(dns_server)

    assert_failed(outcome, Reason.DNS_SINKHOLED)
    assert "10.20.30.40" in outcome.detail


async def test_sinkholed_to_ipv6_unspecified_when_there_is_no_a_record(dns_server: DNSServer) -> None:
    dns_server.zones.add(ZONE)
    dns_server.records[f"*.{ZONE}"] = ["::"]

    assert_failed(await check(dns_server), Reason.DNS_SINKHOLED)


async def test_a_public_wildcard_record_is_not_a_sinkhole(dns_server: DNSServer) -> None:
    # Zones fronted by a CDN answer every name with the same public addresses: that is no block.
    dns_server.zones.add(ZONE)
    dns_server.records[f"*.{ZONE}"] = ["20.190.128.1"]

    outcome = await check(dns_server)

    assert outcome.ok, outcome.detail


@pytest.mark.parametrize(
    ("address", "sinkhole"),
    [
        ("0.0.0.0", True),
        ("127.0.0.1", True),
        ("127.10.0.1", True),
        ("10.0.0.1", True),
        ("172.16.5.4", True),
        ("192.168.1.1", True),
        ("169.254.0.1", True),
        ("100.64.0.1", True),
        ("240.0.0.1", True),
        ("224.0.0.1", True),
        ("::", True),
        ("::1", True),
        ("fd00::1", True),
        ("fe80::1", True),
        ("::ffff:0.0.0.0", True),
        ("::ffff:10.0.0.1", True),
        ("20.190.128.1", False),
        ("13.107.246.1", False),
        ("2603:1030::1", False),
        ("::ffff:20.190.128.1", False),
    ],
)
def test_sinkhole_addresses(address: str, sinkhole: bool) -> None:
    assert dns_zone.sinkhole_address(address) is sinkhole
