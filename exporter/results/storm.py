"""Failure storms: most targets of a cycle failing for one reason, which points at one cause near the
exporter (its resolver, its egress, its proxy, TLS inspection) rather than at Microsoft's endpoints.

A storm is judged once per cycle from every target's latest result. `serve` logs it as one line instead of
a line per target, the status page shows it as a banner and `check` prints it under its table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from exporter.probes.outcome import ProbeOutcome, Reason

STORM_SHARE = 0.5
"""A storm: more than this share of the probed targets fail with one reason ..."""
STORM_MIN_TARGETS = 5
"""... and at least this many (a plan of three targets failing is not a storm)."""


class Cause(StrEnum):
    RESOLVER = "resolver"
    EGRESS = "egress"
    PROXY = "proxy"
    TLS_INSPECTION = "tls_inspection"
    UNKNOWN = "unknown"


_CAUSE = {
    **dict.fromkeys(
        (
            Reason.DNS_NXDOMAIN,
            Reason.DNS_SERVFAIL,
            Reason.DNS_TIMEOUT,
            Reason.DNS_NO_ANSWER,
            Reason.DNS_ERROR,
        ),
        Cause.RESOLVER,
    ),
    **dict.fromkeys(
        (Reason.CONNECT_REFUSED, Reason.CONNECT_TIMEOUT, Reason.CONNECT_UNREACHABLE, Reason.CONNECT_ERROR),
        Cause.EGRESS,
    ),
    **dict.fromkeys((Reason.PROXY_AUTH_REQUIRED, Reason.PROXY_REFUSED, Reason.PROXY_ERROR), Cause.PROXY),
    **dict.fromkeys(
        (Reason.TLS_UNTRUSTED, Reason.TLS_SELF_SIGNED, Reason.TLS_INTERCEPTED, Reason.TLS_CHAIN_INCOMPLETE),
        Cause.TLS_INSPECTION,
    ),
}

ADVICE = {
    Cause.RESOLVER: "check the resolver: can this host resolve public names (dns.nameservers, else "
    "/etc/resolv.conf)? Behind a proxy that resolves names for the devices, set proxy.url",
    Cause.EGRESS: "check egress: outbound connections to the internet are refused or dropped (firewall, "
    "route, NAT); if the devices go out through a proxy, set proxy.url",
    Cause.PROXY: "check the proxy: proxy.url, its credentials and whether it lets these hosts through",
    Cause.TLS_INSPECTION: "TLS inspection re-signs the traffic: exempt these hosts from inspection, or give "
    "the inspection CA in tls.ca_file to probe past it",
    Cause.UNKNOWN: "look at one failing target: intune-exporter check --set ID",
}
"""What to look at first, per cause."""


@dataclass(frozen=True)
class Storm:
    reason: str
    failing: int
    """Targets failing with `reason`."""
    total: int
    """Targets with a result."""
    cause: Cause

    @property
    def advice(self) -> str:
        return ADVICE[self.cause]

    def line(self) -> str:
        """'170 of 173 targets fail with dns_nxdomain, likely cause resolver: check the resolver: ...'."""
        likely = "" if self.cause is Cause.UNKNOWN else f", likely cause {self.cause.value.replace('_', ' ')}"
        return f"{self.failing} of {self.total} targets fail with {self.reason}{likely}: {self.advice}"


def judge_storm(outcomes: Iterable[ProbeOutcome]) -> Storm | None:
    """The storm in `outcomes` (one per target), or None when no reason fails most of them."""
    reasons: Counter[Reason] = Counter()
    total = 0
    for outcome in outcomes:
        total += 1
        if not outcome.ok and outcome.reason is not None:
            reasons[outcome.reason] += 1
    if not reasons:
        return None
    reason, failing = reasons.most_common(1)[0]
    if failing < STORM_MIN_TARGETS or failing <= total * STORM_SHARE:
        return None
    return Storm(reason.value, failing, total, _CAUSE.get(reason, Cause.UNKNOWN))
