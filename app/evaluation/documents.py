"""What a panel member reads during the evaluation: the opened bid documents and the published tender
documents of its section. One rule for the workspace page and the API: a member whose work counts reads
the bids; a member reads the tender documents; every opening is audited before the file is streamed."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _

from app.accounts.models import User
from app.core import audit
from app.core.db import db
from app.core.errors import NotFound
from app.projects.models import Section, SectionDocument

from .models import Evaluation, PanelMember


def open_bid_document(
    section: Section, ev: Evaluation, member: PanelMember, envelope_id: int, *, actor: User
) -> Any:
    """The decrypted bid document ``envelope_id`` of this section, for a member whose work counts; audited
    (``evaluation:document:view``). 404 for anything else."""
    from app.bidding.models import SealedEnvelope

    env = db.session.get(SealedEnvelope, envelope_id)
    if env is None or env.section_id != section.id or not member.counts or env.plaintext_path is None:
        raise NotFound(_("No such document."))
    audit.record(
        "evaluation:document:view",
        actor=actor,
        object_type="evaluation",
        object_id=ev.id,
        payload={"section_id": section.id, "envelope_id": env.id, "org_id": env.org_id, "sha256": env.sha256},
    )
    return env


def open_tender_document(section: Section, ev: Evaluation, doc_id: int, *, actor: User) -> SectionDocument:
    """A published tender document of this section, for a member of its panel; audited
    (``evaluation:tender_document:view``). 404 for anything else."""
    doc = db.session.get(SectionDocument, doc_id)
    if doc is None or doc.section_id != section.id or doc.published_at is None:
        raise NotFound(_("No such document."))
    audit.record(
        "evaluation:tender_document:view",
        actor=actor,
        object_type="evaluation",
        object_id=ev.id,
        payload={"section_id": section.id, "document_id": doc.id, "sha256": doc.sha256},
    )
    return doc
