"""The loopback lab: servers that behave well or badly on purpose, one behaviour per loopback address.

Every role listens on the same two port numbers, ``https_port`` and ``http_port``, each on its own
127.0.0.x address. One ``port_remap`` (443 -> https_port, 80 -> http_port, 5223 -> https_port) therefore
serves every role, and a DNS simulator picks the behaviour by the address it hands out::

    address     role       on https_port                                on http_port
    127.0.0.1   HEALTHY    HTTPS (pytest-httpserver), trusted leaf      HTTP (pytest-httpserver)
    127.0.0.2   REFUSED    port bound but not listening: RST            same
    127.0.0.3   BLACKHOLE  accept queue full: SYNs dropped, connect     same
                           attempts time out
    127.0.0.4   UNTRUSTED  TLS with a leaf from the untrusted CA        plain HTTP responder
                           ("TLS inspection"), then an HTTP responder
    127.0.0.5   SILENT     accepts, reads, never says a word            same
    127.0.0.6   EXPIRED    TLS with an expired leaf from the trusted    plain HTTP responder
                           CA, then an HTTP responder

All three leaf certificates cover `CERT_NAMES` (wildcards included), so for any name under those a
probe meets the role's problem and nothing else; any other name (e.g. `MISMATCH_HOST`) fails the name
check. The HEALTHY servers answer ``GET /status/NNN`` with status NNN and any other path with 200; the
HTTP responders of the other roles answer any request with 200 (206 for one byte range) and hang up on
bytes that are not HTTP.

UNTRUSTED, EXPIRED and SILENT are the responders and tarpit of `intune-exporter lab`
(exporter.lab.web.TcpServices); REFUSED sockets are just held open, BLACKHOLE ones blackholed
(exporter.lab.ports.blackhole). The lab writes the trusted CA to ``ca_pem_path`` for use as the
exporter's CA file. Ports, CAs and leaves come from exporter.lab too.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import re
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import dns.asyncresolver
from cryptography import x509
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from exporter.catalogue import builtin_editions, load_builtin
from exporter.lab.certs import LabCA
from exporter.lab.certs import utc_now as _now
from exporter.lab.ports import ATTEMPTS, blackhole, claim_ports, release
from exporter.lab.web import Behaviour, Service, TcpServices, ranged_response
from exporter.probes.outcome import Phase
from exporter.probes.settings import ProbeSettings

# pytest-httpserver's werkzeug logs every request at INFO; a full catalogue cycle is hundreds of lines.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

HEALTHY = "127.0.0.1"
REFUSED = "127.0.0.2"
BLACKHOLE = "127.0.0.3"
UNTRUSTED = "127.0.0.4"
SILENT = "127.0.0.5"
EXPIRED = "127.0.0.6"


def _catalogue_names() -> tuple[str, ...]:
    """Every name of every built-in edition, so the whole catalogue can be pointed at the lab whichever
    edition a test selects."""
    names: set[str] = set()
    for catalogue in map(load_builtin, builtin_editions()):
        names |= {url.lower() for endpoint_set in catalogue.sets for url in endpoint_set.urls}
        names |= {host.lower() for hosts in catalogue.wildcard_representatives.values() for host in hosts}
    return tuple(sorted(names))


CERT_NAMES = (
    "*.manage.microsoft.com",
    "manage.microsoft.com",
    "*.example.test",
    "example.test",
    "login.microsoftonline.com",
    "*.notify.windows.com",
    "localhost",
    *_catalogue_names(),
)
LEAF_CN = "lab.example.test"
MISMATCH_HOST = "wrong-name.invalid"
TRUSTED_CA_NAME = ("Intune Lab Root CA", "Intune Lab")
UNTRUSTED_CA_NAME = ("Contoso TLS Inspection CA", "Contoso Firewall")


def client_context(ca: LabCA) -> ssl.SSLContext:
    """A verifying client context that trusts `ca` and nothing else."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(cadata=ca.cert_pem.decode("ascii"))
    return context


@dataclass
class LoopbackLab:
    """Handle on the running lab; see the module docstring for what each address does."""

    HEALTHY: ClassVar[str] = HEALTHY
    REFUSED: ClassVar[str] = REFUSED
    BLACKHOLE: ClassVar[str] = BLACKHOLE
    UNTRUSTED: ClassVar[str] = UNTRUSTED
    SILENT: ClassVar[str] = SILENT
    EXPIRED: ClassVar[str] = EXPIRED
    CERT_NAMES: ClassVar[tuple[str, ...]] = CERT_NAMES
    MISMATCH_HOST: ClassVar[str] = MISMATCH_HOST

    https_port: int
    http_port: int
    ca_pem_path: Path
    """PEM file holding only the trusted CA: the exporter's CA bundle in end-to-end tests."""
    ca: LabCA
    untrusted_ca: LabCA
    https_server: HTTPServer
    """HEALTHY's HTTPS server; its `.log` lists (request, response) pairs."""
    http_server: HTTPServer
    leaf_certificates: dict[str, x509.Certificate]
    """The leaf each TLS role presents, by role address (HEALTHY, UNTRUSTED, EXPIRED)."""
    server_names: list[str] = field(default_factory=list)
    """SNI names received by every lab TLS server, oldest first."""

    @property
    def trusted_context(self) -> ssl.SSLContext:
        """A new verifying client context trusting only the trusted CA: new on every use, because clients
        such as httpx configure the context they are given (ALPN) and tests must not see each other's."""
        return client_context(self.ca)

    @property
    def untrusted_context(self) -> ssl.SSLContext:
        """A new verifying client context trusting only the untrusted ("inspection") CA."""
        return client_context(self.untrusted_ca)

    @property
    def port_remap(self) -> dict[int, int]:
        return {443: self.https_port, 80: self.http_port, 5223: self.https_port}

    def probe_settings(self, timeout: float = 2.0, **changes: Any) -> ProbeSettings:
        """Settings for calling probes against the lab: `timeout` for every phase, lab trust and ports."""
        resolver = dns.asyncresolver.Resolver(configure=False)
        resolver.nameservers = ["127.0.0.1"]
        settings = ProbeSettings(
            timeouts=dict.fromkeys(Phase, timeout),
            trust=self.trusted_context,
            resolver=resolver,
            port_remap=self.port_remap,
        )
        return replace(settings, **changes)


@contextlib.contextmanager
def running_lab(directory: Path, ca: LabCA, untrusted_ca: LabCA) -> Iterator[LoopbackLab]:
    """Start every lab server (see the module docstring); stop them all and close every socket on exit."""
    server_names: list[str] = []
    now = _now()
    leaves = {
        HEALTHY: ca.issue(CERT_NAMES, common_name=LEAF_CN),
        UNTRUSTED: untrusted_ca.issue(CERT_NAMES, common_name=LEAF_CN),
        EXPIRED: ca.issue(
            CERT_NAMES,
            common_name=LEAF_CN,
            not_before=now - datetime.timedelta(days=90),
            not_after=now - datetime.timedelta(days=1),
        ),
    }
    healthy_tls, untrusted_tls, expired_tls = (
        _recording(leaves[role].server_context(), server_names) for role in (HEALTHY, UNTRUSTED, EXPIRED)
    )
    ca_pem_path = directory / "lab-ca.pem"
    ca_pem_path.write_bytes(ca.cert_pem)

    with contextlib.ExitStack() as stack:
        https_port, http_port, held, https_server, http_server = _claim_ports(stack, healthy_tls)
        services = [
            Service(held.pop((role, port)), Behaviour.RESPOND, tls if port == https_port else None)
            for role, tls in ((UNTRUSTED, untrusted_tls), (EXPIRED, expired_tls))
            for port in (https_port, http_port)
        ]
        services += [Service(held.pop((SILENT, port)), Behaviour.TARPIT) for port in (https_port, http_port)]
        for port in (https_port, http_port):
            stack.enter_context(blackhole(held[BLACKHOLE, port]))
        responders = TcpServices(services)
        stack.callback(responders.stop)
        responders.start()
        yield LoopbackLab(
            https_port=https_port,
            http_port=http_port,
            ca_pem_path=ca_pem_path,
            ca=ca,
            untrusted_ca=untrusted_ca,
            https_server=https_server,
            http_server=http_server,
            leaf_certificates={role: leaf.cert for role, leaf in leaves.items()},
            server_names=server_names,
        )


def _recording(context: ssl.SSLContext, names: list[str]) -> ssl.SSLContext:
    def remember(_socket: Any, server_name: str | None, _context: ssl.SSLContext) -> None:
        if server_name is not None:
            names.append(server_name)

    context.sni_callback = remember
    return context


_OTHER_ROLES = (REFUSED, BLACKHOLE, UNTRUSTED, SILENT, EXPIRED)


def _claim_ports(
    stack: contextlib.ExitStack, healthy_tls: ssl.SSLContext
) -> tuple[int, int, dict[tuple[str, int], socket.socket], HTTPServer, HTTPServer]:
    """Two port numbers free on every lab address: HEALTHY's HTTP servers started on them, and one
    bound, not yet listening, socket per (other address, port), closed on exit unless popped."""
    for _ in range(ATTEMPTS):
        ports, held = claim_ports((HEALTHY, *_OTHER_ROLES), 2)
        with contextlib.ExitStack() as attempt:
            attempt.callback(release, held)
            for port in ports:
                held.pop((HEALTHY, port)).close()  # HTTPServer binds the port again right away
            try:
                https_server = _start_httpserver(attempt, ports[0], healthy_tls)
                http_server = _start_httpserver(attempt, ports[1], None)
            except OSError:
                continue
            stack.push(attempt.pop_all())
            return ports[0], ports[1], held, https_server, http_server
    raise RuntimeError("found no port numbers free on every lab address")


def _start_httpserver(stack: contextlib.ExitStack, port: int, tls: ssl.SSLContext | None) -> HTTPServer:
    server = HTTPServer(host=HEALTHY, port=port, ssl_context=tls, threaded=True)
    server.expect_request(re.compile(".*")).respond_with_handler(_healthy_answer)
    server.start()
    stack.callback(server.stop)
    return server


def _healthy_answer(request: Request) -> Response:
    """Status NNN for ``/status/NNN``, else 200; ``/range`` serves 1024 bytes, other paths "intune lab".

    A 200 answer honours one byte range as the lab's responders do (`ranged_response`): 206 with its
    Content-Range, or 416 when it starts past the end.
    """
    match = re.fullmatch(r"/status/([1-5]\d\d)", request.path)
    status = int(match.group(1)) if match else 200
    body = b"0123456789abcdef" * 64 if request.path == "/range" else b"intune lab\n"
    if status != 200:
        return Response(body, status=status, content_type="text/plain")
    status, headers, part = ranged_response(body, request.headers.get("Range", ""))
    return Response(part, status=status, headers=headers, content_type="text/plain")
