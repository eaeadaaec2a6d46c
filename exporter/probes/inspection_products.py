"""TLS-inspection products, known by the names their CAs carry: issuer CN or organisation substrings.

A leaf certificate whose issuer names one of these products is evidence of inspection (`interception`);
the product is shown with the issuer (`Certificate.product`, the `product` label of
intune_endpoint_tls_issuer_info, the status page). Substrings are lower-case and matched against the
issuer's CN, organisation and organisational units; the first match wins, so the more specific come first.
Names shared with public CAs (Cisco, Symantec, Sophos's own web site, ...) are matched only in the forms
the inspection CAs use.
"""

from __future__ import annotations

from collections.abc import Iterable

PRODUCTS: tuple[tuple[str, str], ...] = (
    ("zscaler", "Zscaler"),
    ("palo alto networks", "Palo Alto Networks"),
    ("paloaltonetworks", "Palo Alto Networks"),
    ("fortigate", "Fortinet FortiGate"),
    ("fortinet", "Fortinet FortiGate"),
    ("netskope", "Netskope"),
    ("blue coat", "Symantec Blue Coat"),
    ("bluecoat", "Symantec Blue Coat"),
    ("symantec web security", "Symantec Blue Coat"),
    ("cisco umbrella", "Cisco Umbrella"),
    ("opendns", "Cisco Umbrella"),
    ("forcepoint", "Forcepoint"),
    ("websense", "Forcepoint"),
    ("check point", "Check Point"),
    ("checkpoint", "Check Point"),
    ("sophos", "Sophos"),
    ("mitmproxy", "mitmproxy"),
    ("barracuda", "Barracuda"),
    ("skyhigh", "Skyhigh Security"),
    ("mcafee web gateway", "McAfee Web Gateway"),
    ("iboss", "iboss"),
    ("menlo security", "Menlo Security"),
    ("sonicwall", "SonicWall"),
    ("watchguard", "WatchGuard"),
    ("gateway ca - cloudflare", "Cloudflare Gateway"),
    ("fiddler", "Fiddler"),
    ("portswigger", "Burp Suite"),
    ("charles proxy", "Charles Proxy"),
    ("kaspersky", "Kaspersky"),
    ("eset ssl filter", "ESET"),
    ("avast", "Avast"),
    ("bitdefender personal ca", "Bitdefender"),
)
"""(issuer substring, product)."""

INSPECTION_WORDS: tuple[str, ...] = ("inspection", "ssl decrypt", "tls decrypt", "ssl-decrypt")
"""Words only an inspection CA puts in its own name ("Contoso TLS Inspection CA"): evidence of inspection,
without a product (`product` stays "")."""


def product_named(names: Iterable[str]) -> str:
    """The product the issuer names identify, or ""."""
    lowered = [name.lower() for name in names if name]
    for needle, product in PRODUCTS:
        if any(needle in name for name in lowered):
            return product
    return ""


def names_inspection(names: Iterable[str]) -> bool:
    """Whether the issuer names say they are an inspection CA without naming a known product."""
    lowered = [name.lower() for name in names if name]
    return any(word in name for word in INSPECTION_WORDS for name in lowered)
