from __future__ import annotations

import logging
from pathlib import Path

import anyio
import pytest
from prometheus_client import CollectorRegistry

from exporter.config.file import LoadedConfig, load
from exporter.metrics.endpoints import ExporterCollector
from exporter.plan.expand import build_plan
from exporter.plan.probe_settings import probe_settings
from exporter.plan.targets import PlanHolder, Target, TargetPlan
from exporter.probes import registry
from exporter.probes.outcome import ProbeOutcome, Reason
from exporter.probes.prober import ProbeTarget, Protocol
from exporter.probes.settings import ProbeSettings
from exporter.results.store import ResultStore
from exporter.results.storm import Cause
from exporter.scheduler.cycle import pick_address, run_cycle, run_forever
from tests.support.e2e_lab import arrange, write_config
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.tls_servers import HEALTHY, REFUSED, LoopbackLab


@pytest.fixture
def small_lab(
    tmp_path: Path, dns_server: DNSServer, ntp_server: NTPServer, loopback_lab: LoopbackLab
) -> tuple[LoadedConfig, TargetPlan]:
    arrange(dns_server, ntp_server, broken=False)
    path = write_config(
        tmp_path / "lab.yml", dns_server, ntp_server, loopback_lab, sets={"only": ["97", "190", "165"]}
    )
    loaded = load(path)
    return loaded, build_plan(loaded.config, loaded.catalogue)


def test_pick_address_prefers_ipv4() -> None:
    assert pick_address(("2001:db8::1", "192.0.2.7", "192.0.2.3")) == "192.0.2.3"
    assert pick_address(("2001:db8::1",)) == "2001:db8::1"


@pytest.mark.anyio
async def test_a_probe_that_raises_costs_only_its_target(
    small_lab: tuple[LoadedConfig, TargetPlan],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    loaded, plan = small_lab

    async def broken(target: ProbeTarget, settings: ProbeSettings) -> ProbeOutcome:
        raise RuntimeError("bug")

    monkeypatch.setattr(registry, "PROBERS", {**registry.PROBERS, Protocol.HTTP: broken})
    store = ResultStore()
    await run_cycle(plan, probe_settings(loaded), store, concurrency=4)
    results, stats = store.snapshot()
    assert stats.completed == 1
    assert results[Target("go.microsoft.com", 80, Protocol.HTTP)].outcome.reason is Reason.PROBE_ERROR
    assert results[Target("go.microsoft.com", 443, Protocol.HTTPS)].outcome.ok
    assert "probe of go.microsoft.com:80/http raised" in caplog.text


@pytest.mark.anyio
async def test_state_changes_are_logged_once(
    small_lab: tuple[LoadedConfig, TargetPlan], dns_server: DNSServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="exporter")
    loaded, plan = small_lab
    settings = probe_settings(loaded)
    store = ResultStore()
    dns_server.nxdomain.add("login.live.com")
    await run_cycle(plan, settings, store, concurrency=4)
    await run_cycle(plan, settings, store, concurrency=4)
    assert caplog.text.count("login.live.com:443/https failing: dns_nxdomain") == 1
    dns_server.nxdomain.clear()
    await run_cycle(plan, settings, store, concurrency=4)
    assert "login.live.com:443/https up again" in caplog.text


@pytest.mark.anyio
async def test_scrapes_read_results_while_a_cycle_runs(
    small_lab: tuple[LoadedConfig, TargetPlan], dns_server: DNSServer
) -> None:
    loaded, plan = small_lab
    dns_server.drop.add("account.live.com")  # its lookup hangs until the DNS timeout (3 s)
    store = ResultStore()
    registry = CollectorRegistry()
    registry.register(ExporterCollector(PlanHolder(plan), loaded.catalogue, store))
    other = {
        "set_id": "190",
        "host": "go.microsoft.com",
        "port": "443",
        "protocol": "https",
        "path": "direct",
    }
    async with anyio.create_task_group() as group:
        group.start_soon(
            lambda: run_forever(
                PlanHolder(plan), probe_settings(loaded), store, concurrency=4, interval=3600, jitter=0
            )
        )
        while registry.get_sample_value("intune_endpoint_up", other) is None:
            assert registry.get_sample_value("intune_exporter_cycles_total") == 0
            await anyio.sleep(0.05)
        # The first cycle is still waiting on one lookup, yet the scrape has every finished result.
        assert registry.get_sample_value("intune_exporter_cycles_total") == 0
        assert not store.ready
        assert registry.get_sample_value("intune_endpoint_up", other) == 1
        while not store.ready:
            await anyio.sleep(0.05)
        group.cancel_scope.cancel()
    hung = {"set_id": "97", "host": "account.live.com", "port": "443", "protocol": "https", "path": "direct"}
    assert registry.get_sample_value("intune_endpoint_failure_reason", {**hung, "reason": "dns_timeout"}) == 1


@pytest.mark.anyio
async def test_a_failure_storm_is_one_line_and_the_targets_go_to_debug(
    tmp_path: Path,
    dns_server: DNSServer,
    ntp_server: NTPServer,
    loopback_lab: LoopbackLab,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every host resolving to a refusing address: one warning naming egress, not one per target."""
    arrange(dns_server, ntp_server, broken=False)
    loaded = load(write_config(tmp_path / "lab.yml", dns_server, ntp_server, loopback_lab))
    plan = build_plan(loaded.config, loaded.catalogue)
    settings = probe_settings(loaded)
    store = ResultStore()
    caplog.set_level(logging.DEBUG, logger="exporter.scheduler")
    dns_server.default_address = REFUSED
    await run_cycle(plan, settings, store, concurrency=16)
    await run_cycle(plan, settings, store, concurrency=16)

    storm = store.storm
    assert storm is not None and (storm.reason, storm.cause) == ("connect_refused", Cause.EGRESS)
    assert storm.failing > len(plan.targets) / 2
    cycle = [r for r in caplog.records if r.name == "exporter.scheduler.cycle"]
    warnings = [r.getMessage() for r in cycle if r.levelno == logging.WARNING]
    assert warnings == [f"most targets fail the same way: {storm.line()}"]
    refused = [
        r for r in cycle if r.levelno == logging.DEBUG and "failing: connect_refused" in r.getMessage()
    ]
    assert len(refused) == storm.failing  # each target still logged once, at debug level, with its fields
    fields = {
        (r.__dict__["set"], r.__dict__["host"], r.__dict__["port"], r.__dict__["reason"]) for r in refused
    }
    assert ("190", "go.microsoft.com", 443, "connect_refused") in fields

    caplog.clear()
    dns_server.default_address = HEALTHY
    await run_cycle(plan, settings, store, concurrency=16)
    assert store.storm is None
    assert "failure storm over: most targets no longer fail with connect_refused" in caplog.text


@pytest.mark.anyio
async def test_a_single_failure_is_logged_with_its_fields(
    small_lab: tuple[LoadedConfig, TargetPlan], dns_server: DNSServer, caplog: pytest.LogCaptureFixture
) -> None:
    loaded, plan = small_lab
    dns_server.nxdomain.add("login.live.com")
    store = ResultStore()
    await run_cycle(plan, probe_settings(loaded), store, concurrency=4)
    assert store.storm is None
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert {
        key: record.__dict__[key] for key in ("set", "host", "port", "protocol", "reason", "address")
    } == {
        "set": "97",
        "host": "login.live.com",
        "port": 443,
        "protocol": "https",
        "reason": "dns_nxdomain",
        "address": "",
    }
