"""The byte-range check the page asks for on some endpoints (Delivery Optimization, Win32 apps): after a
successful HTTP(S) probe, a second request with `Range: bytes=0-0` on a connection of its own must come
back `206 Partial Content`. A proxy that strips the range (`200`, the whole body) fails the target with
RANGE_STRIPPED; an answer that tells neither (e.g. `404` at `range_path`) leaves it as it was.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Protocol

from exporter.catalogue import Flag
from exporter.probes import trace
from exporter.probes.outcome import ProbeOutcome, Reason
from exporter.probes.prober import Prober, ProbeTarget
from exporter.probes.settings import ProbeSettings
from exporter.probes.trace import Step


class RangeableProber(Protocol):
    async def __call__(
        self, target: ProbeTarget, settings: ProbeSettings, *, byte_range: bool = False
    ) -> ProbeOutcome: ...


def checking_byte_ranges(probe: RangeableProber) -> Prober:
    """`probe`, followed where the target's flags ask for it by a ranged request of the same kind."""

    async def probe_then_range(target: ProbeTarget, settings: ProbeSettings) -> ProbeOutcome:
        outcome = await probe(target, settings)
        if not outcome.ok or Flag.BYTE_RANGES_REQUIRED not in target.flags:
            return outcome
        trace.emit(
            Step.RANGE, f"the page asks for byte ranges: GET {settings.range_path} with Range: bytes=0-0"
        )
        ranged_settings = replace(settings, http_path=settings.range_path)
        if outcome.intercepted and settings.inspection_trust is not None:
            ranged_settings = replace(ranged_settings, trust=settings.inspection_trust)
        ranged = await probe(target, ranged_settings, byte_range=True)
        told = {True: "honoured (206)", False: "stripped (the whole body came back)", None: "not told"}
        trace.emit(
            Step.RANGE,
            f"range {told[ranged.range_supported]}: status {ranged.http_status}",
            range_supported=ranged.range_supported,
            status=ranged.http_status,
        )
        if ranged.range_supported is False:
            return replace(
                outcome,
                ok=False,
                reason=Reason.RANGE_STRIPPED,
                detail=f"asked for bytes=0-0, got the whole body ({ranged.http_status})",
                range_supported=False,
            )
        return replace(outcome, range_supported=ranged.range_supported)

    return probe_then_range
