from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporter.catalogue import load_builtin
from exporter.config.file import load
from exporter.metrics.endpoints import ExporterCollector
from exporter.plan.expand import build_plan
from exporter.plan.targets import PlanHolder, Target, TargetPlan
from exporter.probes.outcome import Certificate, Phase, ProbeOutcome, Reason
from exporter.probes.prober import Protocol
from exporter.results.store import ResultStore, TargetResult

MANAGE = Target("manage.microsoft.com", 443, Protocol.HTTPS)
ENROLL = Target("enterpriseenrollment.manage.microsoft.com", 443, Protocol.HTTPS)
TIME = Target("time.windows.com", 123, Protocol.NTP)
CERT = Certificate(
    "manage.microsoft.com",
    "Microsoft Azure RSA TLS Issuing CA 03",
    "Microsoft Corporation",
    1_900_000_000.0,
    verified=True,
    hostname_matches=True,
)


@pytest.fixture
def plan(tmp_path: Path) -> TargetPlan:
    path = tmp_path / "exporter.yml"
    path.write_text('sets:\n  disabled: ["150"]\n')
    loaded = load(path)
    return build_plan(loaded.config, loaded.catalogue)


def scrape(plan: TargetPlan, store: ResultStore) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(ExporterCollector(PlanHolder(plan), load(None).catalogue, store))
    return registry


def labels(target: Target, set_id: str) -> dict[str, str]:
    return {
        "set_id": set_id,
        "host": target.host,
        "port": str(target.port),
        "protocol": target.protocol.value,
        "path": "direct",
    }


def test_before_the_first_cycle_only_static_metrics(plan: TargetPlan) -> None:
    registry = scrape(plan, ResultStore())
    assert registry.get_sample_value("intune_endpoint_up", labels(MANAGE, "163")) is None
    assert registry.get_sample_value("intune_exporter_targets") == len(plan.targets)
    assert registry.get_sample_value("intune_exporter_cycle_duration_seconds") is None
    assert registry.get_sample_value("intune_exporter_cycles_total") == 0
    info = {
        "set_id": "163",
        "name": "Intune client and host service",
        "section": "Intune core",
        "category": "Allow",
        "required": "true",
    }
    assert registry.get_sample_value("intune_endpoint_set_info", info) == 1


def test_results_are_reported_under_every_set(plan: TargetPlan) -> None:
    store = ResultStore()
    phases = {Phase.DNS: 0.01, Phase.CONNECT: 0.02, Phase.TLS: 0.03, Phase.HTTP: 0.04}
    store.put(
        TargetResult(
            MANAGE,
            ProbeOutcome(ok=True, phases=phases, certificate=CERT, http_status=403),
            "20.1.1.1",
            1_700_000_000.0,
        )
    )
    store.put(
        TargetResult(
            ENROLL,
            ProbeOutcome.failure(Reason.CONNECT_TIMEOUT, "timed out", {Phase.DNS: 0.01, Phase.CONNECT: 10.0}),
            "20.1.1.2",
            1_700_000_001.0,
        )
    )
    store.put(
        TargetResult(
            TIME,
            ProbeOutcome(ok=True, phases={Phase.DNS: 0.01, Phase.NTP: 0.02}, ntp_offset=-0.25),
            "20.1.1.3",
            1_700_000_002.0,
        )
    )
    store.cycle_done(12.5)
    registry = scrape(plan, store)
    for set_id in ("163", "unauthenticated-proxy"):
        assert registry.get_sample_value("intune_endpoint_up", labels(MANAGE, set_id)) == 1
    assert registry.get_sample_value("intune_endpoint_up", labels(ENROLL, "163")) == 0
    assert (
        registry.get_sample_value(
            "intune_endpoint_failure_reason", {**labels(ENROLL, "163"), "reason": "connect_timeout"}
        )
        == 1
    )
    assert (
        registry.get_sample_value(
            "intune_endpoint_failure_reason", {**labels(MANAGE, "163"), "reason": "connect_timeout"}
        )
        is None
    )
    assert (
        registry.get_sample_value(
            "intune_endpoint_probe_duration_seconds", {**labels(MANAGE, "163"), "phase": "tls"}
        )
        == 0.03
    )
    assert (
        registry.get_sample_value(
            "intune_endpoint_probe_duration_seconds", {**labels(ENROLL, "163"), "phase": "tls"}
        )
        is None
    )
    assert registry.get_sample_value("intune_endpoint_probe_timestamp_seconds", labels(ENROLL, "163")) == (
        1_700_000_001.0
    )
    short = {"set_id": "163", "host": MANAGE.host, "port": "443", "path": "direct"}
    assert registry.get_sample_value("intune_endpoint_http_status_code", short) == 403
    assert registry.get_sample_value("intune_endpoint_tls_verified", short) == 1
    assert registry.get_sample_value("intune_endpoint_tls_cert_not_after_timestamp_seconds", short) == 1.9e9
    issuer = {
        **short,
        "issuer_cn": CERT.issuer_cn,
        "issuer_org": CERT.issuer_org,
        "subject_cn": CERT.subject_cn,
        "product": CERT.product,
    }
    assert registry.get_sample_value("intune_endpoint_tls_issuer_info", issuer) == 1
    assert registry.get_sample_value("intune_ntp_offset_seconds", {"host": "time.windows.com"}) == -0.25
    assert registry.get_sample_value("intune_exporter_cycle_duration_seconds") == 12.5
    assert registry.get_sample_value("intune_exporter_cycles_total") == 1


def test_reachable_ratio_counts_only_probed_targets(plan: TargetPlan) -> None:
    store = ResultStore()
    store.put(TargetResult(MANAGE, ProbeOutcome(ok=True), "20.1.1.1", 1.0))
    store.put(TargetResult(ENROLL, ProbeOutcome.failure(Reason.DNS_NXDOMAIN, "nxdomain"), "", 1.0))
    registry = scrape(plan, store)
    assert registry.get_sample_value("intune_endpoint_set_reachable_ratio", {"set_id": "163"}) == 0.5
    assert (
        registry.get_sample_value("intune_endpoint_set_reachable_ratio", {"set_id": "unauthenticated-proxy"})
        == 1
    )
    assert registry.get_sample_value("intune_endpoint_set_reachable_ratio", {"set_id": "178"}) is None


def test_unprobed_wildcards_per_set(plan: TargetPlan) -> None:
    registry = scrape(plan, ResultStore())
    assert registry.get_sample_value("intune_catalogue_unprobed_wildcards", {"set_id": "epm"}) == 1
    assert registry.get_sample_value("intune_catalogue_unprobed_wildcards", {"set_id": "163"}) == 1  # *.dm...
    assert registry.get_sample_value("intune_catalogue_unprobed_wildcards", {"set_id": "170"}) == 0
    assert registry.get_sample_value("intune_catalogue_unprobed_wildcards", {"set_id": "150"}) is None


def test_edition_info_follows_the_catalogue_in_force(plan: TargetPlan) -> None:
    collector = ExporterCollector(PlanHolder(plan), load_builtin(), ResultStore())
    registry = CollectorRegistry()
    registry.register(collector)
    labels = {"title": "Network endpoints for Microsoft Intune", "language": "en", "encoded_on": "2026-11-29"}
    assert registry.get_sample_value("intune_catalogue_edition_info", labels) == 1
    collector.set_catalogue(load_builtin("seed"))  # what a reload to `catalogue_edition: seed` does
    assert registry.get_sample_value("intune_catalogue_edition_info", labels) is None
    seed = {**labels, "language": "ko", "encoded_on": "2026-11-27"}
    assert registry.get_sample_value("intune_catalogue_edition_info", seed) == 1
