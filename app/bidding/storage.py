"""Envelope files on disk: crash-safe writes, orphan clean-up and the receipts ↔ files check.

Layout under ``BLOB_DIR``::

    tmp/                                uploads in flight (``*.part``), resumable parts (``up-*.part``)
    envelopes/<section id>/<uuid>.age   stored envelopes (ciphertext, as received)
    opened/<section id>/<uuid>.bin      documents after the opening, encrypted at rest (app.bidding.atrest)

Durability order (SPEC §3.3, Pillai et al. OSDI'14): write temp → fsync → rename → fsync directory → DB
row + audit leaf in one transaction → commit → receipt. A crash after the rename and before the commit
leaves a file without a row; :func:`cleanup` removes such files (and stale temp files) once they are older
than a grace period, and :func:`check` reports every row without a file and every file without a row.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from app.core.db import db
from app.core.storage import fsync_dir, make_dirs

TMP = "tmp"
ENVELOPES = "envelopes"
OPENED = "opened"
GRACE_SECONDS = 3600


def blob_root() -> Path:
    return Path(current_app.config["BLOB_DIR"])


def tmp_dir() -> Path:
    path = blob_root() / TMP
    path.mkdir(parents=True, exist_ok=True)
    return path


def new_envelope_path(section_id: int) -> str:
    return f"{ENVELOPES}/{section_id}/{uuid.uuid4().hex}.age"


def new_opened_path(section_id: int) -> str:
    return f"{OPENED}/{section_id}/{uuid.uuid4().hex}.bin"


def install(temp: Path, relative: str) -> Path:
    """Move an fsync'd temp file to its final place durably (rename, then fsync the directory)."""
    final = blob_root() / relative
    make_dirs(final.parent)  # a section's first envelope creates its directory: that too must survive
    os.replace(temp, final)
    fsync_dir(final.parent)
    return final


def remove(relative: str) -> None:
    (blob_root() / relative).unlink(missing_ok=True)


@dataclass
class CheckReport:
    rows: int = 0
    files: int = 0
    missing_files: list[str] = field(default_factory=list)
    orphan_files: list[str] = field(default_factory=list)
    size_mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing_files or self.orphan_files or self.size_mismatches)


def _stored_files(sub: str) -> set[str]:
    base = blob_root() / sub
    if not base.exists():
        return set()
    return {str(p.relative_to(blob_root())) for p in base.rglob("*") if p.is_file()}


def check() -> CheckReport:
    """Every envelope row (every receipt) has its file of the right size, and every file has its row."""
    from .models import SealedEnvelope

    report = CheckReport()
    rows = db.session.execute(select(SealedEnvelope.blob_path, SealedEnvelope.size)).all()
    opened = db.session.execute(
        select(SealedEnvelope.plaintext_path).where(SealedEnvelope.plaintext_path.is_not(None))
    ).scalars()
    known = {path for path, _ in rows} | set(opened)
    report.rows = len(rows)
    for path, size in rows:
        full = blob_root() / path
        if not full.exists():
            report.missing_files.append(path)
        elif full.stat().st_size != size:
            report.size_mismatches.append(path)
    files = _stored_files(ENVELOPES) | _stored_files(OPENED)
    report.files = len(files)
    report.orphan_files = sorted(files - known)
    return report


def cleanup(*, grace_seconds: int = GRACE_SECONDS) -> list[str]:
    """Remove temp files and row-less envelope files older than the grace period (never a receipted file).

    Resumable parts whose upload row still exists and has not expired are kept."""
    from app.core.clock import now

    from .models import EnvelopeUpload, SealedEnvelope

    removed: list[str] = []
    cutoff = _disk_now() - grace_seconds
    live_uploads = set(
        db.session.execute(select(EnvelopeUpload.id).where(EnvelopeUpload.expires_at > now())).scalars()
    )
    tmp = blob_root() / TMP
    if tmp.exists():
        for p in tmp.iterdir():
            if p.name.startswith("up-") and p.name.removeprefix("up-").removesuffix(".part") in live_uploads:
                continue
            if p.is_file() and p.stat().st_mtime <= cutoff:
                p.unlink(missing_ok=True)
                removed.append(str(p.relative_to(blob_root())))
    known = set(db.session.execute(select(SealedEnvelope.blob_path)).scalars()) | set(
        db.session.execute(
            select(SealedEnvelope.plaintext_path).where(SealedEnvelope.plaintext_path.is_not(None))
        ).scalars()
    )
    for rel in sorted((_stored_files(ENVELOPES) | _stored_files(OPENED)) - known):
        full = blob_root() / rel
        if full.stat().st_mtime <= cutoff:
            full.unlink(missing_ok=True)
            removed.append(rel)
    return removed


def _disk_now() -> float:
    """Now, by the clock that stamps the files' times (the kernel's): file ages compare like with like even
    when this process's clock is shifted (a faked clock in tests, a jump of the system clock)."""
    root = blob_root()
    root.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=root, prefix=".clock-")
    try:
        return os.fstat(fd).st_mtime
    finally:
        os.close(fd)
        os.unlink(name)


_cleaned: set[str] = set()


def cleanup_once() -> None:
    """Lazy start-up clean-up: the first upload a process handles sweeps stale temp files (not in
    ``create_app``, which must touch neither the database nor the disk)."""
    root = str(blob_root())
    if root in _cleaned:
        return
    _cleaned.add(root)
    try:
        cleanup()
    except OSError:  # a sweep that fails must not fail the upload; `flask bidding cleanup` reports it
        current_app.logger.warning("bidding temp clean-up failed", exc_info=True)
