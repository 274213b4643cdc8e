"""JSON API of the supervision domain under /api/v1/supervision, with the pages' rules
(``app/supervision/permissions.py``): alerts for the supervising regulator (read and decide), interventions
(suspensions and rectification notices: every regulator reads, the supervising one suspends, resumes and
issues), the staff assessment for regulators and the management office."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from app.accounts.models import Organization, User
from app.accounts.stepup import step_up_required
from app.core import scoping
from app.core.calendar import end_of_local_day, local_date
from app.core.clock import now
from app.core.db import db
from app.core.errors import Forbidden, NotFound
from app.core.idempotency import idempotent
from app.core.labels import label
from app.core.permissions import Permission, require
from app.core.web import MAX_ROW_ID
from app.projects.models import Section, SectionSuspension

from . import assessment, permissions, services
from .enums import AlertStatus, NoticeStatus
from .models import RectificationNotice, SupervisionAlert

blp = Blueprint(
    "supervision_api",
    __name__,
    url_prefix="/api/v1/supervision",
    description="Alerts, interventions, assessment",
)


def _me() -> User:
    user: User = current_user.user
    return user


# --- schemas -----------------------------------------------------------------------------------------------

_DAYS = validate.Range(min=dt.date(2000, 1, 1), max=dt.date(2099, 12, 31))


class AlertArgs(Schema):
    class Meta:
        unknown = RAISE

    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in AlertStatus]))
    section_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ROW_ID))


class AlertOut(Schema):
    id = fields.Int()
    section_id = fields.Int()
    section_code = fields.Str(allow_none=True)
    rule = fields.Str()
    rule_label = fields.Str()
    summary = fields.Str()
    legal_basis = fields.Str()
    evidence = fields.Dict()
    status = fields.Str()
    status_label = fields.Str()
    raised_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.Str(allow_none=True)
    case_ref = fields.Str(allow_none=True)


class AlertDecisionIn(Schema):
    class Meta:
        unknown = RAISE

    action = fields.Str(required=True, validate=validate.OneOf(["acknowledge", "escalate", "dismiss"]))
    note = fields.Str(load_default="", validate=validate.Length(max=2000))


class NoticeArgs(Schema):
    class Meta:
        unknown = RAISE

    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in NoticeStatus]))


class NoticeOut(Schema):
    id = fields.Int()
    section_id = fields.Int()
    section_code = fields.Str(allow_none=True)
    addressee_org_id = fields.Int()
    addressee = fields.Str(allow_none=True)
    body = fields.Str()
    due_at = fields.DateTime()
    overdue = fields.Bool()
    status = fields.Str()
    status_label = fields.Str()
    issued_at = fields.DateTime()
    response = fields.Str(allow_none=True)
    responded_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)


class SuspendedOut(Schema):
    id = fields.Int()
    code = fields.Str()
    name = fields.Str()
    status = fields.Str()


class InterventionsOut(Schema):
    suspended = fields.List(fields.Nested(SuspendedOut))
    notices = fields.List(fields.Nested(NoticeOut))


class NoticeIn(Schema):
    class Meta:
        unknown = RAISE

    addressee_org_id = fields.Int(required=True, validate=validate.Range(min=1, max=MAX_ROW_ID))
    body = fields.Str(required=True, validate=validate.Length(min=1, max=5000))
    due_on = fields.Date(
        required=True, validate=_DAYS, metadata={"description": "due at the end of this day, Beijing time"}
    )


class PeriodArgs(Schema):
    class Meta:
        unknown = RAISE

    start = fields.Date(
        load_default=None, validate=_DAYS, metadata={"description": "default: the first of this month"}
    )
    end = fields.Date(load_default=None, validate=_DAYS, metadata={"description": "default: today"})


class AssessmentRowOut(Schema):
    user_id = fields.Int(allow_none=True)
    name = fields.Str()
    department = fields.Str()
    registrations_reviewed = fields.Int()
    openings_run = fields.Int()
    draws_run = fields.Int()
    cases_handled = fields.Int()
    median_hours = fields.Float(allow_none=True)
    overdue_rate = fields.Float(allow_none=True)
    complaints_upheld = fields.Int()


class AssessmentOut(Schema):
    start = fields.Date()
    end = fields.Date()
    people = fields.List(fields.Nested(AssessmentRowOut))
    departments = fields.List(fields.Nested(AssessmentRowOut))


# --- alerts ------------------------------------------------------------------------------------------------


def _codes(ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = db.session.execute(select(Section.id, Section.code).where(Section.id.in_(ids))).all()
    return {section_id: code for section_id, code in rows}


def _alert_out(alert: SupervisionAlert, codes: dict[int, str]) -> dict[str, Any]:
    return {
        "id": alert.id,
        "section_id": alert.section_id,
        "section_code": codes.get(alert.section_id),
        "rule": alert.rule,
        "rule_label": label("alert_rule", alert.rule),
        "summary": alert.summary,
        "legal_basis": alert.legal_basis,
        "evidence": alert.evidence,
        "status": alert.status,
        "status_label": label("alert_status", alert.status),
        "raised_at": alert.raised_at,
        "decided_at": alert.decided_at,
        "decision_note": alert.decision_note,
        "case_ref": alert.case_ref,
    }


@blp.route("/alerts")
@blp.arguments(AlertArgs, location="query")
@blp.response(200, AlertOut(many=True))
@require(Permission.SUPERVISION_ALERTS)
@scoping.filters_lists
def alert_list(args: dict[str, Any]) -> list[dict[str, Any]]:
    """The alerts of the sections the caller's regulator supervises, newest first (at most 500)."""
    stmt = (
        select(SupervisionAlert)
        .where(permissions.visible_alerts(_me()))
        .order_by(SupervisionAlert.raised_at.desc(), SupervisionAlert.id.desc())
    )
    stmt = scoping.restrict(stmt, SupervisionAlert.section_id)
    if args["status"]:
        stmt = stmt.where(SupervisionAlert.status == args["status"])
    if args["section_id"]:
        stmt = stmt.where(SupervisionAlert.section_id == args["section_id"])
    rows = list(db.session.scalars(stmt.limit(500)))
    codes = _codes({a.section_id for a in rows})
    return [_alert_out(a, codes) for a in rows]


def _visible_alert(alert_id: int) -> tuple[SupervisionAlert, Section]:
    alert = db.session.get(SupervisionAlert, alert_id)
    section = db.session.get(Section, alert.section_id) if alert is not None else None
    if alert is None or section is None or not permissions.can_view_alert(_me(), alert, section):
        raise NotFound(_("No such alert."))
    return alert, section


@blp.route("/alerts/<int:alert_id>")
@blp.response(200, AlertOut)
@require(Permission.SUPERVISION_ALERTS)
def alert_detail(alert_id: int) -> dict[str, Any]:
    alert, section = _visible_alert(alert_id)
    return _alert_out(alert, {section.id: section.code})


@blp.route("/alerts/<int:alert_id>/decision", methods=["POST"])
@blp.arguments(AlertDecisionIn)
@blp.response(200, AlertOut)
@require(Permission.SUPERVISION_ALERTS)
def decide_alert(body: dict[str, Any], alert_id: int) -> dict[str, Any]:
    """Acknowledge, escalate to a case, or dismiss (with the reason in ``note``) an open alert."""
    alert, section = _visible_alert(alert_id)
    actor = _me()
    if body["action"] == "acknowledge":
        services.acknowledge_alert(alert, actor=actor, note=body["note"])
    elif body["action"] == "escalate":
        services.escalate_alert(alert, actor=actor, note=body["note"])
    else:
        services.dismiss_alert(alert, actor=actor, reason=body["note"])
    db.session.commit()
    return _alert_out(alert, {section.id: section.code})


# --- interventions -----------------------------------------------------------------------------------------


def _notice_out(notice: RectificationNotice, codes: dict[int, str], orgs: dict[int, str]) -> dict[str, Any]:
    return {
        "id": notice.id,
        "section_id": notice.section_id,
        "section_code": codes.get(notice.section_id),
        "addressee_org_id": notice.addressee_org_id,
        "addressee": orgs.get(notice.addressee_org_id),
        "body": notice.body,
        "due_at": notice.due_at,
        "overdue": notice.status == NoticeStatus.OPEN and notice.due_at < now(),
        "status": notice.status,
        "status_label": label("supervision_notice_status", notice.status),
        "issued_at": notice.issued_at,
        "response": notice.response,
        "responded_at": notice.responded_at,
        "closed_at": notice.closed_at,
    }


def _notices_out(notices: list[RectificationNotice]) -> list[dict[str, Any]]:
    codes = _codes({n.section_id for n in notices})
    org_ids = {n.addressee_org_id for n in notices}
    orgs = (
        {o.id: o.name for o in db.session.scalars(select(Organization).where(Organization.id.in_(org_ids)))}
        if org_ids
        else {}
    )
    return [_notice_out(n, codes, orgs) for n in notices]


@blp.route("/interventions")
@blp.arguments(NoticeArgs, location="query")
@blp.response(200, InterventionsOut)
@require(Permission.SUPERVISION_INTERVENE)
@scoping.filters_lists
def interventions(args: dict[str, Any]) -> dict[str, Any]:
    """Suspended sections and rectification notices (those not closed, or of the given ``status``), for
    every regulator (the interventions page)."""
    stmt = select(RectificationNotice).order_by(RectificationNotice.due_at, RectificationNotice.id)
    if args["status"]:
        stmt = stmt.where(RectificationNotice.status == args["status"])
    else:
        stmt = stmt.where(RectificationNotice.status != NoticeStatus.CLOSED.value)
    stmt = scoping.restrict(stmt, RectificationNotice.section_id)
    suspended = db.session.scalars(
        scoping.restrict(select(Section).where(Section.suspended.is_(True)).order_by(Section.id), Section.id)
    )
    return {"suspended": list(suspended), "notices": _notices_out(list(db.session.scalars(stmt.limit(500))))}


def _section(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None:
        raise NotFound(_("No such section."))
    return section


@blp.route("/sections/<int:section_id>/notices")
@blp.response(200, NoticeOut(many=True))
@require(Permission.SUPERVISION_INTERVENE)
def section_notices(section_id: int) -> list[dict[str, Any]]:
    return _notices_out(services.notices_of(_section(section_id).id))


@blp.route("/sections/<int:section_id>/notices", methods=["POST"])
@idempotent
@blp.arguments(NoticeIn)
@blp.response(201, NoticeOut)
@require(Permission.SUPERVISION_INTERVENE)
def issue_notice(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Issue a rectification notice (整改通知书) on a section the caller's regulator supervises (403 for
    the others), due at the end of ``due_on``. ``Idempotency-Key`` makes a retry safe."""
    section = _section(section_id)
    actor = _me()
    if not permissions.can_act_on(actor, section):
        raise Forbidden(_("Only the supervising regulator may act on this section."))
    org = db.session.get(Organization, body["addressee_org_id"])
    if org is None:
        raise NotFound(_("Unknown addressee."), errors={"addressee_org_id": [_("Required.")]})
    notice = services.issue_notice(
        section, actor=actor, addressee=org, body=body["body"], due_at=end_of_local_day(body["due_on"])
    )
    db.session.commit()
    return _notices_out([notice])[0]


class SectionSuspendIn(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class SectionResumeIn(Schema):
    class Meta:
        unknown = RAISE

    note = fields.String(load_default="", validate=validate.Length(max=2000))


class SectionSuspensionOut(Schema):
    id = fields.Int()
    section_id = fields.Int()
    section_status = fields.Str(attribute="section.status")
    suspended = fields.Bool(attribute="section.suspended")
    reason = fields.Str()
    cause = fields.Str()
    started_at = fields.DateTime()
    ended_at = fields.DateTime(allow_none=True)
    resume_note = fields.Str(allow_none=True)


def _acting_on(section_id: int) -> Section:
    """The section, if the caller's regulator supervises it (403 otherwise: others may only watch)."""
    section = _section(section_id)
    if not permissions.can_act_on(_me(), section):
        raise Forbidden(_("Only the supervising regulator may act on this section."))
    return section


@blp.route("/sections/<int:section_id>/suspension", methods=["POST"])
@idempotent
@blp.arguments(SectionSuspendIn)
@blp.response(201, SectionSuspensionOut)
@require(Permission.SUPERVISION_INTERVENE)
def suspend(body: dict[str, Any], section_id: int) -> Any:
    """责令暂停 (条例 Art. 62): every step of the section is blocked until it is resumed (step-up:
    ``X-TOTP-Code``); 409 when it is already suspended or not in progress."""
    _acting_on(section_id)
    return step_up_required(_suspend)(body, section_id)


def _suspend(body: dict[str, Any], section_id: int) -> SectionSuspension:
    row = services.suspend(_section(section_id), actor=_me(), reason=body["reason"])
    db.session.commit()
    return row


@blp.route("/sections/<int:section_id>/suspension/end", methods=["POST"])
@blp.arguments(SectionResumeIn)
@blp.response(200, SectionSuspensionOut)
@require(Permission.SUPERVISION_INTERVENE)
def resume(body: dict[str, Any], section_id: int) -> Any:
    """Resume the section (step-up), giving the bidders back the time suspended; 409 while an objection
    is unanswered (``held_by_case``) or when it is not suspended."""
    _acting_on(section_id)
    return step_up_required(_resume)(body, section_id)


def _resume(body: dict[str, Any], section_id: int) -> SectionSuspension:
    row = services.resume(_section(section_id), actor=_me(), note=body["note"])
    db.session.commit()
    return row


# --- assessment --------------------------------------------------------------------------------------------


@blp.route("/assessment")
@blp.arguments(PeriodArgs, location="query")
@blp.response(200, AssessmentOut)
@require(Permission.SUPERVISION_ASSESSMENT)
def assessment_report(args: dict[str, Any]) -> dict[str, Any]:
    """What each staff member and department did in the period (Beijing days, both included): the
    assessment page's figures."""
    today = local_date(now())
    start_day: dt.date = args["start"] or today.replace(day=1)
    end_day: dt.date = args["end"] or today
    if end_day < start_day:
        start_day, end_day = end_day, start_day
    start = end_of_local_day(start_day - dt.timedelta(days=1))
    people, departments = assessment.assess(start, end_of_local_day(end_day))
    return {"start": start_day, "end": end_day, "people": people, "departments": departments}
