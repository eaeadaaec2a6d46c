"""Editions of Microsoft's Intune endpoint page as `ParsedPage` objects, for tests of what is done with a
parsed page (polling, drift, the commands) without the parser; and a stand-in parser that knows only them."""

from __future__ import annotations

from dataclasses import replace

import pytest

from exporter.catalogue.model import Category
from exporter.catalogue.page.model import PageEdition, PageError, PageForm, PageSet, ParsedPage
from exporter.reference import page_source
from exporter.reference.drift import Direction, DriftEntry, Kind


def page_set(set_id: str, **fields: object) -> PageSet:
    defaults: dict[str, object] = {
        "name": f"Set {set_id}",
        "section": "Intune core service",
        "category": Category.ALLOW,
        "required": True,
        "express_route": False,
        "tcp_ports": (443,),
    }
    return PageSet(id=set_id, **{**defaults, **fields})  # type: ignore[arg-type]


CORE = page_set(
    "163",
    hosts=("*.manage.microsoft.com", "manage.microsoft.com", "EnterpriseEnrollment.manage.microsoft.com"),
    cidrs=("13.67.13.176/28", "13.67.15.128/27", "20.37.153.0/24", "20.37.192.128/25"),
    tcp_ports=(80, 443),
)
EDITION = PageEdition("Network endpoints for Microsoft Intune", "en-us", "2025-08-21", "", PageForm.MARKDOWN)
FIRST = ParsedPage(
    EDITION,
    (
        CORE,
        page_set("170", hosts=("login.microsoftonline.com",)),
        page_set(
            "172",
            hosts=("*.do.dsp.mp.microsoft.com", "*.dl.delivery.mp.microsoft.com"),
            category=Category.DEFAULT,
            tcp_ports=(80, 443),
        ),
        page_set(
            "asu-na",
            section="Azure Scale Unit",
            hosts=("amsua0102repcdn.azureedge.net",),
            category=None,
            required=None,
            express_route=None,
        ),
        page_set("maa", section="Attestation", hosts=("*.attest.azure.net",), category=None, required=None),
    ),
    consolidated_fqdns=("*.manage.microsoft.com", "manage.microsoft.com", "login.microsoftonline.com"),
    consolidated_subnets=CORE.cidrs,
)
"""The edition the test catalogue encodes."""
NEW_HOST = "enterpriseregistration.windows.net"
SECOND = replace(
    FIRST,
    edition=replace(EDITION, date="2025-09-30"),
    sets=(
        replace(CORE, hosts=(*CORE.hosts, "intunecdnpeasd.manage.microsoft.com"), cidrs=CORE.cidrs[1:]),
        page_set("170", hosts=("login.microsoftonline.com", NEW_HOST)),
        replace(FIRST.sets[2], category=Category.ALLOW),
        *FIRST.sets[3:],
        page_set("200", hosts=("mem-newservice.manage.microsoft.com", "*.newservice.manage.microsoft.com")),
    ),
)
"""A month later: hosts added (one under a wildcard the catalogue has), a range gone, a category changed,
a new set."""
SECOND_DRIFT = [
    DriftEntry("163", Kind.IP, Direction.REMOVED, "13.67.13.176/28"),
    DriftEntry("163", Kind.URL, Direction.COVERED, "intunecdnpeasd.manage.microsoft.com"),
    DriftEntry("170", Kind.URL, Direction.ADDED, NEW_HOST),
    DriftEntry("172", Kind.ATTRIBUTE, Direction.CHANGED, "category: Default -> Allow"),
    DriftEntry("200", Kind.PORT, Direction.ADDED, "tcp/443"),
    DriftEntry("200", Kind.SET, Direction.ADDED, "200"),
    DriftEntry("200", Kind.URL, Direction.ADDED, "*.newservice.manage.microsoft.com"),
    DriftEntry("200", Kind.URL, Direction.COVERED, "mem-newservice.manage.microsoft.com"),
]
TWO_SETS = replace(FIRST, sets=FIRST.sets[:2])
"""What a broken page (or a parser meeting a new layout) could look like: two sets of five."""

EDITIONS = {b"first": FIRST, b"second": SECOND, b"two-sets": TWO_SETS}


def use_fake_parser(monkeypatch: pytest.MonkeyPatch) -> None:
    """The page parser, as far as these editions go: a body that is a key of EDITIONS is that edition (read
    from the source it is given), anything else is not the page."""

    def parse_page(body: bytes, source: str, content_type: str = "") -> ParsedPage:
        if body not in EDITIONS:
            raise PageError(f"{source}: no endpoint table found")
        return replace(EDITIONS[body], edition=replace(EDITIONS[body].edition, source=source))

    monkeypatch.setattr(page_source, "parse_page", parse_page)
