"""Validation of reference lists in the JSON shape of Microsoft's endpoint web service.

The input is untrusted: it may come from any URL or file a user configures. Nothing leaves this module
unchecked. A bad value is dropped and reported as an `InvalidEntry`; a bad `id` or `serviceArea` drops its
whole item; only a top level that is not a list fails the parse (`FetchFailure.BAD_SHAPE`).

Decisions worth knowing:

- A key whose value is JSON `null` counts as absent.
- Host names must be ASCII (punycode for international names), are lower-cased, and need at least two
  labels with an alphabetic top-level label, so IP literals, URLs, paths and '*.com' are rejected.
- CIDRs are read with `strict=False` (host bits may be set) and stored canonical: '13.67.13.180/28' becomes
  '13.67.13.176/28'. IPv6 scope ids ('%eth0') are rejected rather than silently dropped.
- A port range may span at most `MAX_PORT_RANGE` ports; a wider one is rejected as a bad token instead of
  being expanded, so a hostile '1-65535' cannot blow up memory and a huge range never floods drift reports.
- Values beyond `Limits.max_values_per_item` are cut in a fixed order (urls, ips, tcp ports, udp ports,
  lowest ports first), with one `InvalidEntry` saying so.
"""

from __future__ import annotations

import ipaddress
import re
import reprlib
from collections.abc import Mapping

from exporter.config.drift import Limits
from exporter.reference.types import (
    FetchFailure,
    InvalidEntry,
    ParsedReference,
    ReferenceFetchError,
    ReferenceItem,
)

__all__ = ["MAX_NOTES_LENGTH", "MAX_PORT_RANGE", "MAX_VALUE_LENGTH", "parse_ports", "parse_reference"]

MAX_PORT_RANGE = 1024
"""Most ports one 'a-b' token may span."""
MAX_NOTES_LENGTH = 1000
MAX_VALUE_LENGTH = 80
"""Longest `InvalidEntry.value`."""
CATEGORIES = ("Optimize", "Allow", "Default")

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,63}")
_SERVICE_AREA = re.compile(r"[A-Za-z]{1,32}")
_HOST = re.compile(r"(\*\.)?([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)+[a-z]{2,63}")
_PORT_TOKEN = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?")

_repr = reprlib.Repr()
_repr.maxstring = MAX_VALUE_LENGTH
_repr.maxother = MAX_VALUE_LENGTH
_repr.maxlist = _repr.maxtuple = _repr.maxdict = _repr.maxset = 4
_repr.maxlevel = 2


def shorten(value: object) -> str:
    """One-line, escaped form of `value`, at most MAX_VALUE_LENGTH characters (strings without quotes)."""
    text = repr(value[: MAX_VALUE_LENGTH + 1])[1:-1] if isinstance(value, str) else _repr.repr(value)
    if len(text) > MAX_VALUE_LENGTH:
        text = text[: MAX_VALUE_LENGTH - 3] + "..."
    return text


def parse_ports(text: str) -> tuple[frozenset[int], list[str]]:
    """Ports of a port string like '80,443' or '3478-3481', and the tokens that are not valid.

    A token is a port (1-65535) or a range 'a-b' with a <= b spanning at most MAX_PORT_RANGE ports; spaces
    around a token are ignored. An empty string has no ports and no bad tokens."""
    ports: set[int] = set()
    bad: list[str] = []
    if not text.strip(" "):
        return frozenset(), bad
    for token in text.split(","):
        match = _PORT_TOKEN.fullmatch(token.strip(" "))
        if match is None:
            bad.append(token)
            continue
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if not 1 <= first <= last <= 65535 or last - first + 1 > MAX_PORT_RANGE:
            bad.append(token)
            continue
        ports.update(range(first, last + 1))
    return frozenset(ports), bad


def _port_problem(token: str) -> str:
    match = _PORT_TOKEN.fullmatch(token.strip(" "))
    if match is not None and match.group(2) is not None:
        first, last = int(match.group(1)), int(match.group(2))
        if 1 <= first <= last <= 65535:
            return f"port range spans {last - first + 1} ports, more than {MAX_PORT_RANGE}"
    return "not a port (1-65535) or port range 'a-b'"


class _ItemParser:
    """Validates one item, collecting its InvalidEntry records."""

    def __init__(self, raw: Mapping[object, object], label: str, limits: Limits) -> None:
        self.raw = raw
        self.label = label
        self.limits = limits
        self.invalid: list[InvalidEntry] = []
        self.suffixes = tuple(suffix.lower().strip(".") for suffix in limits.allowed_suffixes)

    def reject(self, field: str, value: object, problem: str) -> None:
        self.invalid.append(InvalidEntry(self.label, field, shorten(value), problem))

    def host_problem(self, value: str) -> str | None:
        if len(value) > self.limits.max_text_length:
            return f"longer than {self.limits.max_text_length} characters"
        if not value.isascii():
            return "not ASCII (international names must be written in punycode)"
        if "/" in value or ":" in value:
            return "a URL, path or address, not a host name"
        if not _HOST.fullmatch(value.lower()):
            return "not a host name or '*.' wildcard"
        if self.suffixes:
            domain = value.lower().removeprefix("*.")
            if not any(domain == s or domain.endswith("." + s) for s in self.suffixes):
                return "not under an allowed domain"
        return None

    def string_list(self, key: str) -> list[str]:
        value = self.raw.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.reject(key, value, "not a list")
            return []
        strings: list[str] = []
        for element in value:
            if isinstance(element, str):
                strings.append(element)
            else:
                self.reject(key, element, "not a string")
        return strings

    def urls(self) -> list[str]:
        hosts: dict[str, None] = {}
        for value in self.string_list("urls"):
            problem = self.host_problem(value)
            if problem is None:
                hosts[value.lower()] = None
            else:
                self.reject("urls", value, problem)
        return list(hosts)

    def ips(self) -> list[str]:
        networks: dict[str, None] = {}
        for value in self.string_list("ips"):
            if len(value) > self.limits.max_text_length:
                self.reject("ips", value, f"longer than {self.limits.max_text_length} characters")
                continue
            try:
                if "%" in value:
                    raise ValueError("scoped address")
                networks[str(ipaddress.ip_network(value, strict=False))] = None
            except ValueError:
                self.reject("ips", value, "not an IPv4 or IPv6 CIDR range")
        return list(networks)

    def ports(self, key: str) -> frozenset[int]:
        value = self.raw.get(key)
        if value is None:
            return frozenset()
        if not isinstance(value, str):
            self.reject(key, value, "not a string of comma-separated ports")
            return frozenset()
        if len(value) > self.limits.max_text_length:
            self.reject(key, value, f"longer than {self.limits.max_text_length} characters")
            return frozenset()
        ports, bad = parse_ports(value)
        for token in bad:
            self.reject(key, token, _port_problem(token))
        return ports

    def category(self) -> str | None:
        value = self.raw.get("category")
        if value is None:
            return None
        if isinstance(value, str) and value in CATEGORIES:
            return value
        self.reject("category", value, f"not one of {', '.join(CATEGORIES)}")
        return None

    def flag(self, key: str) -> bool | None:
        value = self.raw.get(key)
        if value is None or isinstance(value, bool):
            return value
        self.reject(key, value, "not true or false")
        return None

    def notes(self) -> str:
        value = self.raw.get("notes")
        if value is None:
            return ""
        if not isinstance(value, str):
            self.reject("notes", value, "not a string")
            return ""
        return value[:MAX_NOTES_LENGTH]

    def item(self, item_id: str, service_area: str) -> ReferenceItem:
        urls, ips = self.urls(), self.ips()
        tcp, udp = sorted(self.ports("tcpPorts")), sorted(self.ports("udpPorts"))
        total = len(urls) + len(ips) + len(tcp) + len(udp)
        budget = self.limits.max_values_per_item
        if total > budget:
            self.reject(
                "values",
                f"{total} urls, ips and ports",
                f"more than {budget} values; kept the first {budget} (urls, ips, tcp, udp ports)",
            )
            urls = urls[:budget]
            ips = ips[: budget - len(urls)]
            tcp = tcp[: budget - len(urls) - len(ips)]
            udp = udp[: budget - len(urls) - len(ips) - len(tcp)]
        return ReferenceItem(
            id=item_id,
            service_area=service_area,
            urls=tuple(urls),
            ips=tuple(ips),
            tcp_ports=frozenset(tcp),
            udp_ports=frozenset(udp),
            category=self.category(),
            required=self.flag("required"),
            express_route=self.flag("expressRoute"),
            notes=self.notes(),
        )


def _item_id(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        # Bound before str(): a huge int would be slow to format, and could never be a valid id anyway.
        return str(value) if 0 <= value < 10**64 else None
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    return None


def parse_reference(data: object, limits: Limits) -> ParsedReference:
    """Validated items of decoded JSON shaped like Microsoft's endpoint web service.

    Raises ReferenceFetchError(BAD_SHAPE) when the top level is not a list. Everything else that is wrong is
    dropped and listed in `ParsedReference.invalid`; unknown keys are ignored. Items keep their order."""
    if not isinstance(data, list):
        raise ReferenceFetchError(
            FetchFailure.BAD_SHAPE, f"expected a JSON list of endpoint sets, got {type(data).__name__}"
        )
    invalid: list[InvalidEntry] = []
    if len(data) > limits.max_items:
        invalid.append(
            InvalidEntry(
                f"#{limits.max_items}",
                "items",
                f"{len(data)} items",
                f"more than {limits.max_items} items; only the first {limits.max_items} are used",
            )
        )
    items: list[ReferenceItem] = []
    seen: set[str] = set()
    for index, raw in enumerate(data[: limits.max_items]):
        label = f"#{index}"
        if not isinstance(raw, dict):
            invalid.append(InvalidEntry(label, "item", shorten(raw), "not a JSON object; item skipped"))
            continue
        item_id = _item_id(raw.get("id"))
        if item_id is None:
            problem = "missing" if raw.get("id") is None else "not an id like 163 or 'asu-na'"
            invalid.append(InvalidEntry(label, "id", shorten(raw.get("id")), problem + "; item skipped"))
            continue
        if item_id in seen:
            invalid.append(InvalidEntry(item_id, "id", item_id, "duplicate id; the first item is kept"))
            continue
        area = raw.get("serviceArea")
        if not (isinstance(area, str) and _SERVICE_AREA.fullmatch(area)):
            problem = "missing" if area is None else "not a service area name like MEM (letters only)"
            invalid.append(InvalidEntry(item_id, "serviceArea", shorten(area), problem + "; item skipped"))
            continue
        seen.add(item_id)
        parser = _ItemParser(raw, item_id, limits)
        items.append(parser.item(item_id, area))
        invalid.extend(parser.invalid)
    return ParsedReference(items=tuple(items), invalid=tuple(invalid))
