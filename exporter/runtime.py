"""Turn a validated configuration into the objects the probe loop needs."""

from __future__ import annotations

import ssl

import certifi
import dns.asyncresolver
import dns.resolver

from exporter.config import Config, LoadedConfig
from exporter.errors import NO_VALUE, ConfigError
from exporter.probes.dns import make_resolver
from exporter.probes.result import Phase
from exporter.probes.settings import ProbeSettings


def resolver(config: Config, source: str) -> dns.asyncresolver.Resolver:
    try:
        return make_resolver(list(config.dns.nameservers) or None, config.dns.port)
    except dns.resolver.NoResolverConfiguration:
        raise ConfigError(
            source, "dns.nameservers", NO_VALUE, "empty, and this system has no resolver configuration to use"
        ) from None


def trust_context(config: Config, source: str) -> ssl.SSLContext:
    cafile = str(config.tls.ca_file) if config.tls.ca_file is not None else certifi.where()
    try:
        return ssl.create_default_context(cafile=cafile)
    except ssl.SSLError as exc:
        raise ConfigError(
            source, "tls.ca_file", cafile, f"not a PEM certificate bundle ({exc.reason})"
        ) from None


def probe_settings(loaded: LoadedConfig) -> ProbeSettings:
    config, source = loaded.config, loaded.source
    return ProbeSettings(
        timeouts={phase: config.phase_timeout(phase) for phase in Phase},
        trust=trust_context(config, source),
        resolver=resolver(config, source),
        port_remap=dict(config.port_remap),
        http_path=config.http_path,
    )
