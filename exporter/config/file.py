"""The exporter's configuration file: schema, defaults and cross-checks against the catalogue.

A missing file means the built-in defaults. Every problem becomes one `ConfigError` naming the file,
the field and the value.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, field_validator

from exporter.catalogue import Catalogue, Cloud, builtin_editions, load_builtin, load_file, merge
from exporter.catalogue.model import HostName, RepresentativeTable, SetId, check_set_id, set_id_order
from exporter.config.drift import DriftSettings
from exporter.config.fields import Duration, NonNegativeDuration, Section
from exporter.config.proxy import ProxySettings
from exporter.errors import ConfigError, load_yaml_file, validated
from exporter.probes.outcome import Phase

DEFAULT_STATE_DIR = Path.home() / ".local" / "state" / "intune-endpoint-exporter"
DEFAULT_PORT = 10094
DEFAULT_LISTEN = f"0.0.0.0:{DEFAULT_PORT}"
BUILTIN_CONFIG = "built-in default configuration"


class Timeouts(Section):
    """Per-phase timeouts; an unset phase uses the top-level `timeout`."""

    dns: Duration | None = None
    connect: Duration | None = None
    tls: Duration | None = None
    http: Duration | None = None
    ntp: Duration | None = None


def _ip_address(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise ValueError("not an IP address") from None


class AddressFamily(StrEnum):
    IPV4 = "ipv4"
    IPV6 = "ipv6"

    @property
    def version(self) -> int:
        return 4 if self is AddressFamily.IPV4 else 6


class DnsSettings(Section):
    nameservers: tuple[Annotated[str, AfterValidator(_ip_address)], ...] = ()
    """Empty: the system resolver configuration (/etc/resolv.conf)."""
    port: int = Field(default=53, ge=1, le=65535)
    families: tuple[AddressFamily, ...] = Field(
        default=(AddressFamily.IPV4, AddressFamily.IPV6), min_length=1
    )
    """Address families resolved (A, AAAA) and probed; networks without IPv6 set [ipv4]."""
    max_addresses_per_family: int = Field(default=4, ge=1, le=64)
    """Addresses probed per family, the first ones in the resolver's order."""


class TlsSettings(Section):
    ca_file: Path | None = None
    """PEM bundle replacing the public Mozilla roots (certifi) as the trust store."""
    inspection_ca_file: Path | None = None
    """PEM bundle of the organisation's TLS-inspection CA(s), which devices trust: an intercepted chain that
    verifies against it still works where the page allows inspection."""
    inspection_issuers: tuple[str, ...] = ()
    """Issuer common names or organisations (substrings, any case) of known inspection proxies."""
    public_issuers: tuple[str, ...] = ()
    """Issuer common names or organisations (substrings, any case) never to call intercepted."""


class SetSelection(Section):
    only: tuple[SetId, ...] = ()
    """When not empty, probe these sets and no others."""
    enabled: tuple[SetId, ...] = ()
    """Sets to probe in addition to those on by default (e.g. 'do-peer')."""
    disabled: tuple[SetId, ...] = ()


class SectionSelection(Section):
    disabled: tuple[str, ...] = ()


class ExtraEndpoints(Section):
    """Hosts and ports added to an existing set, or to a new set when `set_id` is new."""

    set_id: SetId
    hosts: tuple[HostName, ...] = ()
    tcp_ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] = ()
    udp_ports: tuple[Annotated[int, Field(ge=1, le=65535)], ...] = ()
    name: str = ""
    section: str = "Custom"
    required: bool = False

    @field_validator("set_id")
    @classmethod
    def _id(cls, value: str) -> str:
        return check_set_id(value)


TENANT_LOCATION = re.compile(r"^AMSU[A-Z]\d{4}$")


class Config(Section):
    listen: str = DEFAULT_LISTEN
    interval: Duration = 60.0
    jitter: NonNegativeDuration = 5.0
    """Each cycle starts `interval` plus a random 0..jitter after the previous one started."""
    timeout: Duration = 10.0
    timeouts: Timeouts = Timeouts()
    concurrency: int = Field(default=32, ge=1, le=1024)
    max_series: int = Field(default=250_000, ge=1)
    """Per-endpoint series in one scrape; beyond it whole rows are left out and counted. About 12 per
    https target and set: the default covers 10,000 targets with room to spare."""
    sets: SetSelection = SetSelection()
    sections: SectionSelection = SectionSelection()
    tenant_location: str | None = None
    cloud: Cloud = Cloud.PUBLIC
    dns: DnsSettings = DnsSettings()
    tls: TlsSettings = TlsSettings()
    http_path: str = "/"
    range_path: str | None = None
    """Path of the byte-range check (default: http_path); a real object there gives a clear answer."""
    proxy: ProxySettings = ProxySettings()
    wildcard_representatives: RepresentativeTable = Field(default_factory=dict)
    extra_endpoints: tuple[ExtraEndpoints, ...] = ()
    catalogue_edition: str | None = None
    """Built-in edition of the catalogue (`builtin_editions()`); unset: the newest."""
    catalogue_files: tuple[Path, ...] = ()
    port_remap: dict[Annotated[int, Field(ge=1, le=65535)], Annotated[int, Field(ge=1, le=65535)]] = Field(
        default_factory=dict
    )
    """Catalogue port -> port dialled. For labs and tests only; metric labels keep the catalogue port."""
    state_dir: Path | None = None
    """Snapshots of reference lists and the web service client id. Unset: $STATE_DIRECTORY, else
    ~/.local/state/intune-endpoint-exporter."""
    drift: DriftSettings = DriftSettings()
    log_level: str = "info"
    log_format: Literal["logfmt", "json"] = "logfmt"

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        split_listen(value)
        return value

    @field_validator("catalogue_edition", mode="before")
    @classmethod
    def _edition_date(cls, value: object) -> object:
        # YAML reads an unquoted 2025-08-21 as a date.
        return value.isoformat() if isinstance(value, datetime.date) else value

    @field_validator("tenant_location")
    @classmethod
    def _tenant(cls, value: str | None) -> str | None:
        if value is not None and not TENANT_LOCATION.match(value.upper()):
            raise ValueError(
                "tenant location must look like 'AMSUA0101' (Intune admin center > Tenant details)"
            )
        return value.upper() if value else value

    @field_validator("http_path", "range_path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warn", "warning", "error"}:
            raise ValueError("must be one of debug, info, warn, error")
        return "warn" if value.lower() == "warning" else value.lower()

    def phase_timeout(self, phase: Phase) -> float:
        value: float | None = getattr(self.timeouts, phase.value)
        return value if value is not None else self.timeout


def split_listen(value: str) -> tuple[str, int]:
    """'0.0.0.0:10094', ':10094', '[::]:10094' -> (host, port)."""
    host, sep, port_text = value.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ValueError("listen address must be host:port, e.g. '0.0.0.0:10094' or '[::]:10094'")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port_text)


class LoadedConfig:
    """A validated configuration together with the catalogue it selects from."""

    def __init__(self, config: Config, catalogue: Catalogue, source: str) -> None:
        self.config = config
        self.catalogue = catalogue
        self.source = source


def load(path: Path | None) -> LoadedConfig:
    if path is None:
        return _finish(Config(), BUILTIN_CONFIG, base_dir=Path.cwd())
    data = load_yaml_file(path)
    config = validated(Config, path, {} if data is None else data, "the configuration")
    return _finish(config, str(path), base_dir=path.parent)


def _finish(config: Config, source: str, base_dir: Path) -> LoadedConfig:
    edition = config.catalogue_edition
    if edition is not None and edition not in builtin_editions():
        choices = ", ".join(builtin_editions())
        problem = f"unknown catalogue edition; built-in editions: {choices}"
        raise ConfigError(source, "catalogue_edition", edition, problem)
    catalogue = load_builtin(edition)
    for index, file in enumerate(config.catalogue_files):
        resolved = file if file.is_absolute() else base_dir / file
        if not resolved.is_file():
            raise ConfigError(source, f"catalogue_files[{index}]", str(file), "file not found")
        catalogue = merge(catalogue, load_file(resolved))
    tls = config.tls.model_copy(
        update={
            "ca_file": _existing_file(source, "tls.ca_file", config.tls.ca_file, base_dir),
            "inspection_ca_file": _existing_file(
                source, "tls.inspection_ca_file", config.tls.inspection_ca_file, base_dir
            ),
        }
    )
    proxy = config.proxy.model_copy(
        update={
            "credentials_file": _existing_file(
                source, "proxy.credentials_file", config.proxy.credentials_file, base_dir
            )
        }
    )
    config = _with_absolute_state_paths(config.model_copy(update={"tls": tls, "proxy": proxy}), base_dir)
    known = {endpoint_set.id for endpoint_set in catalogue.sets}
    extra_ids = {extra.set_id for extra in config.extra_endpoints}
    selections = {
        "sets.only": config.sets.only,
        "sets.enabled": config.sets.enabled,
        "sets.disabled": config.sets.disabled,
        "proxy.sets": tuple(config.proxy.sets),
    }
    for field_name, ids in selections.items():
        for index, set_id in enumerate(ids):
            if set_id not in known and set_id not in extra_ids:
                raise ConfigError(source, f"{field_name}[{index}]", set_id, _unknown_set(known))
    sections = {endpoint_set.section for endpoint_set in catalogue.sets} | {
        extra.section for extra in config.extra_endpoints
    }
    for index, section in enumerate(config.sections.disabled):
        if section not in sections:
            raise ConfigError(
                source, f"sections.disabled[{index}]", section, f"unknown section; known: {sorted(sections)}"
            )
    if config.tenant_location is not None and not asu_sets_for(catalogue, config.tenant_location):
        raise ConfigError(
            source,
            "tenant_location",
            config.tenant_location,
            "no Azure Scale Unit set in the catalogue serves it",
        )
    return LoadedConfig(config, catalogue, source)


def _existing_file(source: str, field: str, path: Path | None, base_dir: Path) -> Path | None:
    if path is None:
        return None
    resolved = path if path.is_absolute() else base_dir / path
    if not resolved.is_file():
        raise ConfigError(source, field, str(path), "file not found")
    return resolved


def _with_absolute_state_paths(config: Config, base_dir: Path) -> Config:
    state_dir = config.state_dir
    if state_dir is None:
        state_dir = (
            Path(os.environ["STATE_DIRECTORY"]) if os.environ.get("STATE_DIRECTORY") else DEFAULT_STATE_DIR
        )
    references = tuple(
        reference.model_copy(update={"file": base_dir / reference.file})
        if reference.file is not None and not reference.file.is_absolute()
        else reference
        for reference in config.drift.references
    )
    return config.model_copy(
        update={
            "state_dir": state_dir if state_dir.is_absolute() else base_dir / state_dir,
            "drift": config.drift.model_copy(update={"references": references}),
        }
    )


def _unknown_set(known: set[str]) -> str:
    return f"unknown set id; known ids: {', '.join(sorted(known, key=set_id_order))}"


def asu_sets_for(catalogue: Catalogue, tenant_location: str) -> list[str]:
    """Sets serving a tenant location: the sets listing the code, else the sets of its region prefix (e.g.
    'AMSUB' is Europe: codes sharing it, or `scale_unit_prefixes`), so a scale unit newer than the catalogue,
    or an edition that lists regions without codes, still finds its region."""
    exact = {s.id for s in catalogue.sets if tenant_location in s.scale_units}
    prefix = tenant_location[:5]
    return [
        s.id
        for s in catalogue.sets
        if s.id in exact or (s.serves_region(prefix) and not (exact and s.scale_units))
    ]
