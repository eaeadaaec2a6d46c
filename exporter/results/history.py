"""Bounded memory of the recent past: each set's verdict over the last cycles, each target's last failures.

Both keep a fixed number of entries per key (oldest dropped first), so memory stays bounded whatever the
uptime, and recording costs one append per set per cycle or per failing result.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

HISTORY_CYCLES = 30
"""Cycles of verdicts kept per set."""
FAILURES_PER_TARGET = 10
"""Failures kept per target."""

Key = TypeVar("Key", bound=Hashable)
Entry = TypeVar("Entry")


@dataclass(frozen=True)
class CycleVerdict:
    """A set's verdict at the end of one probe cycle."""

    at: float
    """Unix time the cycle finished."""
    verdict: str
    """'OK', 'PARTIAL', 'FAIL' or 'UNPROBED' (results.verdicts.Verdict)."""
    up: int
    total: int


@dataclass(frozen=True)
class FailureEntry:
    """One failed probe of a target."""

    at: float
    """Unix time the probe finished."""
    reason: str
    detail: str
    address: str
    """The address dialled; '' when resolution failed or a proxy resolved the name."""


class BoundedLog(Generic[Key, Entry]):
    """The last `length` entries per key, oldest first; thread-safe."""

    def __init__(self, length: int) -> None:
        if length < 1:
            raise ValueError(f"length must be at least 1, got {length}")
        self._length = length
        self._entries: dict[Key, deque[Entry]] = {}
        self._lock = threading.Lock()

    def append(self, key: Key, entry: Entry) -> None:
        with self._lock:
            kept = self._entries.get(key)
            if kept is None:
                kept = self._entries[key] = deque(maxlen=self._length)
            kept.append(entry)

    def entries(self, key: Key) -> tuple[Entry, ...]:
        """The entries of `key`, oldest first; empty when none."""
        with self._lock:
            return tuple(self._entries.get(key, ()))

    def snapshot(self) -> dict[Key, tuple[Entry, ...]]:
        with self._lock:
            return {key: tuple(kept) for key, kept in self._entries.items()}

    def retain(self, keys: Iterable[Key]) -> None:
        """Forget every key not in `keys`."""
        keep = set(keys)
        with self._lock:
            self._entries = {key: kept for key, kept in self._entries.items() if key in keep}
