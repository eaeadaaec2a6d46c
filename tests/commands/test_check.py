"""`intune-exporter check`: progress, text and JSON summaries, colour, filters and exit codes, against the
loopback lab (tests/support/e2e_lab.py)."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from exporter.cli import main
from exporter.commands.check_json import render_json
from exporter.commands.check_text import render, use_colour
from exporter.commands.progress import Progress
from exporter.plan.targets import NetworkPath, Target
from exporter.probes.outcome import Certificate, ProbeOutcome, Reason
from exporter.probes.prober import Protocol
from exporter.results.store import AddressOutcome, ResultStore, TargetResult
from exporter.results.verdicts import SetReport, Verdict, failure_line, failure_record
from tests.support.e2e_lab import (
    BLACKHOLE_HOST,
    NXDOMAIN_HOST,
    REFUSED_HOST,
    UNTRUSTED_HOST,
    arrange,
    write_config,
)
from tests.support.paths import ROOT
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.tls_servers import REFUSED, SILENT, UNTRUSTED, LoopbackLab

PLAIN_PROGRESS = re.compile(r"probed (\d+)/(\d+) targets \((\d+)%\), (\d+) failing, \d+\.\ds")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def result(ok: bool, host: str = "h.example.com") -> TargetResult:
    outcome = ProbeOutcome(ok=True) if ok else ProbeOutcome.failure(Reason.CONNECT_REFUSED, "refused")
    return TargetResult(Target(host, 443, Protocol.HTTPS), outcome, "127.0.0.1", 0.0)


@pytest.fixture
def lab_config(
    tmp_path: Path, dns_server: DNSServer, ntp_server: NTPServer, loopback_lab: LoopbackLab
) -> Path:
    arrange(dns_server, ntp_server)
    return write_config(tmp_path / "lab.yml", dns_server, ntp_server, loopback_lab)


# ---------------------------------------------------------------- progress


def test_terminal_progress_rewrites_one_line_and_wipes_it() -> None:
    stream, clock = Terminal(), Clock()
    progress = Progress(4, stream, live=True, clock=clock)
    for ok in (True, False, True, True):
        clock.now += 0.06
        progress.result(result(ok))
    clock.now += 0.2
    progress.draw()
    progress.clear()
    text = stream.getvalue()
    assert "\n" not in text
    frames = text.split("\r")[1:]
    # Redrawn at most every 0.1 s (after results 1 and 3), on the last result, and by the clock.
    assert [f.rstrip() for f in frames[:4]] == [
        "probing 1/4 targets · 0 failing · 0.1s",
        "probing 3/4 targets · 1 failing · 0.2s",
        "probing 4/4 targets · 1 failing · 0.2s",
        "probing 4/4 targets · 1 failing · 0.4s",
    ]
    assert frames[4:] == [" " * len(frames[0]), ""]  # wiped, cursor back at the start


def test_plain_progress_prints_a_line_per_tenth_without_control_characters() -> None:
    stream = io.StringIO()
    progress = Progress(25, stream, live=False)
    for index in range(25):
        progress.result(result(index % 5 != 0))
    progress.clear()
    lines = stream.getvalue().splitlines()
    assert not CONTROL.search(stream.getvalue())
    counts = [PLAIN_PROGRESS.fullmatch(line) for line in lines]
    assert all(counts), lines
    assert [int(m.group(1)) for m in counts if m] == [3, 5, 8, 10, 13, 15, 18, 20, 23, 25]
    assert lines[-1].startswith("probed 25/25 targets (100%), 5 failing")


def test_store_listeners_see_every_put() -> None:
    seen: list[TargetResult] = []
    store = ResultStore()
    store.listen(seen.append)
    first, second = result(True), result(False)
    assert store.put(first) is None
    assert store.put(second) == first
    assert seen == [first, second]
    assert store.snapshot()[0] == {second.target: second}


def test_colour_only_on_a_terminal_without_no_color() -> None:
    assert use_colour("auto", Terminal(), {}) is True
    assert use_colour("auto", Terminal(), {"NO_COLOR": "1"}) is False
    assert use_colour("auto", Terminal(), {"NO_COLOR": ""}) is True
    assert use_colour("auto", io.StringIO(), {}) is False
    assert use_colour("always", io.StringIO(), {"NO_COLOR": "1"}) is True
    assert use_colour("never", Terminal(), {}) is False


def test_help_lists_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["check", "--help"])
    assert stopped.value.code == 0
    text = capsys.readouterr().out
    for line in (
        "0    every required set is fully reachable",
        "1    a required set has failures",
        "2    usage or configuration error",
        "130  interrupted",
    ):
        assert line in text


# ---------------------------------------------------------------- against the lab


def test_json_summary(lab_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(lab_config), "--format", "json"]) == 1
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert set(document) == {"sets", "totals", "storm", "duration", "exit_code"}
    assert document["storm"] is None  # four broken hosts out of 173 are no storm
    assert document["exit_code"] == 1
    assert document["duration"] > 0
    sets = {s["id"]: s for s in document["sets"]}
    assert len(sets) == 34
    for entry in document["sets"]:
        assert set(entry) == {
            "id",
            "name",
            "section",
            "required",
            "verdict",
            "up",
            "total",
            "failures",
            "address_problems",
            "unprobed",
            "impact",
        }
        assert entry["impact"]
    refused = sets["190"]
    assert (refused["verdict"], refused["up"], refused["total"]) == ("FAIL", 0, 2)
    assert refused["section"] == "Intune core"
    assert refused["impact"] == "Clients cannot discover the service endpoints they need."
    assert refused["failures"][0] == {
        "host": REFUSED_HOST,
        "port": 80,
        "protocol": "http",
        "path": "direct",
        "via": "",
        "reason": "connect_refused",
        "detail": refused["failures"][0]["detail"],
        "address": REFUSED,
        "family": "ipv4",
        "intercepted": None,
        "issuer": "",
        "product": "",
        "addresses": [{"address": REFUSED, "family": "ipv4", "ok": False, "reason": "connect_refused"}],
    }
    nxdomain = sets["97"]["failures"][0]
    assert nxdomain["addresses"] == []
    assert (nxdomain["host"], nxdomain["reason"], nxdomain["address"]) == (NXDOMAIN_HOST, "dns_nxdomain", "")
    assert (nxdomain["family"], nxdomain["intercepted"], nxdomain["issuer"]) == ("", None, "")
    inspected = sets["173"]["failures"][0]
    assert {key: inspected[key] for key in ("host", "reason", "address", "family")} == {
        "host": UNTRUSTED_HOST,
        "reason": "tls_untrusted",
        "address": UNTRUSTED,
        "family": "ipv4",
    }
    assert (inspected["intercepted"], inspected["issuer"], inspected["product"]) == (
        True,
        "Contoso TLS Inspection CA",
        "",
    )
    assert sets["163"]["verdict"] == Verdict.OK and sets["163"]["failures"] == []
    assert sets["defender"]["unprobed"] == ["*.dm.microsoft.com"]
    # defender's only entry is that wildcard: its zone check now gives it a verdict
    assert (sets["defender"]["verdict"], sets["defender"]["up"], sets["defender"]["total"]) == ("OK", 1, 1)
    totals = document["totals"]
    assert totals["sets"] == 34
    assert totals["required_failing"] == ["97", "190", "189", "173"]
    assert totals["targets_failing"] == 5
    assert totals["ok"] + totals["partial"] + totals["fail"] + totals["unprobed"] == 34
    # Progress went to stderr as plain lines (not a terminal); stdout is the JSON alone.
    progress = captured.err.splitlines()
    assert progress and all(PLAIN_PROGRESS.fullmatch(line) for line in progress), progress
    assert progress[-1].startswith(
        f"probed {totals['targets']}/{totals['targets']} targets (100%), 5 failing"
    )


def test_text_summary_shows_failures_and_impact(lab_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(lab_config), "--set", "189", "--set", "163"]) == 1
    out = capsys.readouterr().out
    assert "\x1b[" not in out  # not a terminal: no colour
    lines = out.splitlines()
    assert lines[0].split() == ["SET", "NAME", "REQUIRED", "VERDICT", "UP"]
    # 4 targets and, since the 2025-08-21 edition, the zone check of *.dm.microsoft.com, which has no
    # representative; set 189 has two hosts, of which the lab breaks one (config.edge.skype.com).
    assert lines[1].split()[0] == "163" and lines[1].split()[-2:] == ["OK", "5/5"]
    assert lines[2].strip() == "? DNS-level check only (no representative host): *.dm.microsoft.com"
    assert lines[3].split()[0] == "189" and lines[3].split()[-2:] == ["PARTIAL", "1/2"]
    assert lines[4].strip().startswith(f"- {BLACKHOLE_HOST}:443/https connect_timeout")
    assert lines[5].strip() == "impact: Clients cannot fetch the configuration that turns features on."
    assert "2 sets, 1 with failures; required sets failing: 189" in out
    assert lines[-1].startswith("7 targets probed in ")


def test_colour_always(lab_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["check", "--config", str(lab_config), "--set", "97", "--set", "163", "--color", "always"]) == 1
    )
    out = capsys.readouterr().out
    assert "\x1b[32mOK\x1b[0m" in out
    assert "\x1b[33mPARTIAL\x1b[0m" in out


def test_filters_narrow_the_check(lab_config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--config", str(lab_config), "--format", "json", "--set", "163"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in document["sets"]] == ["163"]
    assert document["exit_code"] == 0
    args = ["check", "--config", str(lab_config), "--format", "json", "--section", "Autopilot", "--set", "97"]
    assert main(args) == 1
    document = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in document["sets"]] == ["97", "164", "165", "169", "173", "182"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "nope"], "intune-exporter: --set: unknown set id; known ids: 56, 59,"),
        (["--section", "Cloud"], "intune-exporter: --section: unknown section; known: Android, Apple,"),
        (
            ["--set", "188"],
            "--set: not selected by built-in default configuration (not used in cloud 'public')",
        ),
    ],
)
def test_bad_filters_exit_2(capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    assert main(["check", *args]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert "Traceback" not in captured.err


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_on_terminal(args: list[str], *, interrupt_when: str | None = None) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal; (exit code, terminal output, stdout)."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "exporter", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=secondary,
        env={**os.environ, "NO_COLOR": ""},
        # A shell runs background jobs (a CI runner may too) with SIGINT ignored, and children inherit
        # that: give the CLI the default a user's terminal gives it.
        preexec_fn=_default_sigint,
    )
    os.close(secondary)
    seen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        seen += chunk
        if interrupt_when is not None and interrupt_when.encode() in seen:
            process.send_signal(signal.SIGINT)
            interrupt_when = None
    os.close(primary)
    stdout, _ = process.communicate(timeout=30)
    return process.returncode, seen.decode(), stdout.decode()


def test_progress_on_a_terminal(lab_config: Path) -> None:
    code, terminal, stdout = run_on_terminal(["check", "--config", str(lab_config), "--set", "189"])
    assert code == 1
    frames = terminal.split("\r")
    assert frames[0] == ""
    drawn = [f for f in frames if f.strip()]
    assert drawn and all(re.fullmatch(r"probing \d/2 targets · \d failing · \d+\.\ds *", f) for f in drawn)
    assert drawn[-1].startswith("probing 2/2 targets · 1 failing")
    assert frames[-2].strip() == "" and frames[-1] == ""  # wiped at the end
    assert "\r" not in stdout and "189" in stdout


def test_interrupt_exits_130_and_wipes_the_line(
    tmp_path: Path, dns_server: DNSServer, ntp_server: NTPServer, loopback_lab: LoopbackLab
) -> None:
    arrange(dns_server, ntp_server)
    # A server that accepts and never speaks hangs the handshake for sure (a full accept queue may not
    # drop every SYN on a loaded machine).
    dns_server.records[BLACKHOLE_HOST] = [SILENT]
    config = write_config(
        tmp_path / "slow.yml",
        dns_server,
        ntp_server,
        loopback_lab,
        timeouts={"connect": "60s", "tls": "60s"},
    )
    started = time.monotonic()
    code, terminal, stdout = run_on_terminal(
        ["check", "--config", str(config), "--set", "189"], interrupt_when="probing "
    )
    assert code == 130, (terminal, stdout)
    assert time.monotonic() - started < 30
    assert terminal.split("\r")[-2].strip() == "" and terminal.endswith("\r")
    assert stdout == ""


def test_text_summary_shows_the_evidence_of_each_failure(
    lab_config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The lab's UNTRUSTED address presents a leaf from "Contoso TLS Inspection CA": an inspecting proxy.
    assert main(["check", "--config", str(lab_config), "--set", "173", "--set", "190", "--set", "97"]) == 1
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    assert lines[2].startswith(f"- {NXDOMAIN_HOST}:443/https dns_nxdomain (")  # no address, no certificate
    assert lines[5:7] == [
        f"- {REFUSED_HOST}:80/http connect_refused {REFUSED} (Connection refused)",
        f"- {REFUSED_HOST}:443/https connect_refused {REFUSED} (Connection refused)",
    ]
    assert lines[9] == (
        f"- {UNTRUSTED_HOST}:443/https tls_untrusted (issued by Contoso TLS Inspection CA; intercepted) "
        f"{UNTRUSTED} (certificate verify failed: unable to get local issuer certificate)"
    )


@dataclass(frozen=True)
class _Evidence(Certificate):
    """A certificate with the fields issue 16 adds to exporter.probes.outcome.Certificate."""

    issuer_dn: str = ""
    product: str = ""


@pytest.mark.parametrize(
    ("issuer", "product", "intercepted", "address", "line", "fields"),
    [
        (
            ("Zscaler Root CA", "Zscaler Inc.", ""),
            "Zscaler",
            True,
            "20.1.2.3",
            "(issued by Zscaler Root CA, Zscaler; intercepted) 20.1.2.3 (x)",
            {"family": "ipv4", "intercepted": True, "issuer": "Zscaler Root CA", "product": "Zscaler"},
        ),
        (
            ("", "Branch\nFirewall  Ltd", "O=Branch Firewall Ltd"),
            "",
            False,
            "2001:db8::1",
            "(issued by Branch Firewall Ltd; not intercepted) 2001:db8::1 (x)",
            {"family": "ipv6", "intercepted": False, "issuer": "Branch Firewall Ltd", "product": ""},
        ),
        (
            ("", "", "C=DE,L=Berlin"),
            "",
            None,
            "",
            "(issued by C=DE,L=Berlin) (x)",
            {"family": "", "intercepted": None, "issuer": "C=DE,L=Berlin", "product": ""},
        ),
        (
            ("", "", ""),  # nothing names the issuer: never an empty "issued by "
            "",
            None,
            "10.0.0.1",
            "10.0.0.1 (x)",
            {"family": "ipv4", "intercepted": None, "issuer": "", "product": ""},
        ),
    ],
    ids=["cn-and-product", "org-ipv6", "dn-only", "unnamed"],
)
def test_failure_line_and_record_carry_the_evidence(
    issuer: tuple[str, str, str],
    product: str,
    intercepted: bool | None,
    address: str,
    line: str,
    fields: dict[str, object],
) -> None:
    cn, org, dn = issuer
    certificate = _Evidence("h.example.com", cn, org, 0.0, False, True, issuer_dn=dn, product=product)
    outcome = ProbeOutcome(
        ok=False, reason=Reason.TLS_UNTRUSTED, detail="x", certificate=certificate, intercepted=intercepted
    )
    failed = TargetResult(Target("h.example.com", 443, Protocol.HTTPS), outcome, address, 0.0)

    assert failure_line(failed) == f"h.example.com:443/https tls_untrusted {line}"
    record = failure_record(failed)
    assert {key: record[key] for key in fields} == fields
    assert record["address"] == address


def test_failure_line_names_no_address_for_a_proxied_name() -> None:
    target = Target("h.example.com", 80, Protocol.HTTP, NetworkPath.PROXY, "proxy.example:3128")
    refused = ProbeOutcome.failure(Reason.PROXY_REFUSED, "proxy proxy.example:3128 answered 403 Forbidden")
    failed = TargetResult(target, refused, "h.example.com", 0.0)

    assert failure_line(failed) == (
        "h.example.com:80/http proxy_refused [proxy via proxy.example:3128] "
        "(proxy proxy.example:3128 answered 403 Forbidden)"
    )
    assert (failure_record(failed)["family"], failure_record(failed)["addresses"]) == ("", [])


# ---------------------------------------------------------------- per-address results


def _per_address_reports() -> list[SetReport]:
    """Set 189: one host up through 10.0.0.1 while 10.0.0.9 and 2001:db8::9 fail, one failing on both of
    its addresses."""
    up = TargetResult(
        Target("up.example.com", 443, Protocol.HTTPS),
        ProbeOutcome(ok=True, detail="up through 10.0.0.1; failing: ..."),
        "10.0.0.1",
        0.0,
        (
            AddressOutcome("10.0.0.1", "ipv4", True),
            AddressOutcome("10.0.0.9", "ipv4", False, Reason.CONNECT_TIMEOUT, "timed out"),
            AddressOutcome("2001:db8::9", "ipv6", False, Reason.CONNECT_REFUSED, "refused"),
        ),
    )
    down = TargetResult(
        Target("down.example.com", 443, Protocol.HTTPS),
        ProbeOutcome.failure(Reason.CONNECT_TIMEOUT, "timed out"),
        "10.0.0.2",
        0.0,
        (
            AddressOutcome("10.0.0.2", "ipv4", False, Reason.CONNECT_TIMEOUT, "timed out"),
            AddressOutcome("2001:db8::2", "ipv6", False, Reason.CONNECT_REFUSED, "refused"),
        ),
    )
    return [
        SetReport("189", "Config", True, Verdict.PARTIAL, 1, 2, [down], [], "Core", "No config.", [up]),
        SetReport("163", "Core", True, Verdict.OK, 0, 0, [], []),
    ]


def test_text_names_the_failing_addresses_of_an_endpoint_that_is_up() -> None:
    out = io.StringIO()
    render(_per_address_reports(), out)
    lines = [line.strip() for line in out.getvalue().splitlines()]
    assert lines[2:5] == [
        "- down.example.com:443/https connect_timeout 10.0.0.2 (timed out)",
        "impact: No config.",
        "! up.example.com:443/https up, but 10.0.0.9 (ipv4) connect_timeout, "
        "2001:db8::9 (ipv6) connect_refused",
    ]
    assert lines[5].split()[0] == "163"


def test_json_lists_every_address_and_the_endpoints_up_with_failing_addresses() -> None:
    document = json.loads(render_json(_per_address_reports(), 3, 0.5, 1))
    config = document["sets"][0]
    assert config["failures"][0]["addresses"] == [
        {"address": "10.0.0.2", "family": "ipv4", "ok": False, "reason": "connect_timeout"},
        {"address": "2001:db8::2", "family": "ipv6", "ok": False, "reason": "connect_refused"},
    ]
    assert config["address_problems"] == [
        {
            "host": "up.example.com",
            "port": 443,
            "protocol": "https",
            "address": "10.0.0.1",
            "family": "ipv4",
            "addresses": [
                {"address": "10.0.0.1", "family": "ipv4", "ok": True, "reason": ""},
                {"address": "10.0.0.9", "family": "ipv4", "ok": False, "reason": "connect_timeout"},
                {"address": "2001:db8::9", "family": "ipv6", "ok": False, "reason": "connect_refused"},
            ],
        }
    ]
    assert document["sets"][1]["address_problems"] == []
    assert document["totals"]["targets_failing"] == 1  # up with failing addresses is not failing


def test_a_failure_storm_is_said_once_and_every_failing_set_still_listed(
    lab_config: Path, dns_server: DNSServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every host resolving to a refusing address, as behind a firewall that rejects all egress."""
    dns_server.default_address = REFUSED
    assert main(["check", "--config", str(lab_config), "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    storm = document["storm"]
    assert (storm["reason"], storm["cause"], storm["targets"]) == ("connect_refused", "egress", 173)
    assert storm["failing"] > 150 and storm["advice"].startswith("check egress")
    failing_sets = [s["id"] for s in document["sets"] if s["verdict"] in ("FAIL", "PARTIAL")]

    assert main(["check", "--config", str(lab_config)]) == 1
    out = capsys.readouterr().out
    rows = [line.split()[0] for line in out.splitlines() if line and not line.startswith(" ")]
    assert set(failing_sets) <= set(rows)  # every failing set keeps its row
    summary = f"most targets fail the same way: {storm['failing']} of 173 targets fail with connect_refused, "
    assert out.count(summary + "likely cause egress: check egress") == 1
    folded = [line.strip() for line in out.splitlines() if "(as most targets, see below)" in line]
    assert len(folded) == sum(
        1 for s in document["sets"] if any(f["reason"] == "connect_refused" for f in s["failures"])
    )
    assert (
        f"- connect_refused (as most targets, see below): {REFUSED_HOST}:80/http, {REFUSED_HOST}:443/https"
        in out
    )
    assert "(Connection refused)" not in out  # no per-target line repeats the storm's reason
    assert len(out.splitlines()) < storm["failing"]
