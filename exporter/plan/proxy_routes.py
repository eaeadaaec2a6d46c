"""Which path each target takes: directly, through the organisation's proxy, or both.

A plan from `build_plan` holds direct targets. `route_plan` gives each (target, set) the paths the `proxy`
configuration asks for, and adds an anonymous proxied path for entries the page says need unauthenticated
proxy access, when the proxy is used with credentials. NTP cannot cross an HTTP proxy and always goes direct;
nor does a zone check (`dns`), which asks the organisation's resolver.
"""

from __future__ import annotations

import os
import urllib.parse
import urllib.request
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import replace

from exporter.catalogue import Flag
from exporter.config.proxy import DIRECT, ProxySettings, check_proxy_url, split_proxy_url
from exporter.plan.targets import Membership, NetworkPath, Target, TargetPlan
from exporter.probes.prober import Protocol


def via(url: str) -> str:
    host, port = split_proxy_url(url)
    return f"{host}:{port}"


def environment_proxies(environ: Mapping[str, str]) -> dict[str, str]:
    """'http', 'https' and 'no' -> the value of http_proxy / HTTP_PROXY and so on, lower case first."""
    return {
        scheme: value
        for scheme in ("http", "https", "no")
        if (value := environ.get(f"{scheme}_proxy") or environ.get(f"{scheme.upper()}_PROXY"))
    }


def environment_proxy(scheme: str, host: str, environ: Mapping[str, str]) -> str | None:
    """The environment's proxy URL (without credentials) for a `scheme` ('http' or 'https') request to
    `host`, or None when there is none or NO_PROXY exempts the host."""
    proxies = environment_proxies(environ)
    # Not in typeshed, but part of urllib.request since Python 3.0; it reads NO_PROXY's syntax.
    if "no" in proxies and urllib.request.proxy_bypass_environment(host, proxies):  # type: ignore[attr-defined]
        return None
    url = proxies.get(scheme)
    return None if url is None else environment_proxy_url(url)


def environment_proxy_url(url: str) -> str | None:
    """'http://user:pw@proxy:3128' -> 'http://proxy:3128' (credentials are read separately, never shown)."""
    parts = urllib.parse.urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme != "http" or parts.hostname is None:
        return None
    return check_proxy_url(f"http://{parts.hostname}:{parts.port or 80}")


def paths_for(
    set_id: str, target: Target, settings: ProxySettings, environ: Mapping[str, str]
) -> list[tuple[NetworkPath, str]]:
    if target.protocol in (Protocol.NTP, Protocol.DNS):
        return [(NetworkPath.DIRECT, "")]
    url: str | None
    if set_id in settings.sets:
        url = None if settings.sets[set_id] == DIRECT else settings.sets[set_id]
    elif settings.url is not None:
        url = settings.url
    elif settings.from_environment:
        url = environment_proxy("http" if target.protocol is Protocol.HTTP else "https", target.host, environ)
    else:
        url = None
    if url is None:
        return [(NetworkPath.DIRECT, "")]
    paths = [(NetworkPath.PROXY, via(url))]
    if settings.also_direct:
        paths.append((NetworkPath.DIRECT, ""))
    return paths


def route_plan(
    plan: TargetPlan, settings: ProxySettings, has_credentials: bool, environ: Mapping[str, str] | None = None
) -> TargetPlan:
    environ = os.environ if environ is None else environ
    routed: dict[Target, list[Membership]] = defaultdict(list)
    for target, members in plan.targets.items():
        for member in members:
            for path, proxy in paths_for(member.set_id, target, settings, environ):
                routed[replace(target, path=path, via=proxy)].append(member)
                if (
                    path is NetworkPath.PROXY
                    and has_credentials
                    and Flag.UNAUTHENTICATED_PROXY_REQUIRED in member.flags
                ):
                    routed[replace(target, path=NetworkPath.PROXY_ANONYMOUS, via=proxy)].append(member)
    return TargetPlan(
        sets=plan.sets,
        targets=dict(sorted(routed.items())),
        unprobed_wildcards=plan.unprobed_wildcards,
        unprobeable_ports=plan.unprobeable_ports,
    )
