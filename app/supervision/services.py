"""Supervision rules: deciding alerts, interventions (suspend/resume, rectification notices) and witness
cosignatures. Plain functions taking the acting user; the caller commits. Every change writes an audit leaf
whose payload names the section, so it appears on the section timeline."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import Organization, User
from app.core import audit, signed_note
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError
from app.core.labels import label
from app.core.models import AuditCheckpoint
from app.projects import services as projects
from app.projects.models import Section, SectionSuspension

from .enums import AlertStatus, NoticeStatus
from .models import RectificationNotice, SupervisionAlert, WitnessKey

# -- alerts ------------------------------------------------------------------------------------------------


def _decide(alert: SupervisionAlert, status: AlertStatus, *, actor: User, note: str | None) -> None:
    if alert.status in (AlertStatus.ESCALATED.value, AlertStatus.DISMISSED.value):
        raise Conflict(_("This alert has already been decided."), code="decided")
    alert.status = status.value
    alert.decided_at = now()
    alert.decided_by = actor.id
    alert.decision_note = note


def acknowledge_alert(alert: SupervisionAlert, *, actor: User, note: str = "") -> SupervisionAlert:
    if alert.status != AlertStatus.OPEN.value:
        raise Conflict(_("Only an open alert can be acknowledged."), code="not_open")
    _decide(alert, AlertStatus.ACKNOWLEDGED, actor=actor, note=note.strip() or None)
    audit.record(
        "supervision:alert:acknowledge",
        actor=actor,
        object_type="supervision_alert",
        object_id=alert.id,
        payload={"section_id": alert.section_id, "rule": alert.rule, "note": alert.decision_note},
    )
    return alert


def dismiss_alert(alert: SupervisionAlert, *, actor: User, reason: str) -> SupervisionAlert:
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A reason is required."), errors={"reason": [_("Required.")]})
    _decide(alert, AlertStatus.DISMISSED, actor=actor, note=reason)
    audit.record(
        "supervision:alert:dismiss",
        actor=actor,
        object_type="supervision_alert",
        object_id=alert.id,
        payload={"section_id": alert.section_id, "rule": alert.rule, "reason": reason},
    )
    return alert


def _open_case(alert: SupervisionAlert, *, actor: User, note: str) -> str | None:
    """Hand the alert to the complaints domain as a lead (举报 filed by the regulator, 线索移交): it gets a
    case number and statutory clock there. Without that domain, or when it refuses (no management office
    set up), the escalation recorded here is the record."""
    try:
        from app.complaints import services as complaints
    except ImportError:
        return None
    org = db.session.get(Organization, actor.org_id)
    data = complaints.ReportInput(
        subject=f"[{label('alert_rule', alert.rule)}] {alert.summary}"[:200],
        facts=f"{label('legal_basis', alert.legal_basis)}: {alert.summary}\n{note}".strip(),
        section_id=alert.section_id,
        anonymous=False,
        reporter_name=org.name if org else actor.display_name,
        reporter_contact="",
    )
    try:
        with db.session.begin_nested():  # a refusal must not undo the escalation itself
            report, _code = complaints.file_report(data, actor=actor)
    except DomainError:
        return None
    return str(report.number or report.id)


def escalate_alert(alert: SupervisionAlert, *, actor: User, note: str = "") -> SupervisionAlert:
    """Escalate to a case (立案). Without a complaints service the escalation itself is the record."""
    note = note.strip()
    _decide(alert, AlertStatus.ESCALATED, actor=actor, note=note or None)
    alert.case_ref = _open_case(alert, actor=actor, note=note)
    audit.record(
        "supervision:alert:escalate",
        actor=actor,
        object_type="supervision_alert",
        object_id=alert.id,
        payload={
            "section_id": alert.section_id,
            "rule": alert.rule,
            "case_ref": alert.case_ref,
            "note": note,
        },
    )
    return alert


# -- interventions -----------------------------------------------------------------------------------------


def suspend(section: Section, *, actor: User, reason: str) -> SectionSuspension:
    """责令暂停 (条例 Art. 62): the projects domain blocks every step until :func:`resume`."""
    return projects.suspend_section(section, actor=actor, reason=reason)


def resume(section: Section, *, actor: User, note: str = "") -> SectionSuspension:
    return projects.resume_section(section, actor=actor, note=note)


def notice_addressees(section: Section) -> list[Organization]:
    """Who a rectification notice on ``section`` may be addressed to: the tenderer, its agency and the
    trading centers (the organizations running the trade), as the notice form lists them."""
    project = section.project
    parties = [o for o in (project.owner_org, project.agency_org) if o is not None]
    centers = db.session.scalars(
        select(Organization).where(Organization.kind == "trading_center").order_by(Organization.id)
    ).all()
    return [*parties, *centers]


def issue_notice(
    section: Section, *, actor: User, addressee: Organization, body: str, due_at: dt.datetime
) -> RectificationNotice:
    body = (body or "").strip()
    errors: dict[str, list[str]] = {}
    if addressee.id not in {o.id for o in notice_addressees(section)}:
        errors["addressee_org_id"] = [_("Unknown addressee.")]
    if not body:
        errors["body"] = [_("Required.")]
    if due_at <= now():
        errors["due_at"] = [_("The due date must be in the future.")]
    if errors:
        raise DomainError(_("Please correct the notice."), errors=errors)
    notice = RectificationNotice(
        section_id=section.id,
        addressee_org_id=addressee.id,
        body=body,
        due_at=due_at,
        status=NoticeStatus.OPEN.value,
        issued_by=actor.id,
        issued_at=now(),
    )
    db.session.add(notice)
    db.session.flush()  # the notice id goes into its audit leaf
    audit.record(
        "supervision:notice:issue",
        actor=actor,
        object_type="rectification_notice",
        object_id=notice.id,
        payload={"section_id": section.id, "addressee_org_id": addressee.id, "due_at": due_at, "body": body},
    )
    return notice


def record_response(notice: RectificationNotice, *, actor: User, response: str) -> RectificationNotice:
    """The addressee's written response, as received by the regulator (整改回复)."""
    response = (response or "").strip()
    if not response:
        raise DomainError(_("A response is required."), errors={"response": [_("Required.")]})
    if notice.status != NoticeStatus.OPEN.value:
        raise Conflict(_("This notice already has a response."), code="not_open")
    notice.status = NoticeStatus.RESPONDED.value
    notice.response = response
    notice.responded_at = now()
    audit.record(
        "supervision:notice:response",
        actor=actor,
        object_type="rectification_notice",
        object_id=notice.id,
        payload={"section_id": notice.section_id, "late": notice.responded_at > notice.due_at},
    )
    return notice


def close_notice(notice: RectificationNotice, *, actor: User) -> RectificationNotice:
    if notice.status != NoticeStatus.RESPONDED.value:
        raise Conflict(_("Only a notice with a response can be closed."), code="not_responded")
    notice.status = NoticeStatus.CLOSED.value
    notice.closed_at = now()
    notice.closed_by = actor.id
    audit.record(
        "supervision:notice:close",
        actor=actor,
        object_type="rectification_notice",
        object_id=notice.id,
        payload={"section_id": notice.section_id},
    )
    return notice


def notices_of(section_id: int) -> list[RectificationNotice]:
    return list(
        db.session.scalars(
            select(RectificationNotice)
            .where(RectificationNotice.section_id == section_id)
            .order_by(RectificationNotice.id)
        )
    )


# -- witness cosignatures -----------------------------------------------------------------------------------


def _raw_key(text: str) -> bytes:
    try:
        if len(text.strip()) > 44:  # longer than a base64 key: a vkey <name>+<key ID>+<base64(0x04 ‖ key)>
            return signed_note.cosigner_verifier(text).public_key
        raw = base64.b64decode(text.strip(), validate=True)
        if len(raw) == 33 and raw[:1] == b"\x01":
            raw = raw[1:]
        Ed25519PublicKey.from_public_bytes(raw)
    except ValueError:
        raise DomainError(
            _("Not an Ed25519 public key."), errors={"public_key": [_("Paste the base64 public key.")]}
        ) from None
    return raw


def active_witness_key(user: User) -> WitnessKey | None:
    return db.session.scalar(
        select(WitnessKey).where(WitnessKey.user_id == user.id, WitnessKey.revoked_at.is_(None))
    )


def register_witness_key(*, actor: User, public_key: str) -> WitnessKey:
    """Register (or replace) the regulator's witness key; the old one is revoked, cosignatures stay."""
    raw = base64.b64encode(_raw_key(public_key)).decode()
    old = active_witness_key(actor)
    if old is not None:
        old.revoked_at = now()
        db.session.flush()  # the partial unique index allows one active key per user
    key = WitnessKey(user_id=actor.id, public_key=raw, created_at=now())
    db.session.add(key)
    db.session.flush()
    audit.record(
        "supervision:witness_key:register",
        actor=actor,
        object_type="witness_key",
        object_id=key.id,
        payload={"public_key": raw, "replaces": old.id if old else None},
    )
    return key


def cosign_checkpoint(cp: AuditCheckpoint, *, actor: User, signature_b64: str) -> AuditCheckpoint:
    """Add the regulator's witness cosignature, checked against the registered witness key."""
    key = active_witness_key(actor)
    if key is None:
        raise DomainError(_("Register your witness public key first."), errors={"signature": [_("No key.")]})
    if any(c.get("public_key") == key.public_key for c in cp.cosignatures or []):
        raise Conflict(_("You have already cosigned this checkpoint."), code="cosigned")
    return audit.cosign(cp, actor=actor, cosignature=signature_b64.strip(), public_key_b64=key.public_key)


def cosigner_names(cps: list[AuditCheckpoint]) -> dict[str, str]:
    """Display names of the cosigners (by user id) for the public page: organization, not person."""
    ids = {
        int(c["actor_id"])
        for cp in cps
        for c in cp.cosignatures or []
        if str(c.get("actor_id", "")).isdigit()
    }
    if not ids:
        return {}
    out: dict[str, str] = {}
    for user in db.session.scalars(select(User).where(User.id.in_(ids))):
        org: Any = db.session.get(Organization, user.org_id)
        out[str(user.id)] = org.name if org is not None else str(user.id)
    return out
