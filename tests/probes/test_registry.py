"""The map from protocol to prober, and the guard around every probe."""

from __future__ import annotations

import inspect

import pytest

from exporter.probes import registry
from exporter.probes.outcome import ProbeOutcome, Reason
from exporter.probes.prober import ProbeTarget, Protocol
from exporter.probes.settings import ProbeSettings
from tests.support.simulators.tls_servers import LoopbackLab


def test_every_protocol_has_one_prober_with_the_one_signature() -> None:
    assert set(registry.PROBERS) == set(Protocol)
    for protocol, prober in registry.PROBERS.items():
        assert inspect.iscoroutinefunction(prober), protocol
        assert list(inspect.signature(prober).parameters) == ["target", "settings"], protocol


@pytest.mark.anyio
async def test_a_prober_that_raises_is_a_probe_error_not_a_crash(
    loopback_lab: LoopbackLab, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(target: ProbeTarget, settings: ProbeSettings) -> ProbeOutcome:
        raise RuntimeError("bug")

    monkeypatch.setattr(registry, "PROBERS", {**registry.PROBERS, Protocol.TCP: broken})

    outcome = await registry.run_probe(
        Protocol.TCP, ProbeTarget("x.example.test", "127.0.0.1", 443), loopback_lab.probe_settings()
    )

    assert (outcome.ok, outcome.reason, outcome.detail) == (False, Reason.PROBE_ERROR, "RuntimeError: bug")
    assert "probe of x.example.test:443/tcp raised" in caplog.text
