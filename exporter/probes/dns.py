"""DNS probe: resolve a host name to its addresses through the configured resolver.

Address policy: ask A and AAAA both, at once (`settings.address_families` may leave one out: networks
without IPv6 set `dns.families: [ipv4]`). Within a family the resolver's order is kept (a client tries the
addresses in that order), duplicates are dropped and at most `settings.max_addresses_per_family` are kept,
so a resolver returning hundreds of addresses costs bounded probing. IPv4 addresses come before IPv6 ones.
The families fail apart: an AAAA timeout leaves the IPv4 answer usable (`lookup` keeps each family's
failure in `Resolution.families`); the lookup fails only when no family yields an address.

Failures, by the dnspython exception that signals them::

    dns.exception.DNSException
     +-- dns.resolver.NXDOMAIN        -> Reason.DNS_NXDOMAIN
     +-- dns.exception.Timeout
     |    +-- LifetimeTimeout         -> Reason.DNS_TIMEOUT
     +-- dns.resolver.NoNameservers   -> Reason.DNS_SERVFAIL when a server answered SERVFAIL,
     |                                   else Reason.DNS_ERROR
     +-- anything else                -> Reason.DNS_ERROR
    (no records of either family)     -> Reason.DNS_NO_ANSWER

When both families fail, the IPv4 failure is reported unless it is only an empty answer. A REFUSED
answer, or a truncated one whose TCP retry fails, is DNS_ERROR; the detail says what each server did. When
the name is an alias, the detail names the CNAME chain and the name that failed ("a.example -> b.example:
b.example does not exist (NXDOMAIN)"). Replies that do not parse or carry another query id are ignored, as a
resolver must (spoofing), so a server sending only those times out.
"""

from __future__ import annotations

import ipaddress
import os
import time
from dataclasses import dataclass
from typing import Final

import anyio
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver

from exporter.probes import trace
from exporter.probes.outcome import Phase, ProbeOutcome, Reason
from exporter.probes.settings import ProbeSettings
from exporter.probes.trace import Step

ADDRESS_RDTYPES: Final = {4: dns.rdatatype.A, 6: dns.rdatatype.AAAA}
"""The query type of each IP version."""
FAMILY_NAMES: Final = {4: "ipv4", 6: "ipv6"}
"""The `family` label value and configuration name of each IP version."""
MAX_CHAIN: Final = 16
"""CNAME links followed when naming a chain in a failure detail."""


def family_of(address: str) -> str:
    """'ipv4' or 'ipv6'."""
    return FAMILY_NAMES[ipaddress.ip_address(address).version]


@dataclass(frozen=True)
class FamilyAnswer:
    """What one family's query (A or AAAA) gave: addresses, or the failure (`reason` None: answered)."""

    family: str
    addresses: tuple[str, ...] = ()
    reason: Reason | None = None
    detail: str = ""
    truncated: int = 0
    """Addresses left out beyond the per-family bound (duplicates not counted)."""


@dataclass(frozen=True)
class Resolution:
    """A lookup: the joined outcome (ok when some family gave addresses) and each family's answer."""

    outcome: ProbeOutcome
    families: tuple[FamilyAnswer, ...] = ()


def make_resolver(nameservers: list[str] | None, port: int = 53) -> dns.asyncresolver.Resolver:
    """The system resolver (resolv.conf) when `nameservers` is empty, else exactly these servers.

    Caching is off: every probe must put a real question on the wire.
    """
    if nameservers:
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.port = port
        resolver.nameservers = list(nameservers)
    else:
        resolver = dns.asyncresolver.Resolver(configure=True)
    resolver.cache = None
    return resolver


async def resolve(host: str, settings: ProbeSettings) -> ProbeOutcome:
    """Resolve `host` (A and AAAA) within `settings.timeouts[Phase.DNS]`: the joined outcome."""
    return (await lookup(host, settings)).outcome


async def lookup(host: str, settings: ProbeSettings) -> Resolution:
    """Resolve `host`, every configured family at once, within `settings.timeouts[Phase.DNS]`."""
    budget = settings.timeouts[Phase.DNS]
    started = time.perf_counter()
    versions = [v for v in ADDRESS_RDTYPES if v in settings.address_families] or [4]
    answers: dict[int, FamilyAnswer] = {}
    if trace.active():
        servers = [f"{server}:{settings.resolver.port}" for server in settings.resolver.nameservers]
        asked = " and ".join(ADDRESS_RDTYPES[v].name for v in versions)
        trace.emit(Step.DNS, f"asking {', '.join(servers)} for {asked} of {host}", resolvers=servers)

    async def ask(version: int) -> None:
        answers[version] = await _query(host, version, budget, settings)

    async with anyio.create_task_group() as group:
        for version in versions:
            group.start_soon(ask, version)
    phases = {Phase.DNS: time.perf_counter() - started}
    trace.emit(Step.DNS, f"lookup done in {trace.milliseconds(phases[Phase.DNS])}", seconds=phases[Phase.DNS])
    families = tuple(answers[v] for v in versions)
    addresses = tuple(address for answer in families for address in answer.addresses)
    if addresses:
        return Resolution(ProbeOutcome(ok=True, phases=phases, addresses=addresses), families)
    failed = [answer for answer in families if answer.reason not in (None, Reason.DNS_NO_ANSWER)]
    if not failed:
        asked = " or ".join(ADDRESS_RDTYPES[v].name for v in versions)
        detail = next((a.detail for a in families if a.detail), f"{host}: no {asked} records")
        return Resolution(ProbeOutcome.failure(Reason.DNS_NO_ANSWER, detail, phases), families)
    first = failed[0]
    assert first.reason is not None
    return Resolution(ProbeOutcome.failure(first.reason, first.detail, phases), families)


async def _query(host: str, version: int, budget: float, settings: ProbeSettings) -> FamilyAnswer:
    answer = await _ask(host, version, budget, settings)
    if trace.active():
        _trace_answer(host, version, answer)
    return answer


async def _ask(host: str, version: int, budget: float, settings: ProbeSettings) -> FamilyAnswer:
    family, rdtype = FAMILY_NAMES[version], ADDRESS_RDTYPES[version]
    try:
        answer = await settings.resolver.resolve(
            host, rdtype, lifetime=budget, search=False, raise_on_no_answer=False
        )
    except dns.resolver.NXDOMAIN as exc:
        return FamilyAnswer(family, reason=Reason.DNS_NXDOMAIN, detail=_nxdomain_detail(host, exc))
    except dns.exception.Timeout as exc:
        detail = _detail(host, exc, f"no {rdtype.name} answer within {budget:g}s")
        return FamilyAnswer(family, reason=Reason.DNS_TIMEOUT, detail=detail)
    except dns.resolver.NoNameservers as exc:
        reason = Reason.DNS_SERVFAIL if _answered_servfail(exc) else Reason.DNS_ERROR
        return FamilyAnswer(family, reason=reason, detail=_detail(host, exc, "no usable answer"))
    except dns.exception.DNSException as exc:
        return FamilyAnswer(family, reason=Reason.DNS_ERROR, detail=f"{type(exc).__name__}: {exc}")
    chain = _chain(host, answer.response)
    if answer.rrset is None:
        where = chain[-1] if len(chain) > 1 else host
        prefix = f"{' -> '.join(chain)}: " if len(chain) > 1 else f"{host}: "
        detail = f"{prefix}{where} has no {rdtype.name} records"
        return FamilyAnswer(family, reason=Reason.DNS_NO_ANSWER, detail=detail)
    kept, truncated = _bounded_unique(
        [rdata.to_text() for rdata in answer.rrset], settings.max_addresses_per_family
    )
    if trace.active():
        _trace_records(answer.response)
    return FamilyAnswer(family, addresses=kept, truncated=truncated)


def _trace_records(response: dns.message.Message) -> None:
    """Each record of the answer section: the CNAME links and address records, with their TTLs."""
    for rrset in response.answer:
        for rdata in rrset:
            name = rrset.name.to_text(omit_final_dot=True)
            kind = dns.rdatatype.to_text(rrset.rdtype)
            value = rdata.to_text().rstrip(".")
            trace.emit(
                Step.DNS,
                f"{name} {rrset.ttl} {kind} {value}",
                name=name,
                type=kind,
                ttl=rrset.ttl,
                value=value,
            )


def _trace_answer(host: str, version: int, answer: FamilyAnswer) -> None:
    rdtype = ADDRESS_RDTYPES[version].name
    if answer.reason is not None:
        trace.emit(
            Step.DNS,
            f"{rdtype} {host}: {answer.reason} ({answer.detail})",
            family=answer.family,
            reason=str(answer.reason),
            detail=answer.detail,
        )
        return
    left_out = (
        f", {answer.truncated} more left out (dns.max_addresses_per_family)" if answer.truncated else ""
    )
    trace.emit(
        Step.DNS,
        f"{rdtype} {host}: {', '.join(answer.addresses)}{left_out}",
        family=answer.family,
        addresses=list(answer.addresses),
        left_out=answer.truncated,
    )


def _chain(host: str, response: dns.message.Message | None) -> list[str]:
    """`host` and the names its CNAMEs lead to in `response`, in order (just [host] without CNAMEs)."""
    names = [host.rstrip(".")]
    if response is None:
        return names
    try:
        current = dns.name.from_text(host)
    except dns.exception.DNSException:
        return names
    targets = {
        rrset.name: rrset[0].target
        for rrset in response.answer
        if rrset.rdtype == dns.rdatatype.CNAME and len(rrset)
    }
    while current in targets and len(names) <= MAX_CHAIN:
        current = targets[current]
        names.append(current.to_text(omit_final_dot=True))
    return names


def _nxdomain_detail(host: str, exc: dns.resolver.NXDOMAIN) -> str:
    """ "a.example -> b.example: b.example does not exist (NXDOMAIN)"; without an alias the name alone."""
    responses = exc.kwargs.get("responses") or {}
    chain = [host.rstrip(".")]
    for response in responses.values():
        found = _chain(host, response)
        if len(found) > len(chain):
            chain = found
    if len(chain) > 1:
        return f"{' -> '.join(chain)}: {chain[-1]} does not exist (NXDOMAIN)"
    return f"{chain[0]} does not exist (NXDOMAIN)"


def _detail(host: str, exc: dns.exception.DNSException, summary: str) -> str:
    """What each server said, one clause per attempt (dnspython's own text leaves some of them blank)."""
    errors = exc.kwargs.get("errors") or []
    if not errors:
        return str(exc)
    said = "; ".join(
        f"{server} ({'TCP' if tcp else 'UDP'}): {_error_text(error)}"
        for server, tcp, _port, error, *_ in errors
    )
    return f"{host}: {summary}: {said}"


def _error_text(error: object) -> str:
    if isinstance(error, dns.message.Truncated):
        return "truncated answer (TC bit)"
    if isinstance(error, OSError) and error.errno is not None:
        return os.strerror(error.errno)
    return str(error) or type(error).__name__


def _answered_servfail(exc: dns.resolver.NoNameservers) -> bool:
    # Each error is (server, tcp, port, exception-or-rcode-text, response); an rcode the resolver
    # did not accept is recorded as its text.
    errors = exc.kwargs.get("errors") or []
    return any(error[3] == dns.rcode.to_text(dns.rcode.SERVFAIL) for error in errors)


def _bounded_unique(addresses: list[str], bound: int) -> tuple[tuple[str, ...], int]:
    """The first `bound` distinct addresses in resolver order, and how many distinct ones were left out."""
    seen: dict[ipaddress.IPv4Address | ipaddress.IPv6Address, None] = {}
    for address in addresses:
        seen.setdefault(ipaddress.ip_address(address), None)
    distinct = [str(ip) for ip in seen]
    return tuple(distinct[: max(bound, 1)]), max(len(distinct) - max(bound, 1), 0)
