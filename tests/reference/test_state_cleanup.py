"""Temporary files of saves killed midway are removed at start, ours only."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from exporter.reference.snapshot import CLIENT_ID_FILE, snapshot_file_name
from exporter.reference.state_cleanup import remove_stale_temporaries

KILLED_SAVE = textwrap.dedent(
    """
    import os, signal, sys, time
    from pathlib import Path
    from exporter.reference.snapshot import Snapshot, SnapshotStore, load_or_create_client_id

    def killed(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)  # after the temporary file was written, before the rename

    os.replace = killed
    if sys.argv[2] == "snapshot":
        SnapshotStore(Path(sys.argv[1])).save(Snapshot("intune-page", "v1", time.time(), [{"id": 1}]))
    else:
        load_or_create_client_id(Path(sys.argv[1]))
    """
)


def killed_save(state: Path, what: str) -> None:
    process = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(state), what], check=False)
    assert process.returncode == -9


def test_temporaries_of_killed_saves_are_removed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    state = tmp_path / "state"
    for _ in range(3):
        killed_save(state, "snapshot")
    killed_save(state, "client id")
    left = sorted(path.name for path in state.iterdir())
    assert len(left) == 4 and all(name.endswith(".tmp") for name in left)
    assert sum(name.startswith(f".{snapshot_file_name('intune-page')}.") for name in left) == 3
    assert sum(name.startswith(f".{CLIENT_ID_FILE}.") for name in left) == 1

    others = [".notes.txt.abcdefgh.tmp", ".exporter.yml.12345678.tmp", "kept.json", ".client-request-id.tmp"]
    for name in others:
        (state / name).write_text("not ours")
    (state / f".{snapshot_file_name('x')}.abcd_123.tmp").mkdir()  # a directory: left alone

    assert remove_stale_temporaries(state) == 4
    assert sorted(path.name for path in state.iterdir()) == sorted(
        [*others, f".{snapshot_file_name('x')}.abcd_123.tmp"]
    )
    assert any(
        record.levelno == logging.WARNING and "removed 4 temporary file(s)" in record.getMessage()
        for record in caplog.records
    )
    assert remove_stale_temporaries(state) == 0


def test_no_state_directory_is_nothing_to_do(tmp_path: Path) -> None:
    assert remove_stale_temporaries(None) == 0
    assert remove_stale_temporaries(tmp_path / "missing") == 0
