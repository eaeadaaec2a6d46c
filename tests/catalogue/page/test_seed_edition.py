"""Proof on a real document: the copy of the Korean page the built-in seed catalogue was encoded from
(tests/data/intune-endpoints-ko.txt), parsed and converted, gives the seed catalogue's facts.

Every set of the seed edition is compared: ids, hosts (case-insensitive, in page order), CIDRs, ports,
category / required / ExpressRoute, scale units and storage names, and the flags of every entry. Where the
seed catalogue departs from the page on purpose, the exception is listed below with its reason.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import cache

import pytest

from exporter.catalogue import Catalogue, EndpointSet, Flag, entry_flags, load_builtin
from exporter.catalogue.page import PageForm, ParsedPage, parse_page
from exporter.catalogue.page.convert import to_catalogue
from tests.support.paths import DATA

SEED_PAGE = DATA / "intune-endpoints-ko.txt"


@cache
def seed() -> Catalogue:
    """The built-in seed edition (`load_builtin(edition="seed")` once editions are selectable)."""
    loader: Callable[..., Catalogue] = load_builtin
    if "edition" in inspect.signature(load_builtin).parameters:
        return loader(edition="seed")
    return loader()


@cache
def parsed() -> ParsedPage:
    return parse_page(SEED_PAGE.read_bytes(), str(SEED_PAGE))


@cache
def converted() -> Catalogue:
    return to_catalogue(parsed())


SEED_IDS = [endpoint_set.id for endpoint_set in seed().sets]

# Flags the seed catalogue gives that the page does not: (set id, flag) -> why. Each one is checked to be
# still needed (the seed gives the flag to the set's entries and the page alone does not).
FLAG_EXCEPTIONS: dict[tuple[str, Flag], str] = {
    ("170", Flag.BYTE_RANGES_REQUIRED): (
        "The page asks for HTTP partial responses on the Scripts and Win32 apps endpoints (asu-*) only; the "
        "seed catalogue applies the same statement to set 170 (MEM - Win32Apps) too, its flag rule says so "
        "('applied by us')."
    ),
    ("win32-cache", Flag.BYTE_RANGES_REQUIRED): (
        "Same statement, applied by the seed catalogue to the Win32 fallback cache hosts ('applied by us'); "
        "the page says nothing about byte ranges in the Microsoft Store section."
    ),
}


def _builtin_set(set_id: str) -> EndpointSet:
    return seed().by_id()[set_id]


def _converted_set(set_id: str) -> EndpointSet:
    found = converted().by_id().get(set_id)
    assert found is not None, f"set {set_id} of the seed catalogue is not in the parsed page"
    return found


def test_the_copy_is_read_as_the_korean_text_form() -> None:
    edition = parsed().edition
    assert edition.form is PageForm.TEXT
    assert edition.locale == "ko-kr"
    assert edition.title == "Microsoft Intune에 대한 네트워크 엔드포인트"
    assert edition.date == ""  # the copy does not carry the page's date
    assert parsed().warnings == ()


def test_same_set_ids() -> None:
    assert sorted(converted().by_id()) == sorted(SEED_IDS)


@pytest.mark.parametrize("set_id", SEED_IDS)
def test_same_hosts(set_id: str) -> None:
    expected = [url.lower() for url in _builtin_set(set_id).urls]
    assert [url.lower() for url in _converted_set(set_id).urls] == expected


@pytest.mark.parametrize("set_id", SEED_IDS)
def test_same_cidrs(set_id: str) -> None:
    assert _converted_set(set_id).ips == _builtin_set(set_id).ips


@pytest.mark.parametrize("set_id", SEED_IDS)
def test_same_ports(set_id: str) -> None:
    builtin, page = _builtin_set(set_id), _converted_set(set_id)
    assert (page.tcp_ports, page.udp_ports) == (builtin.tcp_ports, builtin.udp_ports)


@pytest.mark.parametrize("set_id", SEED_IDS)
def test_same_category_required_and_express_route(set_id: str) -> None:
    builtin, page = _builtin_set(set_id), _converted_set(set_id)
    assert (page.category, page.required, page.express_route) == (
        builtin.category,
        builtin.required,
        builtin.express_route,
    )


@pytest.mark.parametrize("set_id", SEED_IDS)
def test_same_scale_units_and_storage_names(set_id: str) -> None:
    builtin, page = _builtin_set(set_id), _converted_set(set_id)
    assert (page.scale_units, page.storage_accounts) == (builtin.scale_units, builtin.storage_accounts)


def _expected_flags(builtin: EndpointSet, entry: str) -> frozenset[Flag]:
    flags = entry_flags(seed(), builtin, entry)
    return frozenset(flag for flag in flags if (builtin.id, flag) not in FLAG_EXCEPTIONS)


@pytest.mark.parametrize("set_id", SEED_IDS)
def test_same_flags_per_entry(set_id: str) -> None:
    builtin, page = _builtin_set(set_id), _converted_set(set_id)
    for entry in builtin.urls + builtin.ips:
        assert entry_flags(converted(), page, entry) == _expected_flags(builtin, entry), entry


@pytest.mark.parametrize(("set_id", "flag"), sorted(FLAG_EXCEPTIONS))
def test_each_exception_is_still_needed(set_id: str, flag: Flag) -> None:
    builtin, page = _builtin_set(set_id), _converted_set(set_id)
    for entry in builtin.urls:
        assert flag in entry_flags(seed(), builtin, entry)
        assert flag not in entry_flags(converted(), page, entry)


def test_what_the_page_leaves_unsaid_is_annotated() -> None:
    store = _converted_set("store")
    assert "The page gives no port for these hosts; TCP 443 is assumed." in store.annotations
    assert "The page gives no category for this section; Default is assumed." in store.annotations
    epm = _converted_set("epm")  # its section says "tcp 포트 443"
    assert not any("TCP 443 is assumed" in note for note in epm.annotations)
    assert any("prose" in note for note in epm.annotations)
    assert any("listed twice" in note for note in _converted_set("asu-na").annotations)  # AMSUA0601
    assert not _converted_set("do-peer").enabled_by_default


def test_notes_read_from_the_page() -> None:
    page = parsed()
    assert page.ssl_inspection_unsupported == ("*.manage.microsoft.com", "*.dm.microsoft.com")
    assert set(page.ssl_inspection_unsupported_sets) == {"dha", "maa", "defender", "epm"}
    assert page.unauthenticated_proxy == ("manage.microsoft.com", "*.azureedge.net", "graph.microsoft.com")
    assert set(page.byte_ranges_required) == {"172", "do-peer", "asu-na", "asu-eu", "asu-ap"}
    assert (page.consolidated_fqdns, page.consolidated_subnets) == ((), ())  # not in this edition
