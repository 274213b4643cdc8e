"""Durability of blob directories: a file renamed into a directory created for it (a section's first
envelope, a new blob folder, a section's opened documents) must not vanish with that directory after a power
loss, so every directory created on the way is fsync'd into its parent before a row may point below it."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from flask import Flask

from app.bidding import storage as bidding_storage
from app.core import storage


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = storage.fsync_dir

    def record(directory: Path) -> None:
        calls.append(Path(directory))
        real(directory)

    monkeypatch.setattr(storage, "fsync_dir", record)
    monkeypatch.setattr(bidding_storage, "fsync_dir", record)
    return calls


def test_make_dirs_fsyncs_each_new_directory_into_its_parent(tmp_path: Path, synced: list[Path]) -> None:
    (tmp_path / "a").mkdir()
    storage.make_dirs(tmp_path / "a" / "b" / "c")
    assert (tmp_path / "a" / "b" / "c").is_dir()
    assert synced == [tmp_path / "a", tmp_path / "a" / "b"]  # top down; "a" existed already
    synced.clear()
    storage.make_dirs(tmp_path / "a" / "b" / "c")
    assert synced == []  # nothing created, nothing to sync


def test_a_sections_first_envelope_makes_its_directory_durable(
    app: Flask, tmp_path: Path, synced: list[Path]
) -> None:
    temp = tmp_path / "staged.part"
    temp.write_bytes(b"age-encryption.org/v1\n")
    with app.test_request_context():
        root = bidding_storage.blob_root()
        relative = bidding_storage.new_envelope_path(10**9 + uuid.uuid4().int % 10**9)  # a new one
        final = bidding_storage.install(temp, relative)
    section_dir = final.parent
    assert final.read_bytes() == b"age-encryption.org/v1\n"
    # the new section directory is fsync'd into envelopes/, then the file into the section directory
    assert synced[-2:] == [section_dir.parent, section_dir]
    assert section_dir.parent.parent == root


def test_a_new_blob_folder_is_durable(app: Flask, synced: list[Path]) -> None:
    with app.test_request_context():
        folder = f"durability-{uuid.uuid4().hex}"
        blob = storage.write_bytes(b"evidence", folder=f"{folder}/new")
        root = storage.blob_root()
    created = root / folder / "new"
    assert (root / blob.path).read_bytes() == b"evidence"
    assert synced[-3:] == [root, root / folder, created]  # two new directories, then the file
