"""One target probed on its own, traced phase by phase: what `intune-exporter probe` and `/debug/probe` run.

The steps are a cycle's (`cycle.py`): the lookup, then every address in resolver order, then the verdict a
client falling back across them gets (`client_view`), with the same probers and settings. Addresses are
tried one after another rather than at once, so the trace reads in order.

A target is named as `HOST[:PORT]` (`parse_host_port`); `choose` finds what the plan knows of it: the
protocol and network path it is probed on, the flags its catalogue entries carry (TLS inspection
unsupported, byte ranges required), including those of a catalogue wildcard the host falls under, and the
sets it belongs to.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from exporter.catalogue import Flag, wildcard_matches
from exporter.plan.expand import TCP_PORT_PROTOCOLS, UDP_PORT_PROTOCOLS
from exporter.plan.targets import NetworkPath, Target, TargetPlan
from exporter.probes import registry, trace
from exporter.probes.dns import lookup
from exporter.probes.outcome import ProbeOutcome
from exporter.probes.prober import ProbeTarget, Protocol
from exporter.probes.settings import ProbeSettings
from exporter.probes.trace import Step, Trace, TraceEvent
from exporter.scheduler.cycle import client_view, path_settings

DEFAULT_PORT = 443
_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*$")


class TargetChoiceError(ValueError):
    """The target or its options cannot be probed; the message says why, in one line."""


@dataclass(frozen=True)
class Choice:
    """What to probe and what the plan says of it."""

    target: Target
    flags: frozenset[Flag] = frozenset()
    sets: tuple[str, ...] = ()
    """Sets the host belongs to at this port (directly or under a wildcard); () when the plan lacks it."""
    in_plan: bool = False
    """The plan probes this host on this port (with some protocol and path)."""


@dataclass(frozen=True)
class TracedProbe:
    choice: Choice
    outcome: ProbeOutcome
    address: str
    """The address the verdict comes from; '' when none was dialled (DNS failed, or through a proxy)."""
    events: list[TraceEvent] = field(default_factory=list)


def parse_host_port(text: str) -> tuple[str, int]:
    """'host', 'host:port', 'ipv4:port', '[ipv6]:port' or a bare IPv6 address -> (host, port)."""
    value = text.strip()
    port_text = ""
    if value.startswith("["):
        host, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise TargetChoiceError(f"{text!r}: expected HOST[:PORT], e.g. [2001:db8::1]:443")
        port_text = rest[1:]
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    else:
        host = value
    host = host.lower().rstrip(".")
    if not _valid_host(host):
        raise TargetChoiceError(f"{text!r}: {host!r} is not a host name or IP address (expected HOST[:PORT])")
    if not port_text:
        return host, DEFAULT_PORT
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise TargetChoiceError(f"{text!r}: port {port_text!r} is not a number from 1 to 65535")
    return host, int(port_text)


def _valid_host(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return bool(_HOST_NAME.match(host))
    return True


def choose(
    plan: TargetPlan,
    settings: ProbeSettings,
    host: str,
    port: int,
    protocol: Protocol | None = None,
    path: NetworkPath | None = None,
) -> Choice:
    """The target for `host`:`port`, as the plan probes it where it can; raises TargetChoiceError.

    Without `protocol`, the one the plan probes this host and port with, else the catalogue's for the
    port (https on 443, http on 80, tls on 5223, ntp on 123, tcp otherwise). Without `path`, direct unless
    the plan probes this host and port only through a proxy; `NetworkPath.PROXY` uses the plan's proxy
    for the target, else the configured one."""
    known = [t for t in plan.targets if t.host == host and t.port == port]
    if protocol is None:
        protocol = next((t.protocol for t in known), None) or _protocol_for_port(port)
    if path is None:
        paths = {t.path for t in known if t.protocol is protocol}
        path = NetworkPath.PROXY if paths and NetworkPath.DIRECT not in paths else NetworkPath.DIRECT
    target = Target(host, port, protocol, path, _proxy_for(known, protocol, path, settings))
    memberships = plan.targets.get(target) or next(
        (plan.targets[t] for t in known if t.protocol is protocol), []
    )
    if not memberships:
        memberships = [
            member
            for members in plan.targets.values()
            for member in members
            if member.entry.startswith("*.") and wildcard_matches(member.entry, host)
        ]
    return Choice(
        target,
        frozenset().union(*(member.flags for member in memberships)),
        tuple(sorted({member.set_id for member in memberships})),
        in_plan=bool(known),
    )


def _protocol_for_port(port: int) -> Protocol:
    return UDP_PORT_PROTOCOLS.get(port) or TCP_PORT_PROTOCOLS.get(port, Protocol.TCP)


def _proxy_for(known: list[Target], protocol: Protocol, path: NetworkPath, settings: ProbeSettings) -> str:
    if path is NetworkPath.DIRECT:
        return ""
    if protocol in (Protocol.NTP, Protocol.DNS):
        raise TargetChoiceError(f"{protocol} cannot go through an HTTP proxy: use direct")
    planned = next((t.via for t in known if t.protocol is protocol and t.path is path), "")
    if planned:
        return planned
    if not settings.routes:
        raise TargetChoiceError("cannot go via proxy: no proxy is configured (proxy.url)")
    return next(iter(settings.routes))


async def probe_traced(
    choice: Choice, settings: ProbeSettings, on_event: Callable[[TraceEvent], None] | None = None
) -> TracedProbe:
    """Probe `choice.target` once with `settings`, recording every step (and telling `on_event` of each as
    it happens)."""
    recorded = Trace(on_event)
    with trace.recording(recorded):
        outcome, address = await _probe(choice, settings)
        verdict = "ok" if outcome.ok else f"FAIL {outcome.reason}"
        detail = f": {outcome.detail}" if outcome.detail else ""
        trace.emit(
            Step.VERDICT,
            f"{verdict}{detail}",
            ok=outcome.ok,
            reason=str(outcome.reason) if outcome.reason else None,
            detail=outcome.detail,
            address=address,
            phases={str(phase): seconds for phase, seconds in outcome.phases.items()},
        )
    return TracedProbe(choice, outcome, address, recorded.events)


async def _probe(choice: Choice, settings: ProbeSettings) -> tuple[ProbeOutcome, str]:
    target, flags = choice.target, choice.flags
    if target.path is not NetworkPath.DIRECT or target.protocol is Protocol.DNS:
        # The proxy resolves the name; a zone check asks the resolver itself.
        probed = ProbeTarget(target.host, target.host, target.port, flags)
        return await registry.run_probe(target.protocol, probed, path_settings(target, settings)), ""
    resolution = await lookup(target.host, settings)
    found = resolution.outcome
    if not found.ok:
        return found, ""
    outcomes = []
    for index, address in enumerate(found.addresses, 1):
        trace.emit(Step.CONNECT, f"address {index} of {len(found.addresses)}: {address}", address=address)
        probed = ProbeTarget(target.host, address, target.port, flags)
        outcome = await registry.run_probe(target.protocol, probed, settings)
        result = "ok" if outcome.ok else f"{outcome.reason} ({outcome.detail})"
        trace.emit(Step.CONNECT, f"{address}: {result}", address=address, ok=outcome.ok)
        outcomes.append(outcome)
    outcome, address, _ = client_view(found, found.addresses, outcomes)
    return outcome, address
