"""Receiving sealed envelopes: streaming, durable, idempotent, decided by the server clock.

The flow of one upload (direct or the finalisation of a resumable one):

1. :func:`prepare` — load the section, authorise, settle an ``Idempotency-Key`` replay early, then the
   caller **ends the transaction** (no database transaction is held while bytes arrive);
2. :func:`stage_stream` — stream the body to ``BLOB_DIR/tmp`` through a few reused 1 MiB buffers: SHA-256
   and the strict age header check on the fly, size limit enforced, ``fsync`` at the end (constant memory);
3. :func:`commit` — verify the bidder's signature (while that fsync runs), wait for the fsync, ``rename``
   into place and ``fsync`` the directory, then
   one short transaction: lock the section row, check the deadline **with the server clock inside the
   transaction**, supersede the slot's previous envelope, insert the row and its audit leaf, commit;
4. :func:`receipt` — only now the Ed25519-signed receipt (a pure function of the committed row, so a retry
   gets the identical receipt).

Anything refused leaves nothing behind: the temp file (or the renamed file, when the transaction fails) is
removed before the error is returned.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import errno
import hashlib
import hmac
import os
import queue
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NamedTuple

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.accounts.models import Organization, User
from app.core import audit, crypto
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, Forbidden, NotFound
from app.core.models import AuditLeaf
from app.projects.enums import SectionStatus
from app.projects.models import Section

from . import agefile, signing, storage
from .enums import EnvelopeKind, EnvelopeStatus
from .models import EnvelopeUpload, SealedEnvelope
from .services import find_signing_key, public_key_of

PIECE = 1024 * 1024
BUFFERS = 4
WRITEBACK_EVERY = 16 * PIECE
NAME_RE = re.compile(r"^[\w\-. ()\u4e00-\u9fff]{1,200}$")
MAX_IDEMPOTENCY_KEY = 255


class UploadRefused(DomainError):
    """The upload is not accepted; nothing was stored."""

    code = "envelope_refused"


class TooLarge(UploadRefused):
    status = 413
    code = "too_large"


class DeadlinePassed(UploadRefused):
    status = 409
    code = "deadline_passed"


class UploadLapsed(UploadRefused):
    """A resumable upload left unfinished past its time (``RESUMABLE_UPLOAD_HOURS``): start again."""

    status = 410
    code = "upload_expired"


class InsufficientStorage(UploadRefused):
    """The blob disk is full (ENOSPC/EDQUOT): nothing was stored; the client retries later."""

    status = 507
    code = "insufficient_storage"


NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


def _no_space() -> InsufficientStorage:
    current_app.logger.error("bidding: the blob storage is full (%s)", storage.blob_root())
    return InsufficientStorage(
        _("The platform's storage is full; nothing was stored. Please try again shortly."),
        code="insufficient_storage",
    )


@dataclass(frozen=True)
class UploadRequest:
    """Everything about an upload except its bytes (parsed from headers by the view)."""

    section_id: int
    kind: str
    name: str
    idempotency_key: str | None = None
    declared_sha256: str | None = None
    signature_b64: str | None = None
    key_id: str | None = None
    source_ip: str | None = None
    user_agent: str | None = None
    client_fingerprint: str | None = None


@dataclass(frozen=True)
class Prepared:
    section_id: int
    org_id: int
    user_id: int
    max_bytes: int
    request: UploadRequest


@dataclass
class Staged:
    path: Path
    sha256: str
    size: int
    # When the last byte entered the platform (server clock): the legal time of receipt (电子签名法
    # Art. 11). The deadline is judged on it, inside the transaction, so a bid that arrived in time is not
    # refused because the server was slow to write it down.
    arrived_at: dt.datetime = field(default_factory=now)
    # Returns once the file's bytes are on disk (raises the OSError of a failed fsync): :func:`commit` checks
    # the signature meanwhile and waits for it before the file is renamed into place.
    wait_durable: Callable[[], None] = field(default=lambda: None)


def max_bytes_of(section: Section) -> int:
    return int(section.max_envelope_mb) * 1024 * 1024


def _check_slot(kind: str, name: str) -> tuple[str, str]:
    try:
        kind = EnvelopeKind(kind).value
    except ValueError:
        raise UploadRefused(
            _("The envelope kind must be summary or document."), errors={"kind": [_("Invalid.")]}
        ) from None
    if kind == EnvelopeKind.SUMMARY:
        return kind, "summary"
    name = (name or "").strip()
    if not NAME_RE.match(name) or name in {".", ".."}:
        raise UploadRefused(
            _("A document envelope needs a short name (letters, digits, - _ . ( ) and spaces)."),
            errors={"name": [_("Invalid.")]},
        )
    return kind, name


def _bidding_open(section: Section) -> None:
    if section.status != SectionStatus.PUBLISHED or section.bid_deadline is None:
        raise Conflict(_("This section is not accepting bids."), code="not_accepting")
    if section.suspended:
        from app.projects.services import open_suspension

        held = open_suspension(section)
        raise Conflict(
            _(
                "The section is suspended (%(reason)s): no bid is received until it is resumed, and the "
                "time suspended is then added to the bidding period (招标投标法第24条).",
                reason=held.reason if held else "—",
            ),
            code="suspended",
        )
    if not section.opening_recipient:
        raise Conflict(_("This section has no opening key."), code="no_opening_key")


def load_section_for_bidder(section_id: int, actor: User) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or section.status == SectionStatus.DRAFT:
        raise NotFound(_("No such section."))
    from app.projects.services import may_take_part, take_part_refusal

    if not may_take_part(section, actor.org_id):
        raise Forbidden(take_part_refusal(section, bids=True))
    return section


def prepare(req: UploadRequest, *, actor: User) -> Prepared | SealedEnvelope:
    """Authorise and check before any byte is read. Returns the existing envelope for an idempotent replay
    whose declared digest matches; the caller must end the transaction before streaming."""
    storage.cleanup_once()
    section = load_section_for_bidder(req.section_id, actor)
    kind, name = _check_slot(req.kind, req.name)
    req = UploadRequest(**{**req.__dict__, "kind": kind, "name": name})
    if req.idempotency_key is not None and not 0 < len(req.idempotency_key) <= MAX_IDEMPOTENCY_KEY:
        raise UploadRefused(_("The Idempotency-Key must be 1 to 255 characters."))
    if req.idempotency_key:
        existing = _by_idempotency(section.id, actor.org_id, req.idempotency_key)
        if existing is not None:
            if req.declared_sha256 is not None:
                _same_request_or_409(existing, req, req.declared_sha256.lower())
                return existing
            # A retry without a declared digest: stream it, compare in commit(), even after the deadline.
            return Prepared(section.id, actor.org_id, actor.id, max_bytes_of(section), req)
    _bidding_open(section)
    if section.bid_deadline is None or now() >= section.bid_deadline:
        raise DeadlinePassed(_("The bid deadline has passed; nothing was stored."))
    return Prepared(section.id, actor.org_id, actor.id, max_bytes_of(section), req)


def _by_idempotency(section_id: int, org_id: int, key: str) -> SealedEnvelope | None:
    return db.session.scalar(
        select(SealedEnvelope).where(
            SealedEnvelope.section_id == section_id,
            SealedEnvelope.org_id == org_id,
            SealedEnvelope.idempotency_key == key,
        )
    )


def _same_request_or_409(existing: SealedEnvelope, req: UploadRequest, sha256: str) -> None:
    if existing.sha256 != sha256 or existing.kind != req.kind or existing.name != req.name:
        raise Conflict(
            _("This Idempotency-Key was used for a different envelope; use a new key."),
            code="idempotency_mismatch",
        )


def stage_stream(
    readinto: Callable[[memoryview], int], max_bytes: int, *, content_length: int | None = None
) -> Staged:
    """Stream to a temp file: SHA-256 and the age check on the fly, then fsync; the temp file is removed on
    any refusal. The fsync runs on in the helper thread after this returns: :func:`commit` verifies the
    signature meanwhile and waits for it (``Staged.wait_durable``) before the rename.

    ``readinto(view)`` fills the start of ``view`` from the body and returns how many bytes it wrote (0 at
    the end), like :meth:`io.RawIOBase.readinto`. Three stages overlap: this thread reads the body into one
    of :data:`BUFFERS` reused buffers of :data:`PIECE` bytes (and feeds the age check, which looks only at
    the first bytes), one helper thread hashes each full buffer while another writes it out; the buffer is
    read into again once both are done with it. Reading from the socket, ``hashlib`` and file writes all
    release the GIL, so the stages run in parallel; memory stays at the buffers, whatever the size of the
    envelope."""
    too_large = _("The envelope is larger than this section allows (%(mb)d MiB).", mb=max_bytes >> 20)
    if content_length is not None and content_length > max_bytes:
        raise TooLarge(too_large)
    tmp = storage.tmp_dir() / f"{secrets.token_hex(16)}.part"
    digest = hashlib.sha256()
    checker = agefile.StreamingAgeChecker()
    failure: list[BaseException] = []
    # Each helper takes full buffers from its queue (a bool ends it: True keeps the file) and hands every
    # buffer back in the order it got them, so the reader's next free buffer is the next one back from both.
    to_hash: queue.SimpleQueue[tuple[bytearray, int] | bool] = queue.SimpleQueue()
    to_write: queue.SimpleQueue[tuple[bytearray, int] | bool] = queue.SimpleQueue()
    hashed: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    written: queue.SimpleQueue[bytearray] = queue.SimpleQueue()
    for _i in range(BUFFERS):
        buf = bytearray(PIECE)
        hashed.put(buf)
        written.put(buf)

    def hash_all() -> None:
        while not isinstance(item := to_hash.get(), bool):
            buf, n = item
            try:
                if not failure:
                    digest.update(memoryview(buf)[:n])
            except BaseException as err:  # reported to the reading thread; keep handing buffers back
                failure.append(err)
            finally:
                hashed.put(buf)

    def write_all_and_sync(out: IO[bytes]) -> None:
        """Write every buffer; at the end of a kept file fsync it. Owns ``out``."""
        offset = flushed = 0
        try:
            while not isinstance(item := to_write.get(), bool):
                buf, n = item
                try:
                    if not failure:
                        view = memoryview(buf)[:n]
                        while view:
                            view = view[out.write(view) or 0 :]
                        offset += n
                        if offset - flushed >= WRITEBACK_EVERY:
                            _start_writeback(out.fileno(), flushed, offset - flushed)
                            flushed = offset
                except BaseException as err:
                    failure.append(err)
                finally:
                    written.put(buf)
            if item and not failure:
                os.fsync(out.fileno())
        except BaseException as err:
            failure.append(err)
        finally:
            out.close()

    def stop(keep: bool) -> None:
        to_hash.put(keep)
        to_write.put(keep)

    size = 0
    helpers: list[threading.Thread] = []
    try:
        out = open(tmp, "wb", buffering=0)  # noqa: SIM115 - the writing thread closes it
        helpers = [
            threading.Thread(target=hash_all, name="envelope-hash", daemon=True),
            threading.Thread(target=write_all_and_sync, args=(out,), name="envelope-write", daemon=True),
        ]
        for helper in helpers:
            helper.start()
        keep = False
        try:
            while not failure:
                buf = hashed.get()
                written.get()  # the same buffer: both helpers are done with it
                n = _fill(readinto, buf)
                if not n:
                    break
                size += n
                if size > max_bytes:
                    raise TooLarge(too_large)
                checker.feed(memoryview(buf)[:n])  # refuses plaintext after the first bytes
                to_hash.put((buf, n))
                to_write.put((buf, n))
            arrived_at = now()  # the last byte is in
            if failure:
                raise failure[0]
            checker.finish()
            if content_length is not None and size != content_length:
                raise UploadRefused(
                    _("The upload was cut short; nothing was stored. Retry it."), code="incomplete"
                )
            keep = True
        finally:
            stop(keep)  # a kept file is fsync'd while the caller goes on (Staged.wait_durable)
        helpers[0].join()  # the digest is complete
        if failure:
            raise failure[0]
    except BaseException as err:
        failure.append(err)  # the helpers skip what is still queued
        if helpers:
            stop(False)  # harmless if the helpers already stopped
        for helper in helpers:
            helper.join()
        tmp.unlink(missing_ok=True)
        if isinstance(err, agefile.AgeFormatError):
            raise UploadRefused(_refusal_message(err), code=f"age_{err.code}") from None
        if isinstance(err, OSError) and err.errno in NO_SPACE:
            raise _no_space() from None
        raise

    writer = helpers[1]

    def wait_durable() -> None:
        writer.join()
        if failure:
            raise failure[0]

    return Staged(tmp, digest.hexdigest(), size, arrived_at, wait_durable)


def _start_writeback(fd: int, offset: int, length: int) -> None:
    """Have the kernel start writing this written range to disk now, without waiting for it (and drop it
    from the page cache once clean): a large envelope then reaches the disk while it streams, and the final
    fsync only waits for the tail, instead of for gigabytes of dirty pages."""
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):  # advice only: a filesystem that refuses it still stores the file
            os.posix_fadvise(fd, offset, length, os.POSIX_FADV_DONTNEED)


def _fill(readinto: Callable[[memoryview], int], buf: bytearray) -> int:
    """Read into ``buf`` until it is full or the body ends; how many bytes it holds."""
    view = memoryview(buf)
    filled = 0
    while filled < len(buf):
        n = readinto(view[filled:])
        if not n:
            break
        filled += n
    return filled


def stage_file(path: Path, max_bytes: int) -> Staged:
    """A finished resumable part (fsync'd chunk by chunk): read once for the digest and the age check,
    then it is itself the staged file (no second copy). Refused parts are removed."""
    arrived_at = now()  # the bidder's finalize request: the submission is complete from here
    digest = hashlib.sha256()
    checker = agefile.StreamingAgeChecker()
    try:
        if path.stat().st_size > max_bytes:
            raise TooLarge(
                _("The envelope is larger than this section allows (%(mb)d MiB).", mb=max_bytes >> 20)
            )
        with open(path, "rb", buffering=0) as fh:
            while piece := fh.read(PIECE):
                checker.feed(piece)
                digest.update(piece)
        checker.finish()
    except agefile.AgeFormatError as err:
        path.unlink(missing_ok=True)
        raise UploadRefused(_refusal_message(err), code=f"age_{err.code}") from None
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Staged(path, digest.hexdigest(), checker.size, arrived_at)


def _refusal_message(err: agefile.AgeFormatError) -> str:
    messages = {
        "not_age": _(
            "This is not an age-encrypted file. Bids must be sealed on your machine to the section's "
            "recipient before upload; nothing was stored."
        ),
        "armored": _("Armored (PEM) age files are not accepted: seal the binary form (without -a/--armor)."),
        "passphrase": _("The file is sealed with a passphrase, not to the section's recipient (age -r …)."),
        "recipients": _("The file must be sealed to exactly one recipient: the section's opening recipient."),
        "not_x25519": _("The file is not sealed to an X25519 recipient like the section's."),
        "truncated": _("The age file is truncated; nothing was stored. Upload it again."),
        "empty": _("The upload is empty."),
    }
    return messages.get(err.code, _("The age file is malformed; nothing was stored."))


def _verify_signature(prep: Prepared, staged: Staged, at: Any) -> tuple[int | None, str | None]:
    req = prep.request
    required = bool(current_app.config.get("BIDDING_REQUIRE_SIGNATURE", True))
    if not req.signature_b64 or not req.key_id:
        if required:
            raise UploadRefused(
                _("The envelope must be signed with your organization's registered key."), code="unsigned"
            )
        return None, None
    key = find_signing_key(prep.org_id, req.key_id.strip())
    if key is None:
        raise UploadRefused(_("The signing key is not registered for your organization."), code="unknown_key")
    if not key.valid_at(at):
        raise UploadRefused(_("The signing key is revoked or not valid now."), code="key_not_valid")
    try:
        signature = base64.b64decode(req.signature_b64.strip(), validate=True)
    except ValueError:
        raise UploadRefused(_("The signature is not base64."), code="bad_signature") from None
    message = signing.envelope_statement(staged.sha256, prep.section_id, req.kind)
    if not signing.verify(public_key_of(key), signature, message):
        raise UploadRefused(
            _("The signature does not match this envelope, section and kind."), code="bad_signature"
        )
    return key.id, base64.b64encode(signature).decode()


class Received(NamedTuple):
    envelope: SealedEnvelope
    created: bool  # False: an Idempotency-Key replay answered with the envelope received before
    receipt: dict[str, Any]  # the signed receipt (:func:`receipt`)


def commit(prep: Prepared, staged: Staged, *, actor: User) -> Received:
    """Install the staged file and record it in one transaction; then sign its receipt."""
    req = prep.request
    if req.declared_sha256 and req.declared_sha256.lower() != staged.sha256:
        staged.path.unlink(missing_ok=True)
        raise UploadRefused(_("The body does not match the declared SHA-256."), code="digest_mismatch")
    db.session.rollback()  # nothing may be pending from before the stream
    if req.idempotency_key:
        existing = _by_idempotency(prep.section_id, prep.org_id, req.idempotency_key)
        if existing is not None:
            staged.path.unlink(missing_ok=True)
            _same_request_or_409(existing, req, staged.sha256)
            return Received(existing, False, receipt(existing))
    try:
        key_pk, signature = _verify_signature(prep, staged, now())
    except DomainError:
        staged.path.unlink(missing_ok=True)
        raise
    db.session.rollback()
    relative = storage.new_envelope_path(prep.section_id)
    try:
        staged.wait_durable()
        storage.install(staged.path, relative)
    except OSError as err:  # e.g. no space for a new directory: nothing may stay behind
        staged.path.unlink(missing_ok=True)
        storage.remove(relative)
        if err.errno in NO_SPACE:
            raise _no_space() from None
        raise
    _failpoint("after_rename")
    try:
        envelope = _record(prep, staged, relative, key_pk, signature, actor=actor)
        db.session.flush()  # every statement runs now: what can still fail below is the COMMIT itself
        # The receipt's contents, read in this transaction (the row, its leaf and the log up to it are
        # final once committed): no second transaction to read them back after the commit.
        body = _receipt_body(envelope)
    except IntegrityError:
        db.session.rollback()
        storage.remove(relative)
        if req.idempotency_key:  # a concurrent retry with the same key won the race
            existing = _by_idempotency(prep.section_id, prep.org_id, req.idempotency_key)
            if existing is not None:
                _same_request_or_409(existing, req, staged.sha256)
                return Received(existing, False, receipt(existing))
        raise Conflict(_("Another upload to the same slot finished at the same time; retry.")) from None
    except BaseException:
        db.session.rollback()
        storage.remove(relative)
        raise
    try:
        db.session.commit()
    except BaseException:
        # A COMMIT that failed on its way (the connection to the database was lost) may have committed:
        # a retry with the same Idempotency-Key then finds the row and its receipt. Keep the file; if no
        # row refers to it, `storage.cleanup` removes it after the grace period.
        db.session.rollback()
        raise
    return Received(envelope, True, signing.sign_receipt(body, crypto.signing_key()))


def _failpoint(name: str) -> None:
    """Crash tests only: ``BIDDING_FAILPOINT=<name>`` kills the process here, as ``kill -9`` would."""
    if current_app.config.get("BIDDING_FAILPOINT") == name:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _record(
    prep: Prepared,
    staged: Staged,
    relative: str,
    key_pk: int | None,
    signature: str | None,
    *,
    actor: User,
) -> SealedEnvelope:
    req = prep.request
    section = db.session.scalar(
        select(Section)
        .where(Section.id == prep.section_id)
        # FOR NO KEY UPDATE: serialises uploads and state changes of the section without blocking the
        # foreign-key checks (FOR KEY SHARE) of rows that merely refer to it, e.g. a new resumable upload.
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    if section is None:
        raise NotFound(_("No such section."))
    # Decided inside the transaction with the section row locked: the section must still accept bids
    # (not closed or opened meanwhile) and the last byte must have arrived before the deadline.
    received_at = min(staged.arrived_at, now())
    _bidding_open(section)
    if received_at >= section.bid_deadline:
        raise DeadlinePassed(_("The upload finished after the bid deadline; nothing was stored."))
    previous = db.session.scalar(
        select(SealedEnvelope).where(
            SealedEnvelope.section_id == section.id,
            SealedEnvelope.org_id == prep.org_id,
            SealedEnvelope.kind == req.kind,
            SealedEnvelope.name == req.name,
            SealedEnvelope.status == EnvelopeStatus.ACTIVE.value,
        )
    )
    if previous is not None:
        previous.status = EnvelopeStatus.SUPERSEDED.value
        previous.ended_at = received_at
        db.session.flush()  # the partial unique index allows one active envelope per slot
    envelope = SealedEnvelope(
        section_id=section.id,
        org_id=prep.org_id,
        submitted_by=prep.user_id,
        kind=req.kind,
        name=req.name,
        status=EnvelopeStatus.ACTIVE.value,
        sha256=staged.sha256,
        size=staged.size,
        blob_path=relative,
        received_at=received_at,
        audit_leaf_idx=-1,
        idempotency_key=req.idempotency_key,
        signing_key_id=key_pk,
        signature=signature,
        source_ip=(req.source_ip or "")[:64] or None,
        user_agent=(req.user_agent or "")[:300] or None,
        client_fingerprint=(req.client_fingerprint or "")[:200] or None,
    )
    db.session.add(envelope)
    db.session.flush()  # the envelope id goes into the audit payload
    leaf = audit.record(
        "bidding:envelope:receive",
        actor=None,  # who bid is sealed until the opening: the leaf carries a commitment, not the bidder
        object_type="sealed_envelope",
        object_id=envelope.id,
        source_ip="",
        payload={
            "section_id": section.id,
            "kind": req.kind,
            "sha256": staged.sha256,
            "size": staged.size,
            "received_at": received_at,
            "bidder_commitment": bidder_commitment(prep.org_id, envelope.id),
            "supersedes": previous.id if previous is not None else None,
        },
    )
    envelope.audit_leaf_idx = leaf.idx
    return envelope


def bidder_commitment(org_id: int, envelope_id: int) -> str:
    """HMAC under the platform data key: reveals nothing before the opening, checkable by the platform."""
    return _commitments(org_id, envelope_id)[0]


def is_bidder_commitment(org_id: int, envelope_id: int, commitment: str) -> bool:
    """Whether an audit leaf's commitment names this bidder. Leaves are immutable, so a commitment made
    before a data key rotation checks against the retired key (keep it in ``DATA_KEYS_RETIRED``)."""
    return any(hmac.compare_digest(c, commitment) for c in _commitments(org_id, envelope_id))


def _commitments(org_id: int, envelope_id: int) -> list[str]:
    message = f"{org_id}:{envelope_id}".encode()
    return [
        hmac.new(key, message, hashlib.sha256).hexdigest() for key in crypto.derived_keys("bidder-commitment")
    ]


# -- receipts ---------------------------------------------------------------------------------------------


def receipt(envelope: SealedEnvelope) -> dict[str, Any]:
    """The signed receipt: a pure function of the committed row (identical on every retry)."""
    return signing.sign_receipt(_receipt_body(envelope), crypto.signing_key())


def _receipt_body(envelope: SealedEnvelope) -> dict[str, Any]:
    size = envelope.audit_leaf_idx + 1
    leaf_hash = db.session.scalar(select(AuditLeaf.leaf_hash).where(AuditLeaf.idx == envelope.audit_leaf_idx))
    section = db.session.get(Section, envelope.section_id)
    body = {
        "type": signing.RECEIPT_TYPE,
        "platform": current_app.config["AUDIT_ORIGIN"],
        "section_id": envelope.section_id,
        "section_code": section.code if section else None,
        "bidder_org_id": envelope.org_id,
        "bidder": envelope.organization.name,
        "envelope_id": envelope.id,
        "kind": envelope.kind,
        "name": envelope.name,
        "sha256": envelope.sha256,
        "size": envelope.size,
        "received_at": audit.canonical_json(envelope.received_at).strip('"'),
        "signing_key_id": envelope.signing_key.key_id if envelope.signing_key else None,
        "audit": {
            "leaf_index": envelope.audit_leaf_idx,
            "leaf_hash": bytes(leaf_hash or b"").hex(),
            "tree_size": size,
            "root": audit.root_hash(size).hex(),
            "inclusion_proof": [h.hex() for h in audit.inclusion_proof(envelope.audit_leaf_idx, size)],
        },
    }
    return body


# -- replace / withdraw -----------------------------------------------------------------------------------


def withdraw(envelopes: list[SealedEnvelope], *, actor: User, section_id: int) -> int:
    """撤回 before the deadline: the envelopes stay (history), marked withdrawn. Decided inside the
    transaction with the section row locked, like uploads."""
    section = db.session.scalar(select(Section).where(Section.id == section_id).with_for_update())
    if section is None:
        raise NotFound(_("No such section."))
    at = now()
    _bidding_open(section)
    if at >= section.bid_deadline:
        raise DeadlinePassed(_("The bid deadline has passed; bids can no longer be withdrawn."))
    count = 0
    for env in envelopes:
        if env.status != EnvelopeStatus.ACTIVE or env.org_id != actor.org_id or env.section_id != section_id:
            continue
        env.status = EnvelopeStatus.WITHDRAWN.value
        env.ended_at = at
        audit.record(
            "bidding:envelope:withdraw",
            actor=None,
            object_type="sealed_envelope",
            object_id=env.id,
            source_ip="",
            payload={"section_id": section_id, "bidder_commitment": bidder_commitment(env.org_id, env.id)},
        )
        count += 1
    return count


def own_envelopes(section_id: int, org_id: int, *, history: bool = True) -> list[SealedEnvelope]:
    stmt = select(SealedEnvelope).where(
        SealedEnvelope.section_id == section_id, SealedEnvelope.org_id == org_id
    )
    if not history:
        stmt = stmt.where(SealedEnvelope.status == EnvelopeStatus.ACTIVE.value)
    return list(db.session.scalars(stmt.order_by(SealedEnvelope.id.desc())))


def own_envelope(envelope_id: int, *, actor: User, section_id: int | None = None) -> SealedEnvelope:
    env = db.session.get(SealedEnvelope, envelope_id)
    if env is None or env.org_id != actor.org_id or (section_id is not None and env.section_id != section_id):
        raise NotFound(_("No such envelope."))
    return env


def bidder_count(section_id: int) -> int:
    """How many organizations have an active envelope: what center staff may see before the opening."""
    orgs = db.session.scalars(
        select(SealedEnvelope.org_id)
        .where(SealedEnvelope.section_id == section_id, SealedEnvelope.status == EnvelopeStatus.ACTIVE.value)
        .distinct()
    )
    return len(list(orgs))


# -- resumable uploads ------------------------------------------------------------------------------------


def part_path(upload: EnvelopeUpload) -> Path:
    return storage.tmp_dir() / f"up-{upload.id}.part"


class UploadQuota(UploadRefused):
    """The bidder has as many resumable uploads open for the section as it may."""

    status = 429
    code = "upload_quota"


def _open_uploads(section_id: int, org_id: int) -> list[EnvelopeUpload]:
    """The organization's resumable uploads for the section that are neither finished nor expired."""
    return list(
        db.session.scalars(
            select(EnvelopeUpload).where(
                EnvelopeUpload.section_id == section_id,
                EnvelopeUpload.org_id == org_id,
                EnvelopeUpload.envelope_id.is_(None),
                EnvelopeUpload.expires_at > now(),
            )
        )
    )


def _discard_expired(section_id: int, org_id: int) -> None:
    """The organization's expired uploads of the section go, with their part files (no quota held)."""
    expired = db.session.scalars(
        select(EnvelopeUpload).where(
            EnvelopeUpload.section_id == section_id,
            EnvelopeUpload.org_id == org_id,
            EnvelopeUpload.envelope_id.is_(None),
            EnvelopeUpload.expires_at <= now(),
        )
    )
    for upload in expired:
        discard_upload(upload)


def create_upload(req: UploadRequest, length: int, *, actor: User) -> EnvelopeUpload:
    """Start a resumable upload. Each bidder organization may have at most ``RESUMABLE_UPLOADS_OPEN``
    unfinished uploads per section, declaring together at most ``RESUMABLE_QUOTA_ENVELOPES`` times the
    section's envelope limit; an upload expires after ``RESUMABLE_UPLOAD_HOURS`` and never outlives the bid
    deadline, and expired ones free their share of the quota (their part files are removed)."""
    prepared = prepare(req, actor=actor)
    if isinstance(prepared, SealedEnvelope):
        raise Conflict(_("This Idempotency-Key was already used; fetch its receipt instead."))
    if length <= 0:
        raise UploadRefused(_("The upload length must be positive."))
    if length > prepared.max_bytes:
        raise TooLarge(
            _("The envelope is larger than this section allows (%(mb)d MiB).", mb=prepared.max_bytes >> 20)
        )
    # One at a time per organization: the quota is counted under a lock on the bidder's organization row
    # (SQLite: the write lock BEGIN IMMEDIATE already holds), so concurrent starts cannot both fit.
    db.session.execute(select(Organization.id).where(Organization.id == actor.org_id).with_for_update())
    _discard_expired(prepared.section_id, actor.org_id)
    config = current_app.config
    open_now = _open_uploads(prepared.section_id, actor.org_id)
    most = int(config["RESUMABLE_UPLOADS_OPEN"])
    budget = int(config["RESUMABLE_QUOTA_ENVELOPES"]) * prepared.max_bytes
    declared = sum(u.length for u in open_now)
    if len(open_now) >= most or declared + length > budget:
        raise UploadQuota(
            _(
                "Your organization already has %(n)d unfinished resumable uploads (%(mib)d MiB) for this "
                "section; at most %(most)d uploads and %(budget)d MiB. Finish or discard one first.",
                n=len(open_now),
                mib=declared >> 20,
                most=most,
                budget=budget >> 20,
            )
        )
    section = db.session.get(Section, prepared.section_id)
    expires = now() + dt.timedelta(hours=float(config["RESUMABLE_UPLOAD_HOURS"]))
    if section is not None and section.bid_deadline is not None:
        expires = min(expires, section.bid_deadline)
    upload = EnvelopeUpload(
        id=secrets.token_urlsafe(24),
        section_id=prepared.section_id,
        org_id=actor.org_id,
        user_id=actor.id,
        kind=prepared.request.kind,
        name=prepared.request.name,
        length=length,
        created_at=now(),
        expires_at=expires,
    )
    db.session.add(upload)
    part_path(upload).touch()
    return upload


def own_upload(upload_id: str, *, actor: User) -> EnvelopeUpload:
    """The actor's own unfinished upload. One that lapsed says why: the bid deadline passed (it lapses at
    the deadline), or it was left unfinished too long — never a bare "no such upload" to its owner."""
    upload = db.session.get(EnvelopeUpload, upload_id)
    if upload is None or upload.user_id != actor.id:
        raise NotFound(_("No such upload."))
    at = now()
    if upload.expires_at <= at:
        section = db.session.get(Section, upload.section_id)
        if section is not None and section.bid_deadline is not None and at >= section.bid_deadline:
            raise DeadlinePassed(_("The bid deadline has passed; nothing was stored."))
        raise UploadLapsed(
            _("This resumable upload was left unfinished too long and has lapsed; start the upload again.")
        )
    return upload


def upload_offset(upload: EnvelopeUpload) -> int:
    try:
        return part_path(upload).stat().st_size
    except FileNotFoundError:
        return 0


def append_chunk(
    upload: EnvelopeUpload, offset: int, read: Callable[[int], bytes], checksum: str | None
) -> int:
    """Append one chunk at ``offset`` (must equal the current size). With ``checksum`` (``sha256 <b64>``)
    a chunk whose digest differs is cut off again. Call with no transaction open."""
    import fcntl

    path = part_path(upload)
    if not path.exists():
        raise NotFound(_("No such upload."))
    with open(path, "r+b", buffering=0) as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        current = os.fstat(fh.fileno()).st_size
        if offset != current:
            raise Conflict(
                _("The offset does not match (the server has %(n)d bytes).", n=current),
                code="offset_mismatch",
            )
        fh.seek(current)
        digest = hashlib.sha256()
        written = 0
        while True:
            piece = read(PIECE)
            if not piece:
                break
            if current + written + len(piece) > upload.length:
                fh.truncate(current)
                raise TooLarge(_("The chunk goes beyond the declared length."))
            try:
                fh.write(piece)
            except OSError as err:
                fh.truncate(current)  # the chunk is not kept: the client resends it from the same offset
                if err.errno in NO_SPACE:
                    raise _no_space() from None
                raise
            digest.update(piece)
            written += len(piece)
        if checksum:
            algo, _sep, value = checksum.partition(" ")
            if algo.lower() != "sha256" or base64.b64encode(digest.digest()).decode() != value.strip():
                fh.truncate(current)
                raise UploadRefused(_("The chunk checksum does not match; send it again."), code="checksum")
        os.fsync(fh.fileno())
        return current + written


def discard_upload(upload: EnvelopeUpload) -> None:
    part_path(upload).unlink(missing_ok=True)
    db.session.delete(upload)


def read_envelope(envelope: SealedEnvelope) -> IO[bytes]:
    return open(storage.blob_root() / envelope.blob_path, "rb")
