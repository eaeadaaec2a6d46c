"""The one signature every protocol's probe has, and what a probe is given.

A prober is `async (target, settings) -> ProbeOutcome`: it never raises for a network failure (the
outcome's `reason` says what failed, from the vocabulary in `outcome.Reason`), it takes its deadlines
from `settings.timeouts`, and it closes everything it opened. `registry.PROBERS` maps each `Protocol`
to its prober.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

import anyio
from anyio.abc import AsyncResource

from exporter.catalogue import Flag
from exporter.probes.outcome import ProbeOutcome
from exporter.probes.settings import ProbeSettings


class Protocol(StrEnum):
    """How a target is probed; the `protocol` label."""

    TCP = "tcp"
    TLS = "tls"
    HTTP = "http"
    HTTPS = "https"
    NTP = "ntp"
    DNS = "dns"
    """Zone check of a wildcard without a representative host (`dns_zone.py`)."""


@dataclass(frozen=True)
class ProbeTarget:
    host: str
    """The catalogue host name: Host header, SNI and certificate name checks use it."""
    address: str
    """What to dial: the resolved address, or the host name itself when a proxy resolves it."""
    port: int
    """The catalogue port; `settings.dial_port` maps it for labs and tests."""
    flags: frozenset[Flag] = frozenset()
    """What the page says of the entry: TLS inspection unsupported, byte ranges required, ..."""


Prober = Callable[[ProbeTarget, ProbeSettings], Awaitable[ProbeOutcome]]


async def closing(opened: tuple[ProbeOutcome, AsyncResource | None]) -> ProbeOutcome:
    """The outcome of an `open_*` step whose connection nothing else needs: closed at once."""
    outcome, stream = opened
    if stream is not None:
        await anyio.aclose_forcefully(stream)
    return outcome
