"""What the parser reads from Microsoft's "Network endpoints for Microsoft Intune" page, in any of its forms.

Facts only, in the page's own terms: a numbered table row keeps Microsoft's id; a section without ids gets
the stable id our catalogue gives it (`UNNUMBERED_IDS`). `to_catalogue` (in `convert`) turns a `ParsedPage`
into our catalogue schema; `reference.page_source` compares it with the running catalogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from exporter.catalogue.model import Category


class PageForm(StrEnum):
    HTML = "html"
    """As learn.microsoft.com serves it (any locale)."""
    MARKDOWN = "markdown"
    """The article's source in Microsoft's documentation repository (front matter, pipe tables)."""
    TEXT = "text"
    """Copied from the rendered page: tables flattened to lines."""


UNNUMBERED_IDS: dict[str, str] = {
    "asu-na": "PowerShell scripts and Win32 apps CDN, North America",
    "asu-eu": "PowerShell scripts and Win32 apps CDN, Europe",
    "asu-ap": "PowerShell scripts and Win32 apps CDN, Asia Pacific",
    "macos-na": "macOS app and script deployment CDN, North America",
    "macos-eu": "macOS app and script deployment CDN, Europe",
    "macos-ap": "macOS app and script deployment CDN, Asia Pacific",
    "maa": "Microsoft Azure Attestation endpoints",
    "dha": "Device Health Attestation endpoint",
    "store": "Microsoft Store API",
    "win32-cache": "Microsoft-hosted Win32 app fallback cache",
    "defender": "Defender for Endpoint security settings management",
    "epm": "Endpoint Privilege Management",
    "do-peer": "Delivery Optimization peer-to-peer ports",
    "unauthenticated-proxy": "Hosts that need unauthenticated proxy access",
    "ime-diagnostics": "Intune management extension diagnostic data",
}
"""Our stable ids for the page's sections without an endpoint-set id, and what each holds."""


@dataclass(frozen=True)
class PageEdition:
    title: str
    locale: str
    """Lower-case language-region, e.g. "en-us", "ko-kr"; "" when the document does not say."""
    date: str
    """The article's date as YYYY-MM-DD (front matter `ms.date`, HTML meta), "" when absent."""
    source: str
    """The file path or URL it was read from."""
    form: PageForm


@dataclass(frozen=True)
class PageSet:
    """One endpoint set: a row of an ID table, or a section without ids."""

    id: str
    name: str
    """The Desc column (numbered sets), in the page's language; for unnumbered sets `UNNUMBERED_IDS`."""
    section: str
    """The heading the table or list sits under, in the page's language."""
    category: Category | None = None
    """None when the page gives none (sections without ids)."""
    required: bool | None = None
    express_route: bool | None = None
    hosts: tuple[str, ...] = ()
    """Host names and wildcards as written (case kept), without URL scheme or quotes."""
    cidrs: tuple[str, ...] = ()
    """IPv4 and IPv6 networks, canonical, in page order, duplicates removed."""
    tcp_ports: tuple[int, ...] = ()
    udp_ports: tuple[int, ...] = ()
    scale_units: tuple[str, ...] = ()
    """ASU codes (AMSUA0101, ...) of a region row."""
    storage_accounts: tuple[str, ...] = ()
    remarks: tuple[str, ...] = ()
    """How the parser read a fact the page does not state plainly (a protocol known from its name, a value
    listed twice and kept once); `to_catalogue` copies them into the set's annotations."""


@dataclass(frozen=True)
class ParsedPage:
    edition: PageEdition
    sets: tuple[PageSet, ...]
    ssl_inspection_unsupported: tuple[str, ...] = ()
    """Hosts and wildcards the page says TLS inspection is unsupported on (its notes)."""
    ssl_inspection_unsupported_sets: tuple[str, ...] = ()
    """Set ids whose section (or the note under their list) says TLS inspection is unsupported on its
    endpoints without naming hosts (Defender, EPM, the attestation section, DHA)."""
    unauthenticated_proxy: tuple[str, ...] = ()
    """Hosts the page says need unauthenticated proxy access."""
    byte_ranges_required: tuple[str, ...] = ()
    """Set ids whose section says byte-range (HTTP partial) requests must be allowed."""
    consolidated_fqdns: tuple[str, ...] = ()
    """The final "Consolidated Endpoint List" FQDN block; empty in editions without it."""
    consolidated_subnets: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    """What the parser could not place (an unknown category word, a row without ports, ...): one line each."""

    def by_id(self) -> dict[str, PageSet]:
        return {page_set.id: page_set for page_set in self.sets}


class PageError(ValueError):
    """The document is not a usable edition of the page: the message names the source and what is wrong."""
