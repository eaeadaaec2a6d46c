"""The 2025-08-21 edition in every form a user can get (markdown source, learn.microsoft.com HTML in English
and Korean, text copied from the rendered page) reads to the same facts; bad documents give one clear line.

The fixtures in tests/data/page/ carry the facts of the 2025-08-21 edition (ids, hosts, CIDRs, ports,
category words, the headings' structure) in the page's structure, with wording of our own.
"""

from __future__ import annotations

import ipaddress
from functools import cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exporter.catalogue import Category, Flag, entry_flags
from exporter.catalogue.page import PageError, PageForm, PageSet, ParsedPage, detect_form, parse_page
from exporter.catalogue.page.convert import to_catalogue
from tests.support.paths import DATA

PAGES = DATA / "page"
MARKDOWN = "2025-08-21.md"
FORMS = {
    MARKDOWN: (PageForm.MARKDOWN, "en-us", "Network endpoints for Microsoft Intune"),
    "2025-08-21.en-us.html": (PageForm.HTML, "en-us", "Network endpoints for Microsoft Intune"),
    "2025-08-21.ko-kr.html": (PageForm.HTML, "ko-kr", "Microsoft Intune에 대한 네트워크 엔드포인트"),
    "2025-08-21.txt": (PageForm.TEXT, "en-us", "Network endpoints for Microsoft Intune"),
}
# fmt: off
NUMBERED = {
    "163", "172", "170", "97", "190", "189", "192", "56", "150", "59", "179", "171", "181", "187", "188",
    "164", "165", "169", "173", "182",
}
UNNUMBERED = {
    "unauthenticated-proxy", "do-peer", "defender", "epm", "store", "win32-cache", "maa", "dha", "macos-na",
    "macos-eu", "macos-ap", "asu-na", "asu-eu", "asu-ap", "ime-diagnostics",
}
AFD_163 = (
    "13.107.219.0/24", "13.107.227.0/24", "13.107.228.0/23", "150.171.97.0/24", "2620:1ec:40::/48",
    "2620:1ec:49::/48", "2620:1ec:4a::/47",
)
# fmt: on


@cache
def page(name: str) -> ParsedPage:
    return parse_page((PAGES / name).read_bytes(), name)


def sets(name: str) -> dict[str, PageSet]:
    return page(name).by_id()


def facts(page_set: PageSet) -> tuple[object, ...]:
    """What must not depend on the form (names and section headings are in the page's language)."""
    return (
        page_set.category,
        page_set.required,
        page_set.express_route,
        [h.lower() for h in page_set.hosts],
        page_set.cidrs,
        page_set.tcp_ports,
        page_set.udp_ports,
        page_set.scale_units,
        page_set.storage_accounts,
    )


# ------------------------------------------------------------------------------------------ every form


@pytest.mark.parametrize("name", FORMS)
def test_edition(name: str) -> None:
    form, locale, title = FORMS[name]
    edition = page(name).edition
    assert (edition.form, edition.locale, edition.date, edition.title) == (form, locale, "2025-08-21", title)
    assert edition.source == name
    assert page(name).warnings == ()


@pytest.mark.parametrize("name", FORMS)
def test_set_ids(name: str) -> None:
    assert set(sets(name)) == NUMBERED | UNNUMBERED
    assert len(page(name).sets) == 35


@pytest.mark.parametrize("name", sorted(set(FORMS) - {MARKDOWN}))
def test_same_facts_as_the_markdown_source(name: str) -> None:
    expected = {set_id: facts(page_set) for set_id, page_set in sets(MARKDOWN).items()}
    assert {set_id: facts(page_set) for set_id, page_set in sets(name).items()} == expected
    for field in ("ssl_inspection_unsupported", "unauthenticated_proxy", "consolidated_fqdns",
                  "consolidated_subnets"):  # fmt: skip
        assert getattr(page(name), field) == getattr(page(MARKDOWN), field), field
    for field in ("ssl_inspection_unsupported_sets", "byte_ranges_required"):
        assert set(getattr(page(name), field)) == set(getattr(page(MARKDOWN), field)), field


@pytest.mark.parametrize("name", FORMS)
def test_core_set_163(name: str) -> None:
    core = sets(name)["163"]
    assert core.hosts == (
        "*.manage.microsoft.com", "manage.microsoft.com", "*.dm.microsoft.com",
        "EnterpriseEnrollment.manage.microsoft.com",
    )  # fmt: skip
    assert (core.category, core.required, core.express_route) == (Category.ALLOW, True, False)
    assert core.tcp_ports == (80, 443)
    assert core.cidrs[-7:] == AFD_163  # after the "Azure Front Door Endpoints:" label
    assert core.cidrs[:2] == ("104.46.162.96/27", "13.67.13.176/28")
    assert "13.86.221.176/28" in core.cidrs and "13.89.174.240/28" in core.cidrs  # written without a space
    assert len(core.cidrs) == 90  # 84 in the list, 20.43.129.0/24 twice, and 7 of Azure Front Door
    assert [c for c in core.cidrs if ipaddress.ip_network(c).version == 6] == list(AFD_163[4:])
    assert "20.189.172.160/27" not in core.cidrs  # only the consolidated list has it


@pytest.mark.parametrize("name", FORMS)
def test_numbered_sets_of_this_edition(name: str) -> None:
    found = sets(name)
    assert found["192"].hosts == (
        "fd.api.orgmsg.microsoft.com",
        "ris.prod.api.personalization.ideas.microsoft.com",
    )
    assert "178" not in found  # Apple no longer has a table
    assert found["170"].tcp_ports == (80, 443)
    assert found["189"].hosts == ("config.edge.skype.com", "ecs.office.com")
    assert found["179"].hosts == ("intunecdnpeasd.azureedge.net", "intunecdnpeasd.manage.microsoft.com")
    assert found["181"].hosts[-1] == "remoteassistanceprodacseu.communication.azure.com"  # "(EU ...)" dropped
    assert len(found["181"].hosts) == 22
    assert found["165"].udp_ports == (123,) and found["165"].tcp_ports == ()
    assert (found["150"].required, found["56"].express_route) == (False, True)
    assert len(found["182"].hosts) == 5


@pytest.mark.parametrize("name", FORMS)
def test_regional_sets(name: str) -> None:
    found = sets(name)
    assert found["macos-na"].hosts == ("macsidecar.manage.microsoft.com", "macsidecarprod.azureedge.net")
    assert found["macos-eu"].hosts == ("macsidecareu.manage.microsoft.com", "macsidecarprodeu.azureedge.net")
    assert found["macos-ap"].hosts == ("macsidecarap.manage.microsoft.com", "macsidecarprodap.azureedge.net")
    assert found["asu-eu"].hosts == (
        *(f"euprodimedata{kind}.azureedge.net" for kind in ("pri", "sec", "hotfix")),
        *(f"imeswdb-afd-{kind}.manage.microsoft.com" for kind in ("primary", "secondary", "hotfix")),
    )
    for region in ("na", "eu", "ap"):
        assert found[f"asu-{region}"].tcp_ports == (443,)
        assert found[f"macos-{region}"].tcp_ports == (443,)
        assert found[f"asu-{region}"].scale_units == ()  # this edition names regions, not scale units
    assert found["ime-diagnostics"].hosts == ("*.events.data.microsoft.com",)


@pytest.mark.parametrize("name", FORMS)
def test_sections_without_ids(name: str) -> None:
    found = sets(name)
    maa = found["maa"]
    assert len(maa.hosts) == 16 and maa.hosts[0] == "intunemaape1.eus.attest.azure.net"  # three tabs
    assert "intunemaape19.jpe.attest.azure.net" in maa.hosts and maa.tcp_ports == (443,)  # 'HTTPS/443'
    assert found["dha"].hosts == ("has.spserv.microsoft.com",)
    assert found["store"].hosts == (
        "displaycatalog.mp.microsoft.com", "purchase.md.mp.microsoft.com", "licensing.mp.microsoft.com",
        "storeedgefd.dsx.mp.microsoft.com",
    )  # fmt: skip
    assert found["store"].tcp_ports == (80, 443)  # "tcp ports 80 and 443"
    assert found["win32-cache"].hosts == ("cdn.storeedgefd.dsx.mp.microsoft.com",)
    assert found["defender"].hosts == ("*.dm.microsoft.com",) and found["defender"].tcp_ports == ()
    assert found["epm"].hosts == ("*.dm.microsoft.com", "*.events.data.microsoft.com")
    assert found["epm"].tcp_ports == (443,)
    peer = found["do-peer"]
    assert (peer.tcp_ports, peer.udp_ports, peer.required, peer.hosts) == ((7680,), (3544,), False, ())
    assert found["unauthenticated-proxy"].hosts == (
        "manage.microsoft.com",
        "*.azureedge.net",
        "graph.microsoft.com",
    )
    for set_id in UNNUMBERED:
        assert found[set_id].category is None and found[set_id].express_route is None


@pytest.mark.parametrize("name", FORMS)
def test_notes(name: str) -> None:
    parsed = page(name)
    assert parsed.ssl_inspection_unsupported == ("*.manage.microsoft.com", "*.dm.microsoft.com")
    assert set(parsed.ssl_inspection_unsupported_sets) == {"dha", "maa", "defender", "epm", "store"}
    assert parsed.unauthenticated_proxy == ("manage.microsoft.com", "*.azureedge.net", "graph.microsoft.com")
    assert set(parsed.byte_ranges_required) == {"172", "do-peer", "asu-na", "asu-eu", "asu-ap"}


@pytest.mark.parametrize("name", FORMS)
def test_consolidated_lists(name: str) -> None:
    parsed = page(name)
    assert len(parsed.consolidated_fqdns) == 77
    assert parsed.consolidated_fqdns[:2] == ("*.manage.microsoft.com", "manage.microsoft.com")
    assert parsed.consolidated_fqdns[-1] == "ris.prod.api.personalization.ideas.microsoft.com"
    assert len(parsed.consolidated_subnets) == 88
    assert parsed.consolidated_subnets[0] == "4.145.74.224/27"
    assert parsed.consolidated_subnets[-3:] == AFD_163[-3:]
    assert "20.189.172.160/27" in parsed.consolidated_subnets  # the page disagrees with its own table


@pytest.mark.parametrize("name", FORMS)
def test_converts_to_a_catalogue(name: str) -> None:
    catalogue = to_catalogue(page(name))
    assert catalogue.duplicate_id() is None and len(catalogue.sets) == 35
    assert catalogue.edition is not None and catalogue.edition.encoded_on == "2025-08-21"
    by_id = catalogue.by_id()
    assert by_id["defender"].tcp_ports == (443,)
    assert "The page gives no port for these hosts; TCP 443 is assumed." in by_id["defender"].annotations
    assert not any("assumed" in note and "TCP" in note for note in by_id["epm"].annotations)
    assert entry_flags(catalogue, by_id["163"], "*.dm.microsoft.com") == {Flag.SSL_INSPECTION_UNSUPPORTED}
    assert Flag.BYTE_RANGES_REQUIRED in entry_flags(catalogue, by_id["164"], "*.dl.delivery.mp.microsoft.com")
    assert Flag.BYTE_RANGES_REQUIRED in entry_flags(
        catalogue, by_id["asu-na"], "imeswda-afd-primary.manage.microsoft.com"
    )
    assert entry_flags(catalogue, by_id["macos-na"], "macsidecarprod.azureedge.net") == {
        Flag.UNAUTHENTICATED_PROXY_REQUIRED
    }
    assert entry_flags(catalogue, by_id["store"], "licensing.mp.microsoft.com") == {
        Flag.SSL_INSPECTION_UNSUPPORTED
    }
    assert entry_flags(catalogue, by_id["win32-cache"], "cdn.storeedgefd.dsx.mp.microsoft.com") == frozenset()


# ------------------------------------------------------------------------------------------ words


def test_an_unknown_word_is_a_warning() -> None:
    text = (PAGES / MARKDOWN).read_text(encoding="utf-8")
    spanish = text.replace("| Allow<BR>Required | False |", "| Permitir<BR>Required | Falso |", 1)
    parsed = parse_page(spanish.encode(), "es.md")
    assert parsed.warnings == (
        "set 163: words in the Category column known in no vocabulary: Permitir",
        "set 163: ER column 'Falso' is not a true/false word of any vocabulary",
    )
    assert (parsed.by_id()["163"].category, parsed.by_id()["163"].express_route) == (None, None)


def test_forms_are_told_apart() -> None:
    assert detect_form("<!DOCTYPE html>\n<html lang='en'>") is PageForm.HTML
    assert detect_form("anything", "text/html; charset=utf-8") is PageForm.HTML
    assert detect_form("---\ntitle: x\n---\n# x") is PageForm.MARKDOWN
    assert detect_form("# x\n\n| ID | Desc |\n|---|---|\n") is PageForm.MARKDOWN
    assert detect_form("ID Desc 범주 ER Addresses 포트\n163 ...") is PageForm.TEXT


# ------------------------------------------------------------------------------------------ bad documents


def _markdown() -> str:
    return (PAGES / MARKDOWN).read_text(encoding="utf-8")


def _without_ports_column(text: str) -> str:
    lines = text.splitlines()
    start = lines.index("### Authentication dependencies") + 2
    for index in range(start, start + 5):  # header, separator, three rows: drop the last cell
        lines[index] = lines[index].rsplit("|", 2)[0] + "|"
    return "\n".join(lines)


def _cut(name: str, marker: str, after: int) -> bytes:
    text = (DATA / name).read_text(encoding="utf-8")
    return text[: text.index(marker) + after].encode()


ERROR_PAGE = (
    b"<!DOCTYPE html><html lang='en-us'><head><title>404 - Page not found | Microsoft Learn</title></head>"
    b"<body><main><h1>Page not found</h1><p>We could not find this page.</p></main></body></html>"
)
OTHER_ARTICLE = b"---\ntitle: Plan your Intune deployment\n---\n\n# Plan your deployment\n\n- one\n- two\n"
OTHER_TABLE = (
    b"| ID | Desc | Category | ER | Addresses | Ports |\n|---|---|---|---|---|---|\n"
    b"| 1 | Exchange Online | Optimize<BR>Required | Yes | `outlook.office.com` | **TCP:** 443 |\n"
)

BAD = {
    "empty": (b"  \n", "empty.md: the document is empty"),
    "utf-16": ("Intune".encode("utf-16"), "utf-16.txt: not UTF-8 text (byte 0xff at offset 0 is not UTF-8)"),
    "latin-1": (
        b"\xef\xbb\xbf<html><body>caf\xe9</body></html>",
        "latin-1.html: not UTF-8 text (byte 0xe9 at offset 18 is not UTF-8)",
    ),
    "error page": (
        ERROR_PAGE,
        "404.html: an HTML error page ('404 - Page not found | Microsoft Learn'), not the endpoints article",
    ),
    "another article": (
        OTHER_ARTICLE,
        "other.md: not the Intune endpoints article: no table has an ID column",
    ),
    "another ID table": (
        OTHER_TABLE,
        "o365.md: not the Intune endpoints article: no ID table lists manage.microsoft.com",
    ),
    "missing column": (
        _without_ports_column(_markdown()).encode(),
        "no-ports.md: the ID table under 'Authentication dependencies' has no Ports column "
        "(its columns: ID, Desc, Category, ER, Addresses)",
    ),
    "few sets": (
        _cut(f"page/{MARKDOWN}", "| 97 |", 0),
        "few.md: only 3 endpoint sets in ID tables (a whole edition has about 20): the document is truncated",
    ),
    "markdown cut in a row": (
        _cut(f"page/{MARKDOWN}", "| 190 |", 40),
        "cut.md: the document ends in the middle of row 190 of the ID table under 'Intune core service' "
        "(no Ports): it is truncated",
    ),
    "html cut in a row": (
        _cut("page/2025-08-21.en-us.html", "<td>190</td>", 60),
        "cut.html: the document ends in the middle of row 190 of the ID table under 'Intune core service' "
        "(no Ports): it is truncated",
    ),
    "text cut in a row": (
        _cut("intune-endpoints-ko.txt", "189 종속성", 20),
        "cut.txt: the document ends in the middle of row 189 of the ID table under 'Intune 핵심 서비스' "
        "(no Ports): it is truncated",
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_document(case: str) -> None:
    body, message = BAD[case]
    source = message.split(": ", 1)[0]
    with pytest.raises(PageError) as raised:
        parse_page(body, source)
    assert str(raised.value) == message


def test_error_page_by_content_type() -> None:
    body = b"<head><title>503 Service Unavailable</title></head><body><h1>Service Unavailable</h1></body>"
    with pytest.raises(PageError, match=r"^503: an HTML error page \('503 Service Unavailable'\)"):
        parse_page(body, "503", "text/html; charset=utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_only_raise_page_error(body: bytes) -> None:
    try:
        parse_page(body, "fuzz")
    except PageError as error:
        assert "\n" not in str(error) and str(error).startswith("fuzz: ")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(FORMS)), st.integers(min_value=0), st.binary(max_size=40))
def test_cut_or_spliced_editions_only_raise_page_error(name: str, at: int, inserted: bytes) -> None:
    body = (PAGES / name).read_bytes()
    at %= len(body)
    for variant in (body[:at], body[:at] + inserted + body[at:]):
        try:
            parse_page(variant, name)
        except PageError as error:
            assert "\n" not in str(error)
