"""Squid ACL files: a `dstdomain` list of the catalogue's names and a `dst` list of its address ranges.

Squid warns about, and ignores, a name listed below another ('a.example.com' with '.example.com'), so
`Allowlist` keeps only the topmost entries.
"""

from __future__ import annotations

from collections.abc import Sequence

from exporter.catalogue.allowlist import Allowlist, IpNetwork


def to_dstdomain(allowed: Allowlist, set_ids: Sequence[str], edition: str) -> str:
    """'.example.com' (the domain and every name below it) for wildcards, exact names as they are."""
    lines = [*(f".{domain}" for domain in allowed.domains), *allowed.hosts]
    return _header("dstdomain", set_ids, edition) + "".join(f"{line}\n" for line in lines)


def to_dst(ranges: Sequence[IpNetwork], set_ids: Sequence[str], edition: str) -> str:
    return _header("dst", set_ids, edition) + "".join(f"{network}\n" for network in ranges)


def _header(acl_type: str, set_ids: Sequence[str], edition: str) -> str:
    return (
        f"# Squid '{acl_type}' ACL file for the endpoints Microsoft Intune devices need, from {edition}.\n"
        f"# Sets: {', '.join(set_ids)}.\n"
    )
