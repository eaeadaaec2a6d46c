"""Builds the configured reference sources and turns what they add into probe targets."""

from __future__ import annotations

import logging
import os
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path

import anyio

from exporter.catalogue.page.model import PageError, ParsedPage
from exporter.config.file import LoadedConfig
from exporter.config.proxy import split_proxy_url
from exporter.errors import NO_VALUE, ConfigError
from exporter.plan.probe_settings import proxy_credentials, trust_context
from exporter.plan.proxy_routes import environment_proxy
from exporter.plan.targets import ExtraHost
from exporter.reference.page_source import HttpOptions, PageSource, is_url, read_page
from exporter.reference.snapshot import SnapshotStore, load_or_create_client_id
from exporter.reference.sources import ListSource, ReferenceSource, WebServiceSource
from exporter.reference.tracker import ReferenceTracker
from exporter.reference.types import ReferenceFetchError

log = logging.getLogger(__name__)


def page_http_options(
    loaded: LoadedConfig, url: str, environ: Mapping[str, str] | None = None
) -> HttpOptions:
    """How to reach the page at `url` the way the probes reach Intune: through `proxy.url`, or the
    environment's proxy with `proxy.from_environment` (NO_PROXY honoured), with the probes' proxy credentials,
    verified against `tls.ca_file` (default: the Mozilla roots). `proxy.sets` routes sets, not the page."""
    environ = os.environ if environ is None else environ
    config = loaded.config
    route = config.proxy.url
    if route is None and config.proxy.from_environment:
        host = urllib.parse.urlsplit(url).hostname or ""
        route = environment_proxy("https" if url.startswith("https:") else "http", host, environ)
    if route is not None:
        credentials = proxy_credentials(config, loaded.source, environ)
        if credentials is not None:
            user, _, password = credentials.partition(":")
            host, port = split_proxy_url(route)
            host = f"[{host}]" if ":" in host else host
            quoted = f"{urllib.parse.quote(user, safe='')}:{urllib.parse.quote(password, safe='')}"
            route = f"http://{quoted}@{host}:{port}"
    return HttpOptions(proxy=route, verify=trust_context(config, loaded.source))


def read_page_argument(loaded: LoadedConfig, location: str) -> ParsedPage:
    """The page a command's `--page FILE|URL` names, parsed. Anything wrong is a ConfigError naming the file
    or URL and the problem (exit 2)."""
    drift = loaded.config.drift
    if not is_url(location) and not Path(location).is_file():
        raise ConfigError(location, "", NO_VALUE, "file not found")
    http = page_http_options(loaded, location) if is_url(location) else HttpOptions()
    try:
        return anyio.run(
            lambda: read_page(
                location, max_bytes=drift.max_response_bytes, timeout=drift.page.timeout, http=http
            )
        )
    except ReferenceFetchError as exc:
        raise ConfigError(location, "", NO_VALUE, f"cannot read the page: {exc.detail}") from None
    except PageError as exc:
        raise ConfigError(location, "", NO_VALUE, page_problem(location, exc)) from None


def page_problem(location: str, exc: PageError) -> str:
    """The PageError's message without the source it starts with (the caller names it)."""
    message = " ".join(str(exc).split())
    return message.removeprefix(f"{location}: ") or "not the page"


def build_sources(loaded: LoadedConfig) -> list[ReferenceSource]:
    drift = loaded.config.drift
    sources: list[ReferenceSource] = []
    if drift.page.enabled:
        http = page_http_options(loaded, drift.page.url)
        sources.append(PageSource(drift.page, drift.max_response_bytes, http))
    if drift.web_service.enabled:
        client_id = load_or_create_client_id(loaded.config.state_dir)
        sources.append(WebServiceSource(drift.web_service, client_id, drift.max_response_bytes))
    sources.extend(ListSource(reference, drift.max_response_bytes) for reference in drift.references)
    return sources


def build_trackers(
    loaded: LoadedConfig, on_change: Callable[[], None] = lambda: None
) -> list[ReferenceTracker]:
    store = SnapshotStore(loaded.config.state_dir)
    limits = loaded.config.drift.limits()
    return [
        ReferenceTracker(
            source, store, loaded.catalogue, limits, on_change, page=isinstance(source, PageSource)
        )
        for source in build_sources(loaded)
    ]


def added_hosts(trackers: list[ReferenceTracker]) -> list[ExtraHost]:
    """Concrete hosts the references add (also those a catalogue wildcard covers: is the wildcard really let
    through for them?), with the ports their sets list, as each tracker bounded them (`reference.probing`:
    caps per item and per list, catalogue ports only). Wildcards cannot be probed. All lists together add at
    most `drift.max_extra_targets` targets: the hosts of the lists checked later are left out (logged)."""
    hosts: list[ExtraHost] = []
    total = 0
    for tracker in trackers:
        status = tracker.status
        cap = tracker.limits.max_extra_targets
        planned = sum(host.targets for host in status.added_hosts)
        if total + planned > cap:
            log.warning(
                "%s: the %d targets its added hosts need would pass drift.max_extra_targets (%d) with the "
                "other lists'; not probed",
                status.source,
                planned,
                cap,
            )
            continue
        total += planned
        hosts.extend(
            ExtraHost(host.set_id, host.host, host.tcp_ports, host.udp_ports, status.source)
            for host in status.added_hosts
        )
    return hosts
