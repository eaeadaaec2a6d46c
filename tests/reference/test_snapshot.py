"""SnapshotStore and the client request id: atomic files, corrupt files left alone, unwritable directories."""

from __future__ import annotations

import json
import logging
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest

from exporter.reference.snapshot import CLIENT_ID_FILE, Snapshot, SnapshotStore, load_or_create_client_id
from exporter.reference.types import FetchFailure, ReferenceFetchError
from tests.support.paths import DATA as TEST_DATA

DATA = TEST_DATA / "webservice"
SOURCE = "webservice-worldwide"


def endpoints(name: str = "endpoints-mem.json") -> Any:
    return json.loads((DATA / name).read_text())


def snapshot(version: str = "2025103000", name: str = "endpoints-mem.json") -> Snapshot:
    return Snapshot(SOURCE, version, 1_764_230_400.5, endpoints(name))


def test_round_trip_creates_a_private_directory(tmp_path: Path) -> None:
    directory = tmp_path / "state" / "snapshots"
    store = SnapshotStore(directory)
    store.save(snapshot())

    assert store.load(SOURCE) == snapshot()
    assert SnapshotStore(directory).load(SOURCE) == snapshot(), "a new store (a restart) reads it back"
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    (saved,) = directory.iterdir()
    document = json.loads(saved.read_text())
    assert document == {
        "format": 1,
        "source": SOURCE,
        "version": "2025103000",
        "fetched_at": 1_764_230_400.5,
        "data": endpoints(),
    }


def test_save_replaces_the_previous_snapshot(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    store.save(snapshot())
    store.save(snapshot("2025112700", "endpoints-mem-new.json"))
    assert store.load(SOURCE) == snapshot("2025112700", "endpoints-mem-new.json")
    assert len(list(tmp_path.iterdir())) == 1


def test_missing_snapshot(tmp_path: Path) -> None:
    assert SnapshotStore(tmp_path / "absent").load(SOURCE) is None
    assert SnapshotStore(tmp_path).load(SOURCE) is None


def test_memory_only() -> None:
    store = SnapshotStore(None)
    assert store.directory is None
    assert store.load(SOURCE) is None
    store.save(snapshot())
    assert store.load(SOURCE) == snapshot()


def test_file_names_are_safe_and_distinct(tmp_path: Path) -> None:
    store = SnapshotStore(tmp_path)
    sources = ["../../etc/passwd", "url:https://a/b?c", "url:https://a/b?d", "Webservice", "webservice"]
    for index, source in enumerate(sources):
        store.save(Snapshot(source, None, float(index), [index]))
    names = sorted(path.name for path in tmp_path.iterdir())
    assert len(names) == len(sources)
    for name in names:
        assert set(name.removesuffix(".json")) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-")
    for index, source in enumerate(sources):
        assert store.load(source) == Snapshot(source, None, float(index), [index])


def test_crash_during_save_keeps_the_previous_snapshot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SnapshotStore(tmp_path)
    store.save(snapshot())
    before = sorted(tmp_path.iterdir())

    def crash(source: object, destination: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError):
        store.save(snapshot("2025112700", "endpoints-mem-new.json"))
    monkeypatch.undo()

    assert sorted(tmp_path.iterdir()) == before, "no temporary file is left behind"
    assert store.load(SOURCE) == snapshot()


@pytest.mark.parametrize(
    "content",
    [
        b'{"format": 1, "source": "webservice-worldwide", "version": "20251',
        b"\x00\xff garbage",
        b"[]",
        b'{"format": 2, "source": "webservice-worldwide", "version": null, "fetched_at": 1, "data": []}',
        b'{"format": 1, "source": "another", "version": null, "fetched_at": 1, "data": []}',
        b'{"format": 1, "source": "webservice-worldwide", "version": 5, "fetched_at": 1, "data": []}',
        b'{"format": 1, "source": "webservice-worldwide", "version": null, "fetched_at": "now", "data": []}',
        b'{"format": 1, "source": "webservice-worldwide", "version": null, "fetched_at": 1}',
    ],
)
def test_unusable_file_is_ignored_and_left_alone(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes
) -> None:
    store = SnapshotStore(tmp_path)
    path = store.path(SOURCE)
    assert path is not None
    path.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="exporter.reference.snapshot"):
        assert store.load(SOURCE) is None
    assert path.read_bytes() == content
    assert "ignoring snapshot" in caplog.text


def test_unwritable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(OSError):
        SnapshotStore(blocker / "snapshots").save(snapshot())
    with pytest.raises(OSError):
        SnapshotStore(blocker).save(snapshot())


def test_client_id_persists(tmp_path: Path) -> None:
    first = load_or_create_client_id(tmp_path / "state")
    assert uuid.UUID(first).version == 4
    assert str(uuid.UUID(first)) == first
    assert load_or_create_client_id(tmp_path / "state") == first
    assert (tmp_path / "state" / CLIENT_ID_FILE).read_text().strip() == first


@pytest.mark.parametrize("content", [b"", b"not a guid\n", b"\xff\xfe", b"6f1c2a4e-9a53-4d6b-8f3e"])
def test_invalid_client_id_is_replaced(tmp_path: Path, content: bytes) -> None:
    (tmp_path / CLIENT_ID_FILE).write_bytes(content)
    replaced = load_or_create_client_id(tmp_path)
    assert uuid.UUID(replaced).version == 4
    assert (tmp_path / CLIENT_ID_FILE).read_text().strip() == replaced
    assert load_or_create_client_id(tmp_path) == replaced


def test_client_id_chosen_by_the_operator_is_kept(tmp_path: Path) -> None:
    (tmp_path / CLIENT_ID_FILE).write_text("  6F1C2A4E-9A53-4D6B-8F3E-2B7C1D0E5A91\n")
    assert load_or_create_client_id(tmp_path) == "6f1c2a4e-9a53-4d6b-8f3e-2b7c1d0e5a91"


def test_client_id_without_a_usable_directory(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    for directory in (None, blocker / "state"):
        first = load_or_create_client_id(directory)
        second = load_or_create_client_id(directory)
        assert uuid.UUID(first).version == 4
        assert first != second, "nothing could be kept, so every call makes a fresh id"
    assert os.listdir(tmp_path) == ["not-a-directory"]


@pytest.mark.parametrize("directory", [True, False])
def test_saving_text_that_is_not_unicode_is_refused_not_a_crash(tmp_path: Path, directory: bool) -> None:
    """It raised UnicodeEncodeError, which nothing caught: the exporter exited."""
    store = SnapshotStore(tmp_path / "state" if directory else None)
    with pytest.raises(ReferenceFetchError) as caught:
        store.save(Snapshot("list", "v1", 1.0, [{"id": 1, "notes": "\ud800"}]))
    assert caught.value.reason is FetchFailure.INVALID_TEXT
    assert store.load("list") is None
