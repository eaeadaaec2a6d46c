"""The one plan builder: what `serve` and `check` probe, from the configuration in force."""

from __future__ import annotations

from collections.abc import Iterable

from exporter.config.file import LoadedConfig
from exporter.plan.expand import build_plan, with_extra_hosts
from exporter.plan.proxy_routes import route_plan
from exporter.plan.targets import ExtraHost, TargetPlan
from exporter.probes.settings import ProbeSettings


def build(loaded: LoadedConfig, settings: ProbeSettings, extra_hosts: Iterable[ExtraHost] = ()) -> TargetPlan:
    """The configuration's selection of the catalogue, plus the hosts reference lists add (when
    `drift.probe_added` is on, the caller passes them), each target on the path(s) the proxy
    configuration asks for."""
    plan = build_plan(loaded.config, loaded.catalogue)
    extras = list(extra_hosts)
    if extras:
        plan = with_extra_hosts(plan, extras)
    return route_plan(plan, loaded.config.proxy, settings.has_proxy_credentials)
