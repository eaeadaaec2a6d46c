"""Catalogue export: JSON shaped like Microsoft's endpoint web service items, and a flat CSV for firewalls.

The JSON keeps Microsoft's keys and formats (string ids, comma-separated port strings, empty fields left out)
so tools written for `endpoints.office.com` can read it, and adds our own keys after them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator

from exporter.catalogue.model import Catalogue, EndpointSet, Flag, entry_flags

__all__ = ["CSV_COLUMNS", "set_flags", "to_csv", "to_json", "to_service_items"]

SERVICE_AREA_DISPLAY_NAMES = {"MEM": "Microsoft Intune", "Common": "Microsoft 365 Common and Office Online"}
CSV_COLUMNS = ("set_id", "section", "category", "required", "kind", "address", "protocol", "port", "flags")


def _ordered(flags: Iterable[Flag]) -> list[str]:
    present = set(flags)
    return [flag.value for flag in Flag if flag in present]


def set_flags(catalogue: Catalogue, endpoint_set: EndpointSet) -> list[str]:
    """Flags that every entry of the set has because a rule names the set itself."""
    return _ordered(rule.flag for rule in catalogue.flag_rules if endpoint_set.id in rule.sets)


def _ports(ports: Iterable[int]) -> str:
    return ",".join(str(port) for port in ports)


def _service_item(catalogue: Catalogue, endpoint_set: EndpointSet) -> dict[str, object]:
    item: dict[str, object] = {
        "id": endpoint_set.id,
        "serviceArea": endpoint_set.service_area,
        "serviceAreaDisplayName": SERVICE_AREA_DISPLAY_NAMES.get(
            endpoint_set.service_area, endpoint_set.service_area
        ),
    }
    optional: dict[str, object] = {
        "urls": list(endpoint_set.urls),
        "ips": list(endpoint_set.ips),
        "tcpPorts": _ports(endpoint_set.tcp_ports),
        "udpPorts": _ports(endpoint_set.udp_ports),
    }
    item.update({key: value for key, value in optional.items() if value})
    item["expressRoute"] = endpoint_set.express_route
    item["category"] = endpoint_set.category.value
    item["required"] = endpoint_set.required
    if endpoint_set.notes:
        item["notes"] = endpoint_set.notes

    item["name"] = endpoint_set.name
    item["section"] = endpoint_set.section
    if endpoint_set.impact:
        item["impact"] = endpoint_set.impact
    item["enabledByDefault"] = endpoint_set.enabled_by_default
    extras: dict[str, object] = {
        "clouds": [cloud.value for cloud in endpoint_set.clouds],
        "scaleUnits": list(endpoint_set.scale_units),
        "scaleUnitPrefixes": list(endpoint_set.scale_unit_prefixes),
        "storageAccounts": list(endpoint_set.storage_accounts),
        "annotations": list(endpoint_set.annotations),
    }
    item.update({key: value for key, value in extras.items() if value})
    url_flags = {
        url: _ordered(flags)
        for url in endpoint_set.urls
        if (flags := entry_flags(catalogue, endpoint_set, url))
    }
    if url_flags:
        item["urlFlags"] = url_flags
    if whole_set := set_flags(catalogue, endpoint_set):
        item["setFlags"] = whole_set
    return item


def to_service_items(catalogue: Catalogue) -> list[dict[str, object]]:
    return [_service_item(catalogue, endpoint_set) for endpoint_set in catalogue.sets]


def to_json(catalogue: Catalogue) -> str:
    return json.dumps(to_service_items(catalogue), indent=2, ensure_ascii=False) + "\n"


def _csv_rows(catalogue: Catalogue, endpoint_set: EndpointSet) -> Iterator[list[str]]:
    """One row per address and port. A set with ports but no address (peer traffic) gets rows with an empty
    address; an address without ports gets one row with empty protocol and port, so no address is lost."""
    addresses = [("url", url) for url in endpoint_set.urls] + [("ip", ip) for ip in endpoint_set.ips]
    ports = [("tcp", str(port)) for port in endpoint_set.tcp_ports]
    ports += [("udp", str(port)) for port in endpoint_set.udp_ports]
    if not addresses and ports:
        addresses = [("", "")]
    if not ports:
        ports = [("", "")]
    required = "true" if endpoint_set.required else "false"
    common = [endpoint_set.id, endpoint_set.section, endpoint_set.category.value, required]
    for kind, address in addresses:
        if address:
            flags = _ordered(entry_flags(catalogue, endpoint_set, address))
        else:
            flags = set_flags(catalogue, endpoint_set)
        for protocol, port in ports:
            yield [*common, kind, address, protocol, port, ";".join(flags)]


def to_csv(catalogue: Catalogue) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for endpoint_set in catalogue.sets:
        writer.writerows(_csv_rows(catalogue, endpoint_set))
    return buffer.getvalue()
