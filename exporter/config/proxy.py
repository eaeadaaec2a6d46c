"""The `proxy` section of the configuration: probing through the organisation's HTTP proxy."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from exporter.catalogue.model import SetId
from exporter.config.fields import Section
from exporter.errors import SENSITIVE

DIRECT = "direct"
CREDENTIALS_IN_PROXY_URL = (
    "contains credentials (user:password@); credentials do not belong in the URL: put them in "
    "proxy.credentials_env or proxy.credentials_file"
)
_PROXY_URL = re.compile(r"^http://(?P<host>\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(?P<port>\d{1,5})/?$")


def check_proxy_url(value: str) -> str:
    if "@" in value:
        raise ValueError(CREDENTIALS_IN_PROXY_URL)
    match = _PROXY_URL.match(value)
    if match is None or not 0 < int(match.group("port")) < 65536:
        raise ValueError("a proxy is 'http://HOST:PORT' (HTTP proxies only; CONNECT is used for TLS)")
    return value.rstrip("/")


def split_proxy_url(value: str) -> tuple[str, int]:
    match = _PROXY_URL.match(value)
    assert match is not None, value  # validated by check_proxy_url
    return match.group("host").strip("[]"), int(match.group("port"))


def _set_route(value: str) -> str:
    return value if value == DIRECT else check_proxy_url(value)


ProxyUrl = Annotated[str, AfterValidator(check_proxy_url), SENSITIVE]
"""Never quoted in an error: a rejected value may hold a password."""


class ProxySettings(Section):
    url: ProxyUrl | None = None
    """Every TCP, TLS and HTTP probe goes through this proxy (HTTP CONNECT). NTP always goes direct."""
    from_environment: bool = False
    """Take the proxy from HTTPS_PROXY / HTTP_PROXY and exceptions from NO_PROXY, as most tools do."""
    credentials_env: str | None = None
    """Name of an environment variable holding 'user:password' for the proxy."""
    credentials_file: Path | None = None
    """A file holding 'user:password' for the proxy (e.g. a mounted secret)."""
    also_direct: bool = False
    """Probe every proxied target directly too, so the two paths can be compared."""
    sets: dict[SetId, Annotated[str, AfterValidator(_set_route), SENSITIVE]] = Field(default_factory=dict)
    """Per-set route: a proxy URL, or 'direct'."""

    @model_validator(mode="after")
    def _one_credential_source(self) -> ProxySettings:
        if self.credentials_env is not None and self.credentials_file is not None:
            raise ValueError("give at most one of credentials_env and credentials_file")
        if self.url is not None and self.from_environment:
            raise ValueError("give either url or from_environment, not both")
        return self
