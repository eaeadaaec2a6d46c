"""Start and stop the whole simulated network: DNS, NTP and the TCP services of every role in use."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from exporter.catalogue import Catalogue
from exporter.lab.certs import LabCA
from exporter.lab.dns import DNSServer, UnrecordedQueries
from exporter.lab.ntp import NTPServer
from exporter.lab.ports import claim_ports, release
from exporter.lab.scenario import HEALTHY, INSPECTED, REFUSED, TARPIT, UNTRUSTED, build_zone, catalogue_names
from exporter.lab.web import Behaviour, Service, TcpServices
from exporter.probes.dns_zone import RANDOM_LABEL_PREFIX

LAB_CA_NAME = ("Intune Lab Root CA", "Intune Lab")
UNTRUSTED_CA_NAME = ("Branch Firewall Inspection CA", "Branch Office Firewall")
INSPECTION_CA_NAME = ("Contoso TLS Inspection CA", "Contoso Proxy")
LEAF_CN = "intune-lab.invalid"


@dataclass(frozen=True)
class Network:
    dns_port: int
    https_port: int
    """Every role's TLS port, standing for catalogue ports 443 and 5223."""
    http_port: int
    """Every role's HTTP port, standing for catalogue port 80."""
    ntp_port: int
    ca_file: Path
    """The lab CA: the exporter's trust store (tls.ca_file)."""
    inspection_ca_file: Path | None
    """With --intercept, the inspection CA that devices trust (tls.inspection_ca_file)."""

    @property
    def port_remap(self) -> dict[int, int]:
        return {443: self.https_port, 5223: self.https_port, 80: self.http_port, 123: self.ntp_port}


@contextlib.contextmanager
def running_network(
    directory: Path, catalogue: Catalogue, *, broken: bool, intercept: bool
) -> Iterator[Network]:
    """Everything listening on 127.0.0.x until the block ends; CA files are written to `directory`."""
    names = catalogue_names(catalogue)
    tls_roles = {HEALTHY: LabCA(*LAB_CA_NAME)}
    if broken:
        tls_roles[UNTRUSTED] = LabCA(*UNTRUSTED_CA_NAME)
    if intercept:
        tls_roles[INSPECTED] = LabCA(*INSPECTION_CA_NAME)
    ca_file = directory / "lab-ca.pem"
    ca_file.write_bytes(tls_roles[HEALTHY].cert_pem)
    inspection_ca_file = None
    if intercept:
        inspection_ca_file = directory / "inspection-ca.pem"
        inspection_ca_file.write_bytes(tls_roles[INSPECTED].cert_pem)

    addresses = [*tls_roles, *([REFUSED, TARPIT] if broken else [])]
    (https_port, http_port), held = claim_ports(addresses, 2)
    with contextlib.ExitStack() as stack:
        stack.callback(release, held)  # REFUSED's sockets stay bound, never listening: connections get RST
        services = []
        for address, ca in tls_roles.items():
            tls = ca.issue(names, common_name=LEAF_CN).server_context()
            services.append(Service(_take(held, address, https_port), Behaviour.RESPOND, tls))
            services.append(Service(_take(held, address, http_port), Behaviour.RESPOND))
        if broken:
            services += [
                Service(_take(held, TARPIT, port), Behaviour.TARPIT) for port in (https_port, http_port)
            ]
        tcp = TcpServices(services)
        stack.callback(tcp.stop)
        tcp.start()

        zone = build_zone(catalogue, broken=broken, intercept=intercept)
        dns = stack.enter_context(DNSServer(zone.records, host=HEALTHY))
        dns.nxdomain |= zone.nxdomain
        dns.zones |= zone.zones
        dns.unregistered_prefix = RANDOM_LABEL_PREFIX
        dns.log = UnrecordedQueries()  # the lab runs for days
        ntp = stack.enter_context(NTPServer(host=HEALTHY))
        yield Network(
            dns_port=dns.port,
            https_port=https_port,
            http_port=http_port,
            ntp_port=ntp.port,
            ca_file=ca_file,
            inspection_ca_file=inspection_ca_file,
        )


def _take(held: dict[tuple[str, int], socket.socket], address: str, port: int) -> socket.socket:
    return held.pop((address, port))
