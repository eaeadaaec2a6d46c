"""The status model, its JSON document and the HTML page, from a hand-built plan and results."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

import pytest

from exporter.catalogue import EndpointSet
from exporter.plan.targets import Membership, NetworkPath, PlanHolder, Target, TargetPlan
from exporter.probes.outcome import Certificate, ProbeOutcome, Reason
from exporter.probes.prober import Protocol
from exporter.results.history import CycleVerdict, FailureEntry
from exporter.results.store import AddressOutcome, CycleStats, ResultStore, TargetResult
from exporter.results.storm import Cause, Storm
from exporter.results.verdicts import Verdict
from exporter.web.status import Memory, Status, StatusSource, build_status
from exporter.web.status_page import ago, refresh_seconds, render_page
from tests.support.docs_tables import table_first_column
from tests.support.paths import ROOT

NOW = 1_800_000_000.0
HOSTILE = '<script>alert("x")</script>'
CORE = EndpointSet(id="163", name="Intune core", section="Intune", required=True, impact="No enrolment.")
APPS = EndpointSet(id="170", name="Win32 apps", section="Apps", required=True)
OPTIONAL = EndpointSet(id="150", name="Office config", section="Office")
WILD = EndpointSet(id="wild", name="Wildcards only", section="Misc")
MANAGE = Target("manage.microsoft.com", 443, Protocol.HTTPS)
CHECKIN = Target("checkin.manage.microsoft.com", 443, Protocol.HTTPS, NetworkPath.PROXY, "proxy.example:3128")
APPS_CDN = Target("swdc.azureedge.net", 443, Protocol.HTTPS)
CONFIG = Target("config.office.com", 443, Protocol.HTTPS)
INSPECTED = Certificate("manage.microsoft.com", "Contoso Inspection CA", "Contoso", NOW + 1e6, False, True)
PUBLIC = Certificate("swdc.azureedge.net", "Microsoft RSA CA", "Microsoft", NOW + 1e6, True, True)


def member(set_id: str, entry: str) -> Membership:
    return Membership(set_id, entry, frozenset())


@pytest.fixture
def plan() -> TargetPlan:
    return TargetPlan(
        sets=[OPTIONAL, CORE, APPS, WILD],
        targets={
            MANAGE: [member("163", "manage.microsoft.com")],
            CHECKIN: [member("163", "*.manage.microsoft.com")],
            APPS_CDN: [member("170", "swdc.azureedge.net"), member("150", "swdc.azureedge.net")],
            CONFIG: [member("150", "config.office.com")],
        },
        unprobed_wildcards={"wild": ["*.dm.microsoft.com"]},
    )


def results() -> dict[Target, TargetResult]:
    intercepted = ProbeOutcome(
        ok=False,
        reason=Reason.TLS_UNTRUSTED,
        detail=HOSTILE,
        addresses=("10.0.0.1",),
        certificate=INSPECTED,
        intercepted=True,
    )
    refused = ProbeOutcome.failure(Reason.CONNECT_REFUSED, "Connection refused")
    fine = ProbeOutcome(ok=True, certificate=PUBLIC, intercepted=False)
    manage_addresses = (
        AddressOutcome("10.0.0.1", "ipv4", False, Reason.TLS_UNTRUSTED, HOSTILE),
        AddressOutcome("2001:db8::1", "ipv6", False, Reason.CONNECT_TIMEOUT, "timed out"),
    )
    cdn_addresses = (
        AddressOutcome("10.0.0.3", "ipv4", True),
        AddressOutcome("10.0.0.9", "ipv4", False, Reason.CONNECT_TIMEOUT, "timed out"),
        AddressOutcome("2001:db8::9", "ipv6", False, Reason.CONNECT_REFUSED, HOSTILE),
    )
    return {
        MANAGE: TargetResult(MANAGE, intercepted, "10.0.0.1", NOW - 30, manage_addresses),
        CHECKIN: TargetResult(CHECKIN, refused, "10.0.0.2", NOW - 20),
        APPS_CDN: TargetResult(APPS_CDN, fine, "10.0.0.3", NOW - 10, cdn_addresses),
        CONFIG: TargetResult(CONFIG, refused, "", NOW - 5),
    }


@pytest.fixture
def status(plan: TargetPlan) -> Status:
    return build_status(plan, results(), CycleStats(3, 1.25, NOW - 5), "/etc/exporter.yml", NOW)


def test_verdicts_and_failing_sets_first(status: Status) -> None:
    assert [(s.id, s.verdict) for s in status.sets] == [
        ("163", Verdict.FAIL),
        ("150", Verdict.PARTIAL),
        ("wild", Verdict.UNPROBED),
        ("170", Verdict.OK),
    ]
    core = status.sets[0]
    assert (core.up, core.total, core.required, core.impact) == (0, 2, True, "No enrolment.")
    assert core.last_probe_at == NOW - 20
    assert [(f.host, f.reason, f.path, f.via) for f in core.failing] == [
        ("manage.microsoft.com", "tls_untrusted", "direct", ""),
        ("checkin.manage.microsoft.com", "connect_refused", "proxy", "proxy.example:3128"),
    ]
    issuer = core.failing[0].tls_issuer
    assert issuer is not None
    assert (issuer.cn, issuer.org, issuer.intercepted) == ("Contoso Inspection CA", "Contoso", True)
    # The CDN is up through 10.0.0.3, yet two of its addresses fail: listed under both its sets.
    assert [(s.id, [p.host for p in s.address_problems]) for s in status.sets] == [
        ("163", []),
        ("150", ["swdc.azureedge.net"]),
        ("wild", []),
        ("170", ["swdc.azureedge.net"]),
    ]
    assert [(p.address, p.ok, p.reason) for p in status.sets[3].address_problems[0].failing()] == [
        ("10.0.0.9", False, "connect_timeout"),
        ("2001:db8::9", False, "connect_refused"),
    ]
    assert status.sets[2].unprobed_wildcards == ("*.dm.microsoft.com",)
    assert status.sets[2].last_probe_at is None
    summary = status.summary
    counts = (summary.sets_failing, summary.sets_partial, summary.sets_unprobed, summary.sets_ok)
    assert counts == (1, 1, 1, 1)
    # The CDN target reports under two sets but counts once.
    assert (summary.targets_probed, summary.targets_failing) == (4, 3)


def test_json_document_shape(status: Status) -> None:
    document = json.loads(json.dumps(status.model_dump(mode="json")))
    assert document["generated_at"] == "2027-01-15T08:00:00Z"
    assert document["storm"] is None
    assert document["exporter"] == {
        "version": document["exporter"]["version"],
        "config_source": "/etc/exporter.yml",
        "targets": 4,
        "sets": 4,
        "cycles_completed": 3,
        "last_cycle_duration_seconds": 1.25,
        "last_cycle_finished_at": "2027-01-15T07:59:55Z",
        "ready": True,
    }
    assert document["summary"] == {
        "sets_ok": 1,
        "sets_partial": 1,
        "sets_failing": 1,
        "sets_unprobed": 1,
        "required_sets_failing": 1,
        "optional_sets_failing": 0,
        "required_sets_partial": 0,
        "optional_sets_partial": 1,
        "targets_probed": 4,
        "targets_failing": 3,
    }
    core = document["sets"][0]
    assert set(core) == {
        "id", "name", "section", "category", "required", "impact", "notes", "verdict", "up", "total",
        "last_probe_at", "tls_issuers", "unprobed_wildcards", "failing", "address_problems", "warnings",
        "history", "recent_failures",
    }  # fmt: skip
    assert core["verdict"] == "FAIL"
    assert core["tls_issuers"] == [
        {"cn": "Contoso Inspection CA", "org": "Contoso", "intercepted": True, "product": "", "dn": ""}
    ]
    assert core["failing"][0] == {
        "host": "manage.microsoft.com",
        "port": 443,
        "protocol": "https",
        "path": "direct",
        "via": "",
        "reason": "tls_untrusted",
        "detail": HOSTILE,
        "address": "10.0.0.1",
        "family": "ipv4",
        "intercepted": True,
        "issuer": "Contoso Inspection CA",
        "product": "",
        "addresses": [
            {"address": "10.0.0.1", "family": "ipv4", "ok": False, "reason": "tls_untrusted"},
            {"address": "2001:db8::1", "family": "ipv6", "ok": False, "reason": "connect_timeout"},
        ],
        "tls_issuer": {
            "cn": "Contoso Inspection CA",
            "org": "Contoso",
            "intercepted": True,
            "product": "",
            "dn": "",
        },
        "probed_at": "2027-01-15T07:59:30Z",
    }
    assert core["failing"][1]["addresses"] == []  # proxied: the proxy resolved the name
    assert core["address_problems"] == []
    unresolved = document["sets"][1]["failing"][0]
    assert (unresolved["address"], unresolved["family"], unresolved["addresses"]) == ("", "", [])
    assert (unresolved["tls_issuer"], unresolved["intercepted"], unresolved["issuer"]) == (None, None, "")
    assert document["sets"][1]["address_problems"] == [
        {
            "host": "swdc.azureedge.net",
            "port": 443,
            "protocol": "https",
            "address": "10.0.0.3",
            "family": "ipv4",
            "addresses": [
                {"address": "10.0.0.3", "family": "ipv4", "ok": True, "reason": ""},
                {"address": "10.0.0.9", "family": "ipv4", "ok": False, "reason": "connect_timeout"},
                {"address": "2001:db8::9", "family": "ipv6", "ok": False, "reason": "connect_refused"},
            ],
            "probed_at": "2027-01-15T07:59:50Z",
        }
    ]


def field_paths(value: Any, prefix: str = "") -> set[str]:
    """'a.b' for nested objects, 'a[].b' for objects in lists."""
    found: set[str] = set()
    if isinstance(value, dict):
        for name, item in value.items():
            found.add(prefix + name)
            found |= field_paths(item, f"{prefix}{name}.")
    elif isinstance(value, list):
        for item in value:
            found |= field_paths(item, prefix.removesuffix(".") + "[].")
    return found


def test_every_field_is_documented(plan: TargetPlan) -> None:
    memory = Memory(
        range_checks={("170", "swdc.azureedge.net"): ("192.0.2.7",)},
        history={"163": (CycleVerdict(NOW - 60, "OK", 2, 2), CycleVerdict(NOW - 5, "FAIL", 0, 2))},
        failures={CONFIG: (FailureEntry(NOW - 5, "connect_refused", "Connection refused", ""),)},
        storm=Storm("connect_refused", 9, 10, Cause.EGRESS),
    )
    status = build_status(plan, results(), CycleStats(3, 1.25, NOW - 5), "/etc/exporter.yml", NOW, memory)
    documented = table_first_column(ROOT / "docs" / "status.md", "## Fields")
    assert field_paths(status.model_dump(mode="json")) == documented
    sets = {s.id: s for s in status.sets}
    assert [(w.kind, w.host, w.addresses) for w in sets["170"].warnings] == [
        ("outside_published_ranges", "swdc.azureedge.net", ("192.0.2.7",))
    ]
    assert [c.verdict for c in sets["163"].history] == [Verdict.OK, Verdict.FAIL]
    assert [(t.host, t.up, [f.reason for f in t.failures]) for t in sets["150"].recent_failures] == [
        ("config.office.com", False, ["connect_refused"])
    ]
    assert status.storm is not None and (status.storm.cause, status.storm.targets) == ("egress", 10)
    page = render_page(status, refresh=0)
    assert "Most targets fail the same way: 9 of 10 targets fail with" in page
    assert "Likely cause: <strong>egress (firewall, route)</strong>. Check egress:" in page
    assert 'http-equiv="refresh"' not in page and 'href="?refresh=60"' in page
    assert '<span class="badge warning">warning</span>' in page and "recent failures (1)" in page


class _Text(HTMLParser):
    """The page's text and its <script> elements."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self.text.append(" ")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_page_escapes_remote_text_and_shows_failures(status: Status) -> None:
    page = render_page(status)
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    parsed = _Text()
    parsed.feed(page)
    text = " ".join("".join(parsed.text).split())
    assert parsed.scripts == 0
    assert HOSTILE in text  # shown as text, not markup
    assert "connect_refused" in text
    assert "proxy via proxy.example:3128" in text
    assert "intercepted" in text
    assert "2027-01-15T07:59:40Z (20 s ago)" in text
    assert "DNS-level check only (no representative host): *.dm.microsoft.com" in text
    assert "addresses: 10.0.0.1 (ipv4) tls_untrusted, 2001:db8::1 (ipv6) connect_timeout" in text
    problem = (
        "swdc.azureedge.net:443/https up, but 10.0.0.9 (ipv4) connect_timeout, 2001:db8::9 (ipv6) "
        "connect_refused addresses: 10.0.0.3 (ipv4) up, 10.0.0.9 (ipv4) connect_timeout, 2001:db8::9 (ipv6) "
        "connect_refused"
    )
    assert text.count(problem) == 2  # under 170 and 150
    assert page.count('<span class="addr bad">') == 2 + 2 * 2
    assert page.index('id="set-163"') < page.index('id="set-150"') < page.index('id="set-170"')
    for link in ('href="metrics"', 'href="api/status"', 'href="healthz"', 'href="ready"'):
        assert link in page
    assert "First probe cycle running" not in text


def test_before_the_first_cycle(plan: TargetPlan) -> None:
    source = StatusSource(PlanHolder(plan), ResultStore(), lambda: "built-in", clock=lambda: NOW)
    status = source()
    assert not status.exporter.ready
    assert {s.verdict for s in status.sets} == {Verdict.UNPROBED}
    assert status.model_dump(mode="json")["exporter"]["last_cycle_finished_at"] is None
    assert "First probe cycle running" in render_page(status)


def test_ago() -> None:
    assert ago(NOW, NOW - 42.4) == "42 s ago"
    assert ago(NOW, NOW - 600) == "10 min ago"
    assert ago(NOW, NOW - 3 * 3600) == "3 h ago"
    assert ago(NOW, NOW + 2) == "0 s ago"


@pytest.mark.parametrize(
    ("values", "seconds"),
    [([], 60), (["0"], 0), (["5"], 15), (["90"], 90), (["100000"], 300), (["soon"], 60), (["30", "0"], 0)],
)
def test_refresh_query(values: list[str], seconds: int) -> None:
    assert refresh_seconds(values) == seconds


def test_status_source_records_each_cycle(plan: TargetPlan) -> None:
    store = ResultStore()
    source = StatusSource(PlanHolder(plan), store, lambda: "built-in", clock=lambda: NOW)
    for result in results().values():
        store.put(result)
    store.cycle_done(1.0)
    store.cycle_done(1.0)
    sets = {s.id: s for s in source().sets}
    assert [(c.verdict, c.up, c.total) for c in sets["163"].history] == [(Verdict.FAIL, 0, 2)] * 2
    assert [c.verdict for c in sets["170"].history] == [Verdict.OK, Verdict.OK]
    page = render_page(source())
    assert '<meta http-equiv="refresh" content="60">' in page
    assert page.count('<span class="cycle fail"') == 2  # set 163, two cycles
    assert page.count('<span class="cycle partial"') == 2  # set 150
