"""The endpoint catalogue: the built-in editions of Microsoft's page, plus users' own catalogue files.

Each built-in edition is one file in `editions/`, named by its id: a page date ('2025-08-21') or a name
('seed', the project's first, Korean edition). The default is the newest: the latest date.
"""

from __future__ import annotations

import functools
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
    "Catalogue",
    "Category",
    "Cloud",
    "EndpointSet",
    "Flag",
    "FlagRule",
    "builtin_editions",
    "builtin_name",
    "default_edition",
    "entry_flags",
    "load_builtin",
    "load_file",
    "merge",
    "parse",
    "pattern_matches",
    "wildcard_matches",
]

EDITIONS_DIR = "editions"
SEED = "seed"


def parse(source: str | Path, data: Any) -> Catalogue:
    catalogue = validated(Catalogue, source, data, "a catalogue (with 'sets')")
    duplicate = catalogue.duplicate_id()
    if duplicate is not None:
        index, set_id = duplicate
        raise ConfigError(source, f"sets[{index}].id", set_id, "an earlier set has the same id")
    return catalogue


def _edition_order(edition: str) -> tuple[int, str]:
    # Dated editions ('2025-08-21') sort by date; named ones (the seed) come before every date.
    return (1, edition) if edition[:1].isdigit() else (0, edition)


@functools.cache
def builtin_editions() -> tuple[str, ...]:
    """The ids of the built-in editions, newest first."""
    files = resources.files("exporter.catalogue").joinpath(EDITIONS_DIR).iterdir()
    ids = [file.name.removesuffix(".yaml") for file in files if file.name.endswith(".yaml")]
    return tuple(sorted(ids, key=_edition_order, reverse=True))


def default_edition() -> str:
    """The edition used unless the configuration names another: the newest."""
    return builtin_editions()[0]


def builtin_name(edition: str) -> str:
    return f"built-in catalogue {edition} (exporter/catalogue/{EDITIONS_DIR}/{edition}.yaml)"


def load_builtin(edition: str | None = None) -> Catalogue:
    """A built-in edition of the catalogue, by id (`builtin_editions()`); None: the newest."""
    edition = default_edition() if edition is None else edition
    if edition not in builtin_editions():
        raise ValueError(
            f"unknown catalogue edition {edition!r}; built-in editions: {', '.join(builtin_editions())}"
        )
    return _load_builtin(edition)


@functools.cache
def _load_builtin(edition: str) -> Catalogue:
    # Catalogues are frozen (tuples all the way down), so every caller can share one.
    file = resources.files("exporter.catalogue").joinpath(EDITIONS_DIR).joinpath(f"{edition}.yaml")
    return parse(builtin_name(edition), yaml.safe_load(file.read_text(encoding="utf-8")))


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
