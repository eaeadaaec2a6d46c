"""`intune-exporter lab`: the simulated network's DNS answers and HTTP responder, the whole command run as a
subprocess (healthy sets up, each broken set down for its reason, a clean exit on SIGTERM), and `check`
against the lab passing for every built-in edition of the catalogue."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from exporter.catalogue import Catalogue, Flag, builtin_editions, entry_flags, load_builtin
from exporter.cli import main
from exporter.commands.lab import write_config
from exporter.lab.dns import DNSServer
from exporter.lab.network import running_network
from exporter.lab.scenario import (
    BREAKAGES,
    HEALTHY,
    INSPECTED,
    REFUSED,
    TARPIT,
    UNTRUSTED,
    Fault,
    build_zone,
    set_names,
)
from exporter.lab.web import http_answer
from exporter.probes.dns_zone import RANDOM_LABEL_PREFIX
from tests.support.docs_tables import section
from tests.support.paths import ROOT
from tests.support.serving import EXPORTER, Served, exporter_command, sample_values, serving_when_ready
from tests.support.simulators.processes import free_port

CATALOGUE = load_builtin()
"""The default edition, which `intune-exporter lab` simulates unless told otherwise."""
EXPECTED_REASONS = {breakage.set_id: breakage.reason for breakage in BREAKAGES}
PLAN_TARGETS = {"seed": 124, "2025-08-21": 173}
"""Targets of the default plan per edition (tests/catalogue/test_editions.py)."""


@contextlib.contextmanager
def lab_dns(
    *, broken: bool = True, intercept: bool = False, catalogue: Catalogue = CATALOGUE
) -> Iterator[DNSServer]:
    zone = build_zone(catalogue, broken=broken, intercept=intercept)
    with DNSServer(zone.records, host=HEALTHY) as server:
        server.nxdomain |= zone.nxdomain
        server.zones |= zone.zones
        server.unregistered_prefix = RANDOM_LABEL_PREFIX
        yield server


def resolve(server: DNSServer, name: str) -> list[str] | str:
    """The A records for `name`, or the rcode's name when it is not NOERROR."""
    query = dns.message.make_query(name, dns.rdatatype.A)
    response = dns.query.udp(query, server.host, port=server.port, timeout=2)
    if response.rcode() != dns.rcode.NOERROR:
        return dns.rcode.to_text(response.rcode())
    return sorted(item.address for rrset in response.answer for item in rrset)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("manage.microsoft.com", [HEALTHY]),
        ("anything.manage.microsoft.com", [HEALTHY]),  # under the wildcard *.manage.microsoft.com
        ("a.b.c.manage.microsoft.com", [HEALTHY]),  # any depth
        ("EnterpriseEnrollment.Manage.Microsoft.com.", [HEALTHY]),
        ("x.officeconfig.msocdn.com", "NXDOMAIN"),  # set 150: broken by NXDOMAIN, wildcard included
        ("config.office.com", "NXDOMAIN"),
        ("cdn.storeedgefd.dsx.mp.microsoft.com", [REFUSED]),  # win32-cache
        ("other.azureedge.net", [HEALTHY]),
        ("ekop.intel.com", [UNTRUSTED]),  # 173
        ("lgmsapeweu.blob.core.windows.net", [TARPIT]),  # 182
        ("example.org", "NXDOMAIN"),  # not in the catalogue
        ("microsoft.com", "NXDOMAIN"),
    ],
)
def test_dns_answers_the_catalogue_with_the_broken_sets(name: str, expected: list[str] | str) -> None:
    with lab_dns() as server:
        assert resolve(server, name) == expected


def question(server: DNSServer, name: str, rdtype: dns.rdatatype.RdataType) -> tuple[str, list[str]]:
    """The rcode's name and the answer's records as text."""
    response = dns.query.udp(dns.message.make_query(name, rdtype), server.host, port=server.port, timeout=2)
    records = [item.to_text() for rrset in response.answer for item in rrset]
    return dns.rcode.to_text(response.rcode()), records


@pytest.mark.parametrize("rdtype", [dns.rdatatype.SOA, dns.rdatatype.NS])
def test_wildcard_zones_answer_soa_and_ns(rdtype: dns.rdatatype.RdataType) -> None:
    with lab_dns() as server:
        rcode, records = question(server, "dm.microsoft.com", rdtype)
        assert (rcode, len(records)) == ("NOERROR", 1)
        assert records[0].startswith("ns1.dm.microsoft.com.")
        assert question(server, "dm.microsoft.com", dns.rdatatype.A) == ("NOERROR", [])  # the name exists
        assert question(server, "manage.microsoft.com", rdtype)[0] == "NOERROR"


def test_zone_check_names_do_not_exist_below_a_healthy_wildcard() -> None:
    with lab_dns() as server:
        assert resolve(server, f"{RANDOM_LABEL_PREFIX}0123abcd.dm.microsoft.com") == "NXDOMAIN"
        assert resolve(server, "anything.dm.microsoft.com") == [HEALTHY]


def test_a_set_broken_by_nxdomain_has_its_wildcard_zones_nxdomain() -> None:
    with lab_dns() as server:  # set 150: *.officeconfig.msocdn.com
        assert question(server, "officeconfig.msocdn.com", dns.rdatatype.SOA) == ("NXDOMAIN", [])
    with lab_dns(broken=False) as server:
        assert question(server, "officeconfig.msocdn.com", dns.rdatatype.SOA)[0] == "NOERROR"


def test_a_broken_set_below_a_healthy_wildcard_stays_broken() -> None:
    # The seed edition's win32-cache hosts are below *.azureedge.net, whose other names stay healthy.
    with lab_dns(catalogue=load_builtin("seed")) as server:
        assert resolve(server, "sparkcdneus2.azureedge.net") == [REFUSED]
        assert resolve(server, "other.azureedge.net") == [HEALTHY]


def test_without_broken_sets_every_name_is_healthy() -> None:
    with lab_dns(broken=False) as server:
        for name in (
            "x.officeconfig.msocdn.com",
            "cdn.storeedgefd.dsx.mp.microsoft.com",
            "lgmsapeweu.blob.core.windows.net",
        ):
            assert resolve(server, name) == [HEALTHY]


def test_intercept_sends_every_name_but_ntp_to_the_inspecting_address() -> None:
    with lab_dns(intercept=True) as server:
        assert resolve(server, "x.manage.microsoft.com") == [INSPECTED]
        assert resolve(server, "time.windows.com") == [HEALTHY]  # NTP is not TLS
        assert resolve(server, "ekop.intel.com") == [UNTRUSTED]  # broken sets stay broken


@pytest.mark.parametrize("edition", builtin_editions())
def test_breaking_a_set_leaves_every_other_set_healthy(edition: str) -> None:
    catalogue = load_builtin(edition)
    broken = {breakage.set_id for breakage in BREAKAGES}
    assert broken <= catalogue.by_id().keys()  # the lab breaks the same sets in every edition
    with lab_dns(catalogue=catalogue) as server:
        for endpoint_set in catalogue.sets:
            if endpoint_set.id in broken:
                continue
            for name in set_names(catalogue, endpoint_set):
                probe = "probe." + name[2:] if name.startswith("*.") else name
                assert resolve(server, probe) == [HEALTHY], (endpoint_set.id, name)


def test_http_responder_honours_one_byte_range() -> None:
    answer = http_answer(b"GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n\r\n")
    assert answer is not None
    assert answer.startswith(b"HTTP/1.1 206 ")
    assert b"Content-Range: bytes 0-0/11\r\n" in answer
    assert answer.endswith(b"\r\n\r\ni")
    plain = http_answer(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert plain is not None and plain.startswith(b"HTTP/1.1 200 ") and plain.endswith(b"intune lab\n")
    past_end = http_answer(b"GET / HTTP/1.1\r\nRange: bytes=50-\r\n\r\n")
    assert past_end is not None and past_end.startswith(b"HTTP/1.1 416 ")
    assert http_answer(b"\x16\x03\x01 not http\r\n\r\n") is None


def test_docs_list_the_broken_sets_and_their_reasons() -> None:
    rows = re.findall(
        r"^\| `([^`]+)` \|.*\| `([a-z_]+)`[^|]*\|$",
        section(ROOT / "docs" / "lab.md", "## Sets broken on purpose"),
        flags=re.MULTILINE,
    )
    assert dict(rows) == EXPECTED_REASONS


def lab_running(*flags: str) -> contextlib.AbstractContextManager[Served]:
    """`intune-exporter lab` on a free loopback port, ready once its first probe cycle is done."""
    port = free_port()
    return serving_when_ready(exporter_command("lab", port, *flags), port)


def stop(served: Served) -> str:
    """SIGTERM; the output, once the process has exited 0."""
    served.process.send_signal(signal.SIGTERM)
    output, _ = served.process.communicate(timeout=15)
    assert served.process.returncode == 0, output
    assert "Traceback" not in output
    return output


def assert_nothing_listens(port: int) -> None:
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_lab_breaks_the_announced_sets_and_nothing_else() -> None:
    with lab_running() as served:
        samples = sample_values(served.get("/metrics").text)
        output = stop(served)
    reasons: dict[str, set[str]] = {}
    for (name, labels), value in samples.items():
        if name == "intune_endpoint_failure_reason" and value == 1:
            label = dict(labels)
            reasons.setdefault(label["set_id"], set()).add(label["reason"])
    assert reasons == {set_id: {reason} for set_id, reason in EXPECTED_REASONS.items()}, output
    ratios = {
        dict(labels)["set_id"]: value for (name, labels), value in samples.items() if name.endswith("ratio")
    }
    assert ratios, "no set reported"
    for set_id, ratio in ratios.items():
        assert ratio == (0.0 if set_id in EXPECTED_REASONS else 1.0), set_id
    assert "Broken on purpose" in output
    for set_id in EXPECTED_REASONS:
        assert f"set {set_id} " in output
    dns_port = re.search(r"DNS server +127\.0\.0\.1:(\d+)", output)
    assert dns_port is not None
    assert_nothing_listens(int(dns_port.group(1)))
    assert_nothing_listens(int(served.base.rsplit(":", 1)[1]))


def test_intercept_fails_only_the_sets_that_forbid_inspection() -> None:
    with lab_running("--no-broken", "--intercept") as served:
        samples = sample_values(served.get("/metrics").text)
        stop(served)
    reasons = {
        dict(labels)["reason"]
        for (name, labels), value in samples.items()
        if name == "intune_endpoint_failure_reason" and value == 1
    }
    assert reasons == {"tls_intercepted"}
    failing = {
        dict(labels)["set_id"]
        for (name, labels), value in samples.items()
        if name == "intune_endpoint_failure_reason" and value == 1
    }
    assert {"maa", "dha", "163", "store"} <= failing  # the Store API forbids inspection since 2025-08-21
    assert "178" not in failing  # Apple's hosts: inspection is allowed there
    intercepted = {
        (dict(labels)["set_id"], dict(labels)["inspection_supported"])
        for (name, labels), value in samples.items()
        if name == "intune_endpoint_tls_intercepted" and value == 1
    }
    assert ("178", "true") in intercepted
    assert ("maa", "false") in intercepted


def test_bad_listen_address_is_one_clear_error() -> None:
    result = subprocess.run(
        [str(EXPORTER), "lab", "--listen", "nowhere"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "--listen" in result.stderr and "Traceback" not in result.stderr


def test_busy_listen_port_fails_cleanly() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [str(EXPORTER), "lab", "--listen", f"127.0.0.1:{port}"],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert result.returncode == 1
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("edition", builtin_editions())
def test_check_against_the_lab_passes_for_every_edition(
    tmp_path: Path, edition: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The lab without broken sets, the exporter's configuration as `intune-exporter lab --edition` writes
    it, and `check`: every probed set of the edition is fully up."""
    catalogue = load_builtin(edition)
    with running_network(tmp_path, catalogue, broken=False, intercept=False) as network:
        path = write_config(tmp_path, network, "127.0.0.1:0", edition)
        code = main(["check", "--config", str(path), "--format", "json"])
    document = json.loads(capsys.readouterr().out)
    not_ok = [(s["id"], s["verdict"], s["failures"]) for s in document["sets"] if s["verdict"] != "OK"]
    assert code == 0, not_ok
    totals = document["totals"]
    assert (totals["targets"], totals["fail"], totals["partial"]) == (PLAN_TARGETS[edition], 0, 0)
    assert not_ok == []  # defender has only *.dm.microsoft.com, no representative: its zone check is up
    defender = next(s for s in document["sets"] if s["id"] == "defender")
    assert (defender["up"], defender["total"], defender["unprobed"]) == (1, 1, ["*.dm.microsoft.com"])
    probed = {s["id"] for s in document["sets"]}
    assert probed == {s.id for s in catalogue.sets if s.enabled_by_default and "public" in s.clouds}


@pytest.mark.parametrize("edition", builtin_editions())
def test_the_broken_sets_fail_for_their_reason_in_every_edition(edition: str) -> None:
    """A refused or unresolvable set fails alike on any port; the TLS faults give their reason only on TLS
    ports (plain HTTP to a tarpit is an HTTP timeout, and the untrusting firewall lets HTTP through), and
    an untrusted inspection is `tls_intercepted` where the page forbids inspection."""
    catalogue = load_builtin(edition)
    for breakage in BREAKAGES:
        endpoint_set = catalogue.by_id()[breakage.set_id]
        if breakage.fault in (Fault.UNTRUSTED, Fault.TARPIT):
            assert endpoint_set.tcp_ports == (443,) and not endpoint_set.udp_ports, breakage.set_id
        flags = {flag for url in endpoint_set.urls for flag in entry_flags(catalogue, endpoint_set, url)}
        assert Flag.SSL_INSPECTION_UNSUPPORTED not in flags, breakage.set_id
