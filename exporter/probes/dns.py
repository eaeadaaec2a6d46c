"""DNS probe: resolve a host name to its addresses through the configured resolver.

Address policy (`ADDRESS_RDTYPES`): ask for A first, and for AAAA only when the name has no A record.
Intune clients overwhelmingly reach Microsoft over IPv4, so the A records are what later probes must
test; the AAAA fallback keeps IPv6-only names probeable instead of reporting them as missing. A name
with both families therefore yields only its IPv4 addresses.

Failures, by the dnspython exception that signals them::

    dns.exception.DNSException
     +-- dns.resolver.NXDOMAIN        -> Reason.DNS_NXDOMAIN
     +-- dns.exception.Timeout
     |    +-- LifetimeTimeout         -> Reason.DNS_TIMEOUT
     +-- dns.resolver.NoNameservers   -> Reason.DNS_SERVFAIL when a server answered SERVFAIL,
     |                                   else Reason.DNS_ERROR
     +-- anything else                -> Reason.DNS_ERROR
    (no records of either family)     -> Reason.DNS_NO_ANSWER

A REFUSED answer, or a truncated one whose TCP retry fails, is DNS_ERROR; the detail says what each server
did. Replies that do not parse or carry another query id are ignored, as a resolver must (spoofing), so a
server sending only those times out.
"""

from __future__ import annotations

import ipaddress
import os
import time
from typing import Final

import dns.asyncresolver
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype
import dns.resolver

from exporter.probes.outcome import Phase, ProbeOutcome, Reason
from exporter.probes.settings import ProbeSettings

ADDRESS_RDTYPES: Final = (dns.rdatatype.A, dns.rdatatype.AAAA)
"""Queried in this order; the first type with records wins and the rest are not asked."""


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
    """Resolve `host` (A, then AAAA only if A is empty) within `settings.timeouts[Phase.DNS]`."""
    budget = settings.timeouts[Phase.DNS]
    started = time.perf_counter()

    def elapsed() -> dict[Phase, float]:
        return {Phase.DNS: time.perf_counter() - started}

    addresses: list[str] = []
    try:
        for rdtype in ADDRESS_RDTYPES:
            remaining = budget - (time.perf_counter() - started)
            if remaining <= 0:
                return ProbeOutcome.failure(
                    Reason.DNS_TIMEOUT, f"{host}: no time left for the {rdtype.name} query", elapsed()
                )
            answer = await settings.resolver.resolve(
                host, rdtype, lifetime=remaining, search=False, raise_on_no_answer=False
            )
            if answer.rrset is not None:
                addresses = [rdata.to_text() for rdata in answer.rrset]
                break
    except dns.resolver.NXDOMAIN as exc:
        return ProbeOutcome.failure(Reason.DNS_NXDOMAIN, str(exc), elapsed())
    except dns.exception.Timeout as exc:
        detail = _detail(host, exc, f"no answer within {budget:g}s")
        return ProbeOutcome.failure(Reason.DNS_TIMEOUT, detail, elapsed())
    except dns.resolver.NoNameservers as exc:
        reason = Reason.DNS_SERVFAIL if _answered_servfail(exc) else Reason.DNS_ERROR
        return ProbeOutcome.failure(reason, _detail(host, exc, "no usable answer"), elapsed())
    except dns.exception.DNSException as exc:
        return ProbeOutcome.failure(Reason.DNS_ERROR, f"{type(exc).__name__}: {exc}", elapsed())

    phases = elapsed()
    if not addresses:
        return ProbeOutcome.failure(Reason.DNS_NO_ANSWER, f"{host}: no A or AAAA records", phases)
    return ProbeOutcome(ok=True, phases=phases, addresses=_sorted_unique(addresses))


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


def _sorted_unique(addresses: list[str]) -> tuple[str, ...]:
    parsed = {ipaddress.ip_address(address) for address in addresses}
    return tuple(str(ip) for ip in sorted(parsed, key=lambda ip: (ip.version, int(ip))))
