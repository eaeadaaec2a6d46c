"""The alerting rules and every dashboard query, proven against a real Prometheus scraping the exporter.

The scenario breaks what the alerts are about: an Intune core endpoint (NXDOMAIN), a whole required set
(connection refused), part of another, the NTP clock (2 minutes off) and one NTP server (refused), TLS
inspection where it is unsupported (mitmproxy), byte ranges (mitmproxy strips them), unauthenticated proxy
access (Squid demands credentials), a reference list that adds endpoints, a reference file that is missing,
and a second exporter target that is down. Everything else stays healthy.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_httpserver import HTTPServer

from exporter.monitoring.dashboards import dashboards
from exporter.probes.dns_zone import RANDOM_LABEL_PREFIX
from tests.monitoring.dashboard_queries import panel_queries, variable_queries
from tests.support.e2e_lab import write_config
from tests.support.paths import ROOT
from tests.support.serving import exporter_serving, wait_for
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.mitm import MitmProxy
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.processes import free_port
from tests.support.simulators.prometheus import PrometheusServer
from tests.support.simulators.squid import SquidProxy
from tests.support.simulators.tls_servers import HEALTHY, REFUSED, LoopbackLab
from tests.support.simulators.webservice import WebServiceSimulator

RULES = ROOT / "alerts" / "intune-endpoint-exporter.rules.yml"
JOB = "intune-endpoint-exporter"
BROKEN_SETS = {"163", "190", "97", "165", "172", "dha", "unauthenticated-proxy"}
# Alerts whose condition this scenario cannot produce within seconds; promtool's unit tests cover them.
NOT_PRODUCED = {
    "IntuneEndpointExporterStalled": "needs 5 missed cycles",
    "IntuneEndpointExporterSlowCycles": "needs a cycle longer than the 60 s interval",
    "IntuneEndpointProbeErrors": "needs a bug in a probe",
    "IntuneEndpointExporterTaskRestarts": "needs a bug in a background task",
    "IntuneIPv6BrokenIPv4Works": "needs a host whose IPv6 addresses fail while IPv4 works: the lab's hosts "
    "resolve to IPv4 loopback only (tests/scheduler/test_addresses.py covers the metric on ::1 and 100::1)",
}
# Dashboard queries the scenario cannot produce: a counter growing during the test (a failed reference is
# retried after 5 min), and probe errors (a bug). They still must parse.
QUERIES_NOT_PRODUCED = {
    'sum by (source, reason) (increase(intune_catalogue_reference_fetch_failures_total{job=~"$job", '
    'site=~"$site"}[$__range])) > 0',
    'intune_endpoint_failure_reason{job=~"$job", site=~"$site", set_id=~"$set", reason="probe_error"} == 1',
}
EXPECTED_ALERTS = {
    ("IntuneCoreEndpointsDown", "163"),
    ("IntuneRequiredEndpointSetDown", "190"),
    ("IntuneEndpointSetDegraded", "97"),
    # Proxied sets are probed directly too (also_direct): the proxy path fails, the direct path works.
    ("IntuneEndpointSetDegraded", "172"),
    ("IntuneEndpointSetDegraded", "dha"),
    ("IntuneEndpointSetDegraded", "unauthenticated-proxy"),
    ("IntuneTLSInspectionUnsupported", "dha"),
    ("IntuneProxyUnauthenticatedAccessMissing", "unauthenticated-proxy"),
    ("IntuneByteRangesStripped", "172"),
    ("IntuneDNSAnswerOutsidePublishedRanges", "163"),
    ("IntuneNTPUnreachable", "165"),
    ("IntuneCatalogueDriftAdded", "200"),
}


@pytest.fixture
def scenario(
    tmp_path: Path,
    dns_server: DNSServer,
    ntp_server: NTPServer,
    loopback_lab: LoopbackLab,
    httpserver: HTTPServer,
    squid_auth: SquidProxy,
    mitm_range_stripping: MitmProxy,
) -> Iterator[PrometheusServer]:
    dns_server.default_address = HEALTHY
    dns_server.unregistered_prefix = RANDOM_LABEL_PREFIX  # random names under a zone do not exist
    dns_server.nxdomain.add("enterpriseenrollment.manage.microsoft.com")
    dns_server.nxdomain.add("login.live.com")
    dns_server.records.update({"go.microsoft.com": [REFUSED], "ntp-down.example.test": [REFUSED]})
    ntp_server.offset = 120.0
    simulator = WebServiceSimulator(httpserver)
    simulator.publish_new_list()
    config = write_config(
        tmp_path / "lab.yml",
        dns_server,
        ntp_server,
        loopback_lab,
        proxy={
            "also_direct": True,
            "sets": {
                "172": mitm_range_stripping.url,
                "dha": mitm_range_stripping.url,
                "unauthenticated-proxy": squid_auth.url,
            },
        },
        tls={
            "ca_file": str(loopback_lab.ca_pem_path),
            "inspection_ca_file": str(mitm_range_stripping.ca_cert_path),
        },
        extra_endpoints=[{"set_id": "165", "hosts": ["ntp-down.example.test"], "udp_ports": [123]}],
        drift={
            "page": {"enabled": False},
            "web_service": {"enabled": True, "base_url": simulator.base_url},
            "references": [{"name": "consolidated", "file": str(tmp_path / "missing.json")}],
            "probe_added": True,
            "allowed_suffixes": ["com", "net", "us"],  # probe_added needs them; these keep every host
        },
    )
    with exporter_serving(config) as served:
        dead = f"127.0.0.1:{free_port()}"
        targets = {JOB: [served.base.removeprefix("http://"), dead]}
        with PrometheusServer(targets, [RULES], labels={"site": "lab"}) as prometheus:

            def ready() -> bool:
                drift = prometheus.query("intune_catalogue_drift_entries")
                ranges = prometheus.query("intune_endpoint_http_range_supported == 0")
                return bool(drift and ranges)

            wait_for(ready, served.process, seconds=60, what="scraped")
            time.sleep(3)  # a few rule evaluations on complete data
            yield prometheus


def rule_list() -> list[dict[str, Any]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def substituted(expr: str) -> str:
    values = {
        "$job": ".+",
        "$site": ".*",
        "$set": ".+",
        "${job}": ".+",
        "${site}": ".*",
        "${set}": ".+",
        "$__rate_interval": "1m",
        "$__interval": "1m",
        "$__range": "1h",
    }
    for name in sorted(values, key=len, reverse=True):
        expr = expr.replace(name, values[name])
    return expr


@pytest.mark.e2e
def test_alerts_and_dashboard_queries_against_prometheus(scenario: PrometheusServer) -> None:
    prometheus = scenario
    for rule in rule_list():
        result = prometheus.query(rule["expr"])  # parses, or the API says why
        name = rule.get("alert") or rule["record"]
        if name not in NOT_PRODUCED:
            assert result, f"{name} returned no data in the scenario built for it"

    alerts = prometheus.api("alerts")["alerts"]
    active = {
        (a["labels"]["alertname"], a["labels"].get("set_id") or a["labels"].get("source", "")) for a in alerts
    }
    states = {a["state"] for a in alerts}
    assert states <= {"pending", "firing"}
    assert active >= EXPECTED_ALERTS, EXPECTED_ALERTS - active
    assert ("IntuneReferenceFetchFailing", "consolidated") in active
    assert any(name == "IntuneNTPOffsetTooLarge" for name, _ in active)
    down = [a for a in alerts if a["labels"]["alertname"] == "IntuneEndpointExporterDown"]
    assert len(down) == 1 and down[0]["labels"]["instance"] != ""
    # No alert for the healthy sets.
    set_alerts = {
        set_id
        for name, set_id in active
        if set_id and not name.startswith("IntuneCatalogue") and name != "IntuneReferenceFetchFailing"
    }
    assert set_alerts <= BROKEN_SETS, set_alerts - BROKEN_SETS

    for file_name, dashboard in dashboards().items():
        for expr in panel_queries(dashboard):
            result = prometheus.query(substituted(expr))  # parses, or the API says why
            assert result or expr in QUERIES_NOT_PRODUCED, f"{file_name}: no data for {expr}"
        for query in variable_queries(dashboard):
            match = re.fullmatch(r"label_values\((?:(.+),\s*)?(\w+)\)", query.strip())
            assert match is not None, query
            selector, label = match.groups()
            params = {"match[]": substituted(selector)} if selector else {}
            values = prometheus.api(f"label/{label}/values", **params)
            assert values, f"{file_name}: no values for {query}"
