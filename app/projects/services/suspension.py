"""Suspension (暂停) and resumption of a section, and what resuming owes the bidders."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import User
from app.core import events
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError

from ..enums import (
    SectionStatus,
)
from ..models import (
    Section,
    SectionSuspension,
)
from ._common import S, _audit, _timeline
from .sections import TERMINAL


def suspend_section(section: Section, *, actor: User, reason: str) -> SectionSuspension:
    """Suspend (暂停) the section: every step is blocked until :func:`resume_section`."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A reason is required."), errors={"reason": [_("Required.")]})
    if SectionStatus(section.status) in TERMINAL or section.status == S.DRAFT:
        raise Conflict(_("Only a trade in progress can be suspended."))
    if section.suspended:
        raise Conflict(_("The section is already suspended."), code="suspended")
    at = now()
    row = SectionSuspension(section_id=section.id, reason=reason, started_at=at, started_by=actor.id)
    db.session.add(row)
    section.suspended = True
    db.session.flush()  # the partial unique index refuses a second open suspension here
    _timeline(section, section.status, "suspended", actor, reason)
    _audit("projects:section:suspend", actor, section, {"reason": reason, "suspension_id": row.id})
    events.publish(db.session(), f"section:{section.id}", {"suspended": True})
    return row


def resume_section(section: Section, *, actor: User, note: str = "") -> SectionSuspension:
    row = db.session.scalar(
        select(SectionSuspension).where(
            SectionSuspension.section_id == section.id, SectionSuspension.ended_at.is_(None)
        )
    )
    if row is None or not section.suspended:
        raise Conflict(_("The section is not suspended."))
    actor_id = actor.id  # read first: loading an expired actor autoflushes, and the CHECK needs both columns
    row.ended_by = actor_id
    row.ended_at = now()
    row.resume_note = (note or "").strip() or None
    section.suspended = False
    db.session.flush()
    paused = (row.ended_at - row.started_at).total_seconds()
    _timeline(section, section.status, "resumed", actor, row.resume_note or "")
    _audit(
        "projects:section:resume",
        actor,
        section,
        {"suspension_id": row.id, "paused_seconds": int(paused), "note": row.resume_note},
    )
    events.publish(db.session(), f"section:{section.id}", {"suspended": False})
    return row
