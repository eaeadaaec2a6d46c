"""`/debug/probe`: the trace of one plan target from the running exporter, its refusals (400, 403, 429) and
its place behind basic auth, against the loopback lab (tests/support/e2e_lab.py)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry

from exporter.config.file import load
from exporter.plan.builder import build
from exporter.plan.probe_settings import probe_settings
from exporter.plan.targets import PlanHolder
from exporter.results.store import ResultStore
from exporter.web.app import MetricsServer, make_app
from exporter.web.debug_probe import DebugProbes
from exporter.web.status import StatusSource
from tests.support.e2e_lab import BLACKHOLE_HOST, REFUSED_HOST, arrange, write_config
from tests.support.serving import exporter_serving
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.tls_servers import LoopbackLab

HOST = "manage.microsoft.com"


@pytest.fixture
def lab_config(
    tmp_path: Path, dns_server: DNSServer, ntp_server: NTPServer, loopback_lab: LoopbackLab
) -> Path:
    arrange(dns_server, ntp_server)
    return write_config(
        tmp_path / "lab.yml",
        dns_server,
        ntp_server,
        loopback_lab,
        sets={"only": ["163", "189", "190"]},
        timeouts={"connect": "3s"},  # a blackholed probe holds its slot long enough to see 429
    )


def serving(config: Path, max_running: int = 2) -> MetricsServer:
    loaded = load(config)
    settings = probe_settings(loaded)
    plans = PlanHolder(build(loaded, settings))
    store = ResultStore()
    app = make_app(
        CollectorRegistry(),
        store,
        StatusSource(plans, store, lambda: loaded.source),
        debug_probes=DebugProbes(plans, lambda: settings, max_running),
    )
    return MetricsServer("127.0.0.1", 0, app)


@pytest.fixture
def base(lab_config: Path) -> Iterator[str]:
    server = serving(lab_config, max_running=1)
    server.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def test_a_plan_target_traced_as_text_and_json(base: str) -> None:
    answer = httpx.get(f"{base}/debug/probe", params={"target": HOST}, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    lines = answer.text.splitlines()
    assert lines[0].startswith(f"probing {HOST}:443 (https, direct); sets 163")
    assert any(" tls " in line and "chain and name verified" in line for line in lines)
    assert lines[-1].endswith("verdict  ok")

    answer = httpx.get(
        f"{base}/debug/probe", params={"target": f"{REFUSED_HOST}:80", "format": "json"}, timeout=10
    )
    assert answer.status_code == 200  # the request worked; the probe's own verdict is in the document
    document = answer.json()
    assert (document["ok"], document["reason"], document["target"]["protocol"]) == (
        False,
        "connect_refused",
        "http",
    )
    assert document["events"][-1]["step"] == "verdict"


@pytest.mark.parametrize(
    ("params", "status", "message"),
    [
        ({}, 400, "target=HOST[:PORT] is required, e.g. ?target=manage.microsoft.com:443"),
        ({"target": "a b"}, 400, "'a b': 'a b' is not a host name or IP address (expected HOST[:PORT])"),
        (
            {"target": HOST, "protocol": "ftp"},
            400,
            "protocol='ftp': must be one of tcp, tls, http, https, ntp",
        ),
        ({"target": HOST, "format": "html"}, 400, "format='html': must be one of text, json"),
        ({"target": HOST, "via": "proxy"}, 400, "cannot go via proxy: no proxy is configured (proxy.url)"),
        (
            {"target": "intranet.example.test:22"},
            403,
            "intranet.example.test:22 is not a target of this exporter's plan, and /debug/probe probes only "
            "those (run `intune-exporter probe` for any other)",
        ),
        (
            {"target": f"{HOST}:8443"},
            403,
            f"{HOST}:8443 is not a target of this exporter's plan, and /debug/probe probes only "
            "those (run `intune-exporter probe` for any other)",
        ),
    ],
)
def test_refusals_say_why(base: str, params: dict[str, str], status: int, message: str) -> None:
    answer = httpx.get(f"{base}/debug/probe", params=params, timeout=10)
    assert (answer.status_code, answer.text) == (status, message + "\n")


def test_busy_answers_429(base: str) -> None:
    held: list[httpx.Response] = []

    def hold_the_slot() -> None:  # a blackholed address holds it for the 3 s connect timeout
        held.append(httpx.get(f"{base}/debug/probe", params={"target": BLACKHOLE_HOST}, timeout=10))

    holder = threading.Thread(target=hold_the_slot)
    holder.start()
    try:
        time.sleep(0.5)  # nothing else asks meanwhile: the holder has the one slot, for 2.5 s more
        busy = httpx.get(f"{base}/debug/probe", params={"target": HOST}, timeout=10)
    finally:
        holder.join()
    assert (busy.status_code, busy.text) == (
        429,
        "1 debug probes are running already; try again in a few seconds\n",
    )
    assert "connect_timeout" in held[0].text.splitlines()[-1]
    assert httpx.get(f"{base}/debug/probe", params={"target": HOST}, timeout=10).status_code == 200


def test_serve_offers_it_behind_basic_auth(lab_config: Path, tmp_path: Path) -> None:
    web_config = tmp_path / "web.yml"
    hashed = bcrypt.hashpw(b"secret", bcrypt.gensalt(rounds=4)).decode()
    web_config.write_text(yaml.safe_dump({"basic_auth_users": {"sre": hashed}}))
    with exporter_serving(lab_config, flags=["--web-config-file", str(web_config)]) as served:
        url = f"{served.base}/debug/probe?target={HOST}"
        assert httpx.get(url, timeout=10).status_code == 401
        answer = httpx.get(url, auth=("sre", "secret"), timeout=10)
        assert answer.status_code == 200
        assert answer.text.splitlines()[-1].endswith("verdict  ok")
