"""`intune-exporter serve` as a subprocess against the loopback lab: HTTP endpoints, the metrics contract
in docs/metrics.md, promtool's lint, and a clean exit on SIGTERM."""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from pytest_httpserver import HTTPServer
from werkzeug import Response

from tests.e2e_lab import NXDOMAIN_HOST, REFUSED_HOST, arrange, write_config
from tests.simulators.dns_server import DNSServer
from tests.simulators.ntp_server import NTPServer
from tests.simulators.squid import SquidProxy
from tests.simulators.tls_servers import LoopbackLab
from tests.simulators.webservice import NEW_VERSION, WebServiceSimulator

DOCS = Path(__file__).resolve().parent.parent / "docs" / "metrics.md"
EXPORTER = Path(sys.executable).parent / "intune-exporter"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def documented_metrics() -> set[str]:
    """Metric names in the first column of docs/metrics.md's metrics table."""
    text = DOCS.read_text(encoding="utf-8")
    table = text.split("## Exporter metrics", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", table, flags=re.MULTILINE))


class Served:
    def __init__(self, process: subprocess.Popen[str], base: str) -> None:
        self.process = process
        self.base = base

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.base + path, timeout=5)


@contextlib.contextmanager
def exporter_serving(config: Path) -> Iterator[Served]:
    """`intune-exporter serve` on a free loopback port, ready (first cycle done) when yielded."""
    assert EXPORTER.is_file(), f"console script not installed next to {sys.executable}: pip install -e ."
    port = free_port()
    process = subprocess.Popen(
        [str(EXPORTER), "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    served = Served(process, f"http://127.0.0.1:{port}")
    try:
        wait_for(lambda: served.get("/ready").status_code == 200, process)
        yield served
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[0]
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail("the exporter never got there")


def lab_with_web_service(
    tmp_path: Path,
    dns_server: DNSServer,
    ntp_server: NTPServer,
    lab: LoopbackLab,
    simulator: WebServiceSimulator,
    **extra: Any,
) -> Path:
    arrange(dns_server, ntp_server)
    web_service = {"base_url": simulator.base_url, "timeout": "5s"}
    return write_config(
        tmp_path / "lab.yml",
        dns_server,
        ntp_server,
        lab,
        drift={"web_service": web_service, "probe_added": True},
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
    # Every target directly, and through the proxy too: every metric of the contract has samples.
    proxy = {"url": squid_open.url, "also_direct": True}
    config = lab_with_web_service(tmp_path, dns_server, ntp_server, loopback_lab, simulator, proxy=proxy)
    with exporter_serving(config) as served:
        # The reference's new hosts join the plan when its list arrives; they are probed at once.
        probed = 'intune_endpoint_drift_target_info{host="mem-newservice.manage.microsoft.com"'
        wait_for(lambda: probed in served.get("/metrics").text, served.process)
        yield served


def sample_values(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


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
    assert len(names) == 35
