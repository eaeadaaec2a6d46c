"""The proxy fixtures themselves: real Squid and mitmproxy in front of the loopback lab, driven by httpx."""

from __future__ import annotations

import socket
import ssl

import httpx
import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.support.simulators.mitm import MitmProxy
from tests.support.simulators.proxy_fixtures import LAB_HOSTS
from tests.support.simulators.squid import SquidProxy
from tests.support.simulators.tls_servers import LoopbackLab

HOST = "manage.microsoft.com"
OTHER_HOST = "login.microsoftonline.com"
RANGE = {"Range": "bytes=0-99"}


def get(
    proxy: str, url: str, verify: ssl.SSLContext | bool = False, headers: dict[str, str] | None = None
) -> httpx.Response:
    with httpx.Client(proxy=proxy, verify=verify, trust_env=False, timeout=10) as client:
        return client.get(url, headers=headers)


def https_url(lab: LoopbackLab, host: str = HOST, path: str = "/") -> str:
    return f"https://{host}:{lab.https_port}{path}"


def http_url(lab: LoopbackLab, host: str = HOST, path: str = "/") -> str:
    return f"http://{host}:{lab.http_port}{path}"


def presented_certificate(proxy: MitmProxy, host: str, port: int) -> x509.Certificate:
    """The leaf a client meets after ``CONNECT host:port`` through `proxy`, without verifying it."""
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as sock:
        sock.sendall(f"CONNECT {host}:{port} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            assert chunk, f"proxy closed the connection after {head!r}"
            head += chunk
        assert head.startswith(b"HTTP/1.1 200"), head
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with context.wrap_socket(sock, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


def test_lab_hosts_cover_the_catalogue_and_the_roles() -> None:
    assert LAB_HOSTS[HOST] == LAB_HOSTS["geo.prod.do.dsp.mp.microsoft.com"] == LoopbackLab.HEALTHY
    assert not any("*" in name for name in LAB_HOSTS)
    assert LAB_HOSTS["refused.lab.example.test"] == LoopbackLab.REFUSED
    assert LAB_HOSTS["blackhole.lab.example.test"] == LoopbackLab.BLACKHOLE
    assert LAB_HOSTS["untrusted.lab.example.test"] == LoopbackLab.UNTRUSTED


def test_open_squid_tunnels_https_to_the_lab(squid_open: SquidProxy, loopback_lab: LoopbackLab) -> None:
    names_before = len(loopback_lab.server_names)

    response = get(squid_open.url, https_url(loopback_lab), verify=loopback_lab.trusted_context)

    assert (response.status_code, response.text) == (200, "intune lab\n")
    assert HOST in loopback_lab.server_names[names_before:]  # SNI went through the tunnel untouched
    squid_open.wait_for_access_log(f"CONNECT {HOST}:{loopback_lab.https_port}")


def test_open_squid_forwards_plain_http(squid_open: SquidProxy, loopback_lab: LoopbackLab) -> None:
    response = get(squid_open.url, http_url(loopback_lab, OTHER_HOST, "/status/204"))

    assert response.status_code == 204
    assert "squid" in response.headers["via"]


def test_squid_auth_without_credentials_answers_407(
    squid_auth: SquidProxy, loopback_lab: LoopbackLab
) -> None:
    with pytest.raises(httpx.ProxyError, match="407"):
        get(squid_auth.url, https_url(loopback_lab), verify=loopback_lab.trusted_context)

    response = get(squid_auth.url, http_url(loopback_lab))
    assert response.status_code == 407
    assert response.headers["proxy-authenticate"] == 'Basic realm="intune-lab"'


def test_squid_auth_with_credentials_lets_through(squid_auth: SquidProxy, loopback_lab: LoopbackLab) -> None:
    assert squid_auth.username and squid_auth.password
    proxy = squid_auth.url_with_credentials

    assert get(proxy, https_url(loopback_lab), verify=loopback_lab.trusted_context).status_code == 200
    assert get(proxy, http_url(loopback_lab)).status_code == 200
    assert f" {squid_auth.username} " in squid_auth.wait_for_access_log(squid_auth.username)


def test_squid_denying_a_destination_answers_403(loopback_lab: LoopbackLab) -> None:
    with SquidProxy(LAB_HOSTS, deny_hosts=[HOST]) as squid:
        with pytest.raises(httpx.ProxyError, match="403"):
            get(squid.url, https_url(loopback_lab), verify=loopback_lab.trusted_context)
        assert get(squid.url, http_url(loopback_lab)).status_code == 403
        assert get(
            squid.url, https_url(loopback_lab, OTHER_HOST), verify=loopback_lab.trusted_context
        ).is_success


def test_mitm_presents_its_own_ca(mitm_inspecting: MitmProxy, loopback_lab: LoopbackLab) -> None:
    leaf = presented_certificate(mitm_inspecting, HOST, loopback_lab.https_port)

    assert leaf.issuer == mitm_inspecting.ca_cert.subject
    assert leaf.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == mitm_inspecting.ca_common_name
    assert mitm_inspecting.ca_organization == "mitmproxy"
    assert HOST in leaf.extensions.get_extension_for_class(
        x509.SubjectAlternativeName
    ).value.get_values_for_type(x509.DNSName)


def test_mitm_is_trusted_only_by_clients_trusting_its_ca(
    mitm_inspecting: MitmProxy, loopback_lab: LoopbackLab
) -> None:
    response = get(mitm_inspecting.url, https_url(loopback_lab), verify=mitm_inspecting.client_context())
    assert (response.status_code, response.text) == (200, "intune lab\n")

    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        get(mitm_inspecting.url, https_url(loopback_lab), verify=loopback_lab.trusted_context)


def test_mitm_verifies_the_lab_upstream(mitm_inspecting: MitmProxy, loopback_lab: LoopbackLab) -> None:
    url = https_url(loopback_lab, "untrusted.lab.example.test")

    response = get(mitm_inspecting.url, url, verify=mitm_inspecting.client_context())

    assert response.status_code == 502
    assert "unable to get local issuer certificate" in response.text


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_byte_ranges_pass_through_squid(
    scheme: str, squid_open: SquidProxy, loopback_lab: LoopbackLab
) -> None:
    url = (http_url if scheme == "http" else https_url)(loopback_lab, HOST, "/range")

    response = get(squid_open.url, url, verify=loopback_lab.trusted_context, headers=RANGE)

    assert response.status_code == 206
    assert response.headers["content-range"] == "bytes 0-99/1024"
    assert len(response.content) == 100


def test_mitm_range_stripping_returns_the_whole_body(
    mitm_inspecting: MitmProxy, mitm_range_stripping: MitmProxy, loopback_lab: LoopbackLab
) -> None:
    url = http_url(loopback_lab, HOST, "/range")

    intact = get(mitm_inspecting.url, url, headers=RANGE)
    stripped = get(mitm_range_stripping.url, url, headers=RANGE)

    assert intact.status_code == 206
    assert stripped.status_code == 200
    assert "content-range" not in stripped.headers
    assert len(stripped.content) == 1024
    assert stripped.content.startswith(intact.content)
