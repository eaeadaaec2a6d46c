"""Temporary files a save killed midway left in the state directory, removed at start.

`snapshot._atomic_write` writes a temporary file next to its target (`.NAME.XXXXXXXX.tmp`, from
`tempfile.mkstemp`), fsyncs it and renames it over the target. A kill between the two leaves the temporary
file, which nothing else removes: a crash loop would fill the state volume with them. `serve` calls
`remove_stale_temporaries` before anything is saved.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from exporter.reference.snapshot import CLIENT_ID_FILE

__all__ = ["remove_stale_temporaries"]

log = logging.getLogger(__name__)

_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[A-Za-z0-9_]{8}\.tmp", re.ASCII)
"""`tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp")`: 8 random characters of [a-z0-9_]."""
_SNAPSHOT_FILE = re.compile(r"[a-z0-9_-]{0,64}-[0-9a-f]{12}\.json", re.ASCII)
"""What `snapshot.snapshot_file_name` makes."""


def remove_stale_temporaries(directory: Path | None) -> int:
    """Remove our temporary files (those of a snapshot or of the client id file) from `directory`; returns
    how many, logging it. Others' files are left alone. The state directory belongs to one exporter process
    (two sharing it would overwrite each other's snapshots anyway)."""
    if directory is None:
        return 0
    try:
        entries = list(os.scandir(directory))
    except OSError:  # missing (nothing saved yet) or unreadable: the first save will say so
        return 0
    removed = 0
    for entry in entries:
        match = _TEMPORARY.fullmatch(entry.name)
        if match is None or not _ours(match["name"]):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            os.unlink(entry.path)
        except OSError as exc:
            log.warning("cannot remove %s, left by an interrupted save: %s", entry.path, exc)
            continue
        removed += 1
    if removed:
        log.warning("removed %d temporary file(s) left in %s by an interrupted save", removed, directory)
    return removed


def _ours(name: str) -> bool:
    return name == CLIENT_ID_FILE or _SNAPSHOT_FILE.fullmatch(name) is not None
