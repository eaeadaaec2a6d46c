"""Is each representative host still a good stand-in for its wildcard?

A wildcard entry (`*.windowsupdate.com`) is probed through representative hosts (`plan/expand.py`). A
representative says something about the wildcard only while it is a name under the wildcard's zone that
exists and is served as such: once Microsoft retires it (NXDOMAIN) or it answers with a certificate that does
not name it (a parking page, another service), its results say nothing about the wildcard, however green.
Judged from the latest results of every target of the host in the set, at scrape time; the zone checks of
wildcards without a representative (protocol `dns`) are not representatives.
"""

from __future__ import annotations

from dataclasses import dataclass

from exporter.catalogue import wildcard_matches
from exporter.plan.targets import Target, TargetPlan
from exporter.probes.outcome import Reason
from exporter.probes.prober import Protocol
from exporter.results.store import TargetResult


@dataclass(frozen=True)
class RepresentativeCheck:
    set_id: str
    entry: str
    """The wildcard entry, as the catalogue writes it."""
    host: str
    valid: bool
    why: str
    """Why it is not valid; '' when it is."""


def representative_checks(plan: TargetPlan, results: dict[Target, TargetResult]) -> list[RepresentativeCheck]:
    """One check per (set, wildcard entry, representative host) with at least one result, sorted."""
    probed: dict[tuple[str, str, str], list[TargetResult]] = {}
    for target, members in plan.targets.items():
        if target.protocol is Protocol.DNS:
            continue
        result = results.get(target)
        for member in members:
            if member.entry.startswith("*.") and target.host != member.entry.lower():
                bucket = probed.setdefault((member.set_id, member.entry, target.host), [])
                if result is not None:
                    bucket.append(result)
    checks = []
    for (set_id, entry, host), found in sorted(probed.items()):
        if found:
            why = invalid_because(entry, host, found)
            checks.append(RepresentativeCheck(set_id, entry, host, not why, why))
    return checks


def invalid_because(entry: str, host: str, found: list[TargetResult]) -> str:
    """Why `host`, with these results, does not stand for the wildcard `entry`; '' when it does."""
    if not wildcard_matches(entry, host):
        return f"{host} is not a name under {entry}"
    if any(result.outcome.reason is Reason.DNS_NXDOMAIN for result in found):
        return f"{host} does not exist (NXDOMAIN)"
    for result in found:
        certificate = result.outcome.certificate
        if certificate is not None and not certificate.hostname_matches:
            return f"the certificate of {host} does not name it (subject {certificate.subject_cn!r})"
    return ""
