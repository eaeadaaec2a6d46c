"""`intune-exporter probe`: one target traced phase by phase against the loopback lab
(tests/support/e2e_lab.py), its JSON document, exit codes and usage errors."""

from __future__ import annotations

import io
import itertools
import json
import re
from pathlib import Path
from typing import Any

import pytest

from exporter.cli import main
from exporter.commands.probe import run_probe
from exporter.config.file import load
from exporter.plan.targets import NetworkPath
from exporter.probes.prober import Protocol
from tests.support.e2e_lab import (
    BLACKHOLE_HOST,
    NTP_OFFSET,
    NXDOMAIN_HOST,
    REFUSED_HOST,
    UNTRUSTED_HOST,
    arrange,
    write_config,
)
from tests.support.simulators.dns_server import TTL, DNSServer
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.squid import SquidProxy
from tests.support.simulators.tls_servers import UNTRUSTED, LoopbackLab

ALIASED_HOST = "manage.microsoft.com"
EDGE_NAME = "edge.example.test"
RANGED_HOST = "imeswda-afd-primary.manage.microsoft.com"
"""The page says: byte ranges required and TLS inspection unsupported."""


@pytest.fixture
def lab_config(
    tmp_path: Path, dns_server: DNSServer, ntp_server: NTPServer, loopback_lab: LoopbackLab
) -> Path:
    arrange(dns_server, ntp_server)
    dns_server.cnames[ALIASED_HOST] = EDGE_NAME
    return write_config(tmp_path / "lab.yml", dns_server, ntp_server, loopback_lab)


class FlushCounting(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushed_lines: list[int] = []

    def flush(self) -> None:
        self.flushed_lines.append(self.getvalue().count("\n"))


def probe_text(config: Path, target: str, **options: Any) -> tuple[int, list[str]]:
    out = FlushCounting()
    code = run_probe(load(config), target, out=out, **options)
    lines = out.getvalue().splitlines()
    assert out.flushed_lines == list(range(1, len(lines) + 1)), "each line flushed as it is printed"
    return code, lines


def probe_json(config: Path, target: str, **options: Any) -> tuple[int, dict[str, Any]]:
    out = io.StringIO()
    code = run_probe(load(config), target, output_format="json", out=out, **options)
    return code, json.loads(out.getvalue())


EVENT_LINE = re.compile(r"^\+ *\d+\.\d ms  (\w+) +(.*)$")


def steps(lines: list[str], step: str) -> list[str]:
    """The messages of `step`'s lines ('+   1.2 ms  dns      message'); all but the heading are events."""
    matches = [EVENT_LINE.match(line) for line in lines[1:]]
    assert all(matches), lines
    return [match.group(2) for match in matches if match is not None and match.group(1) == step]


def test_a_passing_https_probe_shows_every_phase(lab_config: Path) -> None:
    code, lines = probe_text(lab_config, ALIASED_HOST)
    assert code == 0
    assert lines[0].startswith(f"probing {ALIASED_HOST}:443 (https, direct); sets 163")
    dns = steps(lines, "dns")
    assert dns[0].startswith("asking 127.0.0.1:") and dns[0].endswith(f"A and AAAA of {ALIASED_HOST}")
    assert f"{ALIASED_HOST} {TTL} CNAME {EDGE_NAME}" in dns
    assert f"{EDGE_NAME} {TTL} A 127.0.0.1" in dns
    assert f"A {ALIASED_HOST}: 127.0.0.1" in dns
    connect = steps(lines, "connect")
    assert connect[0] == "address 1 of 1: 127.0.0.1"
    assert any(m.startswith("connected to 127.0.0.1:") for m in connect)
    tls = steps(lines, "tls")
    assert tls[0].startswith("TLSv1.3 TLS_") and f"SNI {ALIASED_HOST}, chain and name verified" in tls[0]
    assert tls[1].startswith("certificate 0: CN=lab.example.test, issued by CN=Intune Lab Root CA")
    assert tls[2].startswith("not intercepted (issuer Intune Lab Root CA)")
    http = steps(lines, "http")
    assert http[0] == f"GET / (Host: {ALIASED_HOST})"
    assert http[1].startswith("200 OK in ") and "content-type: text/plain" in http[1]
    assert steps(lines, "verdict") == ["ok"]


@pytest.mark.parametrize(
    ("target", "reason", "evidence"),
    [
        (REFUSED_HOST, "connect_refused", ("connect", "connect_refused (Connection refused) after")),
        (BLACKHOLE_HOST, "connect_timeout", ("connect", "connect_timeout (no connection within 0.5s)")),
        (NXDOMAIN_HOST, "dns_nxdomain", ("dns", f"A {NXDOMAIN_HOST}: dns_nxdomain")),
        (UNTRUSTED_HOST, "tls_untrusted", ("tls", "intercepted (issuer Contoso TLS Inspection CA)")),
    ],
)
def test_a_failing_probe_exits_1_and_its_verdict_names_the_reason(
    lab_config: Path, target: str, reason: str, evidence: tuple[str, str]
) -> None:
    code, lines = probe_text(lab_config, target)
    assert code == 1
    step, text = evidence
    assert any(text in message for message in steps(lines, step)), lines
    assert steps(lines, "verdict")[0].startswith(f"FAIL {reason}: ")


def test_an_untrusted_chain_is_read_again_unverified_to_name_its_issuer(lab_config: Path) -> None:
    _, lines = probe_text(lab_config, UNTRUSTED_HOST)
    tls = steps(lines, "tls")
    assert tls[0].startswith("handshake failed: tls_untrusted (certificate verify failed")
    assert tls[1] == "handshaking again, verifying nothing, to read the certificate"
    assert "nothing verified" in tls[2]
    assert "issued by CN=Contoso TLS Inspection CA,O=Contoso Firewall" in tls[3]
    assert tls[4] == (
        "intercepted (issuer Contoso TLS Inspection CA): the issuer's name says it inspects traffic"
    )


def test_interception_where_the_page_forbids_it_and_the_byte_range_check(
    lab_config: Path, dns_server: DNSServer
) -> None:
    code, lines = probe_text(lab_config, RANGED_HOST)
    assert code == 0
    assert lines[0].endswith("page says: byte_ranges_required, ssl_inspection_unsupported")
    assert steps(lines, "range") == [
        "the page asks for byte ranges: GET / with Range: bytes=0-0",
        "range honoured (206): status 206",
    ]
    assert any(m.startswith("206 ") and "content-range: bytes 0-0/" in m for m in steps(lines, "http"))

    dns_server.records[RANGED_HOST] = [UNTRUSTED]
    code, lines = probe_text(lab_config, RANGED_HOST)
    assert code == 1
    assert (
        "tls_intercepted: TLS inspected (certificate issued by Contoso TLS Inspection CA"
        in (steps(lines, "tls")[-1])
    )
    assert steps(lines, "verdict")[0].startswith("FAIL tls_intercepted: ")


def test_ntp_by_port(lab_config: Path) -> None:
    code, lines = probe_text(lab_config, "time.windows.com:123")
    assert code == 0
    assert lines[0].startswith("probing time.windows.com:123 (ntp, direct)")
    ntp = steps(lines, "ntp")
    assert ntp[0].startswith("asking 127.0.0.1 udp/") and ntp[0].endswith("for the time (SNTP v4)")
    offset_ms = float(ntp[1].split("offset ")[1].split(" ms")[0])
    assert offset_ms == pytest.approx(NTP_OFFSET * 1000, abs=200)


def test_a_host_outside_the_plan_or_under_a_wildcard_says_so(lab_config: Path) -> None:
    code, lines = probe_text(lab_config, "unlisted.example.test:8443")
    assert code == 1  # nothing listens on the lab's 8443
    assert lines[0] == (
        "probing unlisted.example.test:8443 (tcp, direct); not in this exporter's plan: no set, "
        "catalogue defaults for the port"
    )
    code, document = probe_json(lab_config, "enrolment-test.manage.microsoft.com")
    assert code == 0
    assert (document["sets"], document["flags"], document["in_plan"]) == (
        ["163"],
        ["ssl_inspection_unsupported"],
        False,
    )


def test_json_has_the_verdict_phases_and_every_event(lab_config: Path) -> None:
    code, document = probe_json(lab_config, ALIASED_HOST, protocol=Protocol.TLS)
    assert code == 0
    assert document["target"] == {
        "host": ALIASED_HOST,
        "port": 443,
        "protocol": "tls",
        "path": "direct",
        "via": "",
    }
    assert (document["ok"], document["reason"], document["address"]) == (True, None, "127.0.0.1")
    assert set(document["phases"]) == {"dns", "connect", "tls"}
    events = document["events"]
    assert [e["step"] for e in events][-1] == "verdict"
    cname = next(e for e in events if e["fields"].get("type") == "CNAME")
    assert cname["fields"] == {"name": ALIASED_HOST, "type": "CNAME", "ttl": TTL, "value": EDGE_NAME}
    handshake = next(e for e in events if "cipher" in e["fields"])
    assert handshake["fields"]["version"] == "TLSv1.3" and handshake["fields"]["verified"] is True
    assert not any(e["step"] == "http" for e in events)
    assert all(a["seconds"] <= b["seconds"] for a, b in itertools.pairwise(events))


def test_through_the_proxy(tmp_path: Path, lab_config: Path, squid_open: SquidProxy) -> None:
    config = tmp_path / "proxied.yml"
    config.write_text(lab_config.read_text() + f"proxy:\n  url: http://127.0.0.1:{squid_open.port}\n")
    code, lines = probe_text(config, ALIASED_HOST, path=NetworkPath.PROXY)
    assert code == 0, lines
    assert lines[0].startswith(f"probing {ALIASED_HOST}:443 (https, via proxy 127.0.0.1:{squid_open.port})")
    assert not steps(lines, "dns")  # the proxy resolves the name
    assert steps(lines, "proxy")[0].startswith(f"CONNECT {ALIASED_HOST}:")
    assert steps(lines, "proxy")[0].endswith("-> 200 Connection established")
    assert steps(lines, "verdict") == ["ok"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ["bad:host:x"],
            "'bad:host:x': 'bad:host:x' is not a host name or IP address (expected HOST[:PORT])",
        ),
        (["example.test:70000"], "'example.test:70000': port '70000' is not a number from 1 to 65535"),
        (["[2001:db8::1"], "'[2001:db8::1': expected HOST[:PORT], e.g. [2001:db8::1]:443"),
        (["example.test", "--via", "proxy"], "cannot go via proxy: no proxy is configured (proxy.url)"),
        (["time.windows.com:123", "--via", "proxy"], "ntp cannot go through an HTTP proxy: use direct"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main(["probe", *arguments]) == 2
    captured = capsys.readouterr()
    assert captured.err == f"intune-exporter probe: {message}\n"
    assert captured.out == ""


def test_the_command_exits_with_the_verdict(lab_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["probe", "--config", str(lab_config), f"{REFUSED_HOST}:80"]) == 1
    assert (
        capsys.readouterr().out.splitlines()[-1].endswith("verdict  FAIL connect_refused: Connection refused")
    )
    assert main(["probe", "--config", str(lab_config), "--format", "json", ALIASED_HOST]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
