"""Whether a TLS session is inspected: a verdict only on evidence, never from a failed verification alone.

Evidence of inspection, in this order (the first that applies decides)::

    issuer matches a configured `tls.inspection_issuers` substring ........ intercepted True
    issuer matches a configured `tls.public_issuers` substring ............ intercepted False (exempt)
    issuer names a known inspection product (inspection_products.py),
      or calls itself an inspection CA ("... TLS Inspection CA") ........... intercepted True
    leaf signed by a CA of `tls.inspection_ca_file` (not of the trust store) intercepted True
    none of these ......................................................... intercepted False

A chain that fails to verify without evidence keeps its reason, refined where the certificate says why:

    the leaf is self-signed (issuer = subject) ................................ TLS_SELF_SIGNED
    the server left out the intermediate: the leaf's AIA "CA Issuers" URL
      (http only, capped, short deadline, through the probe's proxy) gives a
      certificate that signed the leaf and verifies against the trust store .. TLS_CHAIN_INCOMPLETE
    anything else (a private CA not known as inspection) ...... TLS_UNTRUSTED, intercepted False

A private CA without evidence is False rather than None: the metric says "no evidence of inspection", the
reason says the chain did not verify, and the issuer (intune_endpoint_tls_issuer_info) stays visible.
"""

from __future__ import annotations

import functools
import ipaddress
import ssl
import time
from collections import OrderedDict
from dataclasses import dataclass

import anyio
import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509 import verification
from cryptography.x509.oid import AuthorityInformationAccessOID

from exporter.probes.certificates import issuer_name, issuer_names, parse_certificate
from exporter.probes.inspection_products import names_inspection
from exporter.probes.outcome import Certificate, Phase, Reason
from exporter.probes.settings import ProbeSettings, ProxyRoute

AIA_MAX_BYTES = 64 * 1024
"""An intermediate certificate is 1-2 KiB; a bigger answer is refused."""
AIA_DEADLINE = 3.0
"""Seconds for the whole AIA fetch (connect, request, body), at most the probe's HTTP timeout."""
AIA_CACHE_SECONDS = 3600.0
"""How long a fetched intermediate (or the reason none could be had) is reused, per URL."""
AIA_FAILURE_CACHE_SECONDS = 300.0
_AIA_CACHE_ENTRIES = 256
_URL_CHARS = 200


@dataclass(frozen=True)
class Refusal:
    """The judgement of a certificate the verifying handshake refused."""

    reason: Reason
    detail: str
    intercepted: bool | None


def intercepted(
    certificate: Certificate | None, settings: ProbeSettings, der: bytes | None = None
) -> bool | None:
    """True on evidence of inspection (see the module docstring), False without; None without a leaf."""
    return judgement(certificate, settings, der)[0]


def judgement(
    certificate: Certificate | None, settings: ProbeSettings, der: bytes | None = None
) -> tuple[bool | None, str]:
    """`intercepted`'s verdict and the evidence it rests on, in words (for traces)."""
    if certificate is None:
        return None, "no certificate to judge"
    if _issued_by(certificate, settings.inspection_issuers):
        return True, "the issuer is one of tls.inspection_issuers"
    if _issued_by(certificate, settings.public_issuers):
        return False, "the issuer is one of tls.public_issuers"
    if certificate.product:
        return True, f"the issuer names an inspection product ({certificate.product})"
    if names_inspection(_names(certificate, der)):
        return True, "the issuer's name says it inspects traffic"
    if der is not None and _signed_by_inspection_ca(der, settings):
        return True, "signed by a CA of tls.inspection_ca_file"
    return False, "no sign of an inspection product or CA in the issuer"


async def judge_refusal(
    reason: Reason,
    detail: str,
    certificate: Certificate | None,
    der: bytes | None,
    host: str,
    settings: ProbeSettings,
) -> Refusal:
    """The reason, detail and interception verdict of a refused handshake (`reason`, `detail` as
    verification said), from the leaf it presented (`der`, `certificate`; None when it could not be had)."""
    verdict = intercepted(certificate, settings, der)
    if verdict or der is None or reason is not Reason.TLS_UNTRUSTED:
        return Refusal(reason, detail, verdict)
    try:
        leaf = parse_certificate(der)
    except ValueError:
        return Refusal(reason, detail, verdict)
    if leaf.issuer == leaf.subject:
        return Refusal(Reason.TLS_SELF_SIGNED, f"self-signed certificate ({issuer_name(certificate)})", False)
    url = _ca_issuers_url(leaf)
    if url is None:
        return Refusal(reason, detail, verdict)
    found = await _chain_via_aia(leaf, url, host, settings)
    if isinstance(found, str):
        return Refusal(reason, f"{detail}; {found}", verdict)
    return Refusal(
        Reason.TLS_CHAIN_INCOMPLETE,
        f"the server sent no intermediate for {issuer_name(certificate)}; the one at {_short(url)} "
        "completes the chain (devices without it cached fail)",
        False,
    )


def exempt(certificate: Certificate, settings: ProbeSettings) -> bool:
    """A configured public issuer (and not a configured inspection issuer): never called intercepted."""
    return _issued_by(certificate, settings.public_issuers) and not _issued_by(
        certificate, settings.inspection_issuers
    )


def _names(certificate: Certificate, der: bytes | None) -> list[str]:
    if der is not None:
        try:
            return issuer_names(parse_certificate(der))
        except ValueError:
            pass
    return [certificate.issuer_cn, certificate.issuer_org]


def _issued_by(certificate: Certificate, issuers: tuple[str, ...]) -> bool:
    names = (certificate.issuer_cn.lower(), certificate.issuer_org.lower(), certificate.issuer_dn.lower())
    return any(issuer in name for issuer in issuers for name in names if issuer)


def _signed_by_inspection_ca(der: bytes, settings: ProbeSettings) -> bool:
    """Whether a CA that only the inspection trust store holds signed the leaf directly."""
    if settings.inspection_trust is None:
        return False
    try:
        leaf = parse_certificate(der)
    except ValueError:
        return False
    for ca in _inspection_only_cas(settings.inspection_trust, settings.trust):
        if ca.subject != leaf.issuer:
            continue
        try:
            leaf.verify_directly_issued_by(ca)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return True
    return False


@functools.lru_cache(maxsize=4)
def _inspection_only_cas(inspection: ssl.SSLContext, trust: ssl.SSLContext) -> tuple[x509.Certificate, ...]:
    public = set(trust.get_ca_certs(binary_form=True))
    return tuple(_load(der) for der in inspection.get_ca_certs(binary_form=True) if der not in public)


@functools.lru_cache(maxsize=4)
def _trust_store(trust: ssl.SSLContext) -> verification.Store | None:
    roots = []
    for der in trust.get_ca_certs(binary_form=True):
        try:
            roots.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    return verification.Store(roots) if roots else None


def _load(der: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(der)


def _ca_issuers_url(leaf: x509.Certificate) -> str | None:
    """The first http:// "CA Issuers" URL of the leaf's Authority Information Access, if any."""
    try:
        access = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    for description in access:
        location = description.access_location
        if (
            description.access_method == AuthorityInformationAccessOID.CA_ISSUERS
            and isinstance(location, x509.UniformResourceIdentifier)
            and location.value.lower().startswith("http://")
        ):
            return location.value
    return None


async def _chain_via_aia(leaf: x509.Certificate, url: str, host: str, settings: ProbeSettings) -> str | None:
    """None when the certificate at `url` signed the leaf and the chain then verifies for `host` against
    the trust store; else one line saying why not."""
    fetched = await _fetch_cached(url, settings)
    if isinstance(fetched, str):
        return fetched
    store = _trust_store(settings.trust)
    if store is None:
        return "no trust store to verify the AIA intermediate against"
    try:
        subject: x509.DNSName | x509.IPAddress = x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        subject = x509.DNSName(host.rstrip("."))
    try:
        verifier = verification.PolicyBuilder().store(store).build_server_verifier(subject)
        verifier.verify(leaf, [fetched])
    except (verification.VerificationError, ValueError) as exc:
        return f"the AIA intermediate at {_short(url)} does not complete the chain ({_one_line(str(exc))})"
    return None


_cache: OrderedDict[str, tuple[float, x509.Certificate | str]] = OrderedDict()


def clear_cache() -> None:
    """Forget every fetched intermediate (tests)."""
    _cache.clear()


async def _fetch_cached(url: str, settings: ProbeSettings) -> x509.Certificate | str:
    now = time.monotonic()
    cached = _cache.get(url)
    if cached is not None and cached[0] > now:
        _cache.move_to_end(url)
        return cached[1]
    fetched = await fetch_issuer(url, settings)
    keep = AIA_FAILURE_CACHE_SECONDS if isinstance(fetched, str) else AIA_CACHE_SECONDS
    _cache[url] = (now + keep, fetched)
    _cache.move_to_end(url)
    while len(_cache) > _AIA_CACHE_ENTRIES:
        _cache.popitem(last=False)
    return fetched


async def fetch_issuer(url: str, settings: ProbeSettings) -> x509.Certificate | str:
    """The certificate at an AIA "CA Issuers" URL (DER, PEM or PKCS #7), through `settings.proxy` when set;
    or one line saying why there is none. Never raises for what the network or the server does."""
    if not url.lower().startswith("http://"):
        return f"AIA URL {_short(url)} is not http://"
    deadline = min(AIA_DEADLINE, settings.timeouts.get(Phase.HTTP, AIA_DEADLINE))
    try:
        with anyio.fail_after(deadline):
            body = await _get(url, settings)
    except TimeoutError:
        return f"no answer from the AIA URL {_short(url)} within {deadline:g}s"
    except httpx.HTTPError as exc:
        return f"AIA URL {_short(url)}: {_one_line(str(exc)) or type(exc).__name__}"
    except (OSError, httpx.InvalidURL) as exc:
        return f"AIA URL {_short(url)}: {_one_line(str(exc)) or type(exc).__name__}"
    if isinstance(body, str):
        return f"AIA URL {_short(url)}: {body}"
    certificate = _certificate_in(body)
    if certificate is None:
        return f"AIA URL {_short(url)} did not return a certificate"
    return certificate


async def _get(url: str, settings: ProbeSettings) -> bytes | str:
    async with (
        httpx.AsyncClient(
            proxy=_proxy(settings.proxy),
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": settings.user_agent},
        ) as client,
        client.stream("GET", url) as response,
    ):
        if response.status_code != 200:
            return f"HTTP {response.status_code}"
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > AIA_MAX_BYTES:
            return f"answer over {AIA_MAX_BYTES} bytes"
        body = bytearray()
        async for chunk in response.aiter_raw():
            body += chunk
            if len(body) > AIA_MAX_BYTES:
                return f"answer over {AIA_MAX_BYTES} bytes"
        return bytes(body)


def _proxy(route: ProxyRoute | None) -> httpx.Proxy | None:
    if route is None:
        return None
    host = f"[{route.host}]" if ":" in route.host else route.host
    auth = None
    if route.credentials:
        user, _, password = route.credentials.partition(":")
        auth = (user, password)
    return httpx.Proxy(f"http://{host}:{route.port}", auth=auth)


def _certificate_in(body: bytes) -> x509.Certificate | None:
    loaders = (
        x509.load_der_x509_certificate,
        x509.load_pem_x509_certificate,
        lambda data: pkcs7.load_der_pkcs7_certificates(data)[0],
        lambda data: pkcs7.load_pem_pkcs7_certificates(data)[0],
    )
    for load in loaders:
        try:
            return load(body)
        except (ValueError, IndexError, TypeError):
            continue
    return None


def _short(url: str) -> str:
    return url if len(url) <= _URL_CHARS else url[: _URL_CHARS - 3] + "..."


def _one_line(text: str) -> str:
    return " ".join(text.split())[:200]
