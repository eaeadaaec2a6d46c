"""What a leaf certificate says: names, issuer, expiry, and whether it covers a host name."""

from __future__ import annotations

import _ssl
import functools
import ipaddress
import ssl
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

from exporter.probes.inspection_products import product_named
from exporter.probes.outcome import Certificate

PARSED_CERTIFICATES = 1024
"""Leaf certificates kept parsed: the same few come back every cycle, often shared by many hosts."""


ISSUER_DN_CHARS = 256
"""The longest issuer DN kept (`Certificate.issuer_dn`); longer ones end in '...'."""

ISSUER_NAME_CHARS = 128
"""The longest issuer name printed in a detail (`issuer_name`)."""


def describe_certificate(der: bytes, host: str, *, verified: bool) -> Certificate:
    """Summary of a DER certificate presented for `host`. Raises ValueError if it does not parse."""
    cert, subject_cn, issuer_cn, issuer_org, not_after, issuer_dn, product = _parsed(der)
    return Certificate(
        subject_cn=subject_cn,
        issuer_cn=issuer_cn,
        issuer_org=issuer_org,
        not_after=not_after,
        verified=verified,
        # A verified handshake checked the name already (the trust context has check_hostname on).
        hostname_matches=verified or hostname_matches(cert, host),
        issuer_dn=issuer_dn,
        product=product,
    )


@dataclass(frozen=True)
class ChainLink:
    """One certificate of the chain a server sent, as a trace shows it."""

    subject: str
    issuer: str
    not_after: str
    """ISO 8601, UTC."""


def sent_chain(ssl_object: ssl.SSLObject) -> list[ChainLink]:
    """The certificates the server sent, leaf first (whether or not they verified)."""
    sslobj = getattr(ssl_object, "_sslobj", ssl_object)  # Python 3.11 and 3.12 keep the chain private
    chain = getattr(sslobj, "get_unverified_chain", lambda: None)() or []
    links = []
    for item in chain:
        der = item if isinstance(item, bytes) else item.public_bytes(_ssl.ENCODING_DER)
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            continue
        links.append(
            ChainLink(
                subject=_rfc4514(cert.subject),
                issuer=_rfc4514(cert.issuer),
                not_after=cert.not_valid_after_utc.isoformat(timespec="seconds"),
            )
        )
    return links


def _rfc4514(name: x509.Name) -> str:
    try:
        return _cut(name.rfc4514_string(), ISSUER_DN_CHARS)
    except ValueError:
        return "(unreadable name)"


def parse_certificate(der: bytes) -> x509.Certificate:
    """The parsed certificate (cached with its summary). Raises ValueError if it does not parse."""
    return _parsed(der)[0]


def issuer_name(certificate: Certificate | None) -> str:
    """The issuer as people read it: its CN, else its organisation, else the whole DN, else 'an unnamed
    issuer'; never longer than ISSUER_NAME_CHARS."""
    if certificate is None:
        return "an unknown issuer"
    name = issuer_line(certificate)
    return _cut(name, ISSUER_NAME_CHARS) if name else "an unnamed issuer"


def issuer_line(certificate: Certificate) -> str:
    """The issuer's CN, else its organisation, else the whole DN, on one line ('' when all are empty)."""
    name = certificate.issuer_cn or certificate.issuer_org or certificate.issuer_dn
    return " ".join(name.split())  # remote text: no line breaks or runs of blanks


def issuer_names(cert: x509.Certificate) -> list[str]:
    """The issuer's CN, organisations and organisational units: what identifies an inspection product."""
    oids = (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME)
    return [_text(attribute.value) for oid in oids for attribute in cert.issuer.get_attributes_for_oid(oid)]


@functools.lru_cache(maxsize=PARSED_CERTIFICATES)
def _parsed(der: bytes) -> tuple[x509.Certificate, str, str, str, float, str, str]:
    cert = x509.load_der_x509_certificate(der)
    try:
        issuer_dn = cert.issuer.rfc4514_string()
    except ValueError:
        issuer_dn = ""
    return (
        cert,
        _first(cert.subject, NameOID.COMMON_NAME),
        _first(cert.issuer, NameOID.COMMON_NAME),
        _first(cert.issuer, NameOID.ORGANIZATION_NAME),
        cert.not_valid_after_utc.timestamp(),
        _cut(issuer_dn, ISSUER_DN_CHARS),
        product_named(issuer_names(cert)),
    )


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def hostname_matches(cert: x509.Certificate, host: str) -> bool:
    """Whether `cert` is valid for `host`, by the rules OpenSSL applies for Python's ssl module.

    DNS names from subjectAltName, a '*' allowed only as the whole left-most label and matching exactly
    one label; IP addresses only against IP entries; the subject CN only when there is no DNS name at all.
    """
    try:
        san: x509.SubjectAlternativeName | None = cert.extensions.get_extension_for_class(
            x509.SubjectAlternativeName
        ).value
    except x509.ExtensionNotFound:
        san = None
    name = host.rstrip(".").lower()
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        address = None
    if address is not None:
        return san is not None and address in san.get_values_for_type(x509.IPAddress)
    patterns = san.get_values_for_type(x509.DNSName) if san is not None else []
    if not patterns:
        common_name = _first(cert.subject, NameOID.COMMON_NAME)
        patterns = [common_name] if common_name else []
    return any(_dns_name_matches(pattern, name) for pattern in patterns)


def _dns_name_matches(pattern: str, name: str) -> bool:
    pattern = pattern.rstrip(".").lower()
    if not pattern.startswith("*."):
        return "*" not in pattern and pattern == name
    parent = pattern[2:]
    label, _, rest = name.partition(".")
    # '*.com' is too broad to honour, as in OpenSSL.
    return "." in parent and "*" not in parent and bool(label) and rest == parent


def _first(name: x509.Name, oid: x509.ObjectIdentifier) -> str:
    attributes = name.get_attributes_for_oid(oid)
    if not attributes:
        return ""
    return _text(attributes[0].value)


def _text(value: str | bytes) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
