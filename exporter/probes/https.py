"""HTTPS probe: the TLS probe's handshake, then the HTTP probe's GET on that same connection.

One connection and one handshake per target, as a browser's first request: the interception judgement
and certificate come from `tls`, the status and timing of the request from `http`.
"""

from __future__ import annotations

import anyio

from exporter.probes import http
from exporter.probes.outcome import ProbeOutcome
from exporter.probes.prober import ProbeTarget
from exporter.probes.settings import ProbeSettings
from exporter.probes.tls import open_tls


async def probe(target: ProbeTarget, settings: ProbeSettings, *, byte_range: bool = False) -> ProbeOutcome:
    """Handshake, then GET `settings.http_path` on the TLS stream (with `byte_range`, as `http.probe`)."""
    opened, stream = await open_tls(target, settings)
    if stream is None:
        return opened
    try:
        answered = await http.request(stream, target, settings, scheme="https", byte_range=byte_range)
    finally:
        await anyio.aclose_forcefully(stream)
    return opened.then(answered)
