from __future__ import annotations

import datetime
import socket
import ssl
from dataclasses import replace

import pytest
from cryptography import x509

from exporter.lab.certs import LabCA
from exporter.probes import https, tls
from exporter.probes.certificates import describe_certificate, hostname_matches
from exporter.probes.outcome import Certificate, Phase, Reason
from exporter.probes.prober import ProbeTarget
from tests.support.simulators.tls_servers import LEAF_CN, LoopbackLab

pytestmark = pytest.mark.anyio

HOST = "device.manage.microsoft.com"


def _expected(lab: LoopbackLab, role: str, *, verified: bool, hostname_matches: bool = True) -> Certificate:
    leaf = lab.leaf_certificates[role]
    issuer = lab.untrusted_ca if role == lab.UNTRUSTED else lab.ca
    issuer_cn, issuer_org = (
        issuer.cert.subject.get_attributes_for_oid(oid)[0].value
        for oid in (x509.NameOID.COMMON_NAME, x509.NameOID.ORGANIZATION_NAME)
    )
    return Certificate(
        subject_cn=LEAF_CN,
        issuer_cn=str(issuer_cn),
        issuer_org=str(issuer_org),
        not_after=leaf.not_valid_after_utc.timestamp(),
        verified=verified,
        hostname_matches=hostname_matches,
        issuer_dn=issuer.cert.subject.rfc4514_string(),
    )


async def test_verified_handshake_reports_the_certificate(loopback_lab: LoopbackLab) -> None:
    outcome = await tls.probe(ProbeTarget(HOST, loopback_lab.HEALTHY, 443), loopback_lab.probe_settings())

    assert outcome.ok
    assert outcome.reason is None
    assert set(outcome.phases) == {Phase.CONNECT, Phase.TLS}
    assert outcome.certificate == _expected(loopback_lab, loopback_lab.HEALTHY, verified=True)
    assert outcome.certificate.issuer_cn == "Intune Lab Root CA"
    assert outcome.certificate.issuer_org == "Intune Lab"
    assert outcome.intercepted is False
    assert loopback_lab.server_names[-1] == HOST


async def test_tls_only_port_through_the_remap(loopback_lab: LoopbackLab) -> None:
    outcome = await tls.probe(
        ProbeTarget("eu.notify.windows.com", loopback_lab.HEALTHY, 5223), loopback_lab.probe_settings()
    )

    assert outcome.ok
    assert loopback_lab.server_names[-1] == "eu.notify.windows.com"


async def test_untrusted_issuer_still_names_the_issuer(loopback_lab: LoopbackLab) -> None:
    outcome = await tls.probe(ProbeTarget(HOST, loopback_lab.UNTRUSTED, 443), loopback_lab.probe_settings())

    assert not outcome.ok
    assert outcome.reason is Reason.TLS_UNTRUSTED
    assert outcome.detail == "certificate verify failed: unable to get local issuer certificate"
    assert set(outcome.phases) == {Phase.CONNECT, Phase.TLS}
    assert outcome.certificate == _expected(loopback_lab, loopback_lab.UNTRUSTED, verified=False)
    assert outcome.certificate.issuer_cn == "Contoso TLS Inspection CA"
    assert outcome.intercepted is True  # an issuer calling itself an inspection CA is evidence


async def test_trusting_the_inspection_ca_makes_it_verified(loopback_lab: LoopbackLab) -> None:
    settings = loopback_lab.probe_settings(trust=loopback_lab.untrusted_context)

    outcome = await tls.probe(ProbeTarget(HOST, loopback_lab.UNTRUSTED, 443), settings)

    assert outcome.ok
    assert outcome.certificate == _expected(loopback_lab, loopback_lab.UNTRUSTED, verified=True)


async def test_hostname_mismatch(loopback_lab: LoopbackLab) -> None:
    outcome = await tls.probe(
        ProbeTarget(loopback_lab.MISMATCH_HOST, loopback_lab.HEALTHY, 443), loopback_lab.probe_settings()
    )

    assert outcome.reason is Reason.TLS_HOSTNAME_MISMATCH
    assert loopback_lab.MISMATCH_HOST in outcome.detail
    assert outcome.certificate == _expected(
        loopback_lab, loopback_lab.HEALTHY, verified=False, hostname_matches=False
    )
    assert loopback_lab.server_names[-1] == loopback_lab.MISMATCH_HOST
    assert outcome.intercepted is False


async def test_wildcard_covers_one_label_only(loopback_lab: LoopbackLab) -> None:
    outcome = await tls.probe(
        ProbeTarget("a.b.example.test", loopback_lab.HEALTHY, 443), loopback_lab.probe_settings()
    )

    assert outcome.reason is Reason.TLS_HOSTNAME_MISMATCH
    assert outcome.certificate is not None
    assert not outcome.certificate.hostname_matches


async def test_expired(loopback_lab: LoopbackLab) -> None:
    outcome = await tls.probe(ProbeTarget(HOST, loopback_lab.EXPIRED, 443), loopback_lab.probe_settings())

    assert outcome.reason is Reason.TLS_EXPIRED
    assert outcome.detail == "certificate verify failed: certificate has expired"
    assert outcome.certificate == _expected(loopback_lab, loopback_lab.EXPIRED, verified=False)
    assert outcome.certificate.not_after < datetime.datetime.now(datetime.UTC).timestamp()
    assert outcome.intercepted is False


async def test_certificate_is_none_when_the_second_fetch_fails(
    loopback_lab: LoopbackLab, monkeypatch: pytest.MonkeyPatch
) -> None:
    trusts_nothing = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    monkeypatch.setattr(tls, "_inspecting_context", lambda: trusts_nothing)

    outcome = await tls.probe(ProbeTarget(HOST, loopback_lab.UNTRUSTED, 443), loopback_lab.probe_settings())

    assert outcome.reason is Reason.TLS_UNTRUSTED
    assert outcome.certificate is None


async def test_silent_server_times_out_in_the_handshake(loopback_lab: LoopbackLab) -> None:
    outcome = await tls.probe(
        ProbeTarget(HOST, loopback_lab.SILENT, 443), loopback_lab.probe_settings(timeout=0.5)
    )

    assert outcome.reason is Reason.TLS_TIMEOUT
    assert outcome.detail == "no TLS handshake within 0.5s"
    assert set(outcome.phases) == {Phase.CONNECT, Phase.TLS}
    assert outcome.certificate is None


@pytest.mark.parametrize(
    ("address", "reason"), [("127.0.0.2", Reason.CONNECT_REFUSED), ("127.0.0.3", Reason.CONNECT_TIMEOUT)]
)
async def test_connect_failures_have_the_tcp_reasons(
    loopback_lab: LoopbackLab, address: str, reason: Reason
) -> None:
    outcome = await tls.probe(ProbeTarget(HOST, address, 443), loopback_lab.probe_settings(timeout=0.5))

    assert outcome.reason is reason
    assert set(outcome.phases) == {Phase.CONNECT}


async def test_plain_http_server_fails_the_handshake(loopback_lab: LoopbackLab) -> None:
    # The HEALTHY HTTP server answers the ClientHello with an HTTP 400 page.
    outcome = await tls.probe(ProbeTarget(HOST, loopback_lab.HEALTHY, 80), loopback_lab.probe_settings())

    assert outcome.reason is Reason.TLS_HANDSHAKE_FAILED
    assert outcome.detail == "wrong version number"
    assert outcome.certificate is None


async def test_hang_up_during_the_handshake(loopback_lab: LoopbackLab) -> None:
    # The UNTRUSTED role's plain HTTP responder hangs up on the ClientHello.
    outcome = await tls.probe(ProbeTarget(HOST, loopback_lab.UNTRUSTED, 80), loopback_lab.probe_settings())

    assert outcome.reason is Reason.TLS_HANDSHAKE_FAILED
    assert outcome.certificate is None


def _leaf(*names: str, common_name: str = "leaf.example.test") -> x509.Certificate:
    return _CA.issue(names, common_name=common_name).cert


_CA = LabCA("Matching Test CA", "Tests")


@pytest.mark.parametrize(
    ("names", "host", "matches"),
    [
        (("*.example.test",), "a.example.test", True),
        (("*.example.test",), "A.Example.Test.", True),
        (("*.example.test",), "example.test", False),
        (("*.example.test",), "a.b.example.test", False),
        (("*.test",), "a.test", False),
        (("f*.example.test",), "foo.example.test", False),
        (("example.test",), "example.test", True),
        (("example.test",), "other.test", False),
        (("other.test", "*.manage.microsoft.com"), "x.manage.microsoft.com", True),
        (("127.0.0.1",), "127.0.0.1", True),
        (("127.0.0.1",), "127.0.0.2", False),
    ],
)
def test_hostname_matches(names: tuple[str, ...], host: str, matches: bool) -> None:
    assert hostname_matches(_leaf(*names), host) is matches


def test_common_name_counts_only_without_dns_names() -> None:
    assert hostname_matches(_leaf(common_name="legacy.example.test"), "legacy.example.test")
    assert not hostname_matches(
        _leaf("other.example.test", common_name="legacy.example.test"), "legacy.example.test"
    )


def test_dns_name_never_matches_an_ip_address() -> None:
    assert not hostname_matches(_leaf(common_name="127.0.0.1"), "127.0.0.1")


def test_describe_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        describe_certificate(b"not a certificate", "example.test", verified=False)


async def test_offers_no_alpn_even_after_https_probes_shared_the_context(loopback_lab: LoopbackLab) -> None:
    settings = loopback_lab.probe_settings(timeout=0.3)
    await https.probe(ProbeTarget(HOST, loopback_lab.HEALTHY, 443), settings)  # httpcore sets ALPN on it
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    with listener:
        remapped = replace(settings, port_remap={5223: listener.getsockname()[1]})

        outcome = await tls.probe(ProbeTarget(HOST, "127.0.0.1", 5223), remapped)

        peer, _ = listener.accept()
        with peer:
            client_hello = peer.recv(65536)
    assert outcome.reason is Reason.TLS_TIMEOUT
    assert HOST.encode() in client_hello  # SNI, in the clear
    assert b"http/1.1" not in client_hello
