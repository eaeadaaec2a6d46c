"""A parsed edition of the page in our catalogue schema.

What the page leaves unsaid gets the built-in catalogue's assumption, stated in the set's `annotations`:
a section without a category is Default, one without ports uses TCP 443, one that does not say whether it is
required is required (except the Win32 fallback cache), one without an ER column is not on ExpressRoute. The
parser's remarks (a value listed twice, ports read from prose) become annotations too.
"""

from __future__ import annotations

from exporter.catalogue.model import (
    Catalogue,
    Category,
    Edition,
    EndpointSet,
    Flag,
    FlagRule,
    pattern_matches,
)
from exporter.catalogue.page.model import PageSet, ParsedPage

ASSUMED_PORT = 443
ASSUMED_NOT_REQUIRED = {
    "win32-cache": "a fallback cache that serves only some Store apps, only while the cache is in use",
}
"""Unnumbered sets taken as not required when the page does not say, and why."""


def to_catalogue(parsed: ParsedPage) -> Catalogue:
    sets = tuple(endpoint_set(page_set) for page_set in parsed.sets)
    edition = parsed.edition
    return Catalogue(
        edition=Edition(
            title=edition.title,
            language=edition.locale,
            source=f"{edition.source} ({edition.form.value} form of the page)",
            encoded_on=edition.date,
        ),
        sets=sets,
        flag_rules=flag_rules(parsed, sets),
    )


def endpoint_set(page_set: PageSet) -> EndpointSet:
    annotations = list(page_set.remarks)
    category = page_set.category
    if category is None:
        category = Category.DEFAULT
        annotations.append("The page gives no category for this section; Default is assumed.")
    tcp_ports, udp_ports = _ports(page_set, annotations)
    return EndpointSet(
        id=page_set.id,
        name=page_set.name,
        section=page_set.section,
        category=category,
        required=_required(page_set, annotations),
        express_route=_express_route(page_set, annotations),
        urls=page_set.hosts,
        ips=page_set.cidrs,
        tcp_ports=tcp_ports,
        udp_ports=udp_ports,
        enabled_by_default=_enabled(page_set, annotations),
        scale_units=page_set.scale_units,
        storage_accounts=page_set.storage_accounts,
        annotations=tuple(annotations),
    )


def _required(page_set: PageSet, annotations: list[str]) -> bool:
    if page_set.required is not None:
        return page_set.required
    reason = ASSUMED_NOT_REQUIRED.get(page_set.id)
    if reason is not None:
        annotations.append(
            f"The page does not say whether this is required; not required is assumed: {reason}."
        )
        return False
    annotations.append("The page does not say whether this section is required; required is assumed.")
    return True


def _express_route(page_set: PageSet, annotations: list[str]) -> bool:
    if page_set.express_route is not None:
        return page_set.express_route
    annotations.append("The page gives no ER value for this section; not on ExpressRoute is assumed.")
    return False


def _ports(page_set: PageSet, annotations: list[str]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if page_set.tcp_ports or page_set.udp_ports:
        return page_set.tcp_ports, page_set.udp_ports
    annotations.append(f"The page gives no port for these hosts; TCP {ASSUMED_PORT} is assumed.")
    return (ASSUMED_PORT,), ()


def _enabled(page_set: PageSet, annotations: list[str]) -> bool:
    if page_set.hosts or page_set.cidrs:
        return True
    annotations.append("No host or range to probe (the traffic runs between devices): disabled by default.")
    return False


def _below(entry: str, pattern: str) -> bool:
    """`entry` is `pattern` or a name (or narrower wildcard) below the '*.' wildcard `pattern`."""
    if pattern_matches(pattern, entry):
        return True
    suffix = pattern[1:].lower()
    return pattern.startswith("*.") and entry.lower().endswith(suffix) and len(entry) > len(pattern)


def byte_range_hosts(parsed: ParsedPage, sets: tuple[EndpointSet, ...]) -> tuple[str, ...]:
    """The hosts of the sets needing byte ranges, and the entries of other sets below them (set 164 lists
    Delivery Optimization's hosts too)."""
    flagged = set(parsed.byte_ranges_required)
    hosts = [url for s in sets if s.id in flagged for url in s.urls]
    below = [url for s in sets if s.id not in flagged for url in s.urls if any(_below(url, h) for h in hosts)]
    return tuple(dict.fromkeys([*hosts, *below]))


def flag_rules(parsed: ParsedPage, sets: tuple[EndpointSet, ...]) -> tuple[FlagRule, ...]:
    rules = []
    if parsed.ssl_inspection_unsupported or parsed.ssl_inspection_unsupported_sets:
        rules.append(FlagRule(
            flag=Flag.SSL_INSPECTION_UNSUPPORTED,
            hosts=parsed.ssl_inspection_unsupported,
            sets=parsed.ssl_inspection_unsupported_sets,
            source="The page's notes: SSL inspection is not supported on these hosts and on these sections' "
                   "endpoints.",
        ))  # fmt: skip
    if parsed.unauthenticated_proxy:
        rules.append(FlagRule(
            flag=Flag.UNAUTHENTICATED_PROXY_REQUIRED,
            hosts=parsed.unauthenticated_proxy,
            source="The page: for some tasks Intune needs unauthenticated proxy access to these hosts.",
        ))  # fmt: skip
    if parsed.byte_ranges_required:
        rules.append(FlagRule(
            flag=Flag.BYTE_RANGES_REQUIRED,
            hosts=byte_range_hosts(parsed, sets),
            sets=parsed.byte_ranges_required,
            source="The page: byte-range (HTTP partial response) requests must be allowed for these "
                   "sections; the hosts are theirs, wherever else the page lists them.",
        ))  # fmt: skip
    return tuple(rules)
