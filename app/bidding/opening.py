"""The opening ceremony (开标, SPEC §3.4).

1. :func:`start_ceremony` — center staff, at or after the bid deadline (step-up in the view): first the
   bidders with a receipted envelope are counted, before any share is taken. Fewer than 3 (招标投标法
   Art. 28, 实施条例 Art. 44): the ceremony ends ``not_opened`` with the count, the section moves
   ``published → bidding_closed → failed`` and nothing is ever decrypted — no price, no content, no name is
   published; the tenderer is offered re-tendering. Otherwise the section moves ``bidding_closed → opening``
   and one ceremony per section collects shares (a partial unique index: of two concurrent starts one wins,
   the other gets 409).
2. :func:`submit_share` — each custodian submits its decrypted SLIP-39 mnemonic (step-up in the view).
   Refused before the deadline, refused for a share of another section's key or another custodian's share.
   Submitted shares are held encrypted under the platform data key until the ceremony ends, then erased.
3. At ``k`` shares, :func:`run_opening` rebuilds the identity **in memory**, decrypts every summary first and
   publishes the opening record live (``opening:<section id>``), then decrypts the documents in a stream
   into at-rest files (``app.bidding.atrest``) for the evaluation panel, classifies failures, moves the
   section to ``opened`` (or ``failed`` with fewer than 3 valid bids) and drops the key. Rule choice: a bid
   that fails to decrypt (视为撤销 by the bidder's fault, 视为撤回 otherwise; 电子招标投标办法 Art. 31) is no
   longer a bid, so it does not count towards 3 once opened; the opening itself happened lawfully (≥ 3
   bidders had receipted envelopes) and its record is published (docs/rules.md).

Three short transactions, none held while files are decrypted: ``collecting → decrypting`` (the winner of
concurrent k-th shares), the record, the outcome.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.accounts.models import Organization, User
from app.core import audit, events
from app.core import storage as core_storage
from app.core.clock import now
from app.core.crypto import batches, decrypt_at_rest, derived_keys, encrypt_at_rest, reencrypt_column
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.core.models import AuditCheckpoint, AuditLeaf
from app.projects import services as projects
from app.projects.enums import SectionStatus
from app.projects.models import Section

from . import agedecrypt, atrest, keys, signing, storage
from .enums import CeremonyStatus, DecryptStatus, EntryStatus, EnvelopeKind, EnvelopeStatus, SmeSize
from .models import (
    OnSiteObjection,
    OpeningCeremony,
    OpeningKeyShare,
    OpeningRecordEntry,
    RecordConfirmation,
    SealedEnvelope,
    SubmittedShare,
)
from .receipts import RECORD_LEAF_ACTION
from .services import find_signing_key, public_key_of

MIN_VALID_BIDS = 3

# Called with (section, actor) when an opening completes, inside its transaction (supervision registers
# its collusion alert rules here).
AFTER_OPENING_HOOKS: list[Callable[[Any, Any], None]] = []
AT_REST_PURPOSE = "bidding-document-v1"
SUMMARY_MAX_BYTES = 1024 * 1024


def channel(section_id: int) -> str:
    return f"opening:{section_id}"


def _share_purpose(ceremony_id: int) -> str:
    return f"bidding-submitted-share:{ceremony_id}"


def document_keys() -> list[bytes]:
    """Keys of the decrypted documents at rest: the current one (writes), then the retired ones."""
    return derived_keys("bidding-at-rest")


def _lock_section(section_id: int) -> Section:
    section = db.session.scalar(
        select(Section)
        .where(Section.id == section_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if section is None:
        raise NotFound(_("No such section."))
    return section


def _ensure_not_suspended(section: Section) -> None:
    """Every step waits while a regulator or a pending case has suspended the section (SPEC §2): no
    ceremony starts, no share is taken and nothing is decrypted."""
    if section.suspended:
        raise Conflict(_("The section is suspended; every step waits until it is resumed."), code="suspended")


def completed_ceremony(section: Section) -> OpeningCeremony | None:
    return db.session.scalar(
        select(OpeningCeremony).where(
            OpeningCeremony.section_id == section.id,
            OpeningCeremony.status == CeremonyStatus.COMPLETED.value,
        )
    )


def live_ceremony(section_id: int) -> OpeningCeremony | None:
    """The ceremony collecting shares, decrypting, or completed (at most one, by the partial index)."""
    return db.session.scalar(
        select(OpeningCeremony).where(
            OpeningCeremony.section_id == section_id,
            OpeningCeremony.status.in_(
                [
                    CeremonyStatus.COLLECTING.value,
                    CeremonyStatus.DECRYPTING.value,
                    CeremonyStatus.COMPLETED.value,
                ]
            ),
        )
    )


def latest_ceremony(section_id: int) -> OpeningCeremony | None:
    return db.session.scalar(
        select(OpeningCeremony)
        .where(OpeningCeremony.section_id == section_id)
        .order_by(OpeningCeremony.id.desc())
        .limit(1)
    )


# -- starting ---------------------------------------------------------------------------------------------


def start_ceremony(section_id: int, *, actor: User) -> OpeningCeremony:
    section = _lock_section(section_id)
    at = now()
    if section.bid_deadline is None or at < section.bid_deadline:
        raise Conflict(_("The opening starts at the bid deadline, not before."), code="before_deadline")
    _ensure_not_suspended(section)
    if live_ceremony(section.id) is not None:
        raise Conflict(
            _("An opening ceremony for this section is already running or done."), code="ceremony_exists"
        )
    if section.status == SectionStatus.PUBLISHED:
        projects.transition(section, SectionStatus.BIDDING_CLOSED, actor=actor)
    if section.status == SectionStatus.BIDDING_CLOSED:
        # The count before anything else: the deadline has passed, so no upload can change it any more
        # (uploads decide the deadline inside their own transaction).
        bidders = receipted_bidders(section.id)
        if bidders < MIN_VALID_BIDS:
            return _not_opened(section, bidders, actor=actor, at=at)
        projects.transition(section, SectionStatus.OPENING, actor=actor)
    if section.status != SectionStatus.OPENING:
        raise Conflict(_("This section cannot be opened in its present state."), code="not_openable")
    ceremony = OpeningCeremony(
        section_id=section.id,
        status=CeremonyStatus.COLLECTING.value,
        started_by=actor.id,
        started_at=at,
        bidder_count=receipted_bidders(section.id),
    )
    try:
        with db.session.begin_nested():
            db.session.add(ceremony)
            db.session.flush()  # the partial unique index decides between concurrent starts here
    except IntegrityError:
        raise Conflict(
            _("An opening ceremony for this section is already running or done."), code="ceremony_exists"
        ) from None
    audit.record(
        "bidding:ceremony:start",
        actor=actor,
        object_type="section",
        object_id=section.id,
        payload={
            "ceremony_id": ceremony.id,
            "threshold": section.custodian_k,
            "bidders": ceremony.bidder_count,
        },
    )
    audit.checkpoint(reason="opening")
    events.publish(db.session(), channel(section.id), {"event": "started", "ceremony_id": ceremony.id})
    return ceremony


def receipted_bidders(section_id: int) -> int:
    """Bidders (organizations) holding at least one receipted, active envelope of the section — the count
    招标投标法 Art. 28 and 实施条例 Art. 44 ask for, established without opening anything."""
    return int(
        db.session.scalar(
            select(func.count(func.distinct(SealedEnvelope.org_id))).where(
                SealedEnvelope.section_id == section_id,
                SealedEnvelope.status == EnvelopeStatus.ACTIVE.value,
            )
        )
        or 0
    )


def not_opened_reason(bidders: int) -> str:
    return _(
        "Only %(n)d bidder(s) submitted bids; with fewer than 3 bidders the bids are not opened and the "
        "tender must be held again (招标投标法第28条、实施条例第44条). Nothing was decrypted.",
        n=bidders,
    )


def _not_opened(section: Section, bidders: int, *, actor: User, at: Any) -> OpeningCeremony:
    """Fewer than 3 bidders: record the count in a ceremony that never collects a share, end the section as
    failed and tell each bidder that its own bid stays sealed. Nothing about any bid is published — not
    a price, not a name: the public record carries the count only."""
    ceremony = OpeningCeremony(
        section_id=section.id,
        status=CeremonyStatus.NOT_OPENED.value,
        started_by=actor.id,
        started_at=at,
        bidder_count=bidders,
        valid_bids=0,
    )
    db.session.add(ceremony)
    db.session.flush()  # the ceremony id goes into the audit leaf
    audit.record(
        "bidding:ceremony:not_opened",
        actor=actor,
        object_type="section",
        object_id=section.id,
        payload={"ceremony_id": ceremony.id, "bidders": bidders, "minimum": MIN_VALID_BIDS},
    )
    projects.transition(section, SectionStatus.FAILED, actor=actor, reason=not_opened_reason(bidders))
    _tell_bidders_not_opened(section)
    audit.checkpoint(reason="opening")
    events.publish(
        db.session(),
        channel(section.id),
        {"event": "not_opened", "bidders": bidders, "status": section.status},
    )
    return ceremony


def _tell_bidders_not_opened(section: Section) -> None:
    """Each bidder that submitted learns, privately, that its bid was not opened (outbox)."""
    from app.core import outbox

    orgs = db.session.scalars(
        select(SealedEnvelope.org_id)
        .where(SealedEnvelope.section_id == section.id, SealedEnvelope.status == EnvelopeStatus.ACTIVE.value)
        .distinct()
    ).all()
    subject = _("%(code)s: bids not opened", code=section.code)
    body = _(
        "Fewer than 3 bidders submitted bids for %(name)s: no bid was opened, yours stays sealed and nobody "
        "will read it. The tenderer must tender again (招标投标法第28条).",
        name=section.name,
    )
    for user in db.session.scalars(select(User).where(User.org_id.in_(orgs), User.is_active.is_(True))):
        outbox.enqueue(channel="inbox", recipient=str(user.id), subject=subject, body=body, user_id=user.id)


def not_opened_ceremony(section: Section) -> OpeningCeremony | None:
    return db.session.scalar(
        select(OpeningCeremony).where(
            OpeningCeremony.section_id == section.id,
            OpeningCeremony.status == CeremonyStatus.NOT_OPENED.value,
        )
    )


def postpone(section_id: int, *, actor: User, reason: str) -> OpeningCeremony:
    """Insufficient shares (or a platform failure): stop this ceremony with a reason; a new one may start.

    A ceremony stuck in ``decrypting`` (the process opening it died: kill -9, a lost machine) can be
    postponed too, or the section could never be opened. Should its opener still be alive after all, it
    finds the ceremony postponed at the end and discards its work (see :func:`_open_envelopes`)."""
    reason = reason.strip()
    if not reason:
        raise DomainError(_("A reason is required."), errors={"reason": [_("Required.")]})
    _lock_section(section_id)
    ceremony = db.session.scalar(
        select(OpeningCeremony)
        .where(
            OpeningCeremony.section_id == section_id,
            OpeningCeremony.status.in_([CeremonyStatus.COLLECTING.value, CeremonyStatus.DECRYPTING.value]),
        )
        .with_for_update()
    )
    if ceremony is None:
        raise Conflict(_("No ceremony is collecting shares."), code="no_ceremony")
    ceremony.status = CeremonyStatus.POSTPONED.value
    ceremony.postponed_reason = reason
    _erase_shares(ceremony)
    audit.record(
        "bidding:ceremony:postpone",
        actor=actor,
        object_type="section",
        object_id=section_id,
        payload={"ceremony_id": ceremony.id, "reason": reason},
    )
    events.publish(db.session(), channel(section_id), {"event": "postponed", "reason": reason})
    return ceremony


def _erase_shares(ceremony: OpeningCeremony) -> None:
    at = now()
    for s in ceremony.shares:
        if s.share_enc is not None:
            s.share_enc = None
            s.erased_at = at


# -- shares -----------------------------------------------------------------------------------------------


def custodian_share(section_id: int, user: User) -> OpeningKeyShare | None:
    return db.session.scalar(
        select(OpeningKeyShare).where(
            OpeningKeyShare.section_id == section_id, OpeningKeyShare.custodian_id == user.id
        )
    )


def submit_share(section_id: int, mnemonic: str, *, actor: User) -> tuple[OpeningCeremony, bool]:
    """Record a custodian's share. Returns (ceremony, quorum reached). The caller commits and then, when the
    quorum is reached, calls :func:`run_opening`."""
    section = _lock_section(section_id)
    mine = custodian_share(section.id, actor)
    if mine is None:
        raise NotFound(_("You hold no key share for this section."))
    if section.bid_deadline is None or now() < section.bid_deadline:
        raise Conflict(_("Key shares cannot be submitted before the bid deadline."), code="before_deadline")
    _ensure_not_suspended(section)
    try:
        share = keys.parse_share(mnemonic)
    except keys.ShareError as err:
        raise DomainError(str(err), errors={"mnemonic": [str(err)]}, code="invalid_share") from None
    if share.identifier != mine.share_set_id:
        raise DomainError(
            _("This share belongs to another section's opening key."), code="wrong_section_share"
        )
    if share.index != mine.member_index:
        raise DomainError(_("This is not the share issued to you."), code="not_your_share")
    ceremony = db.session.scalar(
        select(OpeningCeremony)
        .where(
            OpeningCeremony.section_id == section.id,
            OpeningCeremony.status == CeremonyStatus.COLLECTING.value,
        )
        .with_for_update()
    )
    if ceremony is None:
        raise Conflict(_("No opening ceremony is collecting shares for this section."), code="no_ceremony")
    if any(s.key_share_id == mine.id for s in ceremony.shares):
        raise Conflict(_("You have already submitted your share."), code="share_exists")
    words = " ".join(mnemonic.strip().lower().split())
    row = SubmittedShare(
        ceremony_id=ceremony.id,
        key_share_id=mine.id,
        submitted_by=actor.id,
        submitted_at=now(),
        share_enc=encrypt_at_rest(words.encode(), purpose=_share_purpose(ceremony.id)),
    )
    ceremony.shares.append(row)
    db.session.flush()  # the share is counted (and its unique constraint checked) now
    audit.record(
        "bidding:share:submit",
        actor=actor,
        object_type="section",
        object_id=section.id,
        payload={"ceremony_id": ceremony.id, "member_index": mine.member_index},
    )
    count = len(ceremony.shares)
    events.publish(
        db.session(),
        channel(section.id),
        {"event": "share", "shares": count, "threshold": section.custodian_k},
    )
    return ceremony, count >= section.custodian_k


# -- decrypting -------------------------------------------------------------------------------------------


def _claim(ceremony_id: int) -> tuple[OpeningCeremony, list[str]] | None:
    """collecting → decrypting, once: concurrent callers with k shares race on the row lock."""
    ceremony = db.session.scalar(
        select(OpeningCeremony).where(OpeningCeremony.id == ceremony_id).with_for_update()
    )
    if ceremony is None or ceremony.status != CeremonyStatus.COLLECTING:
        return None
    mnemonics = [
        decrypt_at_rest(s.share_enc, purpose=_share_purpose(ceremony.id)).decode()
        for s in ceremony.shares
        if s.share_enc is not None
    ]
    section = db.session.get(Section, ceremony.section_id)
    if section is None or section.suspended or len(mnemonics) < section.custodian_k:
        return None  # nothing is decrypted while suspended (staff postpone, and start again once resumed)
    ceremony.status = CeremonyStatus.DECRYPTING.value
    return ceremony, mnemonics[: section.custodian_k]  # SLIP-39 combines exactly k shares


SME_SIZES = tuple(s.value for s in SmeSize)


def _validate_summary(data: Any, section: Section) -> tuple[dict[str, Any], str | None]:
    """The declared items, or a reason the summary is the bidder's fault."""
    if not isinstance(data, dict):
        return {}, _("the summary is not a JSON object")
    if "section_id" in data and str(data["section_id"]) != str(section.id):
        return {}, _("the summary names another section")
    declared: dict[str, Any] = {}
    items = ["price", *[i for i in (section.opening_items or []) if i != "price"]]
    for item in items:
        value = data.get(item)
        if value is None or (isinstance(value, str) and not value.strip()):
            return {}, _("the summary lacks the declared item %(item)s", item=item)
        declared[item] = value
    try:
        price = Decimal(str(declared["price"]))
    except InvalidOperation:
        return {}, _("the price is not a decimal number")
    if not price.is_finite() or price <= 0 or price.as_tuple().exponent < -2:  # type: ignore[operator]
        return {}, _("the price must be a positive amount in yuan with at most 2 decimals")
    declared["price"] = f"{price:.2f}"
    for extra in ("bidder_code", "bid_security_ref"):
        if extra in data and isinstance(data[extra], str | int):
            declared[extra] = data[extra]
    # 中小企业声明函 (财库〔2020〕46号 Arts. 4, 11): the size the bidder declares with its bid; only small and
    # micro enterprises earn the SME price deduction in government procurement scoring.
    if data.get("sme_size") in SME_SIZES:
        declared["sme_size"] = data["sme_size"]
    return declared, None


def _signature_ok(env: SealedEnvelope) -> bool:
    if env.signature is None or env.signing_key_id is None:
        return not current_app.config.get("BIDDING_REQUIRE_SIGNATURE", True)
    key = env.signing_key
    if key is None:
        return False
    import base64

    return signing.verify(
        public_key_of(key),
        base64.b64decode(env.signature),
        signing.envelope_statement(env.sha256, env.section_id, env.kind),
    )


def _decrypt_summary(env: SealedEnvelope, identity: agedecrypt.Identity) -> tuple[bytes | None, str, str]:
    """(plaintext, decrypt status, note)."""
    path = storage.blob_root() / env.blob_path
    if not _signature_ok(env):
        return None, DecryptStatus.BIDDER_FAULT.value, _("the envelope is not validly signed")
    out = bytearray()

    def collect(piece: memoryview) -> None:
        if len(out) + len(piece) > SUMMARY_MAX_BYTES:
            raise agedecrypt.DecryptFailed("the summary is too large")
        out.extend(piece)

    try:
        digest = agedecrypt.decrypt_file(path, collect, identity)
    except OSError:
        return None, DecryptStatus.PLATFORM_FAULT.value, _("the stored envelope could not be read")
    except agedecrypt.DecryptFailed:
        if _file_sha256(path) != env.sha256:
            return None, DecryptStatus.PLATFORM_FAULT.value, _("the stored envelope differs from the receipt")
        return None, DecryptStatus.BIDDER_FAULT.value, _("not sealed to this section's key, or corrupt")
    if digest != env.sha256:
        return None, DecryptStatus.PLATFORM_FAULT.value, _("the stored envelope differs from the receipt")
    return bytes(out), DecryptStatus.OK.value, ""


# Why an envelope of the record was not opened (codes; people read them through ``labels``).
NOT_OPENED_WITHDRAWN = "withdrawn"  # 撤回 by the bidder before the deadline
NOT_OPENED_SUPERSEDED = "superseded"  # replaced by a later envelope of the same slot before the deadline
NOT_OPENED_DECRYPT_FAILED = "decrypt_failed"  # opened but could not be decrypted (see the note)


def _envelope_line(env: SealedEnvelope, superseded_by: str | None) -> dict[str, Any]:
    """One envelope as the record lists it: its SHA-256 as on the bidder's receipt and what became of it.
    ``opened`` is None while the opening is still decrypting it."""
    line: dict[str, Any] = {"kind": env.kind, "name": env.name, "sha256": env.sha256, "size": env.size}
    if env.status == EnvelopeStatus.WITHDRAWN:
        return line | {"opened": False, "reason": NOT_OPENED_WITHDRAWN}
    if env.status == EnvelopeStatus.SUPERSEDED:
        return line | {"opened": False, "reason": NOT_OPENED_SUPERSEDED, "superseded_by": superseded_by}
    if env.decrypt_status is None:
        return line | {"opened": None}
    if env.decrypt_status == DecryptStatus.OK:
        return line | {"opened": True}
    return line | {"opened": False, "reason": NOT_OPENED_DECRYPT_FAILED, "note": env.decrypt_note or ""}


def _envelope_lines(section_id: int) -> dict[int, list[dict[str, Any]]]:
    """Every envelope ever received for the section, by bidder organization, in the order received. None
    of these rows changes after the deadline (no replacement, no withdrawal), so the record is stable."""
    rows = list(
        db.session.scalars(
            select(SealedEnvelope)
            .where(SealedEnvelope.section_id == section_id)
            .order_by(SealedEnvelope.received_at, SealedEnvelope.id)
        )
    )
    later: dict[int, str] = {}  # a superseded envelope → the next envelope of its slot
    last_of_slot: dict[tuple[int, str, str], SealedEnvelope] = {}
    for env in rows:
        slot = (env.org_id, env.kind, env.name)
        prev = last_of_slot.get(slot)
        if prev is not None and prev.status == EnvelopeStatus.SUPERSEDED:
            later[prev.id] = env.sha256
        last_of_slot[slot] = env
    by_org: dict[int, list[dict[str, Any]]] = {}
    for env in rows:
        by_org.setdefault(env.org_id, []).append(_envelope_line(env, later.get(env.id)))
    return by_org


def record_document(section: Section, ceremony: OpeningCeremony) -> dict[str, Any]:
    """The opening record as published (and as signed by confirming bidders, by its SHA-256).

    Per bidder, ``envelopes`` lists every envelope it submitted with the SHA-256 of its receipt, whether it
    was opened and, if not, why (``withdrawn``, ``superseded`` with ``superseded_by``, ``decrypt_failed``
    with a note), so that a bidder holding a receipt can find its envelope (``ggzy-bid receipt verify``).
    Envelopes of organizations that withdrew entirely are listed in ``withdrawn`` by hash only: they are no
    longer bidders, and their names are not published."""
    lines = _envelope_lines(section.id)
    in_record = {e.org_id for e in ceremony.entries}
    return {
        "type": "ggzy-opening-record-v1",
        "section_id": section.id,
        "section_code": section.code,
        "section_name": section.name,
        "ceremony_id": ceremony.id,
        "bid_deadline": audit.canonical_json(section.bid_deadline).strip('"'),
        "opening_recipient": section.opening_recipient,
        "entries": [
            {
                "position": e.position,
                "bidder": e.bidder_name,
                "declared": e.declared,
                "envelopes": lines.get(e.org_id, []),
                "status": e.status,
                "reason": e.reason,
            }
            for e in ceremony.entries
        ],
        "withdrawn": [
            {k: v for k, v in line.items() if k != "name"}
            for org_id, org_lines in sorted(lines.items())
            if org_id not in in_record
            for line in org_lines
        ],
    }


def not_opened_document(section: Section, ceremony: OpeningCeremony) -> dict[str, Any]:
    """The public record of an opening that did not take place: the count, never a bidder or a price."""
    return {
        "type": "ggzy-opening-record-v1",
        "section_id": section.id,
        "section_code": section.code,
        "section_name": section.name,
        "ceremony_id": ceremony.id,
        "bid_deadline": audit.canonical_json(section.bid_deadline).strip('"'),
        "not_opened": True,
        "bidders": ceremony.bidder_count,
        "minimum": MIN_VALID_BIDS,
        "reason": not_opened_reason(ceremony.bidder_count or 0),
        "entries": [],
    }


def record_sha256(doc: dict[str, Any]) -> str:
    return hashlib.sha256(signing.canonical(doc)).hexdigest()


def publish_record_leaf(section: Section, ceremony: OpeningCeremony) -> AuditLeaf:
    """The published record as a leaf of the log, by its digest, so anyone can prove it is the one the log
    holds (``record_proof``). No actor and no address: the leaf is shown to the public whole."""
    return audit.record(
        RECORD_LEAF_ACTION,
        object_type="section",
        object_id=section.id,
        payload={
            "type": "ggzy-opening-record-v1",
            "section_id": section.id,
            "ceremony_id": ceremony.id,
            "record_sha256": ceremony.record_sha256,
        },
        keep_source=False,
    )


def record_leaf(section: Section) -> AuditLeaf | None:
    """The leaf that published the section's opening record (None for records older than this leaf)."""
    return db.session.scalar(
        select(AuditLeaf)
        .where(
            AuditLeaf.action == RECORD_LEAF_ACTION,
            AuditLeaf.object_type == "section",
            AuditLeaf.object_id == str(section.id),
        )
        .order_by(AuditLeaf.idx.desc())
        .limit(1)
    )


def record_proof(leaf: AuditLeaf, size: int | None = None) -> dict[str, Any]:
    """An inclusion proof of the record leaf, by default in the tree of the latest signed checkpoint, in the
    shape ``ggzy-audit --proof`` reads (hex hashes, the leaf text and its payload so both can be rehashed).
    Raises NotFound for a size the leaf is not in or the log has not reached."""
    if size is None:
        latest = db.session.scalar(
            select(AuditCheckpoint.tree_size).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
        )
        size = int(latest) if latest and latest > leaf.idx else audit.tree_size()
    if not leaf.idx < size <= audit.tree_size():
        raise NotFound(_("No proof for this tree size."))
    return {
        "kind": "inclusion",
        "index": leaf.idx,
        "tree_size": size,
        "leaf": audit.leaf_bytes_of(leaf).decode(),
        "leaf_hash": bytes(leaf.leaf_hash).hex(),
        "payload": leaf.payload,
        "root": audit.root_hash(size).hex(),
        "proof": [h.hex() for h in audit.inclusion_proof(leaf.idx, size)],
    }


def run_opening(ceremony_id: int, *, actor: User | None) -> OpeningCeremony | None:
    """Open every envelope of the ceremony's section. Returns None if another request is already doing it."""
    claimed = _claim(ceremony_id)
    if claimed is None:
        return None  # fewer than k shares, or another request is already opening
    ceremony, mnemonics = claimed
    section = db.session.get(Section, ceremony.section_id)
    assert section is not None
    recipient = section.opening_recipient or ""
    try:
        identity = keys.rebuild_identity(mnemonics, recipient)
    except keys.ShareError as err:
        ceremony.status = CeremonyStatus.POSTPONED.value
        ceremony.postponed_reason = str(err)
        _erase_shares(ceremony)
        audit.record(
            "bidding:ceremony:postpone",
            actor=actor,
            object_type="section",
            object_id=section.id,
            payload={"ceremony_id": ceremony.id, "reason": str(err)},
        )
        db.session.commit()
        return ceremony
    finally:
        del mnemonics
    db.session.commit()  # decrypting: no other request will claim it

    opener = agedecrypt.Identity(keys.identity_secret_bytes(identity))
    del identity
    try:
        _open_envelopes(ceremony.id, opener, actor=actor)
    finally:
        del opener  # the rebuilt key lives only for the opening
    return db.session.get(OpeningCeremony, ceremony_id)


def _open_envelopes(ceremony_id: int, identity: agedecrypt.Identity, *, actor: User | None) -> None:
    ceremony = db.session.get(OpeningCeremony, ceremony_id)
    assert ceremony is not None
    section = db.session.get(Section, ceremony.section_id)
    assert section is not None
    section_id = section.id
    envelopes = list(
        db.session.scalars(
            select(SealedEnvelope)
            .where(
                SealedEnvelope.section_id == section.id,
                SealedEnvelope.status == EnvelopeStatus.ACTIVE.value,
            )
            .order_by(SealedEnvelope.org_id, SealedEnvelope.kind.desc(), SealedEnvelope.name)
        )
    )
    by_org: dict[int, list[SealedEnvelope]] = {}
    for env in envelopes:
        by_org.setdefault(env.org_id, []).append(env)

    # Phase 1: summaries → the opening record, published live.
    ordered = sorted(by_org.items(), key=lambda kv: min(e.received_at for e in kv[1]))
    for position, (org_id, envs) in enumerate(ordered, start=1):
        org = db.session.get(Organization, org_id)
        summary = next((e for e in envs if e.kind == EnvelopeKind.SUMMARY), None)
        declared: dict[str, Any] = {}
        status, reason = EntryStatus.VALID.value, ""
        if summary is None:
            status, reason = EntryStatus.REVOKED.value, _("no summary envelope")
        else:
            plain, dstatus, note = _decrypt_summary(summary, identity)
            summary.decrypt_status, summary.decrypt_note = dstatus, note or None
            if dstatus == DecryptStatus.PLATFORM_FAULT:
                status, reason = EntryStatus.WITHDRAWN.value, note
            elif dstatus == DecryptStatus.BIDDER_FAULT:
                status, reason = EntryStatus.REVOKED.value, note
            else:
                try:
                    data = json.loads((plain or b"").decode("utf-8"))
                except (UnicodeDecodeError, ValueError):
                    data = None
                declared, problem = _validate_summary(data, section)
                if problem:
                    status, reason = EntryStatus.REVOKED.value, problem
        db.session.add(
            OpeningRecordEntry(
                ceremony_id=ceremony.id,
                org_id=org_id,
                position=position,
                bidder_name=org.name if org else str(org_id),
                declared=declared,
                envelopes=[
                    {"kind": e.kind, "name": e.name, "sha256": e.sha256, "size": e.size} for e in envs
                ],
                status=status,
                reason=reason,
            )
        )
    db.session.flush()
    db.session.refresh(ceremony)
    doc = record_document(section, ceremony)
    audit.record(
        "bidding:opening:record",
        actor=actor,
        object_type="section",
        object_id=section.id,
        payload={"ceremony_id": ceremony.id, "record_sha256": record_sha256(doc), "phase": "summaries"},
    )
    events.publish(db.session(), channel(section.id), {"event": "record", "record": doc})
    db.session.commit()

    # Phase 2: documents, streamed into at-rest files; no transaction is held while decrypting.
    results = open_documents([e for e in envelopes if e.kind == EnvelopeKind.DOCUMENT], identity)
    db.session.rollback()

    # Phase 3: the outcome. Locks in the order of postpone and submit_share: the section, then the ceremony.
    section = _lock_section(section_id)
    ceremony = db.session.scalar(
        select(OpeningCeremony).where(OpeningCeremony.id == ceremony_id).with_for_update()
    )
    assert ceremony is not None
    if ceremony.status != CeremonyStatus.DECRYPTING:  # postponed meanwhile (given up for lost): count nothing
        db.session.rollback()
        for _status, _note, path, _size in results.values():
            if path is not None:
                storage.remove(path)
        return
    entries = {e.org_id: e for e in ceremony.entries}
    for env in envelopes:
        if env.id not in results:
            continue
        dstatus, note, path, size = results[env.id]
        row = db.session.get(SealedEnvelope, env.id)
        assert row is not None
        row.decrypt_status, row.decrypt_note = dstatus, note or None
        row.plaintext_path, row.plaintext_size = path, size
        entry = entries.get(env.org_id)
        if entry is not None and entry.status == EntryStatus.VALID and dstatus != DecryptStatus.OK:
            entry.status = (
                EntryStatus.REVOKED.value
                if dstatus == DecryptStatus.BIDDER_FAULT
                else EntryStatus.WITHDRAWN.value
            )
            entry.reason = _("document %(name)s: %(note)s", name=env.name, note=note)
    valid = sum(1 for e in ceremony.entries if e.status == EntryStatus.VALID)
    db.session.flush()
    db.session.refresh(ceremony)
    doc = record_document(section, ceremony)
    ceremony.status = CeremonyStatus.COMPLETED.value
    ceremony.completed_at = now()
    ceremony.valid_bids = valid
    ceremony.record_sha256 = record_sha256(doc)
    _erase_shares(ceremony)
    audit.record(
        "bidding:opening:complete",
        actor=actor,
        object_type="section",
        object_id=section.id,
        payload={"ceremony_id": ceremony.id, "record_sha256": ceremony.record_sha256, "valid_bids": valid},
    )
    publish_record_leaf(section, ceremony)
    if valid < MIN_VALID_BIDS:  # 流标
        projects.transition(
            section,
            SectionStatus.FAILED,
            actor=actor,
            reason=_(
                "Fewer than %(n)d valid bids at the opening (%(valid)d).", n=MIN_VALID_BIDS, valid=valid
            ),
        )
    else:
        projects.transition(section, SectionStatus.OPENED, actor=actor)
    for hook in AFTER_OPENING_HOOKS:  # e.g. supervision's collusion alerts, in this same transaction
        hook(section, actor)
    audit.checkpoint(reason="opening")
    events.publish(
        db.session(),
        channel(section.id),
        {"event": "completed", "record": doc, "valid_bids": valid, "status": section.status},
    )
    db.session.commit()


@dataclass(frozen=True)
class DocumentJob:
    """What a worker thread needs to open one document, with no Flask context."""

    envelope_id: int
    section_id: int
    source: Path
    sha256: str
    root: Path
    key: bytes


NOTE_UNREADABLE = "unreadable"
NOTE_CHANGED = "changed"
NOTE_NOT_ADDRESSED = "not_addressed"
NOTE_UNSIGNED = "unsigned"


def _notes() -> dict[str, str]:
    return {
        "": "",
        NOTE_UNREADABLE: _("the stored envelope could not be read"),
        NOTE_CHANGED: _("the stored envelope differs from the receipt"),
        NOTE_NOT_ADDRESSED: _("not sealed to this section's key, or corrupt"),
        NOTE_UNSIGNED: _("the envelope is not validly signed"),
    }


def open_document(job: DocumentJob, identity: agedecrypt.Identity) -> tuple[str, str, str | None, int | None]:
    """(decrypt status, note key, at-rest path, plaintext size) — thread-safe, no Flask context.

    One streaming pass that also recomputes the SHA-256. A digest that differs from the receipt is the
    platform's fault (the stored file changed); a file that does not decrypt although its digest matches
    is the bidder's (not sealed to the section)."""
    relative = storage.new_opened_path(job.section_id)
    dest = job.root / relative
    core_storage.make_dirs(dest.parent)
    sink = _CountingAtRest(dest, job.key)
    try:
        digest = agedecrypt.decrypt_file(job.source, sink.write, identity)
        sink.close()
    except OSError:
        sink.discard()
        return DecryptStatus.PLATFORM_FAULT.value, NOTE_UNREADABLE, None, None
    except agedecrypt.DecryptFailed:
        sink.discard()
        if _file_sha256(job.source) != job.sha256:
            return DecryptStatus.PLATFORM_FAULT.value, NOTE_CHANGED, None, None
        return DecryptStatus.BIDDER_FAULT.value, NOTE_NOT_ADDRESSED, None, None
    if digest != job.sha256:
        dest.unlink(missing_ok=True)
        return DecryptStatus.PLATFORM_FAULT.value, NOTE_CHANGED, None, None
    return DecryptStatus.OK.value, "", relative, sink.size


def open_documents(
    envelopes: list[SealedEnvelope], identity: agedecrypt.Identity
) -> dict[int, tuple[str, str, str | None, int | None]]:
    """Open documents on a few threads (decryption of one overlaps the disk writes of another); the
    results carry translated notes."""
    notes = _notes()
    results: dict[int, tuple[str, str, str | None, int | None]] = {}
    jobs: list[DocumentJob] = []
    root, key = storage.blob_root(), document_keys()[0]
    for env in envelopes:
        if not _signature_ok(env):
            results[env.id] = (DecryptStatus.BIDDER_FAULT.value, notes[NOTE_UNSIGNED], None, None)
            continue
        jobs.append(DocumentJob(env.id, env.section_id, root / env.blob_path, env.sha256, root, key))
    workers = int(current_app.config.get("BIDDING_OPENING_THREADS", 4))
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="opening") as pool:
        for job, (status, note, path, size) in zip(
            jobs, pool.map(lambda j: open_document(j, identity), jobs), strict=True
        ):
            results[job.envelope_id] = (status, notes[note], path, size)
    # Each file was fsync'd as it closed; its name in the directory is made durable here, once per directory,
    # before any row points at it.
    for folder in sorted({(root / path).parent for _s, _n, path, _z in results.values() if path is not None}):
        core_storage.fsync_dir(folder)
    return results


def _file_sha256(path: Any) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while piece := fh.read(1024 * 1024):
                digest.update(piece)
    except OSError:
        return None
    return digest.hexdigest()


class _CountingAtRest:
    """Where decrypted bytes go: encrypted at rest as they arrive, counted."""

    def __init__(self, path: Any, key: bytes) -> None:
        self._fh = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._writer = atrest.Writer(self._fh, key, AT_REST_PURPOSE)
        self.size = 0

    def write(self, data: bytes | memoryview) -> int:
        self.size += len(data)
        return self._writer.write(data)

    def flush(self) -> None:
        return None

    def close(self) -> None:
        self._writer.close()
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()

    def discard(self) -> None:
        self._fh.close()
        os.unlink(self._fh.name)


def read_document(env: SealedEnvelope) -> Any:
    """Plaintext chunks of an opened document (for the evaluation panel)."""
    if env.plaintext_path is None:
        raise NotFound(_("This document was not opened."))
    fh = open(storage.blob_root() / env.plaintext_path, "rb")  # noqa: SIM115 - closed by the generator
    try:
        yield from atrest.decrypt_chunks(fh, document_keys(), AT_REST_PURPOSE)
    finally:
        fh.close()


# -- data key rotation ----------------------------------------------------------------------------------


def reencrypt_shares(*, batch: int) -> int:
    """Shares of a ceremony still collecting, under the current data key; returns how many changed."""
    return reencrypt_column(SubmittedShare.share_enc, lambda s: _share_purpose(s.ceremony_id), batch=batch)


def reencrypt_documents(*, batch: int) -> tuple[int, list[str]]:
    """Rewrite the documents at rest that are not under the current data key: (rewritten, unreadable).

    Each file is replaced atomically (temporary file, fsync, rename) at the same path, so the envelope row
    (path, plaintext size) stays as it is and a reader holding the old file finishes it with the old key."""
    root, keys = storage.blob_root(), document_keys()
    rewritten, unreadable = 0, []
    stmt = select(SealedEnvelope).where(SealedEnvelope.plaintext_path.is_not(None))
    for envelopes in batches(stmt, SealedEnvelope.id, batch):
        for env in envelopes:
            try:
                rewritten += _reencrypt_document(root / str(env.plaintext_path), keys)
            except (OSError, atrest.AtRestError):
                unreadable.append(str(env.plaintext_path))
    return rewritten, unreadable


def _reencrypt_document(path: Path, keys: list[bytes]) -> bool:
    with open(path, "rb") as src:
        if atrest.key_index(src, keys, AT_REST_PURPOSE) == 0:
            return False
        src.seek(0)
        tmp = path.with_name(path.name + ".rekey")
        try:
            with open(tmp, "wb") as out:
                writer = atrest.Writer(out, keys[0], AT_REST_PURPOSE)
                for chunk in atrest.decrypt_chunks(src, keys, AT_REST_PURPOSE):
                    writer.write(chunk)
                writer.close()
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a crash
    finally:
        os.close(dir_fd)
    return True


# -- during and after the ceremony ------------------------------------------------------------------------


def raise_objection(section_id: int, body: str, *, actor: User) -> OnSiteObjection:
    """An objection to the opening by a bidder of the section (条例 Art. 44): a case of the complaints
    domain (who may, when, how many: :mod:`app.complaints.opening`), shown in the hall and the record."""
    from app.complaints import opening as objections

    section = db.session.get(Section, section_id)
    if section is None:
        raise NotFound(_("No such section."))
    body = body.strip()
    if not body:
        raise DomainError(_("Write the objection."), errors={"body": [_("Required.")]})
    case = objections.raise_objection(section, actor=actor, text=body)
    ceremony = completed_ceremony(section)
    assert ceremony is not None  # checked by raise_objection
    row = OnSiteObjection(
        ceremony_id=ceremony.id,
        org_id=actor.org_id,
        raised_by=actor.id,
        raised_at=now(),
        body=body[:4000],
        case_id=case.id,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "bidding:objection:raise",
        actor=actor,
        object_type="section",
        object_id=section_id,
        payload={"objection_id": row.id, "case_id": case.id, "body": row.body},
    )
    events.publish(db.session(), channel(section_id), {"event": "objection", "id": row.id, "body": row.body})
    return row


def answer_objection(section_id: int, objection_id: int, answer: str, *, actor: User) -> OnSiteObjection:
    """The tenderer answers on the spot; the answer goes on the case and into the opening record."""
    from app.complaints import opening as objections
    from app.complaints.models import Case

    row = db.session.get(OnSiteObjection, objection_id)
    if row is None or row.ceremony.section_id != section_id:
        raise NotFound(_("No such objection."))
    case = db.session.get(Case, row.case_id) if row.case_id is not None else None
    if case is None:  # raised before objections were cases
        raise Conflict(_("This objection cannot be answered here."))
    objections.answer(case, actor=actor, text=answer)
    audit.record(
        "bidding:objection:answer",
        actor=actor,
        object_type="section",
        object_id=section_id,
        payload={"objection_id": row.id, "case_id": case.id, "answer": row.answer},
    )
    return row


def objection_record(ceremony: OpeningCeremony) -> list[dict[str, Any]]:
    """The on-the-spot objections and the tenderer's answers, as the opening record lists them."""
    from app.complaints.models import Case

    numbers = dict(
        db.session.execute(
            select(Case.id, Case.number).where(
                Case.id.in_([o.case_id for o in ceremony.objections if o.case_id])
            )
        ).all()
    )
    return [
        {
            "bidder": o.organization.name,
            "raised_at": audit.canonical_json(o.raised_at).strip('"'),
            "objection": o.body,
            "answer": o.answer,
            "answered_at": audit.canonical_json(o.answered_at).strip('"') if o.answered_at else None,
            "case": numbers.get(o.case_id) if o.case_id else None,
        }
        for o in ceremony.objections
    ]


def confirm_record(
    section_id: int,
    *,
    actor: User,
    accepted: bool = True,
    key_id: str | None = None,
    signature_b64: str | None = None,
) -> RecordConfirmation:
    """A bidder confirms (or disputes) the record; with a signature over the record statement if given."""
    import base64

    section = db.session.get(Section, section_id)
    if section is None:
        raise NotFound(_("No such section."))
    ceremony = completed_ceremony(section)
    if ceremony is None or ceremony.record_sha256 is None:
        raise Conflict(_("The opening record is not complete yet."), code="no_record")
    if not any(e.org_id == actor.org_id for e in ceremony.entries):
        raise NotFound(_("Your organization has no bid in this opening."))
    if db.session.scalar(
        select(func.count())
        .select_from(RecordConfirmation)
        .where(RecordConfirmation.ceremony_id == ceremony.id, RecordConfirmation.org_id == actor.org_id)
    ):
        raise Conflict(_("Your organization has already confirmed the record."))
    key_pk = None
    if signature_b64 and key_id:
        key = find_signing_key(actor.org_id, key_id.strip())
        if key is None or not key.valid_at(now()):
            raise DomainError(_("The signing key is not registered or not valid now."))
        try:
            sig = base64.b64decode(signature_b64.strip(), validate=True)
        except ValueError:
            raise DomainError(_("The signature is not base64.")) from None
        if not signing.verify(
            public_key_of(key), sig, signing.record_statement(ceremony.record_sha256, section_id)
        ):
            raise DomainError(_("The signature does not match the opening record."))
        key_pk = key.id
    row = RecordConfirmation(
        ceremony_id=ceremony.id,
        org_id=actor.org_id,
        user_id=actor.id,
        confirmed_at=now(),
        record_sha256=ceremony.record_sha256,
        signing_key_id=key_pk,
        signature=signature_b64.strip() if key_pk and signature_b64 else None,
        accepted=accepted,
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "bidding:record:confirm",
        actor=actor,
        object_type="section",
        object_id=section_id,
        payload={"record_sha256": ceremony.record_sha256, "accepted": accepted, "signed": key_pk is not None},
    )
    events.publish(
        db.session(), channel(section_id), {"event": "confirmation", "bidder": actor.organization.name}
    )
    return row


def share_status(section: Section) -> dict[str, Any]:
    ceremony = latest_ceremony(section.id)
    shares = list(db.session.scalars(select(OpeningKeyShare).where(OpeningKeyShare.section_id == section.id)))
    submitted = {s.key_share_id for s in ceremony.shares} if ceremony else set()
    return {
        "ceremony": ceremony,
        "threshold": section.custodian_k,
        "custodians": [
            {"name": s.custodian.display_name, "submitted": s.id in submitted, "member_index": s.member_index}
            for s in sorted(shares, key=lambda s: s.member_index)
        ],
    }
