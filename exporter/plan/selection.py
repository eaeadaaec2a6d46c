"""Which endpoint sets the configuration selects: cloud, tenant location, section and set switches, plus
the configuration's extra endpoints."""

from __future__ import annotations

from exporter.catalogue import Catalogue, EndpointSet
from exporter.catalogue.model import Category
from exporter.config.file import Config, asu_sets_for


def selected_sets(config: Config, catalogue: Catalogue) -> list[EndpointSet]:
    """The catalogue's sets after cloud, tenant location, section and set switches, plus extra endpoints."""
    sets = _with_extra_endpoints(config, catalogue)
    asu_keep = set(asu_sets_for(catalogue, config.tenant_location)) if config.tenant_location else None
    chosen = []
    for endpoint_set in sets:
        on = endpoint_set.enabled_by_default or endpoint_set.id in config.sets.enabled
        if config.sets.only:
            on = endpoint_set.id in config.sets.only
        if endpoint_set.id in config.sets.disabled or endpoint_set.section in config.sections.disabled:
            on = False
        if config.cloud not in endpoint_set.clouds:
            on = False
        if asu_keep is not None and endpoint_set.regional and endpoint_set.id not in asu_keep:
            on = False
        if on:
            chosen.append(endpoint_set)
    return chosen


def _with_extra_endpoints(config: Config, catalogue: Catalogue) -> list[EndpointSet]:
    by_id = catalogue.by_id()
    order = [endpoint_set.id for endpoint_set in catalogue.sets]
    for extra in config.extra_endpoints:
        existing = by_id.get(extra.set_id)
        if existing is None:
            by_id[extra.set_id] = EndpointSet(
                id=extra.set_id,
                name=extra.name or f"Extra endpoints {extra.set_id}",
                section=extra.section,
                category=Category.DEFAULT,
                required=extra.required,
                urls=extra.hosts,
                tcp_ports=extra.tcp_ports,
                udp_ports=extra.udp_ports,
                annotations=("Added by the configuration's extra_endpoints.",),
            )
            order.append(extra.set_id)
        else:
            by_id[extra.set_id] = existing.model_copy(
                update={
                    "urls": existing.urls + tuple(h for h in extra.hosts if h not in existing.urls),
                    "tcp_ports": existing.tcp_ports
                    + tuple(p for p in extra.tcp_ports if p not in existing.tcp_ports),
                    "udp_ports": existing.udp_ports
                    + tuple(p for p in extra.udp_ports if p not in existing.udp_ports),
                }
            )
    return [by_id[set_id] for set_id in order]
