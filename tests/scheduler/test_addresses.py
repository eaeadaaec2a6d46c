"""Every resolved address probed, IPv4 and IPv6 apart: the verdict is what a client falling back gets.

Real sockets on loopback: a listener on 127.0.0.1 (and ::1), nothing on 127.0.0.2 (refused), a blackholed
listener on 127.0.0.3 (connect times out), 100::1 from the IPv6 discard prefix (never answers)."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from prometheus_client import CollectorRegistry

from exporter.catalogue.model import EndpointSet
from exporter.config.file import load
from exporter.lab.ports import blackhole, claim_ports, release
from exporter.metrics.endpoints import ExporterCollector
from exporter.plan.targets import Membership, PlanHolder, Target, TargetPlan
from exporter.probes.dns import make_resolver
from exporter.probes.outcome import Phase, ProbeOutcome, Reason
from exporter.probes.prober import Protocol
from exporter.probes.settings import ProbeSettings
from exporter.results.store import AddressOutcome, ResultStore, TargetResult
from exporter.scheduler.cycle import client_view, pick_address, run_cycle
from tests.support.simulators.dns_server import DNSServer

HOST = "multi.example.test"
SET_ID = "900"
CONNECT_TIMEOUT = 0.5


@dataclass
class Sockets:
    port: int
    ipv6: bool
    """::1 listens on `port` too."""


@pytest.fixture
def sockets() -> Iterator[Sockets]:
    ports, held = claim_ports(["127.0.0.1", "127.0.0.3"], 1)
    port = ports[0]
    listener, hole = held.pop(("127.0.0.1", port)), held.pop(("127.0.0.3", port))
    release(held)
    listener.listen(64)
    v6: socket.socket | None = None
    if socket.has_ipv6:
        try:
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            v6.bind(("::1", port))
            v6.listen(64)
        except OSError:
            if v6 is not None:
                v6.close()
            v6 = None
    try:
        with blackhole(hole):
            yield Sockets(port, v6 is not None)
    finally:
        for sock in (listener, hole, v6):
            if sock is not None:
                sock.close()


def settings_for(
    dns_server: DNSServer, families: tuple[int, ...] = (4, 6), per_family: int = 4
) -> ProbeSettings:
    return ProbeSettings(
        timeouts={phase: 2.0 for phase in Phase} | {Phase.CONNECT: CONNECT_TIMEOUT},
        trust=ssl.create_default_context(),
        resolver=make_resolver(["127.0.0.1"], dns_server.port),
        address_families=families,
        max_addresses_per_family=per_family,
    )


def plan_for(port: int, host: str = HOST) -> TargetPlan:
    endpoint_set = EndpointSet(id=SET_ID, name="test", section="Test", urls=(host,), tcp_ports=(port,))
    return TargetPlan(
        [endpoint_set], {Target(host, port, Protocol.TCP): [Membership(SET_ID, host, frozenset())]}
    )


async def cycle(
    dns_server: DNSServer, port: int, addresses: list[str], **settings: int | tuple[int, ...]
) -> tuple[TargetResult, CollectorRegistry]:
    dns_server.records[HOST] = addresses
    dns_server.shuffle = False
    plan, store = plan_for(port), ResultStore()
    registry = CollectorRegistry()
    registry.register(ExporterCollector(PlanHolder(plan), load(None).catalogue, store))
    await run_cycle(plan, settings_for(dns_server, **settings), store, concurrency=4)  # type: ignore[arg-type]
    results, _ = store.snapshot()
    return results[Target(HOST, port, Protocol.TCP)], registry


def sample(registry: CollectorRegistry, name: str, port: int, **labels: str) -> float | None:
    endpoint = {"set_id": SET_ID, "host": HOST, "port": str(port), "protocol": "tcp", "path": "direct"}
    return registry.get_sample_value(name, {**endpoint, **labels})


def addresses_metric(
    registry: CollectorRegistry, port: int, family: str
) -> tuple[float | None, float | None]:
    return tuple(  # type: ignore[return-value]
        sample(registry, "intune_endpoint_addresses", port, family=family, state=state)
        for state in ("reachable", "unreachable")
    )


@pytest.mark.anyio
async def test_first_address_refusing_second_working_is_up(dns_server: DNSServer, sockets: Sockets) -> None:
    result, registry = await cycle(dns_server, sockets.port, ["127.0.0.2", "127.0.0.1"])

    assert result.outcome.ok and result.outcome.reason is None
    assert result.address == "127.0.0.1"
    assert result.outcome.detail == "up through 127.0.0.1; failing: 127.0.0.2 (connect_refused)"
    assert [(a.address, a.family, a.ok, a.reason) for a in result.per_address] == [
        ("127.0.0.2", "ipv4", False, Reason.CONNECT_REFUSED),
        ("127.0.0.1", "ipv4", True, None),
    ]
    assert sample(registry, "intune_endpoint_up", sockets.port) == 1
    assert sample(registry, "intune_endpoint_family_up", sockets.port, family="ipv4") == 1
    assert addresses_metric(registry, sockets.port, "ipv4") == (1, 1)


@pytest.mark.anyio
async def test_second_address_blackholed_is_up_and_the_bad_address_shows(
    dns_server: DNSServer, sockets: Sockets
) -> None:
    result, registry = await cycle(dns_server, sockets.port, ["127.0.0.1", "127.0.0.3"])

    assert result.outcome.ok
    assert result.address == "127.0.0.1"
    assert result.outcome.detail == "up through 127.0.0.1; failing: 127.0.0.3 (connect_timeout)"
    assert [probe.address for probe in result.failing_addresses()] == ["127.0.0.3"]
    assert sample(registry, "intune_endpoint_up", sockets.port) == 1
    assert addresses_metric(registry, sockets.port, "ipv4") == (1, 1)
    assert sample(registry, "intune_endpoint_failure_reason", sockets.port, reason="connect_timeout") is None


@pytest.mark.anyio
async def test_every_address_failing_reports_the_first_and_names_all(
    dns_server: DNSServer, sockets: Sockets
) -> None:
    result, registry = await cycle(dns_server, sockets.port, ["127.0.0.3", "127.0.0.2"])

    assert (result.outcome.ok, result.outcome.reason) == (False, Reason.CONNECT_TIMEOUT)
    assert result.address == "127.0.0.3"
    assert result.outcome.detail.startswith("127.0.0.3: ")
    assert result.outcome.detail.endswith(
        "; all 2 addresses failed: 127.0.0.3 (connect_timeout), 127.0.0.2 (connect_refused)"
    )
    assert Phase.DNS in result.outcome.phases and Phase.CONNECT in result.outcome.phases
    assert sample(registry, "intune_endpoint_up", sockets.port) == 0
    assert sample(registry, "intune_endpoint_failure_reason", sockets.port, reason="connect_timeout") == 1
    assert sample(registry, "intune_endpoint_family_up", sockets.port, family="ipv4") == 0
    assert addresses_metric(registry, sockets.port, "ipv4") == (0, 2)


@pytest.mark.anyio
async def test_aaaa_only_host(dns_server: DNSServer, sockets: Sockets) -> None:
    if not sockets.ipv6:
        pytest.skip("no IPv6 loopback")
    result, registry = await cycle(dns_server, sockets.port, ["::1"])

    assert result.outcome.ok, result.outcome.detail
    assert (result.address, result.outcome.detail) == ("::1", "")
    assert result.per_address == (AddressOutcome("::1", "ipv6", True),)
    assert sample(registry, "intune_endpoint_family_up", sockets.port, family="ipv6") == 1
    # The name has no A record: no IPv4 series at all, rather than a 0 that would look like a failure.
    assert sample(registry, "intune_endpoint_family_up", sockets.port, family="ipv4") is None
    assert addresses_metric(registry, sockets.port, "ipv4") == (None, None)


@pytest.mark.anyio
async def test_ipv6_unreachable_ipv4_fine(dns_server: DNSServer, sockets: Sockets) -> None:
    result, registry = await cycle(dns_server, sockets.port, ["127.0.0.1", "100::1"])

    assert result.outcome.ok
    assert result.address == "127.0.0.1"
    bad = result.per_address[1]
    assert (bad.address, bad.family, bad.ok) == ("100::1", "ipv6", False)
    assert bad.reason in (Reason.CONNECT_TIMEOUT, Reason.CONNECT_UNREACHABLE, Reason.CONNECT_ERROR)
    assert result.outcome.detail == f"up through 127.0.0.1; failing: 100::1 ({bad.reason})"
    assert sample(registry, "intune_endpoint_up", sockets.port) == 1
    assert sample(registry, "intune_endpoint_family_up", sockets.port, family="ipv4") == 1
    assert sample(registry, "intune_endpoint_family_up", sockets.port, family="ipv6") == 0
    assert addresses_metric(registry, sockets.port, "ipv6") == (0, 1)


@pytest.mark.anyio
async def test_ipv6_left_out_by_the_families_switch(dns_server: DNSServer, sockets: Sockets) -> None:
    result, registry = await cycle(dns_server, sockets.port, ["127.0.0.1", "100::1"], families=(4,))

    assert result.outcome.ok and result.outcome.detail == ""
    assert [probe.address for probe in result.per_address] == ["127.0.0.1"]
    assert sample(registry, "intune_endpoint_family_up", sockets.port, family="ipv6") is None


@pytest.mark.anyio
async def test_hundreds_of_addresses_cost_bounded_probes(dns_server: DNSServer, sockets: Sockets) -> None:
    many = [f"127.0.{i // 250 + 1}.{i % 250 + 1}" for i in range(300)]
    result, registry = await cycle(
        dns_server, sockets.port, ["127.0.0.2", "127.0.0.2", *many, "127.0.0.1"], per_family=3
    )

    # Only the first three distinct addresses are probed: 127.0.0.1 comes too late to count.
    assert [probe.address for probe in result.per_address] == ["127.0.0.2", many[0], many[1]]
    assert (result.outcome.ok, result.outcome.reason) == (False, Reason.CONNECT_REFUSED)
    assert result.outcome.detail.endswith(
        f"all 3 addresses failed: 127.0.0.2 (connect_refused), {many[0]} (connect_refused), "
        f"{many[1]} (connect_refused)"
    )
    assert addresses_metric(registry, sockets.port, "ipv4") == (0, 3)


@pytest.mark.anyio
async def test_cname_to_nxdomain_names_the_chain(dns_server: DNSServer, sockets: Sockets) -> None:
    dns_server.cnames[HOST] = "gone.example.test"
    dns_server.nxdomain.add("gone.example.test")
    result, registry = await cycle(dns_server, sockets.port, [])

    assert (result.outcome.ok, result.outcome.reason) == (False, Reason.DNS_NXDOMAIN)
    assert (
        result.outcome.detail == f"{HOST} -> gone.example.test: gone.example.test does not exist (NXDOMAIN)"
    )
    assert (result.address, result.per_address) == ("", ())
    assert sample(registry, "intune_endpoint_failure_reason", sockets.port, reason="dns_nxdomain") == 1


def test_client_view_single_address_keeps_the_probe_detail() -> None:
    lookup = ProbeOutcome(ok=True, phases={Phase.DNS: 0.1}, addresses=("192.0.2.1",))
    failed = ProbeOutcome.failure(Reason.CONNECT_REFUSED, "refused", {Phase.CONNECT: 0.2})

    outcome, address, per_address = client_view(lookup, ["192.0.2.1"], [failed])

    assert (outcome.reason, outcome.detail, address) == (Reason.CONNECT_REFUSED, "refused", "192.0.2.1")
    assert outcome.phases == {Phase.DNS: 0.1, Phase.CONNECT: 0.2}
    assert per_address == (AddressOutcome("192.0.2.1", "ipv4", False, Reason.CONNECT_REFUSED, "refused"),)


def test_client_view_prefers_the_first_working_address_in_resolver_order() -> None:
    lookup = ProbeOutcome(ok=True, addresses=("2001:db8::1", "192.0.2.9", "192.0.2.10"))
    up = ProbeOutcome(ok=True, phases={Phase.CONNECT: 0.01})
    down = ProbeOutcome.failure(Reason.CONNECT_TIMEOUT, "timed out")

    outcome, address, _ = client_view(lookup, lookup.addresses, [down, up, up])

    assert (outcome.ok, address) == (True, "192.0.2.9")
    assert outcome.detail == "up through 192.0.2.9; failing: 2001:db8::1 (connect_timeout)"


def test_pick_address_compares_numerically() -> None:
    assert pick_address(("10.0.0.10", "10.0.0.9")) == "10.0.0.9"
    assert pick_address(("2001:db8::a", "2001:db8::9", "10.0.0.10")) == "10.0.0.10"
