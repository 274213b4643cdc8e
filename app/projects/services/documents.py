"""Tender documents, obtaining them (获取招标文件, confidential) and download records."""

from __future__ import annotations

import re
from typing import Any, BinaryIO

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.core import outbox, storage
from app.core.clock import CST, now
from app.core.db import db
from app.core.errors import Conflict, DomainError, Forbidden
from app.core.permissions import Role

from ..enums import (
    Procedure,
    SectionStatus,
)
from ..models import (
    DocumentObtainment,
    Section,
    SectionDocument,
)
from ._common import S, _audit, _ensure_not_suspended

# -- documents --------------------------------------------------------------------------------------------

MAX_DOCUMENT_BYTES = 200 * 1024 * 1024
#: Content types a tender document keeps when served (ASVS 5.4.1/5.4.2); anything else the browser
#: claimed (HTML, SVG, scripts) is stored and served as opaque bytes. Downloads are always attachments.
DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/ofd",
        "application/zip",
        "application/x-zip-compressed",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/plain",
        "image/png",
        "image/jpeg",
    }
)
_SAFE_FILENAME = re.compile(r"[^\w.\-() \u4e00-\u9fff]+")


def document_filename(filename: str | None) -> str:
    """The last path component of a client-given name with anything unusual replaced (ASVS 5.3.2)."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return _SAFE_FILENAME.sub("_", base).strip(". ")[-200:] or "document"


def document_type(content_type: str | None) -> str:
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return (content_type or "")[:100] if base in DOCUMENT_TYPES else "application/octet-stream"


def add_document(
    section: Section, *, actor: User, name: str, filename: str, content_type: str, stream: BinaryIO
) -> SectionDocument:
    """Store a new version of a tender document (hashed, SHA-256). Before publication it is part of the
    announcement; after publication it waits for the next amendment, which publishes it."""
    if SectionStatus(section.status) not in {S.DRAFT, S.PUBLISHED}:
        raise Conflict(_("Documents can change only before the bid deadline."))
    _ensure_not_suspended(section)
    name = ((name or "").strip() or _("Tender documents"))[:200]
    try:
        blob = storage.write_stream(stream, folder=f"sections/{section.id}", max_size=MAX_DOCUMENT_BYTES)
    except storage.BlobTooLarge:
        raise DomainError(_("The file is too large.")) from None
    # An unpublished version may still be replaced; a published one never changes (new version only).
    replaced = [d for d in section.documents if d.name == name and d.published_at is None]
    for old in replaced:
        section.documents.remove(old)
        db.session.delete(old)
    db.session.flush()
    version = (
        db.session.scalar(
            select(func.max(SectionDocument.version)).where(
                SectionDocument.section_id == section.id, SectionDocument.name == name
            )
        )
        or 0
    ) + 1
    doc = SectionDocument(
        name=name,
        version=version,
        filename=document_filename(filename),
        content_type=document_type(content_type),
        size=blob.size,
        sha256=blob.sha256,
        blob_path=blob.path,
        uploaded_by=actor.id,
        uploaded_at=now(),
    )
    section.documents.append(doc)
    db.session.flush()
    _audit(
        "projects:document:upload",
        actor,
        section,
        {
            "document_id": doc.id,
            "name": doc.name,
            "version": version,
            "sha256": blob.sha256,
            "size": blob.size,
        },
    )
    return doc


def pending_documents(section: Section) -> list[SectionDocument]:
    return [d for d in section.documents if d.published_at is None]


# -- obtaining documents ----------------------------------------------------------------------------------


def may_take_part(section: Section, org_id: int | None) -> bool:
    """Whether ``org_id`` may take part: anyone in an open procedure, only the invited in 邀请招标, only the
    applicants its prequalification qualified (资格预审) in a section with one."""
    if section.prequalification:
        from ..prequal.services import is_qualified

        if org_id is None or not is_qualified(section, org_id):
            return False
    if section.procedure != Procedure.INVITED.value:
        return True
    return org_id is not None and org_id in (section.invited_org_ids or [])


def take_part_refusal(section: Section, *, bids: bool = False) -> str:
    """Why :func:`may_take_part` refused, in words."""
    if section.prequalification:
        if bids:
            return _("This tender has a prequalification: only the qualified applicants submit bids.")
        return _("This tender has a prequalification: only the qualified applicants obtain its documents.")
    if bids:
        return _("This is an invitation tender: only the invited bidders submit bids.")
    return _("This is an invitation tender: only the invited bidders obtain its documents.")


def obtain_documents(section: Section, *, actor: User) -> tuple[DocumentObtainment, bool]:
    """Register the bidder's company for the documents (获取招标文件) during the sale period; returns the
    registration and whether it is new (registering twice is harmless)."""
    if actor.role != Role.BIDDER:
        raise DomainError(_("Only bidders obtain tender documents."))
    existing = db.session.scalar(
        select(DocumentObtainment).where(
            DocumentObtainment.section_id == section.id, DocumentObtainment.bidder_org_id == actor.org_id
        )
    )
    if existing is not None:
        return existing, False
    if section.status != S.PUBLISHED:
        raise Conflict(_("The documents are not available."))
    _ensure_not_suspended(section)
    if not may_take_part(section, actor.org_id):
        raise Forbidden(take_part_refusal(section))
    at = now()
    assert section.docs_available_from is not None and section.docs_available_until is not None
    if not (section.docs_available_from <= at <= section.docs_available_until):
        raise Conflict(
            _(
                "Documents are available from %(start)s to %(end)s.",
                start=section.docs_available_from.astimezone(CST).strftime("%Y-%m-%d %H:%M"),
                end=section.docs_available_until.astimezone(CST).strftime("%Y-%m-%d %H:%M"),
            )
        )
    row = DocumentObtainment(
        section_id=section.id, bidder_org_id=actor.org_id, user_id=actor.id, obtained_at=at
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:  # a colleague of the same company registered at the same moment
        found = db.session.scalar(
            select(DocumentObtainment).where(
                DocumentObtainment.section_id == section.id, DocumentObtainment.bidder_org_id == actor.org_id
            )
        )
        assert found is not None
        return found, False
    # Who obtained the documents is confidential (法 Art. 22), also from readers of the audit log: the leaf
    # names the registration row only, which no page outside the bidder's own receipt resolves to a section.
    _audit("projects:documents:obtain", actor, row, {})
    return row, True


def obtainment_leaf_sealed(leaf: Any) -> bool:
    """Audit sealer: who obtained the documents stays confidential in the audit log pages and exports
    (the leaf stays verifiable)."""
    return bool(leaf.action == "projects:documents:obtain")


def obtainment_of(section: Section, org_id: int) -> DocumentObtainment | None:
    return db.session.scalar(
        select(DocumentObtainment).where(
            DocumentObtainment.section_id == section.id, DocumentObtainment.bidder_org_id == org_id
        )
    )


def obtainment_count(section: Section) -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(DocumentObtainment)
            .where(DocumentObtainment.section_id == section.id)
        )
        or 0
    )


def record_download(doc: SectionDocument, *, actor: User) -> None:
    """Audit a download by the tenderer side, staff or a regulator. Bidders' downloads are not logged:
    they would tell readers of the audit log who obtained the documents (the registration is audited)."""
    if actor.role == Role.BIDDER:
        return
    _audit(
        "projects:document:download",
        actor,
        doc.section,
        {"document_id": doc.id, "version": doc.version, "sha256": doc.sha256},
    )


def notify_obtainers(section: Section, subject: str, body: str) -> int:
    """Tell every bidder that obtained the documents (inbox, and e-mail where known) through the outbox;
    returns how many were told. Who they are stays confidential: each message goes to one bidder."""
    obtainments = db.session.scalars(
        select(DocumentObtainment).where(DocumentObtainment.section_id == section.id)
    ).all()
    for ob in obtainments:
        user = ob.user
        outbox.enqueue(
            channel="inbox",
            recipient=user.email or user.username,
            subject=subject,
            body=body,
            user_id=user.id,
        )
        if user.email:
            outbox.enqueue(channel="email", recipient=user.email, subject=subject, body=body, user_id=user.id)
    return len(obtainments)
