from __future__ import annotations

import socket
import ssl

import dns.message
import dns.rdatatype
import pytest

from exporter.probes.dns import FamilyAnswer, lookup, make_resolver, resolve
from exporter.probes.outcome import Phase, ProbeOutcome, Reason
from exporter.probes.settings import ProbeSettings
from tests.support.simulators.dns_server import DNSServer

pytestmark = pytest.mark.anyio

HOST = "enrollment.manage.microsoft.com"


def settings_for(
    port: int, dns_timeout: float = 2.0, families: tuple[int, ...] = (4, 6), per_family: int = 4
) -> ProbeSettings:
    return ProbeSettings(
        timeouts={phase: 2.0 for phase in Phase} | {Phase.DNS: dns_timeout},
        trust=ssl.create_default_context(),
        resolver=make_resolver(["127.0.0.1"], port),
        address_families=families,
        max_addresses_per_family=per_family,
    )


async def probe(server: DNSServer, host: str = HOST, dns_timeout: float = 2.0) -> ProbeOutcome:
    return await resolve(host, settings_for(server.port, dns_timeout))


def assert_failed(outcome: ProbeOutcome, reason: Reason) -> None:
    assert (outcome.ok, outcome.reason) == (False, reason), outcome.detail
    assert outcome.detail
    assert outcome.addresses == ()
    assert outcome.phases[Phase.DNS] >= 0


async def test_resolves_a_records_in_resolver_order_without_duplicates(dns_server: DNSServer) -> None:
    dns_server.records[HOST] = ["127.0.0.10", "127.0.0.9", "127.0.0.10"]
    dns_server.shuffle = False

    outcome = await probe(dns_server)

    assert outcome.ok and outcome.reason is None
    # The order a client tries them in: "10" before "9" here because the resolver said so.
    assert outcome.addresses == ("127.0.0.10", "127.0.0.9")
    assert list(outcome.phases) == [Phase.DNS]
    assert 0 <= outcome.phases[Phase.DNS] < 2.0


async def test_name_with_both_families_yields_both_ipv4_first(dns_server: DNSServer) -> None:
    dns_server.records[HOST] = ["::1", "127.0.0.2", "fd00::3"]
    dns_server.shuffle = False

    resolution = await lookup(HOST, settings_for(dns_server.port))

    assert resolution.outcome.addresses == ("127.0.0.2", "::1", "fd00::3")
    assert resolution.families == (
        FamilyAnswer("ipv4", ("127.0.0.2",)),
        FamilyAnswer("ipv6", ("::1", "fd00::3")),
    )
    assert sorted(dns_server.log) == [(HOST, "A"), (HOST, "AAAA")]


async def test_aaaa_only_name(dns_server: DNSServer) -> None:
    dns_server.records["v6only.example.test"] = ["fd00::2", "::1"]
    dns_server.shuffle = False

    resolution = await lookup("v6only.example.test", settings_for(dns_server.port))

    assert resolution.outcome.ok
    assert resolution.outcome.addresses == ("fd00::2", "::1")
    assert resolution.families[0].family == "ipv4"
    assert resolution.families[0].reason is Reason.DNS_NO_ANSWER
    assert "no A records" in resolution.families[0].detail


async def test_families_switch_leaves_aaaa_unasked(dns_server: DNSServer) -> None:
    dns_server.records[HOST] = ["127.0.0.2", "::1"]

    outcome = await resolve(HOST, settings_for(dns_server.port, families=(4,)))

    assert outcome.addresses == ("127.0.0.2",)
    assert dns_server.log == [(HOST, "A")]


async def test_aaaa_timeout_does_not_fail_an_ipv4_name(dns_server: DNSServer) -> None:
    dns_server.records[HOST] = ["127.0.0.2", "::1"]
    original = dns_server.answer

    def no_aaaa(wire: bytes, *, tcp: bool = False) -> bytes | None:
        asked = dns.message.from_wire(wire).question[0].rdtype
        return None if asked == dns.rdatatype.AAAA else original(wire, tcp=tcp)

    dns_server.answer = no_aaaa  # type: ignore[method-assign]
    resolution = await lookup(HOST, settings_for(dns_server.port, dns_timeout=0.5))

    assert resolution.outcome.ok, resolution.outcome.detail
    assert resolution.outcome.addresses == ("127.0.0.2",)
    ipv4, ipv6 = resolution.families
    assert ipv4 == FamilyAnswer("ipv4", ("127.0.0.2",))
    assert (ipv6.family, ipv6.reason, ipv6.addresses) == ("ipv6", Reason.DNS_TIMEOUT, ())
    assert "no AAAA answer within 0.5s" in ipv6.detail


async def test_hundreds_of_addresses_and_duplicates_are_bounded_per_family(dns_server: DNSServer) -> None:
    many_v4 = [f"127.0.{i // 250}.{i % 250 + 1}" for i in range(300)]
    many_v6 = [f"fd00::{i + 1:x}" for i in range(300)]
    dns_server.records[HOST] = [many_v4[5], many_v4[5], *many_v4, *many_v6, many_v6[0]]
    dns_server.shuffle = False

    resolution = await lookup(HOST, settings_for(dns_server.port, per_family=3))

    assert resolution.outcome.addresses == (
        many_v4[5],
        many_v4[0],
        many_v4[1],
        many_v6[0],
        many_v6[1],
        many_v6[2],
    )
    assert [answer.truncated for answer in resolution.families] == [297, 297]


async def test_cname_chain_to_nxdomain_names_the_chain(dns_server: DNSServer) -> None:
    dns_server.cnames["a.example.test"] = "b.example.test"
    dns_server.cnames["b.example.test"] = "c.example.test"
    dns_server.nxdomain.add("c.example.test")

    outcome = await probe(dns_server, "a.example.test")

    assert_failed(outcome, Reason.DNS_NXDOMAIN)
    assert outcome.detail == (
        "a.example.test -> b.example.test -> c.example.test: c.example.test does not exist (NXDOMAIN)"
    )


async def test_cname_chain_is_followed_to_the_addresses(dns_server: DNSServer) -> None:
    dns_server.cnames["alias.example.test"] = "real.example.test"
    dns_server.records["real.example.test"] = ["127.0.0.4", "::1"]
    dns_server.shuffle = False

    outcome = await probe(dns_server, "alias.example.test")

    assert outcome.ok
    assert outcome.addresses == ("127.0.0.4", "::1")


async def test_plain_nxdomain_names_the_name(dns_server: DNSServer) -> None:
    outcome = await probe(dns_server, "gone.example.test")

    assert_failed(outcome, Reason.DNS_NXDOMAIN)
    assert outcome.detail == "gone.example.test does not exist (NXDOMAIN)"


async def test_names_match_case_insensitively_and_with_trailing_dot(dns_server: DNSServer) -> None:
    dns_server.records["Portal.Manage.Microsoft.com."] = ["127.0.0.3"]

    outcome = await probe(dns_server, "PORTAL.manage.microsoft.COM.")

    assert outcome.addresses == ("127.0.0.3",)


async def test_wildcard_record_answers_any_name_below_it(dns_server: DNSServer) -> None:
    dns_server.records["*.manage.microsoft.com"] = ["127.0.0.4"]

    outcome = await probe(dns_server, "fef.amsua0102.manage.microsoft.com")

    assert outcome.addresses == ("127.0.0.4",)


async def test_default_address_answers_unknown_names(dns_server: DNSServer) -> None:
    dns_server.default_address = "127.0.0.5"

    outcome = await probe(dns_server, "login.microsoftonline.com")

    assert outcome.addresses == ("127.0.0.5",)


async def test_nxdomain(dns_server: DNSServer) -> None:
    dns_server.default_address = "127.0.0.5"
    dns_server.nxdomain.add(HOST)

    outcome = await probe(dns_server)

    assert_failed(outcome, Reason.DNS_NXDOMAIN)
    assert sorted(dns_server.log) == [(HOST, "A"), (HOST, "AAAA")], "both asked at once, as clients do"


async def test_unknown_name_without_default_is_nxdomain(dns_server: DNSServer) -> None:
    assert_failed(await probe(dns_server), Reason.DNS_NXDOMAIN)


async def test_servfail(dns_server: DNSServer) -> None:
    dns_server.servfail.add(HOST)

    outcome = await probe(dns_server)

    assert_failed(outcome, Reason.DNS_SERVFAIL)
    assert "SERVFAIL" in outcome.detail


async def test_no_answer_in_either_family(dns_server: DNSServer) -> None:
    dns_server.no_answer.add(HOST)

    outcome = await probe(dns_server)

    assert_failed(outcome, Reason.DNS_NO_ANSWER)
    assert sorted(dns_server.log) == [(HOST, "A"), (HOST, "AAAA")]


async def test_dropped_query_times_out_within_the_dns_timeout(dns_server: DNSServer) -> None:
    dns_server.drop.add(HOST)

    outcome = await probe(dns_server, dns_timeout=0.5)

    assert_failed(outcome, Reason.DNS_TIMEOUT)
    assert dns_server.queries[HOST] >= 1


async def test_behaviour_can_change_while_the_server_runs(dns_server: DNSServer) -> None:
    dns_server.records[HOST] = ["127.0.0.6"]
    assert (await probe(dns_server)).ok

    dns_server.servfail.add(HOST)
    assert (await probe(dns_server)).reason is Reason.DNS_SERVFAIL


async def test_every_probe_asks_the_server_no_cache(dns_server: DNSServer) -> None:
    dns_server.records[HOST] = ["127.0.0.7"]
    settings = settings_for(dns_server.port)

    for _ in range(3):
        assert (await resolve(HOST, settings)).ok

    assert dns_server.queries[HOST] == 3 * 2  # A and AAAA each time


async def test_nothing_listening_times_out() -> None:
    # dnspython's async UDP sockets are unconnected, so the ICMP port unreachable never reaches it:
    # a dead DNS server looks exactly like a silent one.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]

    outcome = await resolve(HOST, settings_for(closed_port, dns_timeout=0.5))

    assert_failed(outcome, Reason.DNS_TIMEOUT)


async def test_invalid_name_is_a_dns_error_without_raising(dns_server: DNSServer) -> None:
    outcome = await probe(dns_server, "a" * 64 + ".example.test")

    assert_failed(outcome, Reason.DNS_ERROR)
    assert "LabelTooLong" in outcome.detail
    assert dns_server.queries.total() == 0


def test_make_resolver_with_explicit_nameservers() -> None:
    resolver = make_resolver(["127.0.0.1", "::1"], 5353)

    assert [str(ns) for ns in resolver.nameservers] == ["127.0.0.1", "::1"]
    assert resolver.port == 5353
    assert resolver.cache is None


async def test_simulator_also_answers_over_tcp_on_the_same_port(dns_server: DNSServer) -> None:
    dns_server.records[HOST] = ["127.0.0.8"]

    answer = await make_resolver(["127.0.0.1"], dns_server.port).resolve(HOST, "A", tcp=True, lifetime=2.0)

    assert [rdata.to_text() for rdata in answer] == ["127.0.0.8"]
