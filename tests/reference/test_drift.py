"""Drift between the catalogue and reference lists."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from exporter.catalogue import Catalogue, EndpointSet, load_builtin
from exporter.catalogue.export import to_service_items
from exporter.config.drift import Limits
from exporter.reference.drift import (
    Direction,
    DriftEntry,
    Kind,
    compute_drift,
    covering_wildcard,
    has_added,
    mark_covered,
)
from exporter.reference.items import parse_reference
from exporter.reference.types import ReferenceItem

ADDED, REMOVED, CHANGED = Direction.ADDED, Direction.REMOVED, Direction.CHANGED


def endpoint_set(set_id: str = "163", **fields: Any) -> EndpointSet:
    defaults: dict[str, Any] = {
        "name": f"set {set_id}",
        "section": "Intune core",
        "category": "Allow",
        "required": True,
        "express_route": False,
        "urls": ("manage.microsoft.com",),
        "ips": ("13.67.13.176/28",),
        "tcp_ports": (80, 443),
    }
    return EndpointSet(id=set_id, **{**defaults, **fields})


def reference(set_id: str = "163", **fields: Any) -> ReferenceItem:
    defaults: dict[str, Any] = {
        "service_area": "MEM",
        "category": "Allow",
        "required": True,
        "express_route": False,
        "urls": ("manage.microsoft.com",),
        "ips": ("13.67.13.176/28",),
        "tcp_ports": frozenset({80, 443}),
    }
    return ReferenceItem(id=set_id, **{**defaults, **fields})


def catalogue(*sets: EndpointSet) -> Catalogue:
    return Catalogue(sets=sets)


def entry(set_id: str, kind: Kind, direction: Direction, value: str) -> DriftEntry:
    return DriftEntry(set_id, kind, direction, value)


# --- one set on both sides ---


def test_identical_sets_have_no_drift() -> None:
    assert compute_drift(catalogue(endpoint_set()), [reference()]) == []


def test_url_added_and_removed() -> None:
    ours = endpoint_set(urls=("manage.microsoft.com", "old.manage.microsoft.com"))
    theirs = reference(urls=("manage.microsoft.com", "*.new.manage.microsoft.com"))
    assert compute_drift(catalogue(ours), [theirs]) == [
        entry("163", Kind.URL, ADDED, "*.new.manage.microsoft.com"),
        entry("163", Kind.URL, REMOVED, "old.manage.microsoft.com"),
    ]


def test_urls_compare_case_insensitively_and_report_lower_case() -> None:
    ours = endpoint_set(urls=("EnterpriseEnrollment.manage.microsoft.com", "Gone.Example.com"))
    theirs = reference(urls=("enterpriseenrollment.manage.microsoft.com", "NEW.example.com"))
    assert compute_drift(catalogue(ours), [theirs]) == [
        entry("163", Kind.URL, ADDED, "new.example.com"),
        entry("163", Kind.URL, REMOVED, "gone.example.com"),
    ]


def test_ip_added_and_removed() -> None:
    ours = endpoint_set(ips=("13.67.13.176/28", "52.150.137.0/25"))
    theirs = reference(ips=("13.67.13.176/28", "2603:1006:2000::/48"))
    assert compute_drift(catalogue(ours), [theirs]) == [
        entry("163", Kind.IP, ADDED, "2603:1006:2000::/48"),
        entry("163", Kind.IP, REMOVED, "52.150.137.0/25"),
    ]


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("13.67.13.176/28", "13.67.13.176/28"),
        ("13.67.13.176/28", "13.67.13.180/28"),
        ("2603:1006:2000::/48", "2603:1006:2000:0000:0000:0000:0000:0000/48"),
        ("2603:1006:2000::/48", "2603:1006:2000:0:0:0:0:1/48"),
        ("2620:1ec:4::/46", "2620:1EC:4::/46"),
    ],
)
def test_ips_compare_as_canonical_networks(ours: str, theirs: str) -> None:
    assert compute_drift(catalogue(endpoint_set(ips=(ours,))), [reference(ips=(theirs,))]) == []


def test_ip_reported_canonical() -> None:
    drift = compute_drift(catalogue(endpoint_set(ips=())), [reference(ips=("2603:1006:2000:0:0:0:0:0/48",))])
    assert drift == [entry("163", Kind.IP, ADDED, "2603:1006:2000::/48")]


def test_port_added_and_removed() -> None:
    ours = endpoint_set(tcp_ports=(80, 443), udp_ports=(123,))
    theirs = reference(tcp_ports=frozenset({443, 5223}), udp_ports=frozenset({3544}))
    assert compute_drift(catalogue(ours), [theirs]) == [
        entry("163", Kind.PORT, ADDED, "tcp/5223"),
        entry("163", Kind.PORT, ADDED, "udp/3544"),
        entry("163", Kind.PORT, REMOVED, "tcp/80"),
        entry("163", Kind.PORT, REMOVED, "udp/123"),
    ]


def test_same_port_number_on_another_protocol_is_drift() -> None:
    ours = endpoint_set(tcp_ports=(123,))
    theirs = reference(tcp_ports=frozenset(), udp_ports=frozenset({123}))
    assert compute_drift(catalogue(ours), [theirs]) == [
        entry("163", Kind.PORT, ADDED, "udp/123"),
        entry("163", Kind.PORT, REMOVED, "tcp/123"),
    ]


@pytest.mark.parametrize(
    ("ours", "theirs", "value"),
    [
        ({"category": "Allow"}, {"category": "Default"}, "category: Allow -> Default"),
        ({"category": "Default"}, {"category": "Optimize"}, "category: Default -> Optimize"),
        ({"required": True}, {"required": False}, "required: true -> false"),
        ({"required": False}, {"required": True}, "required: false -> true"),
        ({"express_route": False}, {"express_route": True}, "express_route: false -> true"),
        ({"express_route": True}, {"express_route": False}, "express_route: true -> false"),
    ],
)
def test_attribute_changed(ours: dict[str, Any], theirs: dict[str, Any], value: str) -> None:
    drift = compute_drift(catalogue(endpoint_set(**ours)), [reference(**theirs)])
    assert drift == [entry("163", Kind.ATTRIBUTE, CHANGED, value)]


def test_attributes_the_reference_does_not_state_are_not_compared() -> None:
    ours = endpoint_set(category="Optimize", required=False, express_route=True)
    theirs = reference(category=None, required=None, express_route=None)
    assert compute_drift(catalogue(ours), [theirs]) == []


def test_service_area_change_is_an_attribute_change() -> None:
    ours = endpoint_set("56", service_area="Common")
    drift = compute_drift(catalogue(ours), [reference("56", service_area="MEM")])
    assert drift == [entry("56", Kind.ATTRIBUTE, CHANGED, "service_area: Common -> MEM")]


def test_every_attribute_at_once() -> None:
    ours = endpoint_set(category="Allow", required=True, express_route=False)
    theirs = reference(category="Default", required=False, express_route=True)
    assert [e.value for e in compute_drift(catalogue(ours), [theirs])] == [
        "category: Allow -> Default",
        "express_route: false -> true",
        "required: true -> false",
    ]


def test_notes_are_not_compared() -> None:
    assert compute_drift(catalogue(endpoint_set(notes="ours")), [reference(notes="theirs")]) == []


# --- sets on one side only ---


def test_set_only_in_the_reference_lists_every_value_as_added() -> None:
    theirs = reference(
        "999",
        urls=("New.Example.com", "*.cdn.example.com"),
        ips=("192.0.2.5/24",),
        tcp_ports=frozenset({443}),
        udp_ports=frozenset({3478}),
    )
    assert compute_drift(catalogue(endpoint_set()), [reference(), theirs]) == [
        entry("999", Kind.IP, ADDED, "192.0.2.0/24"),
        entry("999", Kind.PORT, ADDED, "tcp/443"),
        entry("999", Kind.PORT, ADDED, "udp/3478"),
        entry("999", Kind.SET, ADDED, "999"),
        entry("999", Kind.URL, ADDED, "*.cdn.example.com"),
        entry("999", Kind.URL, ADDED, "new.example.com"),
    ]


def test_set_only_in_the_catalogue_is_one_removed_entry() -> None:
    ours = endpoint_set("170", urls=tuple(f"swda0{n}-mscdn.manage.microsoft.com" for n in range(1, 5)))
    drift = compute_drift(catalogue(endpoint_set(), ours), [reference()])
    assert drift == [entry("170", Kind.SET, REMOVED, "170")]


def test_empty_reference_item_of_a_new_set_is_one_entry() -> None:
    theirs = ReferenceItem(id="999", service_area="MEM")
    assert compute_drift(catalogue(), [theirs]) == [entry("999", Kind.SET, ADDED, "999")]


def test_duplicate_reference_ids_use_the_first() -> None:
    first = reference()
    second = reference(urls=("other.example.com",))
    assert compute_drift(catalogue(endpoint_set()), [first, second]) == []


# --- scope ---


def test_areas_default_to_those_of_the_reference() -> None:
    ours = catalogue(endpoint_set("163"), endpoint_set("56", service_area="Common"))
    assert compute_drift(ours, [reference("163")]) == []
    # A Common item in the reference brings the Common area into scope: set 56 is now missing from it.
    both = [reference("163"), ReferenceItem("57", "Common", urls=("x.example.com",))]
    assert compute_drift(ours, both) == [
        entry("56", Kind.SET, REMOVED, "56"),
        entry("57", Kind.SET, ADDED, "57"),
        entry("57", Kind.URL, ADDED, "x.example.com"),
    ]


def test_reference_items_outside_the_areas_are_ignored() -> None:
    ours = catalogue(endpoint_set("163"), endpoint_set("56", service_area="Common"))
    theirs = [
        reference("163"),
        reference("56", service_area="Common", urls=()),
        reference("1", service_area="Exchange"),
    ]
    assert compute_drift(ours, theirs, service_areas=["MEM"]) == []


def test_set_of_an_ignored_area_is_not_compared_even_if_ids_match() -> None:
    ours = catalogue(endpoint_set("163"), endpoint_set("56", service_area="MEM"))
    # The reference files 56 under Common; a MEM-only comparison ignores that item, so 56 counts as absent.
    theirs = [reference("163"), reference("56", service_area="Common")]
    assert compute_drift(ours, theirs, service_areas={"MEM"}) == [entry("56", Kind.SET, REMOVED, "56")]


def test_unnumbered_sets_are_compared_only_when_the_reference_has_them() -> None:
    ours = catalogue(endpoint_set("163"), endpoint_set("asu-na", urls=("naprodimedatapri.azureedge.net",)))
    assert compute_drift(ours, [reference("163")]) == []
    theirs = reference("asu-na", urls=("naprodimedatapri.azureedge.net", "naprodimedatasec.azureedge.net"))
    assert compute_drift(ours, [reference("163"), theirs]) == [
        entry("asu-na", Kind.URL, ADDED, "naprodimedatasec.azureedge.net")
    ]


def test_empty_areas_compare_nothing() -> None:
    ours = catalogue(endpoint_set("163"), endpoint_set("170"))
    assert compute_drift(ours, [reference("999")], service_areas=()) == []


def test_empty_reference_without_areas_compares_nothing() -> None:
    assert compute_drift(catalogue(endpoint_set("163")), []) == []


def test_empty_reference_with_areas_removes_every_numbered_set() -> None:
    ours = catalogue(endpoint_set("163"), endpoint_set("170"), endpoint_set("store"))
    assert compute_drift(ours, [], service_areas=["MEM"]) == [
        entry("163", Kind.SET, REMOVED, "163"),
        entry("170", Kind.SET, REMOVED, "170"),
    ]


def test_output_is_sorted() -> None:
    ours = catalogue(endpoint_set("170"), endpoint_set("163", urls=("a.example.com",)))
    theirs = [reference("999"), reference("163", urls=("b.example.com",), category="Default")]
    drift = compute_drift(ours, theirs)
    assert drift == sorted(drift)
    assert drift[0] == entry("163", Kind.ATTRIBUTE, CHANGED, "category: Allow -> Default")


# --- summaries ---


def test_has_added() -> None:
    assert not has_added([])
    quiet = [
        entry("56", Kind.SET, REMOVED, "56"),
        entry("170", Kind.ATTRIBUTE, CHANGED, "required: true -> false"),
    ]
    assert not has_added(quiet)
    assert has_added([*quiet, entry("163", Kind.PORT, ADDED, "tcp/5223")])
    assert has_added(iter([entry("999", Kind.SET, ADDED, "999")]))


def test_enums_are_the_label_values() -> None:
    assert [k.value for k in Kind] == ["url", "ip", "port", "set", "attribute"]
    assert [d.value for d in Direction] == ["added", "removed", "changed", "covered"]


# --- against the built-in catalogue ---

COMMON_SETS = {"56", "59", "97", "150"}


@pytest.fixture(scope="module")
def builtin() -> Catalogue:
    return load_builtin()


@pytest.fixture(scope="module")
def exported(builtin: Catalogue) -> list[dict[str, Any]]:
    """Our own export, through a JSON round trip as a fetched list would be."""
    data: list[dict[str, Any]] = json.loads(json.dumps(to_service_items(builtin)))
    return data


def mem_web_service(exported: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What the web service's MEM area looks like: numbered MEM sets with int ids, none of our extras."""
    keys = ("serviceArea", "urls", "ips", "tcpPorts", "udpPorts", "expressRoute", "category", "required")
    return [
        {"id": int(item["id"]), **{key: item[key] for key in keys if key in item}}
        for item in exported
        if item["id"].isdigit() and item["serviceArea"] == "MEM"
    ]


def test_catalogue_has_the_common_sets_this_file_assumes(builtin: Catalogue) -> None:
    assert {s.id for s in builtin.sets if s.service_area == "Common"} == COMMON_SETS


def test_own_export_has_zero_drift(builtin: Catalogue, exported: list[dict[str, Any]]) -> None:
    parsed = parse_reference(exported, Limits())
    assert parsed.invalid == ()
    assert len(parsed.items) == len(builtin.sets)
    assert compute_drift(builtin, parsed.items) == []


def test_own_export_with_changes_shows_exactly_those(
    builtin: Catalogue, exported: list[dict[str, Any]]
) -> None:
    changed = copy.deepcopy(exported)
    by_id = {item["id"]: item for item in changed}
    by_id["163"]["urls"].append("New.Manage.Microsoft.com")
    dropped = by_id["163"]["ips"].pop(7)
    assert by_id["170"]["category"] == "Default"
    by_id["170"]["category"] = "Allow"
    changed.append(
        {
            "id": 999,
            "serviceArea": "MEM",
            "urls": ["new.example.com"],
            "ips": ["192.0.2.0/24"],
            "tcpPorts": "443",
            "category": "Default",
            "required": True,
        }
    )
    parsed = parse_reference(changed, Limits())
    assert parsed.invalid == ()
    drift = compute_drift(builtin, parsed.items)
    assert drift == [
        entry("163", Kind.IP, REMOVED, dropped),
        entry("163", Kind.URL, ADDED, "new.manage.microsoft.com"),
        entry("170", Kind.ATTRIBUTE, CHANGED, "category: Default -> Allow"),
        entry("999", Kind.IP, ADDED, "192.0.2.0/24"),
        entry("999", Kind.PORT, ADDED, "tcp/443"),
        entry("999", Kind.SET, ADDED, "999"),
        entry("999", Kind.URL, ADDED, "new.example.com"),
    ]
    assert has_added(drift)


def test_mem_web_service_does_not_report_common_sets(
    builtin: Catalogue, exported: list[dict[str, Any]]
) -> None:
    parsed = parse_reference(mem_web_service(exported), Limits())
    assert {item.service_area for item in parsed.items} == {"MEM"}
    assert compute_drift(builtin, parsed.items) == []
    assert compute_drift(builtin, parsed.items, service_areas=["MEM"]) == []


def test_common_sets_are_removed_when_common_is_in_scope(
    builtin: Catalogue, exported: list[dict[str, Any]]
) -> None:
    parsed = parse_reference(mem_web_service(exported), Limits())
    drift = compute_drift(builtin, parsed.items, service_areas=["MEM", "Common"])
    assert drift == sorted(entry(set_id, Kind.SET, REMOVED, set_id) for set_id in COMMON_SETS)
    assert not has_added(drift)


def test_mem_web_service_missing_a_set_reports_it_removed_not_its_hosts(
    builtin: Catalogue, exported: list[dict[str, Any]]
) -> None:
    items = [item for item in mem_web_service(exported) if item["id"] != 181]
    drift = compute_drift(builtin, parse_reference(items, Limits()).items)
    assert drift == [entry("181", Kind.SET, REMOVED, "181")]


def test_hosts_under_a_catalogue_wildcard_are_covered_not_added() -> None:
    catalogue = Catalogue(
        sets=(
            endpoint_set(urls=("*.manage.microsoft.com", "manage.microsoft.com")),
            endpoint_set("172", urls=("*.do.dsp.mp.microsoft.com",), ips=()),
        )
    )
    item = reference(
        urls=(
            "*.manage.microsoft.com",
            "manage.microsoft.com",
            "new.manage.microsoft.com",
            "*.new.manage.microsoft.com",
            "cache.do.dsp.mp.microsoft.com",
            "elsewhere.microsoft.com",
        ),
        ips=("13.67.13.176/28",),
    )
    drift = compute_drift(catalogue, [item, reference("172", urls=(), ips=())])
    marked = mark_covered(catalogue, drift)
    assert marked == [
        DriftEntry("163", Kind.URL, ADDED, "*.new.manage.microsoft.com"),
        DriftEntry("163", Kind.URL, ADDED, "elsewhere.microsoft.com"),
        DriftEntry("163", Kind.URL, Direction.COVERED, "cache.do.dsp.mp.microsoft.com"),
        DriftEntry("163", Kind.URL, Direction.COVERED, "new.manage.microsoft.com"),
        DriftEntry("172", Kind.URL, REMOVED, "*.do.dsp.mp.microsoft.com"),
    ]
    assert covering_wildcard(catalogue, "cache.do.dsp.mp.microsoft.com") == (
        "*.do.dsp.mp.microsoft.com",
        "172",
    )
    assert covering_wildcard(catalogue, "manage.microsoft.com") is None  # a wildcard does not match its apex
    assert not has_added([e for e in marked if e.direction is not ADDED])


def test_without_stated_service_areas_every_numbered_set_is_compared_and_areas_are_not() -> None:
    catalogue = Catalogue(
        sets=(
            endpoint_set(),
            endpoint_set("56", service_area="Common"),
            endpoint_set("59", service_area="Common"),
        )
    )
    page = [reference(), reference("56", service_area="MEM")]
    assert compute_drift(catalogue, page, areas_stated=False) == [DriftEntry("59", Kind.SET, REMOVED, "59")]
    assert compute_drift(catalogue, page) == [
        DriftEntry("56", Kind.ATTRIBUTE, CHANGED, "service_area: Common -> MEM")
    ]
