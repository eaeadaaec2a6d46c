"""The `drift` section of the configuration: which reference lists to compare the catalogue with."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator, model_validator

from exporter.config.durations import format_duration
from exporter.config.fields import Duration, Section
from exporter.errors import SENSITIVE, has_userinfo

MIN_VERSION_CHECK_INTERVAL = 300.0
"""Microsoft asks clients to check the version about once an hour; we refuse to poll more than every 5m."""
MIN_REFERENCE_REFRESH = 60.0
MIN_PAGE_CHECK_INTERVAL = 3600.0
"""Microsoft's documentation site is not an API: the page is checked at most hourly."""
DEFAULT_PAGE_URL = "https://learn.microsoft.com/en-us/intune/intune-service/fundamentals/intune-endpoints"
PAGE_SOURCE_NAME = "intune-page"
INSTANCES = ("Worldwide", "USGovDoD", "USGovGCCHigh", "China")
"""The Office 365 endpoint web service's instances (clouds)."""


@dataclass(frozen=True)
class Limits:
    """Caps on untrusted reference data."""

    max_items: int = 1000
    max_values_per_item: int = 2000
    """urls + ips + ports of one item."""
    max_text_length: int = 253
    """Longest host name, CIDR, port list or attribute accepted (a DNS name is at most 253 characters)."""
    allowed_suffixes: tuple[str, ...] = ()
    """When not empty, a host must equal one of these domains or end with '.' + one of them."""
    probe_added: bool = False
    """Hosts a reference adds are probed: the caps below then apply (`reference.probing`)."""
    max_ports_per_item: int = 16
    """Most tcp + udp ports one item may list for its added hosts to be probed."""
    max_targets_per_item: int = 200
    """Most targets (added hosts x ports) one item may add to the plan."""
    max_extra_targets: int = 1000
    """Most targets all references together may add to the plan."""


PROBE_ADDED_NEEDS_SUFFIXES = (
    "probe_added needs allowed_suffixes: name the domains a reference list may make the exporter probe, "
    "e.g. [microsoft.com, windows.net]"
)

SOURCE_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def _at_least(seconds: float, floor: float, why: str) -> float:
    if seconds < floor:
        raise ValueError(f"must be at least {format_duration(floor)}: {why}")
    return seconds


def _source_name(value: str) -> str:
    if not SOURCE_NAME.match(value):
        raise ValueError("must be lower-case letters, digits, '-' and '_', at most 63 characters")
    return value


CREDENTIALS_IN_REFERENCE_URL = (
    "contains credentials (user:password@); references are fetched without authentication, "
    "so their URLs take none"
)


def _http_url(value: str) -> str:
    if has_userinfo(value):
        raise ValueError(CREDENTIALS_IN_REFERENCE_URL)
    if not re.match(r"^https?://[^\s/]+(/\S*)?$", value):
        raise ValueError("not an http(s) URL")
    return value.rstrip("/")


HttpUrl = Annotated[str, AfterValidator(_http_url), SENSITIVE]
"""Never quoted in an error: a rejected value may hold a password."""


class PageSettings(Section):
    """Microsoft's "Network endpoints for Microsoft Intune" page: the source of truth for Intune endpoints."""

    enabled: bool = True
    url: HttpUrl = DEFAULT_PAGE_URL
    """The article in any locale (learn.microsoft.com HTML), or its markdown source, or a copy of either."""
    check_interval: Duration = 3600.0
    timeout: Duration = 30.0

    @field_validator("check_interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        return _at_least(value, MIN_PAGE_CHECK_INTERVAL, "the page is a documentation article, not an API")

    @property
    def source_name(self) -> str:
        return PAGE_SOURCE_NAME


class WebServiceSettings(Section):
    """The Office 365 endpoint web service. Microsoft's Intune page says its MEM service area no longer
    returns accurate data for Intune, so it is off by default and never authoritative for Intune."""

    enabled: bool = False
    base_url: HttpUrl = "https://endpoints.office.com"
    instance: str = "Worldwide"
    service_areas: tuple[str, ...] = ("MEM",)
    version_check_interval: Duration = 3600.0
    timeout: Duration = 30.0

    @field_validator("instance")
    @classmethod
    def _instance(cls, value: str) -> str:
        if value not in INSTANCES:
            raise ValueError(f"must be one of {', '.join(INSTANCES)}")
        return value

    @field_validator("service_areas")
    @classmethod
    def _areas(cls, areas: tuple[str, ...]) -> tuple[str, ...]:
        known = {"MEM", "Common", "Exchange", "SharePoint", "Skype"}
        for area in areas:
            if area not in known:
                raise ValueError(f"unknown service area {area!r}; known: {', '.join(sorted(known))}")
        if not areas:
            raise ValueError("name at least one service area, e.g. [MEM]")
        return areas

    @field_validator("version_check_interval")
    @classmethod
    def _interval(cls, value: float) -> float:
        why = "Microsoft asks clients to check about once an hour"
        return _at_least(value, MIN_VERSION_CHECK_INTERVAL, why)

    @property
    def source_name(self) -> str:
        return f"webservice-{self.instance.lower()}"


class ReferenceListSettings(Section):
    """A list in the web service's JSON shape, from a file or a URL (e.g. one exported from the page)."""

    name: Annotated[str, AfterValidator(_source_name)]
    file: Path | None = None
    url: HttpUrl | None = None
    refresh: Duration = 3600.0
    timeout: Duration = 30.0

    @model_validator(mode="after")
    def _one_location(self) -> ReferenceListSettings:
        if (self.file is None) == (self.url is None):
            raise ValueError("give exactly one of 'file' and 'url'")
        if self.refresh < MIN_REFERENCE_REFRESH:
            raise ValueError(f"refresh must be at least {format_duration(MIN_REFERENCE_REFRESH)}")
        return self


class DriftSettings(Section):
    page: PageSettings = PageSettings()
    web_service: WebServiceSettings = WebServiceSettings()
    references: tuple[ReferenceListSettings, ...] = ()
    max_response_bytes: int = Field(default=10 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)
    max_items: int = Field(default=1000, ge=1, le=100_000)
    max_values_per_item: int = Field(default=2000, ge=1, le=100_000)
    allowed_suffixes: tuple[str, ...] = ()
    """When not empty, reference hosts outside these domains are rejected as invalid."""
    probe_added: bool = False
    """Probe the concrete hosts a reference adds, so the dashboard shows whether they already get through."""
    max_ports_per_item: int = Field(default=16, ge=1, le=1024)
    max_targets_per_item: int = Field(default=200, ge=1, le=100_000)
    max_extra_targets: int = Field(default=1000, ge=1, le=100_000)

    @model_validator(mode="after")
    def _probe_added_needs_suffixes(self) -> DriftSettings:
        if self.probe_added and not self.allowed_suffixes:
            raise ValueError(PROBE_ADDED_NEEDS_SUFFIXES)
        return self

    @model_validator(mode="after")
    def _unique_names(self) -> DriftSettings:
        names = [self.page.source_name, self.web_service.source_name]
        names += [reference.name for reference in self.references]
        for name in names:
            if names.count(name) > 1:
                raise ValueError(f"two sources are named {name!r}")
        return self

    def limits(self) -> Limits:
        return Limits(
            max_items=self.max_items,
            max_values_per_item=self.max_values_per_item,
            allowed_suffixes=tuple(suffix.lower().lstrip(".") for suffix in self.allowed_suffixes),
            probe_added=self.probe_added,
            max_ports_per_item=self.max_ports_per_item,
            max_targets_per_item=self.max_targets_per_item,
            max_extra_targets=self.max_extra_targets,
        )
