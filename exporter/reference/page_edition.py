"""What a page edition snapshot says about itself (`Snapshot.meta`), and whether a new edition is plausible
against the last good one. No parsing here: the metrics read it without the page parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from exporter.reference.fetch import one_line
from exporter.reference.snapshot import Snapshot

__all__ = ["CORE_SET", "PLAUSIBLE_SHARE", "PageEditionInfo", "edition_info", "implausibility"]

CORE_SET = "163"
"""Intune's core service set: an edition that lists it without subnets has lost its IP table."""
PLAUSIBLE_SHARE = 0.5
"""An edition with fewer than this share of the last good edition's sets or CIDRs is implausible."""


@dataclass(frozen=True)
class PageEditionInfo:
    title: str
    date: str
    locale: str
    form: str
    source: str


def edition_info(snapshot: Snapshot | None) -> PageEditionInfo | None:
    """The page edition a snapshot holds; None for other lists (or a saved snapshot of the wrong shape)."""
    if snapshot is None:
        return None
    edition = snapshot.meta.get("edition")
    if not isinstance(edition, dict):
        return None
    fields = [edition.get(key) for key in ("title", "date", "locale", "form", "source")]
    if not all(isinstance(value, str) for value in fields):
        return None
    title, date, locale, form, source = (one_line(str(value), 200) for value in fields)
    return PageEditionInfo(title, date, locale, form, source)


# ------------------------------------------------------------------------------------------ plausibility


def _count(data: Any, key: str) -> int:
    if not isinstance(data, list):
        return 0
    return sum(len(item.get(key) or ()) for item in data if isinstance(item, dict))


def _core_ips(data: Any) -> int | None:
    """How many ranges the core set lists; None when the list has no core set."""
    if not isinstance(data, list):
        return None
    for item in data:
        if isinstance(item, dict) and str(item.get("id")) == CORE_SET:
            return len(item.get("ips") or ())
    return None


def _consolidated(snapshot: Snapshot) -> int:
    block = snapshot.meta.get("consolidated")
    if not isinstance(block, dict):
        return 0
    return sum(value for value in block.values() if isinstance(value, int) and not isinstance(value, bool))


def _described(snapshot: Snapshot) -> str:
    info = edition_info(snapshot)
    return (
        f"the last good edition ({info.date or 'undated'})" if info is not None else "the last good edition"
    )


def implausibility(previous: Snapshot | None, new: Snapshot) -> str | None:
    """Why `new` cannot be a real edition of the page given the last good one, or None. Without a last good
    edition there is nothing to compare with, and every edition that parses is accepted."""
    if previous is None or not isinstance(previous.data, list) or not previous.data:
        return None
    last = _described(previous)
    old_sets, new_sets = len(previous.data), len(new.data) if isinstance(new.data, list) else 0
    if new_sets < old_sets * PLAUSIBLE_SHARE:
        return f"{new_sets} endpoint sets where {last} had {old_sets}"
    old_cidrs, new_cidrs = _count(previous.data, "ips"), _count(new.data, "ips")
    if new_cidrs < old_cidrs * PLAUSIBLE_SHARE:
        return f"{new_cidrs} CIDR ranges where {last} had {old_cidrs}"
    old_core, new_core = _core_ips(previous.data), _core_ips(new.data)
    if old_core and not new_core:
        state = "no set 163" if new_core is None else "set 163 without subnets"
        return f"{state} where {last} listed {old_core} for it"
    if _consolidated(previous) and not _consolidated(new):
        return f"no consolidated endpoint list where {last} had one"
    return None
