"""Turn a validated configuration into the objects the probe loop needs."""

from __future__ import annotations

import ssl

import certifi

from exporter.config import Config
from exporter.probes.dns import make_resolver
from exporter.probes.result import Phase
from exporter.probes.settings import ProbeSettings


def trust_context(config: Config) -> ssl.SSLContext:
    cafile = str(config.tls.ca_file) if config.tls.ca_file is not None else certifi.where()
    return ssl.create_default_context(cafile=cafile)


def probe_settings(config: Config) -> ProbeSettings:
    return ProbeSettings(
        timeouts={phase: config.phase_timeout(phase) for phase in Phase},
        trust=trust_context(config),
        resolver=make_resolver(list(config.dns.nameservers) or None, config.dns.port),
        port_remap=dict(config.port_remap),
        http_path=config.http_path,
    )
