"""Schema of the endpoint catalogue. The built-in catalogue and user catalogue files share it."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
)

SET_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
HOST = re.compile(
    r"^(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z][a-z0-9-]*[a-z0-9]$", re.IGNORECASE
)
SCALE_UNIT = re.compile(r"^AMSU[A-Z]\d{4}$")
SCALE_UNIT_PREFIX = re.compile(r"^AMSU[A-Z]$")


class Category(StrEnum):
    ALLOW = "Allow"
    DEFAULT = "Default"
    OPTIMIZE = "Optimize"


class Flag(StrEnum):
    """Per-endpoint requirements stated in the page's notes."""

    SSL_INSPECTION_UNSUPPORTED = "ssl_inspection_unsupported"
    UNAUTHENTICATED_PROXY_REQUIRED = "unauthenticated_proxy_required"
    BYTE_RANGES_REQUIRED = "byte_ranges_required"


class Cloud(StrEnum):
    PUBLIC = "public"
    GCC = "gcc"
    GCC_HIGH = "gcc-high"
    DOD = "dod"


def _set_id(value: object) -> object:
    # YAML reads `id: 163` as an int; ids are strings everywhere else (as in Microsoft's web service).
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


SetId = Annotated[str, BeforeValidator(_set_id)]
Port = Annotated[int, Field(ge=1, le=65535)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


def check_set_id(value: str) -> str:
    if not SET_ID.match(value):
        raise ValueError("set id must be lower-case letters, digits and dashes, e.g. '163' or 'asu-na'")
    return value


def set_id_order(set_id: str) -> tuple[int, int, str]:
    """Sort key for set ids: numbered ones (Microsoft's) by number first, then the others by name."""
    return (0, int(set_id), "") if set_id.isdigit() else (1, 0, set_id)


def check_host(value: str) -> str:
    if not HOST.match(value):
        raise ValueError("not a host name or '*.' wildcard")
    return value


def canonical_cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value.strip(), strict=True))
    except ValueError as exc:
        raise ValueError(f"not a CIDR range: {exc}") from None


def check_representatives(table: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
    for wildcard, hosts in table.items():
        if not wildcard.startswith("*."):
            raise ValueError(f"key {wildcard!r} is not a '*.' wildcard")
        for host in hosts:
            check_host(host)
            if host.startswith("*."):
                raise ValueError(f"representative {host!r} of {wildcard!r} must be a concrete host")
    return table


HostName = Annotated[str, AfterValidator(check_host)]
RepresentativeTable = Annotated[dict[str, tuple[str, ...]], AfterValidator(check_representatives)]
"""Wildcard -> concrete hosts probed in its place."""
Cidr = Annotated[str, AfterValidator(canonical_cidr)]


class EndpointSet(_Strict):
    id: SetId
    name: str
    """English description (the page's Desc column)."""
    section: str
    category: Category = Category.DEFAULT
    required: bool = False
    express_route: bool = False
    urls: tuple[HostName, ...] = ()
    """Host names exactly as the page writes them, wildcards included."""
    ips: tuple[Cidr, ...] = ()
    tcp_ports: tuple[Port, ...] = ()
    udp_ports: tuple[Port, ...] = ()
    impact: str = ""
    """What stops working when this set is blocked."""
    notes: str = ""
    annotations: tuple[str, ...] = ()
    """Where the catalogue departs from, or comments on, what the page literally says."""
    service_area: str = "MEM"
    """Service area of the set in Microsoft's endpoint web service ('MEM', or 'Common' for the Microsoft 365
    sets the page repeats)."""
    enabled_by_default: bool = True
    clouds: tuple[Cloud, ...] = tuple(Cloud)
    scale_units: tuple[str, ...] = ()
    """Azure Scale Unit (tenant location) codes served by this set, e.g. AMSUA0101."""
    scale_unit_prefixes: tuple[str, ...] = ()
    """Region part of the scale unit codes a regional set serves (e.g. AMSUA: North America), for editions
    of the page that name the region but list no codes."""
    storage_accounts: tuple[str, ...] = ()

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_set_id(value)

    @field_validator("scale_units")
    @classmethod
    def _scale_units(cls, units: tuple[str, ...]) -> tuple[str, ...]:
        for unit in units:
            if not SCALE_UNIT.match(unit):
                raise ValueError(f"{unit!r} is not a scale unit code like AMSUA0101")
        return units

    @field_validator("scale_unit_prefixes")
    @classmethod
    def _scale_unit_prefixes(cls, prefixes: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in prefixes:
            if not SCALE_UNIT_PREFIX.match(prefix):
                raise ValueError(f"{prefix!r} is not a scale unit region like AMSUA")
        return prefixes

    @property
    def regional(self) -> bool:
        """Serves the tenants of some regions only (scale units or their region prefixes)."""
        return bool(self.scale_units or self.scale_unit_prefixes)

    def serves_region(self, prefix: str) -> bool:
        """Serves tenant locations whose code starts with `prefix` (e.g. 'AMSUB')."""
        return prefix in self.scale_unit_prefixes or any(unit.startswith(prefix) for unit in self.scale_units)


class FlagRule(_Strict):
    """Gives `flag` to the entries matching `hosts` (exact or '*.' wildcard) and to every entry of `sets`."""

    flag: Flag
    hosts: tuple[str, ...] = ()
    sets: tuple[SetId, ...] = ()
    source: str = ""
    """The page's wording this rule encodes."""


class Edition(_Strict):
    id: str | None = None
    """The built-in edition's name (its file name in catalogue/editions/), e.g. '2025-08-21' or 'seed'."""
    title: str
    language: str
    source: str
    encoded_on: str


class Catalogue(_Strict):
    edition: Edition | None = None
    sets: tuple[EndpointSet, ...] = ()
    flag_rules: tuple[FlagRule, ...] = ()
    wildcard_representatives: RepresentativeTable = {}
    """Default concrete hosts probed for a wildcard when its own set lists none."""

    def duplicate_id(self) -> tuple[int, str] | None:
        """Index and id of the first set whose id an earlier set already has."""
        seen: set[str] = set()
        for index, endpoint_set in enumerate(self.sets):
            if endpoint_set.id in seen:
                return index, endpoint_set.id
            seen.add(endpoint_set.id)
        return None

    def by_id(self) -> dict[str, EndpointSet]:
        return {endpoint_set.id: endpoint_set for endpoint_set in self.sets}


def wildcard_matches(wildcard: str, host: str) -> bool:
    """'*.manage.microsoft.com' matches any name below manage.microsoft.com, not the apex."""
    suffix = wildcard[1:].lower()
    return wildcard.startswith("*.") and host.lower().endswith(suffix) and len(host) > len(suffix)


def pattern_matches(pattern: str, entry: str) -> bool:
    if pattern.lower() == entry.lower():
        return True
    return pattern.startswith("*.") and not entry.startswith("*.") and wildcard_matches(pattern, entry)


def entry_flags(catalogue: Catalogue, endpoint_set: EndpointSet, entry: str) -> frozenset[Flag]:
    flags = set()
    for rule in catalogue.flag_rules:
        if endpoint_set.id in rule.sets or any(pattern_matches(p, entry) for p in rule.hosts):
            flags.add(rule.flag)
    return frozenset(flags)
