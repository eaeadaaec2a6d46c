"""Representative hosts checked against their wildcard: under its zone, existing, named by their cert."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from exporter.config.file import load
from exporter.metrics.endpoints import ExporterCollector
from exporter.plan.expand import build_plan
from exporter.plan.targets import PlanHolder, Target, TargetPlan
from exporter.probes.outcome import Certificate, ProbeOutcome, Reason
from exporter.probes.prober import Protocol
from exporter.results.representatives import RepresentativeCheck, representative_checks
from exporter.results.store import ResultStore, TargetResult

WILDCARD = "*.windowsupdate.com"  # set 164, represented by download. and ctldl.windowsupdate.com
DOWNLOAD_HTTPS = Target("download.windowsupdate.com", 443, Protocol.HTTPS)
DOWNLOAD_HTTP = Target("download.windowsupdate.com", 80, Protocol.HTTP)
CTLDL_HTTPS = Target("ctldl.windowsupdate.com", 443, Protocol.HTTPS)


def certificate(subject: str, *, names_host: bool) -> Certificate:
    return Certificate(subject, "Microsoft Azure RSA TLS Issuing CA 03", "Microsoft Corporation", 1.9e9,
                       verified=names_host, hostname_matches=names_host)  # fmt: skip


def up(target: Target, cert: Certificate | None = None) -> TargetResult:
    return TargetResult(target, ProbeOutcome(ok=True, certificate=cert), "127.0.0.1", 0.0)


def failed(target: Target, reason: Reason, cert: Certificate | None = None) -> TargetResult:
    outcome = ProbeOutcome(ok=False, reason=reason, detail="x", certificate=cert)
    return TargetResult(target, outcome, "", 0.0)


def plan_for(tmp_path: Path, text: str = "") -> TargetPlan:
    path = tmp_path / "exporter.yml"
    path.write_text(text)
    loaded = load(path)
    return build_plan(loaded.config, loaded.catalogue)


@pytest.fixture
def plan(tmp_path: Path) -> TargetPlan:
    return plan_for(tmp_path)


def checks_of(plan: TargetPlan, *results: TargetResult) -> dict[str, RepresentativeCheck]:
    found = representative_checks(plan, {result.target: result for result in results})
    return {check.host: check for check in found if check.entry == WILDCARD}


def test_a_host_under_the_zone_named_by_its_certificate_is_valid(plan: TargetPlan) -> None:
    checks = checks_of(
        plan,
        up(DOWNLOAD_HTTPS, certificate("download.windowsupdate.com", names_host=True)),
        up(DOWNLOAD_HTTP),
    )
    assert checks == {
        "download.windowsupdate.com": RepresentativeCheck(
            "164", WILDCARD, "download.windowsupdate.com", valid=True, why=""
        )
    }  # ctldl has no result yet: no check


def test_a_representative_that_no_longer_exists_is_invalid(plan: TargetPlan) -> None:
    checks = checks_of(plan, failed(DOWNLOAD_HTTPS, Reason.DNS_NXDOMAIN), up(CTLDL_HTTPS))
    assert not checks["download.windowsupdate.com"].valid
    assert "NXDOMAIN" in checks["download.windowsupdate.com"].why
    assert checks["ctldl.windowsupdate.com"].valid


def test_a_certificate_that_does_not_name_the_host_makes_it_invalid(plan: TargetPlan) -> None:
    parked = certificate("parking.example.net", names_host=False)
    checks = checks_of(plan, failed(CTLDL_HTTPS, Reason.TLS_HOSTNAME_MISMATCH, parked))
    assert not checks["ctldl.windowsupdate.com"].valid
    assert "parking.example.net" in checks["ctldl.windowsupdate.com"].why


def test_an_unreachable_representative_is_still_a_valid_one(plan: TargetPlan) -> None:
    # Blocked is what the probe is there to report; the host still stands for the wildcard.
    checks = checks_of(plan, failed(DOWNLOAD_HTTPS, Reason.CONNECT_REFUSED))
    assert checks["download.windowsupdate.com"].valid


def test_a_configured_representative_outside_the_zone_is_invalid(tmp_path: Path) -> None:
    plan = plan_for(tmp_path, 'wildcard_representatives:\n  "*.dm.microsoft.com": [probe.example.com]\n')
    target = Target("probe.example.com", 443, Protocol.HTTPS)
    found = representative_checks(plan, {target: up(target)})
    wrong = [check for check in found if check.entry == "*.dm.microsoft.com"]
    assert {check.set_id for check in wrong} >= {"defender", "163"}
    assert all(not check.valid and "not a name under" in check.why for check in wrong)


def test_zone_checks_and_concrete_entries_are_not_representatives(plan: TargetPlan) -> None:
    zone = Target("dm.microsoft.com", 53, Protocol.DNS)
    manage = Target("manage.microsoft.com", 443, Protocol.HTTPS)
    found = representative_checks(plan, {zone: up(zone), manage: up(manage)})
    assert found == []


def test_the_metric_per_set_entry_and_host(plan: TargetPlan) -> None:
    store = ResultStore()
    store.put(up(DOWNLOAD_HTTPS, certificate("download.windowsupdate.com", names_host=True)))
    store.put(failed(CTLDL_HTTPS, Reason.DNS_NXDOMAIN))
    registry = CollectorRegistry()
    registry.register(ExporterCollector(PlanHolder(plan), load(None).catalogue, store))

    def value(host: str) -> float | None:
        labels = {"set_id": "164", "entry": WILDCARD, "host": host}
        return registry.get_sample_value("intune_catalogue_representative_valid", labels)

    assert value("download.windowsupdate.com") == 1
    assert value("ctldl.windowsupdate.com") == 0
    assert value("other.windowsupdate.com") is None
