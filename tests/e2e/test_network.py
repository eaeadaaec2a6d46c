"""Corporate network realism against real proxies: Squid (open, basic auth, denying) and mitmproxy
(inspecting, stripping byte ranges), in front of the loopback lab."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from exporter.config.file import load
from exporter.metrics.endpoints import ExporterCollector
from exporter.metrics.network_checks import NetworkChecksCollector
from exporter.plan.builder import build
from exporter.plan.probe_settings import probe_settings
from exporter.plan.targets import PlanHolder, TargetPlan
from exporter.results.store import ResultStore
from exporter.scheduler.cycle import run_cycle
from tests.support.e2e_lab import arrange, write_config
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.mitm import MitmProxy
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.proxy_fixtures import LAB_HOSTS
from tests.support.simulators.squid import SquidProxy
from tests.support.simulators.tls_servers import LoopbackLab

CREDENTIALS_VARIABLE = "INTUNE_EXPORTER_TEST_PROXY_CREDENTIALS"
ENROLLMENT = "enterpriseenrollment.manage.microsoft.com"


class Scrape:
    def __init__(self, plan: TargetPlan, registry: CollectorRegistry) -> None:
        self.plan = plan
        self.registry = registry

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(name, labels)

    def up(self, set_id: str, host: str, port: int, protocol: str, path: str) -> float | None:
        return self.value(
            "intune_endpoint_up", set_id=set_id, host=host, port=str(port), protocol=protocol, path=path
        )

    def reason(self, set_id: str, host: str, port: int, protocol: str, path: str) -> str | None:
        for metric in self.registry.collect():
            if metric.name != "intune_endpoint_failure_reason":
                continue
            for sample in metric.samples:
                labels = sample.labels
                if (labels["set_id"], labels["host"], labels["port"], labels["protocol"], labels["path"]) == (
                    set_id,
                    host,
                    str(port),
                    protocol,
                    path,
                ):
                    return labels["reason"]
        return None


@pytest.fixture
def probe(
    tmp_path: Path, dns_server: DNSServer, ntp_server: NTPServer, loopback_lab: LoopbackLab
) -> Iterator[Any]:
    arrange(dns_server, ntp_server, broken=False)

    def run(**config: Any) -> Scrape:
        loaded = load(write_config(tmp_path / "lab.yml", dns_server, ntp_server, loopback_lab, **config))
        settings = probe_settings(loaded)
        plan = build(loaded, settings)
        store = ResultStore()
        anyio.run(run_cycle, plan, settings, store, 16)
        registry = CollectorRegistry()
        holder = PlanHolder(plan)
        registry.register(ExporterCollector(holder, loaded.catalogue, store))
        registry.register(NetworkChecksCollector(holder, store))
        return Scrape(plan, registry)

    yield run


def test_through_an_open_proxy_and_directly(
    probe: Any, squid_open: SquidProxy, loopback_lab: LoopbackLab
) -> None:
    scrape = probe(sets={"only": ["163"]}, proxy={"url": squid_open.url, "also_direct": True})
    for path in ("proxy", "direct"):
        assert scrape.up("163", ENROLLMENT, 443, "https", path) == 1
        tls = {"set_id": "163", "host": ENROLLMENT, "port": "443", "path": path}
        assert scrape.value("intune_endpoint_tls_intercepted", **tls, inspection_supported="false") == 0
    proxied = {
        "set_id": "163",
        "host": "manage.microsoft.com",
        "port": "443",
        "protocol": "https",
        "path": "proxy",
    }
    assert scrape.value("intune_endpoint_probe_duration_seconds", **proxied, phase="dns") is None
    assert scrape.value("intune_endpoint_probe_duration_seconds", **proxied, phase="tls") is not None
    squid_open.wait_for_access_log(f"CONNECT manage.microsoft.com:{loopback_lab.https_port}")
    # The open proxy lets requests without credentials through (the page names manage.microsoft.com).
    unauthenticated = "intune_endpoint_proxy_unauthenticated_access"
    assert scrape.value(unauthenticated, set_id="163", host="manage.microsoft.com") == 1
    assert scrape.value(unauthenticated, set_id="163", host=ENROLLMENT) is None  # the page does not name it
    scrape = probe(sets={"only": ["unauthenticated-proxy"]}, proxy={"url": squid_open.url})
    assert (
        scrape.value(
            "intune_endpoint_proxy_unauthenticated_access",
            set_id="unauthenticated-proxy",
            host="graph.microsoft.com",
        )
        == 1
    )


def test_a_proxy_demanding_credentials(
    probe: Any, squid_auth: SquidProxy, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    scrape = probe(sets={"only": ["unauthenticated-proxy"]}, proxy={"url": squid_auth.url})
    assert scrape.reason("unauthenticated-proxy", "graph.microsoft.com", 443, "https", "proxy") == (
        "proxy_auth_required"
    )
    for host in ("manage.microsoft.com", "graph.microsoft.com", "intunecdnpeasd.azureedge.net"):
        assert (
            scrape.value(
                "intune_endpoint_proxy_unauthenticated_access", set_id="unauthenticated-proxy", host=host
            )
            == 0
        )

    monkeypatch.setenv(CREDENTIALS_VARIABLE, f"{squid_auth.username}:{squid_auth.password}")
    scrape = probe(
        sets={"only": ["unauthenticated-proxy"]},
        proxy={"url": squid_auth.url, "credentials_env": CREDENTIALS_VARIABLE},
    )
    assert scrape.up("unauthenticated-proxy", "graph.microsoft.com", 443, "https", "proxy") == 1
    assert scrape.reason("unauthenticated-proxy", "graph.microsoft.com", 443, "https", "proxy_anonymous") == (
        "proxy_auth_required"
    )
    assert (
        scrape.value(
            "intune_endpoint_proxy_unauthenticated_access",
            set_id="unauthenticated-proxy",
            host="graph.microsoft.com",
        )
        == 0
    )
    exposition = generate_latest(scrape.registry).decode()
    assert squid_auth.password is not None
    assert squid_auth.password not in exposition
    assert squid_auth.password not in caplog.text


def test_a_proxy_refusing_a_destination(probe: Any) -> None:
    with SquidProxy(LAB_HOSTS, deny_hosts=["graph.microsoft.com"]) as denying:
        scrape = probe(sets={"only": ["unauthenticated-proxy"]}, proxy={"url": denying.url})
    assert (
        scrape.reason("unauthenticated-proxy", "graph.microsoft.com", 443, "https", "proxy")
        == "proxy_refused"
    )
    assert scrape.up("unauthenticated-proxy", "manage.microsoft.com", 443, "https", "proxy") == 1


def test_an_unreachable_proxy(probe: Any) -> None:
    scrape = probe(sets={"only": ["190"]}, proxy={"url": "http://127.0.0.2:3128"})
    assert scrape.reason("190", "go.microsoft.com", 443, "https", "proxy") == "proxy_error"
    assert scrape.reason("190", "go.microsoft.com", 80, "http", "proxy") == "proxy_error"


def test_tls_inspection(probe: Any, mitm_inspecting: MitmProxy) -> None:
    scrape = probe(sets={"only": ["163", "56"]}, proxy={"url": mitm_inspecting.url})
    # The page's note covers *.manage.microsoft.com, so the enrollment host, not the apex.
    manage = {"set_id": "163", "host": ENROLLMENT, "port": "443", "path": "proxy"}
    assert scrape.value("intune_endpoint_tls_intercepted", **manage, inspection_supported="false") == 1
    assert scrape.reason("163", ENROLLMENT, 443, "https", "proxy") == "tls_intercepted"
    issuer = {
        **manage,
        "issuer_cn": mitm_inspecting.ca_common_name,
        "issuer_org": mitm_inspecting.ca_organization,
        "product": "mitmproxy",
    }
    assert any(
        sample.labels.items() >= issuer.items()
        for metric in scrape.registry.collect()
        if metric.name == "intune_endpoint_tls_issuer_info"
        for sample in metric.samples
    )
    login = {"set_id": "56", "host": "login.microsoftonline.com", "port": "443", "path": "proxy"}
    assert scrape.value("intune_endpoint_tls_intercepted", **login, inspection_supported="true") == 1
    assert scrape.reason("56", "login.microsoftonline.com", 443, "https", "proxy") == "tls_untrusted"

    # Devices that trust the inspection CA work where the page allows inspection, and only there.
    trusting = probe(
        sets={"only": ["163", "56"]},
        proxy={"url": mitm_inspecting.url},
        tls={"inspection_ca_file": str(mitm_inspecting.ca_cert_path)},
    )
    assert trusting.up("56", "login.microsoftonline.com", 443, "https", "proxy") == 1
    assert trusting.value("intune_endpoint_tls_intercepted", **login, inspection_supported="true") == 1
    assert trusting.reason("163", ENROLLMENT, 443, "https", "proxy") == "tls_intercepted"
    assert trusting.up("163", "manage.microsoft.com", 443, "https", "proxy") == 1


def test_no_false_interception_through_a_tunnelling_proxy(probe: Any, squid_open: SquidProxy) -> None:
    scrape = probe(sets={"only": ["56"]}, proxy={"url": squid_open.url})
    login = {"set_id": "56", "host": "login.microsoftonline.com", "port": "443", "path": "proxy"}
    assert scrape.value("intune_endpoint_tls_intercepted", **login, inspection_supported="true") == 0
    assert scrape.up("56", "login.microsoftonline.com", 443, "https", "proxy") == 1


def test_byte_ranges(probe: Any, squid_open: SquidProxy, mitm_range_stripping: MitmProxy) -> None:
    host = "geo.prod.do.dsp.mp.microsoft.com"  # set 172's representative; Delivery Optimization needs ranges
    honoured = probe(sets={"only": ["172"]}, proxy={"url": squid_open.url})
    for port, protocol in ((80, "http"), (443, "https")):
        labels = {"set_id": "172", "host": host, "port": str(port), "path": "proxy"}
        assert honoured.value("intune_endpoint_http_range_supported", **labels) == 1
        assert honoured.up("172", host, port, protocol, "proxy") == 1

    stripped = probe(
        sets={"only": ["172"]},
        proxy={"url": mitm_range_stripping.url},
        tls={"inspection_ca_file": str(mitm_range_stripping.ca_cert_path)},
    )
    for port, protocol in ((80, "http"), (443, "https")):
        labels = {"set_id": "172", "host": host, "port": str(port), "path": "proxy"}
        assert stripped.value("intune_endpoint_http_range_supported", **labels) == 0
        assert stripped.reason("172", host, port, protocol, "proxy") == "range_stripped"


def test_dns_answers_inside_and_outside_published_ranges(
    probe: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "ranges.yml").write_text(
        "sets:\n"
        "  - {id: lab-in, name: In range, section: Lab, urls: [inside.example.test], ips: [127.0.0.0/8],"
        " tcp_ports: [443]}\n"
        "  - {id: lab-out, name: Out of range, section: Lab, urls: [outside.example.test], ips: [10.0.0.0/8],"
        " tcp_ports: [443]}\n"
    )
    scrape = probe(
        sets={"only": ["lab-in", "lab-out", "163"]}, catalogue_files=[str(tmp_path / "ranges.yml")]
    )
    in_ranges = "intune_endpoint_dns_answer_in_published_ranges"
    assert scrape.value(in_ranges, set_id="lab-in", host="inside.example.test") == 1
    assert scrape.value(in_ranges, set_id="lab-out", host="outside.example.test") == 0
    # The lab answers set 163's names with 127.0.0.1, outside every range the page publishes.
    assert scrape.value(in_ranges, set_id="163", host="manage.microsoft.com") == 0
    assert "outside.example.test resolves to 127.0.0.1, outside set lab-out's published ranges" in caplog.text
