"""`intune-exporter serve` as a subprocess against the loopback lab: HTTP endpoints, the metrics contract
in docs/metrics.md, promtool's lint, and a clean exit on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tests.support.docs_tables import documented_metrics
from tests.support.e2e_lab import NXDOMAIN_HOST, REFUSED_HOST, arrange, write_config
from tests.support.paths import DATA
from tests.support.serving import Served, exporter_serving, sample_values, wait_for
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.page_server import PATH, PageSimulator
from tests.support.simulators.squid import SquidProxy
from tests.support.simulators.tls_servers import LoopbackLab
from tests.support.simulators.webservice import NEW_VERSION, WebServiceSimulator


def lab_with_web_service(
    tmp_path: Path,
    dns_server: DNSServer,
    ntp_server: NTPServer,
    lab: LoopbackLab,
    simulator: WebServiceSimulator,
    page_url: str | None = None,
    **extra: Any,
) -> Path:
    """The lab, with the web service simulator and, when given, a page stand-in as reference sources."""
    arrange(dns_server, ntp_server)
    web_service = {"enabled": True, "base_url": simulator.base_url, "timeout": "5s"}
    page_source = {"url": page_url, "timeout": "5s"} if page_url is not None else {"enabled": False}
    return write_config(
        tmp_path / "lab.yml",
        dns_server,
        ntp_server,
        lab,
        # probe_added needs allowed_suffixes; these keep every host of the fixtures and editions.
        drift={
            "page": page_source,
            "web_service": web_service,
            "probe_added": True,
            "allowed_suffixes": ["com", "net", "us"],
        },
        **extra,
    )


@pytest.fixture
def simulator(httpserver: HTTPServer) -> WebServiceSimulator:
    simulator = WebServiceSimulator(httpserver)
    simulator.publish_new_list()
    return simulator


@pytest.fixture
def served(
    tmp_path: Path,
    dns_server: DNSServer,
    ntp_server: NTPServer,
    loopback_lab: LoopbackLab,
    simulator: WebServiceSimulator,
    squid_open: SquidProxy,
) -> Iterator[Served]:
    # Every target directly, and through the proxy too: every metric of the contract has samples. The page
    # comes from a local stand-in, through the proxy as the probes go (squid resolves the lab's names, such
    # as manage.microsoft.com, to loopback).
    proxy = {"url": squid_open.url, "also_direct": True}
    page = PageSimulator(simulator.server)
    page.publish((DATA / "drift-page" / "first.md").read_bytes())
    page_url = f"http://manage.microsoft.com:{simulator.server.port}{PATH}"
    config = lab_with_web_service(
        tmp_path, dns_server, ntp_server, loopback_lab, simulator, page_url, proxy=proxy
    )
    with exporter_serving(config) as served:
        # The reference's new hosts join the plan when its list arrives; they are probed at once.
        probed = 'intune_endpoint_drift_target_info{host="mem-newservice.manage.microsoft.com"'
        wait_for(lambda: probed in served.get("/metrics").text, served.process)
        wait_for(lambda: "intune_catalogue_page_edition_info{" in served.get("/metrics").text, served.process)
        assert f"GET {page_url} " in squid_open.wait_for_access_log(page_url)  # the probes' proxy
        yield served


def test_metrics_match_the_contract_and_pass_promtool(served: Served) -> None:
    response = served.get("/metrics")
    assert response.status_code == 200
    text = response.text
    samples = {s.name: s for family in text_string_to_metric_families(text) for s in family.samples}
    assert set(samples) == documented_metrics()

    values = sample_values(text)
    refused = (
        ("host", REFUSED_HOST),
        ("path", "direct"),
        ("port", "443"),
        ("protocol", "https"),
        ("set_id", "190"),
    )
    assert values[("intune_endpoint_up", refused)] == 0
    assert (
        values[("intune_endpoint_failure_reason", tuple(sorted((*refused, ("reason", "connect_refused")))))]
        == 1
    )
    missing = (
        ("host", NXDOMAIN_HOST),
        ("path", "direct"),
        ("port", "443"),
        ("protocol", "https"),
        ("set_id", "97"),
    )
    assert values[("intune_endpoint_up", missing)] == 0
    healthy = (
        ("host", "manage.microsoft.com"),
        ("path", "direct"),
        ("port", "443"),
        ("protocol", "https"),
        ("set_id", "163"),
    )
    assert values[("intune_endpoint_up", healthy)] == 1
    assert values[("intune_exporter_cycles_total", ())] >= 1
    new_host = (
        ("host", "mem-newservice.manage.microsoft.com"),
        ("path", "direct"),
        ("port", "443"),
        ("protocol", "https"),
    )
    assert values[("intune_endpoint_up", (*new_host, ("set_id", "200")))] == 1
    origin = (*new_host, ("set_id", "200"), ("source", "webservice-worldwide"))
    assert values[("intune_endpoint_drift_target_info", tuple(sorted(origin)))] == 1
    added = (("direction", "added"), ("kind", "url"), ("set_id", "200"), ("source", "webservice-worldwide"))
    assert values[("intune_catalogue_drift_entries", added)] == 2

    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert lint.stdout + lint.stderr == ""


def test_health_ready_index_and_unknown_paths(served: Served) -> None:
    assert served.get("/healthz").text == "ok\n"
    assert served.get("/ready").status_code == 200
    index = served.get("/")
    assert index.headers["content-type"].startswith("text/html")
    assert 'href="metrics"' in index.text
    assert "cycles completed" in index.text
    assert served.get("/nope").status_code == 404


def test_sigterm_stops_cleanly(served: Served) -> None:
    served.process.send_signal(signal.SIGTERM)
    output, _ = served.process.communicate(timeout=10)
    assert served.process.returncode == 0
    assert "received SIGTERM, shutting down" in output
    assert "stopped" in output
    assert "Traceback" not in output


def test_snapshot_survives_a_kill_and_serves_the_next_start(
    tmp_path: Path,
    dns_server: DNSServer,
    ntp_server: NTPServer,
    loopback_lab: LoopbackLab,
    simulator: WebServiceSimulator,
) -> None:
    config = lab_with_web_service(tmp_path, dns_server, ntp_server, loopback_lab, simulator)
    state = tmp_path / "state"
    version = (
        "intune_catalogue_reference_version_info",
        (("instance", "Worldwide"), ("source", "webservice-worldwide"), ("version", NEW_VERSION)),
    )
    with exporter_serving(config) as first:
        wait_for(lambda: version in sample_values(first.get("/metrics").text), first.process)
        first.process.kill()  # SIGKILL: no chance to clean up
        first.process.communicate()
    assert len(list(state.glob("webservice-worldwide*.json"))) == 1

    simulator.fault = Response("<html>proxy says no</html>", content_type="text/html")
    with exporter_serving(config) as second:
        failures = (
            "intune_catalogue_reference_fetch_failures_total",
            (("reason", "not_json"), ("source", "webservice-worldwide")),
        )
        wait_for(lambda: sample_values(second.get("/metrics").text).get(failures) == 1, second.process)
        values = sample_values(second.get("/metrics").text)
    assert values[version] == 1
    added = (
        "intune_catalogue_drift_entries",
        (("direction", "added"), ("kind", "set"), ("set_id", "200"), ("source", "webservice-worldwide")),
    )
    assert values[added] == 1


def test_documented_metrics_are_parsed() -> None:
    names = documented_metrics()
    assert "intune_endpoint_up" in names
    assert "intune_catalogue_drift_entries" in names
    assert len(names) == 43


def test_reload_keeps_the_running_configuration_when_the_new_one_is_invalid(
    tmp_path: Path, dns_server: DNSServer, ntp_server: NTPServer, loopback_lab: LoopbackLab
) -> None:
    arrange(dns_server, ntp_server, broken=False)

    def configure(only: list[str], **extra: Any) -> Path:
        return write_config(
            tmp_path / "lab.yml", dns_server, ntp_server, loopback_lab, sets={"only": only}, **extra
        )

    def metric(served: Served, name: str) -> float:
        return sample_values(served.get("/metrics").text)[(name, ())]

    with exporter_serving(configure(["163"])) as served:
        assert metric(served, "intune_exporter_targets") == 5  # 4 targets, the dm.microsoft.com zone
        assert metric(served, "intune_exporter_config_last_reload_successful") == 1

        (tmp_path / "lab.yml").write_text("interval: soon\n")
        answer = httpx.post(served.base + "/-/reload", timeout=5)
        assert answer.status_code == 500
        assert "field 'interval': not a duration" in answer.text
        assert metric(served, "intune_exporter_config_last_reload_successful") == 0
        assert metric(served, "intune_exporter_targets") == 5  # 4 targets, the dm.microsoft.com zone

        configure(["163", "190"])
        answer = httpx.post(served.base + "/-/reload", timeout=5)
        assert (answer.status_code, answer.text) == (200, "reloaded\n")
        assert metric(served, "intune_exporter_config_last_reload_successful") == 1
        assert metric(served, "intune_exporter_targets") == 7
        assert httpx.get(served.base + "/-/reload", timeout=5).status_code == 405

        configure(["190"])
        served.process.send_signal(signal.SIGHUP)
        wait_for(lambda: metric(served, "intune_exporter_targets") == 2, served.process, what="SIGHUP reload")
        labels = 'host="go.microsoft.com",path="direct",port="443",protocol="https",set_id="190"'
        probed = f"intune_endpoint_up{{{labels}}}"
        wait_for(lambda: probed in served.get("/metrics").text, served.process, what="new plan probed")
