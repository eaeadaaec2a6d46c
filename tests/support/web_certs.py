"""Certificates from a throwaway CA (trustme) for the HTTPS, mTLS and web configuration tests."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class WebCerts:
    """server.crt/server.key for 127.0.0.1, ca.crt, client.crt/client.key and other.key in `directory`."""

    directory: Path
    ca: trustme.CA
    client: trustme.LeafCert

    def client_context(self, with_certificate: bool = False) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.directory / "ca.crt"))
        if with_certificate:
            self.client.configure_cert(context)
        return context


def write_certs(directory: Path) -> WebCerts:
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost")
    server.cert_chain_pems[0].write_to_path(str(directory / "server.crt"))
    server.private_key_pem.write_to_path(str(directory / "server.key"))
    ca.cert_pem.write_to_path(str(directory / "ca.crt"))
    ca.issue_cert("other.example").private_key_pem.write_to_path(str(directory / "other.key"))
    client = ca.issue_cert("prometheus.example")
    client.cert_chain_pems[0].write_to_path(str(directory / "client.crt"))
    client.private_key_pem.write_to_path(str(directory / "client.key"))
    return WebCerts(directory, ca, client)
