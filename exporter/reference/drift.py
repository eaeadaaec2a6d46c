"""Drift between the catalogue and a reference list: Microsoft's endpoint web service, or a list in its shape.

How to read an entry:

- `added`: the reference has it, the catalogue does not. This is the direction that breaks devices: a
  firewall or proxy allowlist built from our catalogue may block it. Act on it.
- `removed`: the catalogue has it, the reference does not. Against the web service this is informational,
  not an error. The Intune page says its tables may list more than the web service returns; the web
  service's MEM area leaves out endpoints that the Microsoft 365 "Common" area covers, and Microsoft itself
  warns that the MEM data alone is incomplete. Removing such an endpoint from a firewall would break devices.
- `changed` (attributes only): `value` reads "<attribute>: <catalogue> -> <reference>", e.g.
  "category: Allow -> Default". An attribute is compared only when the reference states it.
- `covered` (urls only, from `mark_covered`): a concrete host the reference adds to a set that a `*.`
  wildcard of the catalogue (in any set) already matches. An allowlist built from the catalogue lets it
  through, so it is news but not breakage. `compute_drift` itself never reports it.

Scope: the service areas compared are `service_areas`, or else those the reference's items have. Reference
items of other areas are ignored. The catalogue sets compared are those whose id the compared reference
items have, plus the numbered sets (ids of digits only, like Microsoft's) of the compared areas. Unnumbered
sets ("asu-na") exist only in our catalogue, so they are compared only when the reference has their id, as
a list made by `intune-exporter catalogue export` does.

A set missing from one side is one `set` entry. A set only the reference has also lists each of its urls,
ips and ports as `added`, so an allowlist pipeline gets the concrete values; a set only the catalogue has is
just `set/removed`. Urls are compared case-insensitively and reported lower-case, ips as canonical networks,
ports as "tcp/443" or "udp/123".
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from exporter.catalogue.model import Catalogue, EndpointSet, wildcard_matches
from exporter.reference.types import ReferenceItem

__all__ = [
    "Direction",
    "DriftEntry",
    "Kind",
    "compute_drift",
    "covering_wildcard",
    "has_added",
    "mark_covered",
]


class Kind(StrEnum):
    URL = "url"
    IP = "ip"
    PORT = "port"
    SET = "set"
    ATTRIBUTE = "attribute"


class Direction(StrEnum):
    ADDED = "added"
    """In the reference, missing from the catalogue."""
    REMOVED = "removed"
    """In the catalogue, missing from the reference."""
    CHANGED = "changed"
    COVERED = "covered"
    """A host the reference adds that a wildcard of the catalogue already matches (see `mark_covered`)."""


@dataclass(frozen=True, order=True)
class DriftEntry:
    set_id: str
    kind: Kind
    direction: Direction
    value: str
    """The url, ip, port ("tcp/443"), set id, or attribute change ("required: true -> false")."""


def _network(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        return value


def _values(
    urls: Iterable[str], ips: Iterable[str], tcp: Iterable[int], udp: Iterable[int]
) -> dict[Kind, set[str]]:
    return {
        Kind.URL: {url.lower() for url in urls},
        Kind.IP: {_network(ip) for ip in ips},
        Kind.PORT: {f"tcp/{port}" for port in tcp} | {f"udp/{port}" for port in udp},
    }


def _reference_values(item: ReferenceItem) -> dict[Kind, set[str]]:
    return _values(item.urls, item.ips, item.tcp_ports, item.udp_ports)


def _text(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _compare(endpoint_set: EndpointSet, item: ReferenceItem, areas_stated: bool) -> list[DriftEntry]:
    entries: list[DriftEntry] = []
    ours = _values(endpoint_set.urls, endpoint_set.ips, endpoint_set.tcp_ports, endpoint_set.udp_ports)
    theirs = _reference_values(item)
    for kind in ours:
        for value in theirs[kind] - ours[kind]:
            entries.append(DriftEntry(item.id, kind, Direction.ADDED, value))
        for value in ours[kind] - theirs[kind]:
            entries.append(DriftEntry(item.id, kind, Direction.REMOVED, value))
    attributes: tuple[tuple[str, object, object], ...] = (
        ("service_area", endpoint_set.service_area, item.service_area if areas_stated else None),
        ("category", endpoint_set.category.value, item.category),
        ("required", endpoint_set.required, item.required),
        ("express_route", endpoint_set.express_route, item.express_route),
    )
    for name, catalogue_value, reference_value in attributes:
        if reference_value is not None and reference_value != catalogue_value:
            change = f"{name}: {_text(catalogue_value)} -> {_text(reference_value)}"
            entries.append(DriftEntry(item.id, Kind.ATTRIBUTE, Direction.CHANGED, change))
    return entries


def compute_drift(
    catalogue: Catalogue,
    reference: Sequence[ReferenceItem],
    service_areas: Collection[str] | None = None,
    *,
    areas_stated: bool = True,
) -> list[DriftEntry]:
    """Sorted drift entries between `catalogue` and `reference` (see the module docstring for the rules).

    `areas_stated=False` is for Microsoft's page, which lists every Intune set but knows nothing of the web
    service's service areas: they are then neither compared nor used to choose sets, and every numbered set
    of the catalogue is in scope."""
    if areas_stated:
        areas = set(service_areas) if service_areas is not None else {item.service_area for item in reference}
    else:
        areas = {item.service_area for item in reference} | {s.service_area for s in catalogue.sets}
    compared: dict[str, ReferenceItem] = {}
    for item in reference:
        if item.service_area in areas:
            compared.setdefault(item.id, item)
    ours = catalogue.by_id()
    entries: list[DriftEntry] = []
    for set_id, item in compared.items():
        endpoint_set = ours.get(set_id)
        if endpoint_set is not None:
            entries.extend(_compare(endpoint_set, item, areas_stated))
            continue
        entries.append(DriftEntry(set_id, Kind.SET, Direction.ADDED, set_id))
        for kind, values in _reference_values(item).items():
            entries.extend(DriftEntry(set_id, kind, Direction.ADDED, value) for value in values)
    for endpoint_set in catalogue.sets:
        numbered = endpoint_set.id.isascii() and endpoint_set.id.isdigit()
        if numbered and endpoint_set.service_area in areas and endpoint_set.id not in compared:
            entries.append(DriftEntry(endpoint_set.id, Kind.SET, Direction.REMOVED, endpoint_set.id))
    return sorted(entries)


def has_added(entries: Iterable[DriftEntry]) -> bool:
    """Whether the reference has anything the catalogue lacks (the direction that breaks devices)."""
    return any(entry.direction == Direction.ADDED for entry in entries)


def _wildcards(catalogue: Catalogue) -> list[tuple[str, str]]:
    """(wildcard, set id) of every `*.` entry of the catalogue."""
    return [(url, s.id) for s in catalogue.sets for url in s.urls if url.startswith("*.")]


def covering_wildcard(catalogue: Catalogue, host: str) -> tuple[str, str] | None:
    """The first catalogue wildcard (and its set id) that matches the concrete `host`, if any."""
    if host.startswith("*."):
        return None
    return next(((w, set_id) for w, set_id in _wildcards(catalogue) if wildcard_matches(w, host)), None)


def mark_covered(catalogue: Catalogue, entries: Iterable[DriftEntry]) -> list[DriftEntry]:
    """`entries` with each added concrete host that a catalogue wildcard matches turned `covered`."""
    wildcards = [wildcard for wildcard, _ in _wildcards(catalogue)]
    marked = []
    for entry in entries:
        if (
            entry.kind is Kind.URL
            and entry.direction is Direction.ADDED
            and not entry.value.startswith("*.")
            and any(wildcard_matches(wildcard, entry.value) for wildcard in wildcards)
        ):
            entry = replace(entry, direction=Direction.COVERED)
        marked.append(entry)
    return sorted(marked)
