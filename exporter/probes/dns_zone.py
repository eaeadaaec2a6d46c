"""Zone check (`dns`): what the resolver says of a wildcard's zone, for a `*.zone` entry with no host to probe
(the `dns` protocol).

A wildcard such as `*.dm.microsoft.com` names hosts nobody lists; without a representative host there is
nothing to connect to. What can still be checked is what a DNS filter does to the zone, through the
configured resolver (always directly: the resolver is ours, whatever proxy the other targets take):

1. The zone exists: its SOA question is answered NOERROR (with the SOA, or with no record when the name is
   not a zone cut but has names below it). NXDOMAIN is `dns_nxdomain`, as a filter answering "no such
   domain" for a blocked zone does.
2. Names below it are not sinkholed: `RANDOM_LABELS` names `intune-exporter-probe-<random>.zone` are asked
   (A, then AAAA only when there is no A record). NXDOMAIN or no record is how a real zone answers a name
   nobody registered; an answer with an address no Internet service has (`sinkhole_address`: 0.0.0.0, ::,
   127.0.0.0/8, private, link-local, shared or reserved ranges) is `dns_sinkholed`, as a filter answers for a
   blocked zone. A public address is accepted, even the same one for every label: zones with a wildcard record
   (CDN fronted) answer that way too, and a wrong `dns_sinkholed` would page someone.

Failures of either step, by the dnspython exception that signals them, are those of `dns.resolve`:
NXDOMAIN of the zone -> DNS_NXDOMAIN, timeout -> DNS_TIMEOUT, every server SERVFAIL -> DNS_SERVFAIL, anything
else -> DNS_ERROR. The whole check has the DNS phase's budget.

The target: host = the zone (the wildcard without `*.`), port 53 (the DNS port the resolver is asked on),
protocol `dns`; the scheduler hands it to this prober without a lookup first.
"""

from __future__ import annotations

import ipaddress
import secrets
import time
from collections.abc import Callable
from typing import Final

import dns.exception
import dns.rcode
import dns.rdatatype
import dns.resolver

from exporter.probes.outcome import Phase, ProbeOutcome, Reason
from exporter.probes.prober import ProbeTarget
from exporter.probes.settings import ProbeSettings

PORT: Final = 53
"""The `port` of zone-check targets: the DNS port, since no service port of the zone is probed."""
RANDOM_LABEL_PREFIX: Final = "intune-exporter-probe-"
"""First label of the names asked below a zone; followed by random hex so no cache or record can answer."""
RANDOM_LABELS: Final = 2
ADDRESS_RDTYPES: Final = (dns.rdatatype.A, dns.rdatatype.AAAA)


class _OutOfTime(Exception):
    pass


_Remaining = Callable[[], float]
"""Seconds left of the check's budget; raises `_OutOfTime` when none are."""


def random_name(zone: str) -> str:
    return f"{RANDOM_LABEL_PREFIX}{secrets.token_hex(6)}.{zone}"


def sinkhole_address(address: str) -> bool:
    """An address a DNS filter answers with for a blocked name, never one of an Internet service: unspecified,
    loopback, private, link-local, shared (100.64.0.0/10), reserved or multicast."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


async def probe(target: ProbeTarget, settings: ProbeSettings) -> ProbeOutcome:
    """Check the zone `target.host` through `settings.resolver` within `settings.timeouts[Phase.DNS]`."""
    zone = target.host.rstrip(".")
    budget = settings.timeouts[Phase.DNS]
    started = time.perf_counter()

    def remaining() -> float:
        left = budget - (time.perf_counter() - started)
        if left <= 0:
            raise _OutOfTime
        return left

    asked = [zone]
    answered: dict[str, tuple[str, ...]] = {}
    try:
        await settings.resolver.resolve(
            zone, dns.rdatatype.SOA, lifetime=remaining(), search=False, raise_on_no_answer=False
        )
        for _ in range(RANDOM_LABELS):
            asked.append(random_name(zone))
            answered[asked[-1]] = await _addresses(asked[-1], settings, remaining)
    except (_OutOfTime, dns.exception.DNSException) as exc:
        phases = {Phase.DNS: time.perf_counter() - started}
        return _failure(exc, zone, asked[-1], budget, phases)

    phases = {Phase.DNS: time.perf_counter() - started}
    for name, addresses in answered.items():
        sinkholes = [address for address in addresses if sinkhole_address(address)]
        if sinkholes:
            detail = f"zone {zone}: {name} answered {', '.join(sinkholes)}, a DNS filter's sinkhole address"
            return ProbeOutcome.failure(Reason.DNS_SINKHOLED, detail, phases)
    return ProbeOutcome(ok=True, phases=phases)


def _failure(
    exc: Exception, zone: str, asked: str, budget: float, phases: dict[Phase, float]
) -> ProbeOutcome:
    """The outcome of the question about `asked` failing with `exc`."""
    if isinstance(exc, _OutOfTime):
        return ProbeOutcome.failure(Reason.DNS_TIMEOUT, f"{asked}: no time left within {budget:g}s", phases)
    if isinstance(exc, dns.resolver.NXDOMAIN):  # only the zone's: a random name's NXDOMAIN is expected
        return ProbeOutcome.failure(Reason.DNS_NXDOMAIN, f"zone {zone}: {exc}", phases)
    if isinstance(exc, dns.exception.Timeout):
        return ProbeOutcome.failure(Reason.DNS_TIMEOUT, f"{asked}: no answer within {budget:g}s", phases)
    if isinstance(exc, dns.resolver.NoNameservers):
        reason = Reason.DNS_SERVFAIL if _answered_servfail(exc) else Reason.DNS_ERROR
        return ProbeOutcome.failure(reason, f"{asked}: no usable answer: {exc}", phases)
    return ProbeOutcome.failure(Reason.DNS_ERROR, f"{asked}: {type(exc).__name__}: {exc}", phases)


async def _addresses(name: str, settings: ProbeSettings, remaining: _Remaining) -> tuple[str, ...]:
    """The addresses `name` is answered with (A, else AAAA); () when it does not exist or has none."""
    for rdtype in ADDRESS_RDTYPES:
        try:
            answer = await settings.resolver.resolve(
                name, rdtype, lifetime=remaining(), search=False, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            return ()
        if answer.rrset is not None:
            return tuple(rdata.to_text() for rdata in answer.rrset)
    return ()


def _answered_servfail(exc: dns.resolver.NoNameservers) -> bool:
    errors = exc.kwargs.get("errors") or []
    return any(error[3] == dns.rcode.to_text(dns.rcode.SERVFAIL) for error in errors)
