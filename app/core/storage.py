"""Blob storage on local disk (or a shared volume), written durably.

Durability order for every write: temp file in the same directory → fsync → rename → fsync directory (and
every directory created on the way fsync'd into its parent, :func:`make_dirs`). Only then may a database row
point at the blob. Blobs are addressed by server-generated relative paths,
never by client-supplied names.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flask import current_app

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredBlob:
    path: str  # relative to BLOB_DIR
    sha256: str
    size: int


class BlobTooLarge(Exception):
    pass


def blob_root() -> Path:
    root = Path(current_app.config["BLOB_DIR"])
    root.mkdir(parents=True, exist_ok=True)
    return root


def absolute(path: str) -> Path:
    root = blob_root().resolve()
    full = (root / path).resolve()
    if root not in full.parents:
        raise ValueError("blob path escapes the blob directory")
    return full


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(directory: Path) -> None:
    """``mkdir -p``, durably: each directory created is fsync'd into its parent, so a file renamed into a
    new directory (and then fsync'd with it) cannot vanish with that directory after a power loss."""
    missing: list[Path] = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for path in reversed(missing):
        path.mkdir(exist_ok=True)  # another worker may create it at the same moment: fsync all the same
        fsync_dir(path.parent)


def write_stream(
    chunks: Iterator[bytes] | BinaryIO, *, folder: str, max_size: int | None = None, suffix: str = ""
) -> StoredBlob:
    """Stream data to a new blob under ``folder`` and return its path, SHA-256 and size.

    Constant memory; the temp file is removed on any error (including the size limit)."""
    directory = blob_root() / folder
    make_dirs(directory)
    name = secrets.token_hex(16) + suffix
    tmp = directory / f".{name}.tmp"
    digest = hashlib.sha256()
    size = 0
    if hasattr(chunks, "read"):
        reader = chunks
        iterator: Iterator[bytes] = iter(lambda: reader.read(CHUNK), b"")
    else:
        iterator = chunks
    try:
        with open(tmp, "xb") as fh:
            for chunk in iterator:
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise BlobTooLarge(f"larger than {max_size} bytes")
                digest.update(chunk)
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        final = directory / name
        os.rename(tmp, final)
        fsync_dir(directory)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return StoredBlob(path=f"{folder}/{name}", sha256=digest.hexdigest(), size=size)


def write_bytes(data: bytes, *, folder: str, suffix: str = "") -> StoredBlob:
    return write_stream(iter([data]), folder=folder, suffix=suffix)


def open_blob(path: str) -> BinaryIO:
    return open(absolute(path), "rb")


def iter_blob(path: str) -> Iterator[bytes]:
    with open_blob(path) as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def remove_orphan_temps(folder: str = "") -> int:
    """Delete temp files left by a crash mid-write (they never had a database row)."""
    count = 0
    for tmp in (blob_root() / folder).rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)
        count += 1
    return count
