"""The endpoint catalogue: the built-in edition of Microsoft's page, plus users' own catalogue files."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from exporter.catalogue.model import (
    Catalogue,
    Category,
    Cloud,
    EndpointSet,
    Flag,
    FlagRule,
    entry_flags,
    pattern_matches,
    wildcard_matches,
)
from exporter.errors import ConfigError, load_yaml_file, validated

__all__ = [
    "BUILTIN_NAME",
    "Catalogue",
    "Category",
    "Cloud",
    "EndpointSet",
    "Flag",
    "FlagRule",
    "entry_flags",
    "load_builtin",
    "load_file",
    "merge",
    "parse",
    "pattern_matches",
    "wildcard_matches",
]

BUILTIN_NAME = "built-in catalogue (exporter/catalogue/intune.yaml)"


def parse(source: str | Path, data: Any) -> Catalogue:
    catalogue = validated(Catalogue, source, data, "a catalogue (with 'sets')")
    duplicate = catalogue.duplicate_id()
    if duplicate is not None:
        index, set_id = duplicate
        raise ConfigError(source, f"sets[{index}].id", set_id, "an earlier set has the same id")
    return catalogue


def load_builtin() -> Catalogue:
    text = resources.files("exporter.catalogue").joinpath("intune.yaml").read_text(encoding="utf-8")
    return parse(BUILTIN_NAME, yaml.safe_load(text))


def load_file(path: Path) -> Catalogue:
    return parse(path, load_yaml_file(path))


def merge(base: Catalogue, extra: Catalogue) -> Catalogue:
    """Sets of `extra` replace base sets of the same id, or are appended.

    Flag rules and wildcard representatives add up."""
    replaced = {endpoint_set.id: endpoint_set for endpoint_set in extra.sets}
    sets = [replaced.pop(s.id, s) for s in base.sets] + [s for s in extra.sets if s.id in replaced]
    representatives = {**base.wildcard_representatives, **extra.wildcard_representatives}
    return Catalogue(
        edition=base.edition,
        sets=tuple(sets),
        flag_rules=base.flag_rules + extra.flag_rules,
        wildcard_representatives=representatives,
    )
