"""The whole built-in catalogue probed against the loopback lab, in process: check and metrics."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from prometheus_client import CollectorRegistry

from exporter.cli import main
from exporter.config.file import load
from exporter.metrics.endpoints import ExporterCollector
from exporter.plan.expand import build_plan
from exporter.plan.probe_settings import probe_settings
from exporter.plan.targets import PlanHolder, TargetPlan
from exporter.results.store import ResultStore
from exporter.scheduler.cycle import run_cycle
from tests.support.e2e_lab import (
    BLACKHOLE_HOST,
    BROKEN,
    NTP_OFFSET,
    NXDOMAIN_HOST,
    REFUSED_HOST,
    UNTRUSTED_HOST,
    arrange,
    write_config,
)
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.tls_servers import UNTRUSTED_CA_NAME, LoopbackLab


def probe_once(config_path: Path) -> tuple[TargetPlan, CollectorRegistry]:
    loaded = load(config_path)
    plan = build_plan(loaded.config, loaded.catalogue)
    store = ResultStore()
    anyio.run(run_cycle, plan, probe_settings(loaded), store, loaded.config.concurrency)
    registry = CollectorRegistry()
    registry.register(ExporterCollector(PlanHolder(plan), loaded.catalogue, store))
    return plan, registry


def up(registry: CollectorRegistry, set_id: str, host: str, port: int, protocol: str) -> float | None:
    labels = {"set_id": set_id, "host": host, "port": str(port), "protocol": protocol, "path": "direct"}
    return registry.get_sample_value("intune_endpoint_up", labels)


def reason(
    registry: CollectorRegistry, set_id: str, host: str, port: int, protocol: str, why: str
) -> float | None:
    labels = {
        "set_id": set_id,
        "host": host,
        "port": str(port),
        "protocol": protocol,
        "path": "direct",
        "reason": why,
    }
    return registry.get_sample_value("intune_endpoint_failure_reason", labels)


def test_all_up(
    tmp_path: Path, dns_server: DNSServer, ntp_server: NTPServer, loopback_lab: LoopbackLab
) -> None:
    arrange(dns_server, ntp_server, broken=False)
    plan, registry = probe_once(write_config(tmp_path / "lab.yml", dns_server, ntp_server, loopback_lab))
    assert len(plan.targets) > 100
    for target, members in plan.targets.items():
        for member in members:
            assert up(registry, member.set_id, target.host, target.port, target.protocol) == 1, target
    for endpoint_set in plan.sets:
        if plan.targets_of(endpoint_set.id):
            ratio = registry.get_sample_value(
                "intune_endpoint_set_reachable_ratio", {"set_id": endpoint_set.id}
            )
            assert ratio == 1, endpoint_set.id
    # Every host was resolved once per cycle, however many ports and sets list it.
    assert sorted(kind for name, kind in dns_server.log if name == "manage.microsoft.com") == ["A", "AAAA"]


def test_broken_hosts_fail_with_their_reason(
    tmp_path: Path, dns_server: DNSServer, ntp_server: NTPServer, loopback_lab: LoopbackLab
) -> None:
    arrange(dns_server, ntp_server)
    plan, registry = probe_once(write_config(tmp_path / "lab.yml", dns_server, ntp_server, loopback_lab))

    assert up(registry, "97", NXDOMAIN_HOST, 443, "https") == 0
    assert reason(registry, "97", NXDOMAIN_HOST, 443, "https", "dns_nxdomain") == 1
    assert up(registry, "97", "account.live.com", 443, "https") == 1
    assert registry.get_sample_value("intune_endpoint_set_reachable_ratio", {"set_id": "97"}) == 0.5

    for port, protocol in ((80, "http"), (443, "https")):
        assert reason(registry, "190", REFUSED_HOST, port, protocol, "connect_refused") == 1
    assert registry.get_sample_value("intune_endpoint_set_reachable_ratio", {"set_id": "190"}) == 0

    assert reason(registry, "189", BLACKHOLE_HOST, 443, "https", "connect_timeout") == 1

    assert reason(registry, "173", UNTRUSTED_HOST, 443, "https", "tls_untrusted") == 1
    tls = {"set_id": "173", "host": UNTRUSTED_HOST, "port": "443", "path": "direct"}
    assert registry.get_sample_value("intune_endpoint_tls_verified", tls) == 0
    issuer_cn, issuer_org = UNTRUSTED_CA_NAME
    issuer = {
        **tls,
        "issuer_cn": issuer_cn,
        "issuer_org": issuer_org,
        "subject_cn": "lab.example.test",
        "product": "",
    }
    assert registry.get_sample_value("intune_endpoint_tls_issuer_info", issuer) == 1

    offset = registry.get_sample_value("intune_ntp_offset_seconds", {"host": "time.windows.com"})
    assert offset == pytest.approx(NTP_OFFSET, abs=0.05)
    assert up(registry, "165", "time.windows.com", 123, "ntp") == 1

    failing = {
        target.host
        for target, members in plan.targets.items()
        for member in members
        if up(registry, member.set_id, target.host, target.port, target.protocol) != 1
    }
    assert failing == BROKEN


def test_check_prints_failing_sets_and_exits_1(
    tmp_path: Path,
    dns_server: DNSServer,
    ntp_server: NTPServer,
    loopback_lab: LoopbackLab,
    capsys: pytest.CaptureFixture[str],
) -> None:
    arrange(dns_server, ntp_server)
    config = write_config(tmp_path / "lab.yml", dns_server, ntp_server, loopback_lab)
    assert main(["check", "--config", str(config)]) == 1
    out = capsys.readouterr().out
    lines = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith(" ")}
    assert "OK" in lines["163"].split()
    assert "PARTIAL" in lines["97"].split()
    assert "FAIL" in lines["190"].split()
    assert f"{REFUSED_HOST}:443/https connect_refused" in out
    assert f"{NXDOMAIN_HOST}:443/https dns_nxdomain" in out
    assert f"{UNTRUSTED_HOST}:443/https tls_untrusted" in out
    assert "DNS-level check only (no representative host): *.dm.microsoft.com" in out


def test_check_exits_0_when_required_sets_are_up(
    tmp_path: Path,
    dns_server: DNSServer,
    ntp_server: NTPServer,
    loopback_lab: LoopbackLab,
    capsys: pytest.CaptureFixture[str],
) -> None:
    arrange(dns_server, ntp_server, broken=False)
    # An optional set failing (150 is not required) does not fail the check.
    dns_server.nxdomain.add("config.office.com")
    config = write_config(tmp_path / "lab.yml", dns_server, ntp_server, loopback_lab)
    assert main(["check", "--config", str(config)]) == 0
    assert "config.office.com:443/https dns_nxdomain" in capsys.readouterr().out


def test_bad_config_exits_2_without_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "bad.yml"
    path.write_text("interval: soon\n")
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        err == f"intune-exporter: {path}: field 'interval': not a duration; use e.g. '500ms', '30s', "
        "'1m30s' or '2h' (got 'soon')\n"
    )
