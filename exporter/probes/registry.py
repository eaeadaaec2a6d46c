"""Which prober each protocol uses: one plain map, as blackbox_exporter's handler has. A new protocol
is a module with a `probe(target, settings)` and one line here (see docs/architecture.md)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType

from exporter.probes import dns_zone, http, https, ntp, tcp, tls
from exporter.probes.byte_ranges import checking_byte_ranges
from exporter.probes.outcome import ProbeOutcome, Reason
from exporter.probes.prober import Prober, ProbeTarget, Protocol
from exporter.probes.settings import ProbeSettings

log = logging.getLogger(__name__)

PROBERS: Mapping[Protocol, Prober] = MappingProxyType(
    {
        Protocol.TCP: tcp.probe,
        Protocol.TLS: tls.probe,
        Protocol.HTTP: checking_byte_ranges(http.probe),
        Protocol.HTTPS: checking_byte_ranges(https.probe),
        Protocol.NTP: ntp.probe,
        Protocol.DNS: dns_zone.probe,
    }
)


async def run_probe(protocol: Protocol, target: ProbeTarget, settings: ProbeSettings) -> ProbeOutcome:
    """Probe `target` with `protocol`'s prober. A prober that raises is a bug: it costs this target's
    result (PROBE_ERROR, logged with the traceback), never the exporter."""
    try:
        return await PROBERS[protocol](target, settings)
    except Exception as exc:
        log.exception("probe of %s:%d/%s raised", target.host, target.port, protocol)
        return ProbeOutcome.failure(Reason.PROBE_ERROR, f"{type(exc).__name__}: {exc}")
