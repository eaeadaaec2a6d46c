"""The settings every probe runs with, from a validated configuration: timeouts, trust stores, resolver,
port remapping and the proxy routes (with their credentials)."""

from __future__ import annotations

import os
import ssl
import urllib.parse
from collections.abc import Mapping

import certifi
import dns.asyncresolver
import dns.resolver

from exporter.config.file import Config, LoadedConfig
from exporter.config.proxy import DIRECT, split_proxy_url
from exporter.errors import NO_VALUE, ConfigError
from exporter.plan.proxy_routes import environment_proxies, environment_proxy_url
from exporter.probes.dns import make_resolver
from exporter.probes.outcome import Phase
from exporter.probes.settings import ProbeSettings, ProxyRoute


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


def inspection_trust(config: Config, source: str) -> ssl.SSLContext | None:
    if config.tls.inspection_ca_file is None:
        return None
    context = trust_context(config, source)
    try:
        context.load_verify_locations(cafile=str(config.tls.inspection_ca_file))
    except ssl.SSLError as exc:
        raise ConfigError(
            source,
            "tls.inspection_ca_file",
            str(config.tls.inspection_ca_file),
            f"not a PEM certificate bundle ({exc.reason})",
        ) from None
    return context


def proxy_credentials(config: Config, source: str, environ: Mapping[str, str] | None = None) -> str | None:
    """'user:password' for the proxy, from the environment variable or file the configuration names, or from
    the proxy URL in the environment. The value itself never appears in an error."""
    environ = os.environ if environ is None else environ
    proxy = config.proxy
    if proxy.credentials_env is not None:
        value = environ.get(proxy.credentials_env, "").strip()
        if not value:
            raise ConfigError(
                source, "proxy.credentials_env", proxy.credentials_env, "environment variable is unset"
            )
        return _checked_credentials(value, source, "proxy.credentials_env", proxy.credentials_env)
    if proxy.credentials_file is not None:
        try:
            value = proxy.credentials_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(
                source, "proxy.credentials_file", str(proxy.credentials_file), f"unreadable: {exc}"
            ) from None
        return _checked_credentials(value, source, "proxy.credentials_file", str(proxy.credentials_file))
    if proxy.from_environment:
        for scheme in ("https", "http"):
            parts = urllib.parse.urlsplit(environment_proxies(environ).get(scheme, ""))
            if parts.username:
                return f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    return None


def _checked_credentials(value: str, source: str, field: str, where: str) -> str:
    if ":" not in value or "\n" in value:
        raise ConfigError(source, field, where, "must hold one line 'user:password' (content not shown)")
    return value


def probe_settings(loaded: LoadedConfig) -> ProbeSettings:
    config, source = loaded.config, loaded.source
    credentials = proxy_credentials(config, source)
    routes = {}
    for value in {config.proxy.url, *config.proxy.sets.values(), *_environment_urls(config)}:
        if value is not None and value != DIRECT:
            host, port = split_proxy_url(value)
            routes[f"{host}:{port}"] = ProxyRoute(host, port, credentials)
    return ProbeSettings(
        timeouts={phase: config.phase_timeout(phase) for phase in Phase},
        trust=trust_context(config, source),
        resolver=resolver(config, source),
        port_remap=dict(config.port_remap),
        address_families=tuple(dict.fromkeys(family.version for family in config.dns.families)),
        max_addresses_per_family=config.dns.max_addresses_per_family,
        http_path=config.http_path,
        range_path=config.range_path or config.http_path,
        routes=routes,
        inspection_trust=inspection_trust(config, source),
        inspection_issuers=tuple(issuer.lower() for issuer in config.tls.inspection_issuers),
        public_issuers=tuple(issuer.lower() for issuer in config.tls.public_issuers),
    )


def _environment_urls(config: Config) -> list[str | None]:
    if not config.proxy.from_environment:
        return []
    proxies = environment_proxies(os.environ)
    return [environment_proxy_url(proxies[scheme]) for scheme in ("https", "http") if scheme in proxies]
