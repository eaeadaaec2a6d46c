"""The `--set` and `--section` command-line filters, applied on top of the configuration's selection.

Both flags add up: a set is kept when its id is given or its section is. A value naming nothing in the
catalogue, or only sets the configuration leaves out, is a `ConfigError` listing the valid choices.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from exporter.catalogue import EndpointSet
from exporter.catalogue.model import set_id_order
from exporter.config.file import Config, LoadedConfig
from exporter.errors import ConfigError
from exporter.plan.selection import selected_sets


def chosen_sets(loaded: LoadedConfig, set_ids: Sequence[str], sections: Sequence[str]) -> list[EndpointSet]:
    """The configuration's sets, narrowed to `set_ids` and `sections` when either is given."""
    config, catalogue = loaded.config, loaded.catalogue
    selected = selected_sets(config, catalogue)
    if not set_ids and not sections:
        return selected
    known = catalogue.by_id()
    extra = {e.set_id: e.section for e in config.extra_endpoints}
    selected_ids = [s.id for s in selected]
    keep: set[str] = set()
    for given in set_ids:
        set_id = given.lower()
        if set_id not in known and set_id not in extra:
            raise ConfigError("--set", "", given, f"unknown set id; known ids: {_ids([*known, *extra])}")
        if set_id not in selected_ids:
            endpoint_set = known.get(set_id) or EndpointSet(id=set_id, name=set_id, section=extra[set_id])
            why = _why_not_selected(config, endpoint_set)
            problem = f"not selected by {loaded.source} ({why}); selected: {_ids(selected_ids)}"
            raise ConfigError("--set", "", given, problem)
        keep.add(set_id)
    all_sections = sorted({s.section for s in catalogue.sets} | set(extra.values()))
    for name in sections:
        section = next((s for s in all_sections if s.lower() == name.lower()), None)
        if section is None:
            raise ConfigError("--section", "", name, f"unknown section; known: {', '.join(all_sections)}")
        members = [s.id for s in selected if s.section == section]
        if not members:
            offered = sorted({s.section for s in selected})
            raise ConfigError(
                "--section",
                "",
                name,
                f"{loaded.source} selects no set of this section; sections selected: {', '.join(offered)}",
            )
        keep.update(members)
    return [s for s in selected if s.id in keep]


def narrowed(loaded: LoadedConfig, set_ids: Sequence[str], sections: Sequence[str]) -> LoadedConfig:
    """`loaded` with `sets.only` set to the filtered sets, so every later step sees only those."""
    if not set_ids and not sections:
        return loaded
    ids = tuple(s.id for s in chosen_sets(loaded, set_ids, sections))
    config = loaded.config
    narrower = config.model_copy(update={"sets": config.sets.model_copy(update={"only": ids})})
    return LoadedConfig(narrower, loaded.catalogue, loaded.source)


def _why_not_selected(config: Config, endpoint_set: EndpointSet) -> str:
    if config.sets.only and endpoint_set.id not in config.sets.only:
        return "not in sets.only"
    if endpoint_set.id in config.sets.disabled:
        return "in sets.disabled"
    if endpoint_set.section in config.sections.disabled:
        return f"section {endpoint_set.section!r} is in sections.disabled"
    if config.cloud not in endpoint_set.clouds:
        return f"not used in cloud {config.cloud.value!r}"
    if config.tenant_location and endpoint_set.regional:
        return f"tenant_location {config.tenant_location} is served by another set"
    return "off by default; add it to sets.enabled"


def _ids(ids: Sequence[str]) -> str:
    return ", ".join(sorted(set(ids), key=set_id_order))


def add_filter_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="ID",
        help="only this endpoint set, e.g. 163 (repeatable; adds up with --section)",
    )
    parser.add_argument(
        "--section",
        action="append",
        default=[],
        metavar="NAME",
        help="only the sets of this catalogue section, e.g. 'Intune core' (repeatable)",
    )
