"""Keeps one reference source's last good list, its drift against the catalogue, and its failure counts.

A new list replaces the last good one only once it has parsed, has items and is plausible against the last
good one (the source judges: `ReferenceSource.implausible`); anything else counts a failure with a reason and
keeps what was there. The last good list is saved to the state directory and restored at start, so a
restart while the source is down still reports drift.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import anyio

from exporter.catalogue import Catalogue
from exporter.config.drift import Limits
from exporter.reference.drift import DriftEntry, compute_drift, mark_covered
from exporter.reference.fetch import one_line
from exporter.reference.items import parse_reference
from exporter.reference.probing import AddedHost, catalogue_ports, probe_plan
from exporter.reference.snapshot import Snapshot, SnapshotStore
from exporter.reference.sources import RETRY_AFTER_FAILURE, ReferenceSource
from exporter.reference.types import FetchFailure, InvalidEntry, ReferenceFetchError, ReferenceItem

log = logging.getLogger(__name__)

RATE_LIMIT_BACKOFF = 3600.0
MAX_BACKOFF = 86400.0
"""A Retry-After beyond a day is not honoured as such: the source is asked again after a day."""
LOGGED_INVALID_ENTRIES = 20
__all__ = ["MAX_BACKOFF", "RATE_LIMIT_BACKOFF", "RETRY_AFTER_FAILURE", "ReferenceStatus", "ReferenceTracker"]


@dataclass(frozen=True)
class ReferenceStatus:
    source: str
    instance: str
    snapshot: Snapshot | None = None
    items: tuple[ReferenceItem, ...] = ()
    invalid_entries: int = 0
    drift: tuple[DriftEntry, ...] = ()
    added_hosts: tuple[AddedHost, ...] = ()
    """With `drift.probe_added`: the hosts this list adds that are probed, within the caps (`probing`)."""
    last_success: float | None = None
    """Unix time of the latest successful check, also when the list had not changed."""
    failures: Counter[FetchFailure] = field(default_factory=Counter)
    last_error: str = ""
    """The latest failure, as one line: reason and detail."""


class ReferenceTracker:
    def __init__(
        self,
        source: ReferenceSource,
        store: SnapshotStore,
        catalogue: Catalogue,
        limits: Limits,
        on_change: Callable[[], None] = lambda: None,
        *,
        page: bool = False,
    ) -> None:
        """`page`: the source is Microsoft's page, which lists every set but states no service areas (they are
        not compared, `compute_drift(areas_stated=False)`); hosts it adds that a catalogue wildcard matches
        are `covered` (`drift.mark_covered`)."""
        self.source = source
        self._store = store
        self._catalogue = catalogue
        self._limits = limits
        self._page = page
        self._ports = catalogue_ports(catalogue)
        self.on_change = on_change
        self._lock = threading.Lock()
        self._status = ReferenceStatus(source.name, source.instance)

    @property
    def limits(self) -> Limits:
        return self._limits

    @property
    def status(self) -> ReferenceStatus:
        with self._lock:
            return self._status

    def restore(self) -> None:
        """Use the snapshot saved by an earlier run, if there is a good one."""
        snapshot = self._store.load(self.source.name)
        if snapshot is None:
            return
        try:
            self._accept(snapshot, persist=False)
        except ReferenceFetchError as exc:
            log.warning("%s: saved snapshot not usable (%s); waiting for a fresh list", self.source.name, exc)
            return
        log.info("%s: restored snapshot version %s", self.source.name, snapshot.version)

    async def refresh(self) -> float:
        """Check the source once; returns the seconds to wait before the next check."""
        known = self.status.snapshot.version if self.status.snapshot is not None else None
        try:
            snapshot = await self.source.fetch(known)
            if snapshot is not None:
                # Parsing and comparing a large list takes a while: keep it off the probes' event loop.
                await anyio.to_thread.run_sync(functools.partial(self._accept, snapshot, persist=True))
        except ReferenceFetchError as exc:
            self._count_failure(exc)
            if exc.reason is FetchFailure.RATE_LIMITED:
                return min(max(RATE_LIMIT_BACKOFF, exc.retry_after or 0.0), MAX_BACKOFF)
            return self.source.retry_interval
        with self._lock:
            self._status = replace(self._status, last_success=time.time())
        return self.source.interval

    async def run(self) -> None:
        """Refresh forever, at the source's interval."""
        while True:
            await anyio.sleep(await self.refresh())

    def _accept(self, snapshot: Snapshot, *, persist: bool) -> None:
        parsed = parse_reference(snapshot.data, self._limits)
        if not parsed.items:
            raise ReferenceFetchError(FetchFailure.EMPTY, "the list has no usable items")
        if persist:
            problem = self.source.implausible(self.status.snapshot, snapshot)
            if problem is not None:
                raise ReferenceFetchError(FetchFailure.IMPLAUSIBLE, one_line(problem))
        drift = compute_drift(
            self._catalogue, parsed.items, self.source.service_areas, areas_stated=not self._page
        )
        if self._page:
            drift = mark_covered(self._catalogue, drift)
        added_hosts: tuple[AddedHost, ...] = ()
        invalid = parsed.invalid
        if self._limits.probe_added:
            added_hosts, refused = probe_plan(parsed.items, drift, self._limits, self._ports)
            invalid += refused
        if persist:
            try:
                self._store.save(snapshot)
            except OSError as exc:
                log.warning("%s: cannot save snapshot (%s); keeping it in memory", self.source.name, exc)
        self._log_problems(snapshot, invalid)
        with self._lock:
            self._status = replace(
                self._status,
                snapshot=snapshot,
                items=parsed.items,
                invalid_entries=len(invalid),
                drift=tuple(drift),
                added_hosts=added_hosts,
            )
        added = sum(1 for entry in drift if entry.direction == "added")
        log.info(
            "%s: version %s, %d sets, %d drift entries (%d added)",
            self.source.name,
            snapshot.version,
            len(parsed.items),
            len(drift),
            added,
        )
        self.on_change()

    def _log_problems(self, snapshot: Snapshot, invalid: tuple[InvalidEntry, ...]) -> None:
        for warning in _warnings(snapshot)[:LOGGED_INVALID_ENTRIES]:
            log.warning("%s: version %s: %s", self.source.name, snapshot.version, warning)
        for entry in invalid[:LOGGED_INVALID_ENTRIES]:
            log.warning(
                "%s: invalid entry ignored: item %s, %s %s: %s",
                self.source.name,
                entry.item,
                entry.field,
                entry.value,
                entry.problem,
            )
        if len(invalid) > LOGGED_INVALID_ENTRIES:
            log.warning(
                "%s: %d more invalid entries ignored",
                self.source.name,
                len(invalid) - LOGGED_INVALID_ENTRIES,
            )

    def _count_failure(self, exc: ReferenceFetchError) -> None:
        error = f"{exc.reason}: {exc.detail}"
        with self._lock:
            failures = Counter(self._status.failures)
            failures[exc.reason] += 1
            # The same implausible edition, checked again, is logged once.
            repeated = exc.reason is FetchFailure.IMPLAUSIBLE and self._status.last_error == error
            self._status = replace(self._status, failures=failures, last_error=error)
        kept = self._status.snapshot
        keeping = f"keeping version {kept.version}" if kept is not None else "no list yet"
        log.log(
            logging.DEBUG if repeated else logging.WARNING,
            "%s: fetch failed, %s (%s): %s",
            self.source.name,
            exc.reason,
            keeping,
            exc.detail,
        )


def _warnings(snapshot: Snapshot) -> list[str]:
    """What the source could not place in the list (`meta.warnings`: the page parser's), one line each."""
    warnings = snapshot.meta.get("warnings")
    if not isinstance(warnings, list):
        return []
    return [one_line(warning) for warning in warnings if isinstance(warning, str)]
