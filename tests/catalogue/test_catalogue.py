"""The seed edition of the built-in catalogue against its copy of Microsoft's page; every edition's flags,
wildcards and exports; user catalogue files. tests/catalogue/test_editions.py has the 2025-08-21 edition's
facts and what every edition must do."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from exporter.catalogue import (
    Catalogue,
    Category,
    Cloud,
    Flag,
    builtin_editions,
    entry_flags,
    load_builtin,
    load_file,
    merge,
    wildcard_matches,
)
from exporter.catalogue.export import CSV_COLUMNS, to_csv, to_json, to_service_items
from exporter.errors import ConfigError
from tests.support.paths import DATA, ROOT

PAGE = (DATA / "intune-endpoints-ko.txt").read_text(encoding="utf-8")

# A host-name-looking token: optional '*.' then dotted labels, not glued to other word characters (so that
# PowerShell's `$_.ServiceArea` or a CIDR never counts). Quoted 'https://host' forms match on the host part.
HOST_TOKEN = re.compile(
    r"(?<![\w*.-])(?:\*\.)?(?:[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9](?![\w-])"
)
CIDR_TOKEN = re.compile(r"(?<![\d.])\d{1,3}(?:\.\d{1,3}){3}/\d{1,2}(?![\d])")
STORAGE_TOKEN = re.compile(r"\b[a-z]{2}prodimedata[a-z]+\b(?!\.)")
SCALE_UNIT_TOKEN = re.compile(r"\bAMSU[A-Z]\d{4}\b(?!-)")
ROW_START = re.compile(r"^(\d{2,3}) ", re.MULTILINE)
PORTS = re.compile(r"(TCP|UDP): ([\d, ]+)")

# Host-looking tokens of the page that are not endpoints to allow, and where the export keeps them instead.
NOT_ENDPOINTS = {
    "endpoints.office.com": None,  # the web service queried by the page's PowerShell sample
    "Outlook.com": "97",  # part of set 97's description, "Consumer Outlook.com, OneDrive, ..."
}
KNOWN_UNPROBED = {"*.dm.microsoft.com", "*.officeconfig.msocdn.com", "*.gov.teams.microsoft.us"}
CIDRS_IN_163 = {"seed": 50, "2025-08-21": 90}


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    """The seed edition: the one this file's copy of the page (Korean) is the source of."""
    return load_builtin("seed")


@pytest.fixture(scope="module")
def items(catalogue: Catalogue) -> dict[str, dict[str, Any]]:
    exported = json.loads(to_json(catalogue))
    return {item["id"]: item for item in exported}


@pytest.fixture(scope="module", params=builtin_editions())
def edition(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def any_catalogue(edition: str) -> Catalogue:
    """Each built-in edition in turn, for what every edition must do."""
    return load_builtin(edition)


@pytest.fixture(scope="module")
def any_items(any_catalogue: Catalogue) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in json.loads(to_json(any_catalogue))}


def page_rows() -> list[tuple[str, str]]:
    """(set id, row text) for every row of the page's numbered tables; a row ends with its ports."""
    rows = []
    for match in ROW_START.finditer(PAGE):
        rest = PAGE[match.end() :]
        ports = PORTS.search(rest)
        assert ports is not None, f"row {match.group(1)} has no ports"
        rows.append((match.group(1), rest[: ports.end()]))
    return rows


def split_at_er(row: str) -> tuple[str, str]:
    """Description and category come before the ER column (거짓 = false, True), addresses and ports after."""
    er = re.search(r"(거짓|True)", row)
    assert er is not None
    return row[: er.end()], row[er.end() :]


def row_hosts(row: str) -> list[str]:
    return HOST_TOKEN.findall(split_at_er(row)[1])


def row_ports(row: str) -> dict[str, tuple[int, ...]]:
    return {
        protocol.lower(): tuple(int(p) for p in ports.replace(" ", "").split(",") if p)
        for protocol, ports in PORTS.findall(row)
    }


def test_seed_edition_loads_with_its_edition(catalogue: Catalogue) -> None:
    assert catalogue.edition is not None
    assert catalogue.edition.id == "seed"
    assert catalogue.edition.title == "Network endpoints for Microsoft Intune"
    assert catalogue.edition.language == "ko"
    assert "000_59291ccc57b88cdc" in catalogue.edition.source
    assert catalogue.edition.encoded_on == "2026-11-27"
    assert len(catalogue.sets) == 31


def test_every_numbered_set_of_the_page_is_exported(items: dict[str, dict[str, Any]]) -> None:
    page_ids = {set_id for set_id, _ in page_rows()}
    numbered = "163 172 170 97 190 189 164 165 169 173 182 181 187 188 171 178 179 56 150 59"
    assert page_ids == set(numbered.split())
    assert page_ids <= items.keys()


def test_page_rows_match_sets_exactly(catalogue: Catalogue) -> None:
    by_id = catalogue.by_id()
    rows = page_rows()
    assert [set_id for set_id, _ in rows].count("172") == 2  # Intune core table and Delivery Optimization
    for set_id, row in rows:
        endpoint_set = by_id[set_id]
        assert list(endpoint_set.urls) == row_hosts(row), set_id
        ports = row_ports(row)
        assert endpoint_set.tcp_ports == ports.get("tcp", ()), set_id
        assert endpoint_set.udp_ports == ports.get("udp", ()), set_id
        assert endpoint_set.express_route is ("True" in row), set_id
        assert endpoint_set.required is ("필수" in row), set_id
        category = re.findall(r"(허용|기본)", split_at_er(row)[0])
        expected = {"허용": Category.ALLOW, "기본": Category.DEFAULT}[category[-1]]
        assert endpoint_set.category is expected, set_id


def test_every_host_of_the_page_is_in_the_export(items: dict[str, dict[str, Any]]) -> None:
    urls = {url for item in items.values() for url in item.get("urls", [])}
    hosts = set(HOST_TOKEN.findall(PAGE))
    assert len(hosts) > 100
    assert "intunemaape1.eus.attest.azure.net" in hosts  # written as 'https://...' on the page
    for host in sorted(hosts - urls):
        assert host in NOT_ENDPOINTS, f"{host} is on the page but in no set's urls"
        if (set_id := NOT_ENDPOINTS[host]) is not None:
            assert host in items[set_id]["name"]


def test_every_cidr_of_the_page_is_in_set_163(items: dict[str, dict[str, Any]]) -> None:
    cidrs = CIDR_TOKEN.findall(PAGE)
    assert len(cidrs) == 50
    assert "13.89.174.240/28" in cidrs  # glued to the previous range by a comma, no space
    assert items["163"]["ips"] == cidrs
    assert all("ips" not in item for set_id, item in items.items() if set_id != "163")


def test_scale_units_and_storage_names_as_on_the_page(items: dict[str, dict[str, Any]]) -> None:
    page_units = SCALE_UNIT_TOKEN.findall(PAGE)
    exported_units = [u for set_id in ("asu-na", "asu-eu", "asu-ap") for u in items[set_id]["scaleUnits"]]
    assert list(dict.fromkeys(page_units)) == exported_units
    assert page_units.count("AMSUA0601") == 2
    assert any("AMSUA0601 twice" in note for note in items["asu-na"]["annotations"])
    assert "AMSUD0101" in items["asu-ap"]["scaleUnits"]

    storage = [name for set_id in ("asu-na", "asu-eu", "asu-ap") for name in items[set_id]["storageAccounts"]]
    assert STORAGE_TOKEN.findall(PAGE) == storage
    assert "approdimedatahotifx" in items["asu-ap"]["storageAccounts"]
    assert "approdimedatahotfix.azureedge.net" in items["asu-ap"]["urls"]
    assert any("approdimedatahotifx" in note for note in items["asu-ap"]["annotations"])


def test_ports_of_selected_sets(items: dict[str, dict[str, Any]]) -> None:
    assert items["178"]["tcpPorts"] == "80,443,5223"
    assert items["165"]["udpPorts"] == "123"
    assert "tcpPorts" not in items["165"]
    assert items["163"]["tcpPorts"] == "80,443"
    assert items["do-peer"]["tcpPorts"] == "7680"
    assert items["do-peer"]["udpPorts"] == "3544"
    assert "urls" not in items["do-peer"]
    assert items["do-peer"]["enabledByDefault"] is False
    assert items["epm"]["tcpPorts"] == "443"


def test_unnumbered_sections(catalogue: Catalogue) -> None:
    by_id = catalogue.by_id()
    assert by_id["172"].section == "Delivery Optimization"
    assert any("both places" in note or "twice" in note for note in by_id["172"].annotations)
    assert by_id["188"].clouds == (Cloud.GCC,)
    assert by_id["maa"].clouds == (Cloud.PUBLIC, Cloud.GCC)
    assert by_id["maa"].urls[0] == "intunemaape1.eus.attest.azure.net"
    assert len(by_id["maa"].urls) == 6
    assert by_id["150"].required is False
    assert by_id["win32-cache"].required is False
    assert by_id["unauthenticated-proxy"].urls == (
        "manage.microsoft.com",
        "*.azureedge.net",
        "graph.microsoft.com",
    )
    numbered = {s.id for s in catalogue.sets if s.id.isdigit()}
    for endpoint_set in catalogue.sets:
        assert endpoint_set.impact, endpoint_set.id
        if endpoint_set.id not in numbered:
            assert any("no category" in note for note in endpoint_set.annotations), endpoint_set.id


def test_flags(any_catalogue: Catalogue, any_items: dict[str, dict[str, Any]]) -> None:
    catalogue, items = any_catalogue, any_items
    by_id = catalogue.by_id()
    ssl = Flag.SSL_INSPECTION_UNSUPPORTED.value
    assert ssl in items["163"]["urlFlags"]["*.manage.microsoft.com"]
    assert ssl in items["170"]["urlFlags"]["swda01-mscdn.manage.microsoft.com"]
    for set_id in ("maa", "dha", "defender", "epm"):
        assert ssl in items[set_id]["setFlags"], set_id
    assert (
        Flag.UNAUTHENTICATED_PROXY_REQUIRED.value in items["179"]["urlFlags"]["intunecdnpeasd.azureedge.net"]
    )
    for url in items["asu-na"]["urls"]:
        assert Flag.BYTE_RANGES_REQUIRED.value in items["asu-na"]["urlFlags"][url]
    assert entry_flags(catalogue, by_id["164"], "*.prod.do.dsp.mp.microsoft.com") == {
        Flag.BYTE_RANGES_REQUIRED
    }
    assert entry_flags(catalogue, by_id["56"], "login.microsoftonline.com") == frozenset()
    assert "login.microsoftonline.com" not in items["56"].get("urlFlags", {})
    assert "setFlags" not in items["56"]
    for rule in catalogue.flag_rules:
        assert rule.source
        assert set(rule.sets) <= by_id.keys()


def test_every_wildcard_is_probed_or_known_unprobed(any_catalogue: Catalogue) -> None:
    catalogue = any_catalogue
    representatives = catalogue.wildcard_representatives
    for endpoint_set in catalogue.sets:
        for url in endpoint_set.urls:
            if not url.startswith("*."):
                continue
            concrete = [u for u in endpoint_set.urls if not u.startswith("*.") and wildcard_matches(url, u)]
            if concrete:
                continue
            assert url in representatives or url in KNOWN_UNPROBED, f"{endpoint_set.id}: {url}"
    for wildcard, hosts in representatives.items():
        assert wildcard not in KNOWN_UNPROBED
        assert all(wildcard_matches(wildcard, host) for host in hosts), wildcard


def test_service_items_follow_microsofts_shape(any_catalogue: Catalogue) -> None:
    catalogue = any_catalogue
    exported = to_service_items(catalogue)
    assert [item["id"] for item in exported] == [s.id for s in catalogue.sets]
    common = {"56", "59", "97", "150"}  # Microsoft 365 sets the page repeats
    assert {item["id"] for item in exported if item["serviceArea"] == "Common"} == common
    for item in exported:
        if item["id"] not in common:
            assert item["serviceArea"] == "MEM"
            assert item["serviceAreaDisplayName"] == "Microsoft Intune"
        assert isinstance(item["id"], str)
        optional = ("urls", "ips", "tcpPorts", "udpPorts", "notes", "scaleUnits", "scaleUnitPrefixes")
        for key in (*optional, "annotations"):
            assert item.get(key, "omitted") not in ("", []), (item["id"], key)
    assert to_json(catalogue).endswith("]\n")


def test_csv_export_rows(edition: str, any_catalogue: Catalogue) -> None:
    catalogue = any_catalogue
    text = to_csv(catalogue)
    rows = list(csv.reader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    expected = 0
    for s in catalogue.sets:
        addresses = len(s.urls) + len(s.ips)
        ports = len(s.tcp_ports) + len(s.udp_ports)
        expected += (addresses or 1) * (ports or 1) if addresses or ports else 0
    assert len(rows) - 1 == expected
    body = [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]
    ip_rows = [row for row in body if row["kind"] == "ip"]
    assert len(ip_rows) == CIDRS_IN_163[edition] * 2 and {row["set_id"] for row in ip_rows} == {"163"}
    peer = [row for row in body if row["set_id"] == "do-peer"]
    assert [(r["address"], r["protocol"], r["port"]) for r in peer] == [
        ("", "tcp", "7680"),
        ("", "udp", "3544"),
    ]
    assert all(r["flags"] == "byte_ranges_required" for r in peer)
    swda = next(r for r in body if r["address"] == "swda01-mscdn.manage.microsoft.com")
    assert swda["flags"].split(";") == ["ssl_inspection_unsupported", "byte_ranges_required"]
    login = [r for r in body if r["address"] == "login.microsoftonline.com"]
    assert [(r["protocol"], r["port"], r["flags"], r["required"]) for r in login] == [
        ("tcp", "80", "", "true"),
        ("tcp", "443", "", "true"),
    ]


def test_docs_list_every_set_and_representative(any_catalogue: Catalogue) -> None:
    catalogue = any_catalogue
    docs = (ROOT / "docs" / "catalogue.md").read_text(encoding="utf-8")
    for endpoint_set in catalogue.sets:
        assert f"| `{endpoint_set.id}` |" in docs, endpoint_set.id
    for wildcard, hosts in catalogue.wildcard_representatives.items():
        assert f"`{wildcard}`" in docs
        assert all(host in docs for host in hosts)


USER_CATALOGUE = """\
sets:
  - id: 163
    name: Intune client and host service (our proxy only)
    section: Intune core
    category: Allow
    required: true
    urls: [manage.microsoft.com]
    tcp_ports: [443]
  - id: corp-proxy
    name: Corporate proxy
    section: Local
    urls: [proxy.corp.example.com]
    tcp_ports: [3128]
"""


def test_user_catalogue_overrides_and_adds_sets(tmp_path: Path) -> None:
    path = tmp_path / "corp.yaml"
    path.write_text(USER_CATALOGUE, encoding="utf-8")
    builtin = load_builtin()
    merged = merge(builtin, load_file(path))
    ids = [s.id for s in merged.sets]
    assert ids == [s.id for s in builtin.sets] + ["corp-proxy"]
    override = merged.by_id()["163"]
    assert override.urls == ("manage.microsoft.com",)
    assert override.ips == ()
    assert override.tcp_ports == (443,)
    assert merged.by_id()["corp-proxy"].tcp_ports == (3128,)
    assert merged.by_id()["170"] == builtin.by_id()["170"]
    assert merged.edition == builtin.edition
    assert "proxy.corp.example.com" in to_json(merged)


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        (
            "sets:\n  - {id: corp, name: x, section: x, ips: [10.0.0.0/8, 10.0.0.1/33]}\n",
            "sets[0].ips[1]",
            "'10.0.0.1/33'",
        ),
        ("sets:\n  - {id: corp, name: x, section: x, colour: blue}\n", "sets[0].colour", None),
        (
            "sets:\n  - {id: corp, name: x, section: x}\n  - {id: corp, name: y, section: y}\n",
            "sets[1].id",
            "'corp'",
        ),
        (
            "sets:\n  - {id: corp, name: x, section: x, urls: [ok.example.com, 'bad host.example.com']}\n",
            "sets[0].urls[1]",
            "'bad host.example.com'",
        ),
    ],
    ids=["bad-cidr", "unknown-key", "duplicate-id", "bad-host"],
)
def test_invalid_catalogue_files(tmp_path: Path, text: str, field: str, value: str | None) -> None:
    path = tmp_path / "invalid.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_file(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert field in message
    if value is not None:
        assert value in message
