"""Last-known-good reference lists, kept across restarts, and the installation's web service client id.

Files are replaced atomically (temporary file in the same directory, fsync, rename, fsync of the directory),
so a crash leaves either the old or the new snapshot, never half of one. A file that cannot be read back is
ignored with a warning and left in place for inspection.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import math
import os
import re
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exporter.reference.fetch import encode_json, read_json_file
from exporter.reference.types import ReferenceFetchError

__all__ = ["CLIENT_ID_FILE", "Snapshot", "SnapshotStore", "load_or_create_client_id"]

log = logging.getLogger(__name__)

FORMAT = 1
CLIENT_ID_FILE = "client-request-id"
DEFAULT_MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024
_GUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII | re.IGNORECASE)


@dataclass(frozen=True)
class Snapshot:
    source: str
    version: str | None
    fetched_at: float
    """Unix time the data was fetched."""
    data: Any
    """The raw JSON list, as decoded, that parsed successfully."""
    meta: dict[str, Any] = field(default_factory=dict)
    """What the source knows about the list beyond its items (JSON values), e.g. the page's edition."""


def _atomic_write(path: Path, content: bytes) -> None:
    """Replace `path` with `content`, creating its directory (mode 0o700) when missing."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def snapshot_file_name(source: str) -> str:
    """A file name for `source` made of [a-z0-9_-] plus a hash of the exact name, so names never collide."""
    readable = re.sub(r"[^a-z0-9_-]", "_", source.lower())[:64]
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{readable}-{digest}.json"


class SnapshotStore:
    """Snapshots by source name, in `directory` or, when it is None, in memory only."""

    def __init__(self, directory: Path | None, *, max_bytes: int = DEFAULT_MAX_SNAPSHOT_BYTES) -> None:
        self._directory = directory
        self._max_bytes = max_bytes
        self._memory: dict[str, Snapshot] = {}

    @property
    def directory(self) -> Path | None:
        return self._directory

    def path(self, source: str) -> Path | None:
        return None if self._directory is None else self._directory / snapshot_file_name(source)

    def save(self, snapshot: Snapshot) -> None:
        """Store `snapshot` atomically; raises OSError when the directory cannot be created or written, and
        ReferenceFetchError when its data is not JSON `fetch.check_json` accepts (nothing is written then)."""
        path = self.path(snapshot.source)
        if path is None:
            encode_json(snapshot.data, where=f"snapshot of {snapshot.source}")
            self._memory[snapshot.source] = snapshot
            return
        document: dict[str, Any] = {
            "format": FORMAT,
            "source": snapshot.source,
            "version": snapshot.version,
            "fetched_at": snapshot.fetched_at,
            "data": snapshot.data,
        }
        if snapshot.meta:
            document["meta"] = snapshot.meta
        _atomic_write(path, encode_json(document, where=f"snapshot of {snapshot.source}"))

    def load(self, source: str) -> Snapshot | None:
        """The saved snapshot of `source`; None if there is none or it is unusable (logged, left in place)."""
        path = self.path(source)
        if path is None:
            return self._memory.get(source)
        if not path.exists():
            return None
        try:
            document = read_json_file(path, max_bytes=self._max_bytes)
        except ReferenceFetchError as exc:
            log.warning("ignoring snapshot %s of %s: %s", path, source, exc)
            return None
        snapshot, problem = _from_document(document, source)
        if snapshot is None:
            log.warning("ignoring snapshot %s of %s: %s", path, source, problem)
        return snapshot


def _from_document(document: Any, source: str) -> tuple[Snapshot | None, str]:
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None, f"not a format {FORMAT} snapshot"
    if document.get("source") != source:
        return None, "it belongs to another source"
    version = document.get("version")
    fetched_at = document.get("fetched_at")
    if version is not None and not isinstance(version, str):
        return None, "version is not a string"
    if (
        not isinstance(fetched_at, int | float)
        or isinstance(fetched_at, bool)
        or not math.isfinite(fetched_at)
    ):
        return None, "fetched_at is not a time"
    if "data" not in document:
        return None, "no data"
    meta = document.get("meta", {})
    if not isinstance(meta, dict):
        return None, "meta is not an object"
    return Snapshot(source, version, float(fetched_at), document["data"], meta), ""


def load_or_create_client_id(directory: Path | None) -> str:
    """The installation's web service client id: a GUID made once, kept in `directory`/client-request-id.

    An invalid file is replaced. Without a directory, or when it cannot be written, a fresh GUID is returned
    (and a warning logged): the web service then sees a new client at each start, which it tolerates."""
    fresh = str(uuid.uuid4())
    if directory is None:
        return fresh
    path = directory / CLIENT_ID_FILE
    try:
        with path.open("rb") as file:
            content = file.read(256).decode("ascii").strip()
        if _GUID.fullmatch(content):
            return content.lower()
        log.warning("replacing invalid client request id in %s", path)
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("replacing unreadable client request id in %s: %s", path, exc)
    try:
        _atomic_write(path, (fresh + "\n").encode())
    except OSError as exc:
        log.warning("cannot keep the client request id in %s (%s); using %s for this run", path, exc, fresh)
    return fresh
