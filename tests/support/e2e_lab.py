"""Points the exporter's whole built-in catalogue at the loopback simulators, with a few hosts broken.

Only configuration aims the exporter at the lab: `dns.nameservers`/`dns.port` (the DNS simulator answers
every name with 127.0.0.1 unless told otherwise, except the zone check's random names, which do not exist as
on the Internet), `port_remap` (no root needed for 80, 443, 5223, 123) and
`tls.ca_file` (the lab's CA).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from exporter.probes.dns_zone import RANDOM_LABEL_PREFIX
from tests.support.simulators.dns_server import DNSServer
from tests.support.simulators.ntp_server import NTPServer
from tests.support.simulators.tls_servers import BLACKHOLE, HEALTHY, REFUSED, UNTRUSTED, LoopbackLab

NXDOMAIN_HOST = "login.live.com"  # set 97
REFUSED_HOST = "go.microsoft.com"  # set 190, TCP 80 and 443
BLACKHOLE_HOST = "config.edge.skype.com"  # set 189
UNTRUSTED_HOST = "ekop.intel.com"  # set 173
NTP_OFFSET = 1.5
CONNECT_TIMEOUT = 0.5
BROKEN = {NXDOMAIN_HOST, REFUSED_HOST, BLACKHOLE_HOST, UNTRUSTED_HOST}


def arrange(dns_server: DNSServer, ntp_server: NTPServer, *, broken: bool = True) -> None:
    dns_server.default_address = HEALTHY
    dns_server.unregistered_prefix = RANDOM_LABEL_PREFIX
    ntp_server.offset = NTP_OFFSET
    if broken:
        dns_server.nxdomain.add(NXDOMAIN_HOST)
        dns_server.records.update(
            {REFUSED_HOST: [REFUSED], BLACKHOLE_HOST: [BLACKHOLE], UNTRUSTED_HOST: [UNTRUSTED]}
        )


def write_config(
    path: Path, dns_server: DNSServer, ntp_server: NTPServer, lab: LoopbackLab, **extra: object
) -> Path:
    config = {
        "interval": "1h",
        "jitter": "0s",
        "timeout": "3s",
        "timeouts": {"connect": f"{CONNECT_TIMEOUT}s"},
        "dns": {"nameservers": ["127.0.0.1"], "port": dns_server.port},
        "tls": {"ca_file": str(lab.ca_pem_path)},
        "port_remap": {**lab.port_remap, 123: ntp_server.port},
        "state_dir": str(path.parent / "state"),
        "drift": {"page": {"enabled": False}},
        **extra,
    }
    path.write_text(yaml.safe_dump(config))
    return path
