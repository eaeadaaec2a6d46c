"""The interception verdict: inspection only on evidence; incomplete chains, self-signed leaves, expired or
wrong-name certificates and unknown private CAs are server faults, never `intercepted`."""

from __future__ import annotations

import contextlib
import datetime
import http.server
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import dns.asyncresolver
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from exporter.catalogue import Flag
from exporter.metrics.exposition import MAX_LABEL_VALUE, bounded
from exporter.probes import interception, tls
from exporter.probes.certificates import ISSUER_DN_CHARS, ISSUER_NAME_CHARS, describe_certificate, issuer_name
from exporter.probes.inspection_products import product_named
from exporter.probes.outcome import Phase, ProbeOutcome, Reason
from exporter.probes.prober import ProbeTarget
from exporter.probes.settings import ProbeSettings

pytestmark = pytest.mark.anyio

HOST = "device.manage.microsoft.com"
UNSUPPORTED = frozenset({Flag.SSL_INSPECTION_UNSUPPORTED})


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0)


@dataclass
class Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.DER)


def _name(cn: str = "", org: str = "") -> x509.Name:
    attributes = []
    if org:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    if cn:
        attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    return x509.Name(attributes)


def _certificate(
    subject: x509.Name,
    issuer: Issuer | None,
    *,
    ca: bool,
    names: tuple[str, ...] = (),
    aia: str | None = None,
    expired: bool = False,
) -> Issuer:
    """A CA (`ca`) or a leaf for `names`, signed by `issuer` (self-signed when None)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    not_after = now - datetime.timedelta(days=1) if expired else now + datetime.timedelta(days=365)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer is not None else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=30))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    signer = issuer.key if issuer is not None else key
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
    )
    if ca:
        usage = x509.KeyUsage(True, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False
        )
    if aia is not None:
        access = x509.AccessDescription(
            AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(aia)
        )
        builder = builder.add_extension(x509.AuthorityInformationAccess([access]), critical=False)
    return Issuer(builder.sign(signer, hashes.SHA256()), key)


def _root(cn: str, org: str = "") -> Issuer:
    return _certificate(_name(cn, org), None, ca=True)


def _leaf(
    issuer: Issuer | None, *, aia: str | None = None, expired: bool = False, host: str = HOST
) -> Issuer:
    return _certificate(_name("leaf.test"), issuer, ca=False, names=(host,), aia=aia, expired=expired)


def _trust(*cas: Issuer) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata="".join(ca.pem.decode() for ca in cas))
    return context


def _settings(trust: ssl.SSLContext, **changes: object) -> ProbeSettings:
    settings = ProbeSettings(
        timeouts=dict.fromkeys(Phase, 1.0),
        trust=trust,
        resolver=dns.asyncresolver.Resolver(configure=False),
    )
    return replace(settings, **changes)  # type: ignore[arg-type]


@contextlib.contextmanager
def _tls_server(*chain: Issuer) -> Iterator[int]:
    """A loopback TLS server presenting `chain` (leaf first, exactly what is given) until the block ends."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as directory:
        cert_path, key_path = Path(directory, "chain.pem"), Path(directory, "key.pem")
        cert_path.write_bytes(b"".join(part.pem for part in chain))
        key_path.write_bytes(
            chain[0].key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        context.load_cert_chain(cert_path, key_path)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    stopping = threading.Event()

    def serve() -> None:
        while not stopping.is_set():
            try:
                peer, _ = listener.accept()
            except TimeoutError:
                continue
            peer.settimeout(2)
            with contextlib.suppress(OSError), context.wrap_socket(peer, server_side=True) as wrapped:
                wrapped.recv(1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stopping.set()
        thread.join()
        listener.close()


class _AiaHandler(http.server.BaseHTTPRequestHandler):
    bodies: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        if self.path == "/hang":
            time.sleep(3)
            return
        body = self.bodies.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/pkix-cert")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def aia_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    """An HTTP server answering paths from the returned dict (and /hang slowly); its base URL."""
    bodies: dict[str, bytes] = {}
    handler = type("Handler", (_AiaHandler,), {"bodies": bodies})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    interception.clear_cache()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    finally:
        server.shutdown()
        server.server_close()
        interception.clear_cache()


async def _probe(port: int, settings: ProbeSettings, flags: frozenset[Flag] = frozenset()) -> ProbeOutcome:
    return await tls.probe(
        ProbeTarget(HOST, "127.0.0.1", 443, flags), replace(settings, port_remap={443: port})
    )


PUBLIC_ROOT = _root("Public Test Root", "Public Trust Services")


# Chains and their verdicts ----------------------------------------


async def test_incomplete_chain_is_a_server_fault_not_inspection(
    aia_server: tuple[str, dict[str, bytes]],
) -> None:
    base, bodies = aia_server
    intermediate = _certificate(
        _name("Public Test Issuing CA 1", "Public Trust Services"), PUBLIC_ROOT, ca=True
    )
    bodies["/issuing.crt"] = intermediate.der
    leaf = _leaf(intermediate, aia=f"{base}/issuing.crt")

    with _tls_server(leaf) as port:
        outcome = await _probe(port, _settings(_trust(PUBLIC_ROOT)), UNSUPPORTED)
    with _tls_server(leaf, intermediate) as port:
        complete = await _probe(port, _settings(_trust(PUBLIC_ROOT)), UNSUPPORTED)

    assert outcome.reason is Reason.TLS_CHAIN_INCOMPLETE
    assert outcome.intercepted is False
    assert "no intermediate for Public Test Issuing CA 1" in outcome.detail
    assert f"{base}/issuing.crt" in outcome.detail
    assert complete.ok and complete.intercepted is False


async def test_aia_in_pem_completes_the_chain_too(aia_server: tuple[str, dict[str, bytes]]) -> None:
    base, bodies = aia_server
    intermediate = _certificate(_name("Public Test Issuing CA 2"), PUBLIC_ROOT, ca=True)
    bodies["/issuing.pem"] = intermediate.pem
    with _tls_server(_leaf(intermediate, aia=f"{base}/issuing.pem")) as port:
        outcome = await _probe(port, _settings(_trust(PUBLIC_ROOT)))
    assert (outcome.reason, outcome.intercepted) == (Reason.TLS_CHAIN_INCOMPLETE, False)


async def test_aia_intermediate_that_does_not_verify_leaves_the_chain_untrusted(
    aia_server: tuple[str, dict[str, bytes]],
) -> None:
    base, bodies = aia_server
    private_root = _root("Somebody's Root")
    intermediate = _certificate(_name("Private Issuing CA"), private_root, ca=True)
    bodies["/issuing.crt"] = intermediate.der
    with _tls_server(_leaf(intermediate, aia=f"{base}/issuing.crt")) as port:
        outcome = await _probe(port, _settings(_trust(PUBLIC_ROOT)), UNSUPPORTED)
    assert (outcome.reason, outcome.intercepted) == (Reason.TLS_UNTRUSTED, False)
    assert "does not complete the chain" in outcome.detail


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/garbage", "did not return a certificate"),
        ("/missing", "HTTP 404"),
        ("/huge", "answer over 65536 bytes"),
        ("/hang", "no answer from the AIA URL"),
    ],
)
async def test_bad_aia_urls_are_bounded_and_said(
    aia_server: tuple[str, dict[str, bytes]], path: str, says: str
) -> None:
    base, bodies = aia_server
    bodies["/garbage"] = b"<html>not a certificate</html>"
    bodies["/huge"] = b"0" * 200_000
    intermediate = _certificate(_name("Public Test Issuing CA 3"), PUBLIC_ROOT, ca=True)
    settings = _settings(_trust(PUBLIC_ROOT), timeouts=dict.fromkeys(Phase, 0.5))
    with _tls_server(_leaf(intermediate, aia=f"{base}{path}")) as port:
        started = time.monotonic()
        outcome = await _probe(port, settings)
        took = time.monotonic() - started
    assert (outcome.reason, outcome.intercepted) == (Reason.TLS_UNTRUSTED, False)
    assert outcome.detail.startswith("certificate verify failed")
    assert says in outcome.detail
    assert took < 2.5


async def test_https_aia_url_is_not_fetched() -> None:
    intermediate = _certificate(_name("Public Test Issuing CA 4"), PUBLIC_ROOT, ca=True)
    leaf = _leaf(intermediate, aia="https://127.0.0.1:9/issuing.crt")
    certificate = describe_certificate(leaf.der, HOST, verified=False)
    refusal = await interception.judge_refusal(
        Reason.TLS_UNTRUSTED,
        "certificate verify failed",
        certificate,
        leaf.der,
        HOST,
        _settings(_trust(PUBLIC_ROOT)),
    )
    assert (refusal.reason, refusal.detail, refusal.intercepted) == (
        Reason.TLS_UNTRUSTED,
        "certificate verify failed",
        False,
    )


async def test_self_signed_leaf_is_not_inspection() -> None:
    leaf = _certificate(_name(HOST, "Appliance Maker"), None, ca=False, names=(HOST,))
    with _tls_server(leaf) as port:
        outcome = await _probe(port, _settings(_trust(PUBLIC_ROOT)), UNSUPPORTED)
    assert (outcome.reason, outcome.intercepted) == (Reason.TLS_SELF_SIGNED, False)
    assert outcome.detail == f"self-signed certificate ({HOST})"


async def test_unknown_private_ca_is_untrusted_without_interception() -> None:
    private_root = _root("Corp Internal Root", "Contoso")
    with _tls_server(_leaf(private_root)) as port:
        outcome = await _probe(port, _settings(_trust(PUBLIC_ROOT)), UNSUPPORTED)
    assert (outcome.reason, outcome.intercepted) == (Reason.TLS_UNTRUSTED, False)
    assert outcome.certificate is not None and outcome.certificate.product == ""


async def test_known_product_is_inspection_and_named() -> None:
    zscaler = _root("Zscaler Intermediate Root CA (zscaler.net)", "Zscaler Inc.")
    with _tls_server(_leaf(zscaler)) as port:
        allowed = await _probe(port, _settings(_trust(PUBLIC_ROOT)))
        forbidden = await _probe(port, _settings(_trust(PUBLIC_ROOT)), UNSUPPORTED)
    assert (allowed.reason, allowed.intercepted) == (Reason.TLS_UNTRUSTED, True)
    assert allowed.certificate is not None and allowed.certificate.product == "Zscaler"
    assert forbidden.reason is Reason.TLS_INTERCEPTED
    assert forbidden.detail == (
        "TLS inspected (certificate issued by Zscaler Intermediate Root CA (zscaler.net), Zscaler); "
        "unsupported on this endpoint"
    )


async def test_configured_inspection_issuer_is_inspection() -> None:
    appliance = _root("Edge Gateway 7", "Contoso")
    settings = _settings(_trust(PUBLIC_ROOT), inspection_issuers=("edge gateway",))
    with _tls_server(_leaf(appliance)) as port:
        outcome = await _probe(port, settings)
        unconfigured = await _probe(port, _settings(_trust(PUBLIC_ROOT)))
    assert (outcome.reason, outcome.intercepted) == (Reason.TLS_UNTRUSTED, True)
    assert unconfigured.intercepted is False


async def test_configured_inspection_issuer_counts_on_a_verified_chain() -> None:
    appliance = _root("Edge Gateway 7", "Contoso")
    settings = _settings(_trust(appliance), inspection_issuers=("contoso",))
    with _tls_server(_leaf(appliance)) as port:
        outcome = await _probe(port, settings)
    assert outcome.ok and outcome.intercepted is True


async def test_public_issuers_are_exempt_even_when_they_look_like_a_product() -> None:
    zscaler = _root("Zscaler Root CA", "Zscaler Inc.")
    settings = _settings(_trust(PUBLIC_ROOT), public_issuers=("zscaler",))
    with _tls_server(_leaf(zscaler)) as port:
        outcome = await _probe(port, settings, UNSUPPORTED)
    assert (outcome.reason, outcome.intercepted) == (Reason.TLS_UNTRUSTED, False)


async def test_configured_inspection_ca_is_inspection_and_works_where_allowed() -> None:
    inspection_ca = _root("Branch Gateway", "Contoso")
    settings = _settings(_trust(PUBLIC_ROOT), inspection_trust=_trust(PUBLIC_ROOT, inspection_ca))
    with _tls_server(_leaf(inspection_ca)) as port:
        allowed = await _probe(port, settings)
        forbidden = await _probe(port, settings, UNSUPPORTED)
    assert allowed.ok and allowed.intercepted is True
    assert (forbidden.reason, forbidden.intercepted) == (Reason.TLS_INTERCEPTED, True)
    assert "issued by Branch Gateway)" in forbidden.detail


@pytest.mark.parametrize("expired", [True, False])
async def test_expired_or_wrong_name_is_inspection_only_from_the_inspection_ca(expired: bool) -> None:
    """Verification reports an untrusted issuer before the date or the name: the handshake against the
    inspection trust store tells what devices trusting the inspection CA see."""
    inspection_ca = _root("Branch Gateway", "Contoso")
    private_root = _root("Corp Internal Root", "Contoso")
    settings = _settings(_trust(PUBLIC_ROOT), inspection_trust=_trust(PUBLIC_ROOT, inspection_ca))
    host = HOST if expired else "elsewhere.example.test"
    reason = Reason.TLS_EXPIRED if expired else Reason.TLS_HOSTNAME_MISMATCH
    cases = (
        (inspection_ca, reason, True),
        (private_root, Reason.TLS_UNTRUSTED, False),
        (PUBLIC_ROOT, reason, False),
    )
    for issuer, expected, verdict in cases:
        with _tls_server(_leaf(issuer, expired=expired, host=host)) as port:
            outcome = await _probe(port, settings)
        assert (outcome.reason, outcome.intercepted) == (expected, verdict), issuer.cert.subject


async def test_expired_or_wrong_name_from_a_product_is_inspection() -> None:
    fortigate = _root("FortiGate CA", "Fortinet")
    settings = _settings(_trust(PUBLIC_ROOT, fortigate))  # tls.ca_file holds the appliance's CA
    with _tls_server(_leaf(fortigate, expired=True)) as port:
        outcome = await _probe(port, settings)
    with _tls_server(_leaf(fortigate, host="elsewhere.example.test")) as port:
        mismatch = await _probe(port, settings)
    assert (outcome.reason, outcome.intercepted) == (Reason.TLS_EXPIRED, True)
    assert (mismatch.reason, mismatch.intercepted) == (Reason.TLS_HOSTNAME_MISMATCH, True)
    assert outcome.certificate is not None and outcome.certificate.product == "Fortinet FortiGate"


async def test_an_issuer_calling_itself_an_inspection_ca_is_inspection_without_a_product() -> None:
    with _tls_server(_leaf(_root("Contoso TLS Inspection CA", "Contoso"))) as port:
        outcome = await _probe(port, _settings(_trust(PUBLIC_ROOT)))
    assert outcome.intercepted is True
    assert outcome.certificate is not None and outcome.certificate.product == ""


# Names ------------------------------------------------------------


@pytest.mark.parametrize(
    ("names", "product"),
    [
        (["Zscaler Intermediate Root CA (zscaler.net)", "Zscaler Inc."], "Zscaler"),
        (["", "Palo Alto Networks"], "Palo Alto Networks"),
        (["FGT60E1234567890", "Fortinet"], "Fortinet FortiGate"),
        (["caadmin.netskope.com", "Netskope Inc"], "Netskope"),
        (["Blue Coat SG-S200 Series", "Blue Coat Systems"], "Symantec Blue Coat"),
        (["Cisco Umbrella Secondary SubCA ams-SG", "Cisco"], "Cisco Umbrella"),
        (["Forcepoint Cloud CA", ""], "Forcepoint"),
        (["Check Point SSL Inspection CA", ""], "Check Point"),
        (["Sophos SSL CA_C1234", "Sophos"], "Sophos"),
        (["mitmproxy", "mitmproxy"], "mitmproxy"),
        (["Barracuda CloudGen Firewall", ""], "Barracuda"),
        (["McAfee Web Gateway", ""], "McAfee Web Gateway"),
        (["Skyhigh Secure Web Gateway", ""], "Skyhigh Security"),
        (["iboss Root CA", ""], "iboss"),
        (["Menlo Security Intermediate CA", ""], "Menlo Security"),
        (["DigiCert Global G2 TLS RSA SHA256 2020 CA1", "DigiCert Inc"], ""),
        (["Microsoft Azure RSA TLS Issuing CA 04", "Microsoft Corporation"], ""),
        (["Cisco RSA Root", "Cisco"], ""),
    ],
)
def test_products_by_issuer_name(names: list[str], product: str) -> None:
    assert product_named(names) == product


def test_issuer_name_falls_back_from_cn_to_org_to_dn() -> None:
    org_only = _leaf(_root("", "Only An Organisation"))
    dn_only = _leaf(
        _certificate(
            x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Unit 7")]), None, ca=True
        )
    )
    empty = _leaf(_certificate(x509.Name([]), None, ca=True))

    assert issuer_name(describe_certificate(org_only.der, HOST, verified=False)) == "Only An Organisation"
    assert issuer_name(describe_certificate(dn_only.der, HOST, verified=False)) == "OU=Unit 7"
    assert issuer_name(describe_certificate(empty.der, HOST, verified=False)) == "an unnamed issuer"
    assert issuer_name(None) == "an unknown issuer"


async def test_empty_issuer_never_reads_issued_by_nothing() -> None:
    anonymous = _certificate(x509.Name([]), None, ca=True)
    settings = _settings(_trust(PUBLIC_ROOT), inspection_trust=_trust(PUBLIC_ROOT, anonymous))
    with _tls_server(_leaf(anonymous)) as port:
        outcome = await _probe(port, settings, UNSUPPORTED)
    assert outcome.reason is Reason.TLS_INTERCEPTED
    assert "issued by an unnamed issuer)" in outcome.detail
    assert "issued by )" not in outcome.detail


async def test_enormous_issuer_is_bounded_everywhere() -> None:
    huge = "Inspection " + "x" * 5000
    appliance = _certificate(_name("", huge), None, ca=True)
    with _tls_server(_leaf(appliance)) as port:
        outcome = await _probe(port, _settings(_trust(PUBLIC_ROOT)), UNSUPPORTED)
    certificate = outcome.certificate
    assert certificate is not None
    assert outcome.reason is Reason.TLS_INTERCEPTED
    assert len(outcome.detail) < ISSUER_NAME_CHARS + 80
    assert len(certificate.issuer_dn) == ISSUER_DN_CHARS and certificate.issuer_dn.endswith("...")
    assert len(bounded(certificate.issuer_org)) == MAX_LABEL_VALUE
