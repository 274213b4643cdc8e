"""JSON API of the complaints domain: parties, respondents, the management office and regulators read the
cases they may see (the pages' rule, ``permissions.can_view``); bidders file objections and complaints;
anyone files a report (anonymous allowed) and follows it by its tracking code, and reads the published
complaint decisions. Filing takes an ``Idempotency-Key``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import request
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from app.accounts.models import User
from app.core.db import db
from app.core.errors import NotFound
from app.core.idempotency import idempotent
from app.core.permissions import Permission, public, require
from app.core.web import MAX_ROW_ID

from . import services
from .enums import Audience, CaseKind, CaseStatus, Matter
from .models import Case
from .permissions import can_see_identity, can_view, side_of, visible_audiences, visible_cases

blp = Blueprint(
    "complaints_api", __name__, url_prefix="/api/v1/complaints", description="Objections, complaints, reports"
)


class CaseListArgs(Schema):
    class Meta:
        unknown = RAISE

    kind = fields.String(load_default=None, validate=validate.OneOf([k.value for k in CaseKind]))
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in CaseStatus]))
    before = fields.Integer(
        load_default=None, validate=validate.Range(min=1, max=MAX_ROW_ID), metadata={"description": "cursor"}
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class MessageOut(Schema):
    at = fields.DateTime()
    author_side = fields.Str(metadata={"description": "filer, respondent or handler"})
    body = fields.Str()


class EventOut(Schema):
    at = fields.DateTime()
    action = fields.Str()
    from_status = fields.Str(allow_none=True)
    to_status = fields.Str(allow_none=True)
    note = fields.Str()


class CaseOut(Schema):
    id = fields.Int()
    number = fields.Str(allow_none=True)
    kind = fields.Str()
    regime = fields.Str()
    matter = fields.Str()
    status = fields.Str()
    section_code = fields.Str(allow_none=True, attribute="section.code")
    subject = fields.Str()
    filed_at = fields.DateTime(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    published_at = fields.DateTime(allow_none=True)
    handling_org = fields.Str(allow_none=True, attribute="handling_org.name")


class CaseDetailOut(CaseOut):
    side = fields.Str(
        allow_none=True, metadata={"description": "the caller's side: filer, respondent, handler"}
    )
    facts = fields.Str()
    claims = fields.Str()
    answer = fields.Str()
    decision = fields.Str()
    remedy = fields.Str(allow_none=True)
    filer_org = fields.Str(allow_none=True)
    reporter_name = fields.Str(allow_none=True)
    messages = fields.List(fields.Nested(MessageOut))
    events = fields.List(fields.Nested(EventOut))


class CasePageOut(Schema):
    data = fields.List(fields.Nested(CaseOut))
    next_before = fields.Int(allow_none=True)


class TrackOut(Schema):
    number = fields.Str(allow_none=True)
    subject = fields.Str()
    status = fields.Str()
    filed_at = fields.DateTime(allow_none=True)
    answer = fields.Str()
    messages = fields.List(fields.Nested(MessageOut))


class DecisionOut(Schema):
    number = fields.Str(allow_none=True)
    section_code = fields.Str(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)
    published_at = fields.DateTime(allow_none=True)
    remedy = fields.Str(allow_none=True)
    decision = fields.Str()


class CaseIn(Schema):
    """An objection or a complaint, as the filing form takes it (a power of attorney for an agent's filing
    is uploaded on the page)."""

    class Meta:
        unknown = RAISE

    kind = fields.String(
        required=True, validate=validate.OneOf([CaseKind.OBJECTION.value, CaseKind.COMPLAINT.value])
    )
    section_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ROW_ID))
    matter = fields.String(
        load_default=Matter.OTHER.value, validate=validate.OneOf([m.value for m in Matter])
    )
    knew_at = fields.AwareDateTime(
        load_default=None,
        validate=validate.Range(
            min=dt.datetime(2000, 1, 1, tzinfo=dt.UTC), max=dt.datetime(2099, 12, 31, tzinfo=dt.UTC)
        ),
        metadata={"description": "when the filer learnt of it"},
    )
    prior_objection_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ROW_ID))
    by_agent = fields.Boolean(load_default=False)
    cross_department = fields.Boolean(load_default=False)
    content = fields.Dict(
        keys=fields.String(validate=validate.OneOf(services.CONTENT_FIELDS)),
        values=fields.String(validate=validate.Length(max=20000)),
        load_default=dict,
        metadata={"description": "subject, facts, claims, evidence, the parties' names, addresses, contacts"},
    )
    submit = fields.Boolean(
        load_default=True, metadata={"description": "file it now (default) or keep it as a draft"}
    )


class ReportIn(Schema):
    class Meta:
        unknown = RAISE

    subject = fields.String(required=True, validate=validate.Length(min=1, max=200))
    facts = fields.String(required=True, validate=validate.Length(min=1, max=20000))
    section_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ROW_ID))
    anonymous = fields.Boolean(load_default=True)
    reporter_name = fields.String(load_default="", validate=validate.Length(max=100))
    reporter_contact = fields.String(load_default="", validate=validate.Length(max=100))


class ReportFiledOut(Schema):
    number = fields.Str(allow_none=True)
    status = fields.Str()
    filed_at = fields.DateTime(allow_none=True)
    tracking_code = fields.Str(
        metadata={"description": "shown once: follow the report with it (GET /track, X-Tracking-Code)"}
    )


_RELATED = {"section_code", "handling_org"}


def _me() -> User:
    user: User = current_user.user
    return user


@blp.route("/cases")
@blp.arguments(CaseListArgs, location="query")
@blp.response(200, CasePageOut)
@require(Permission.COMPLAINTS_READ)
def cases(args: dict[str, Any]) -> dict[str, Any]:
    """The cases the caller may see, newest first; continue with ``before=next_before``."""
    me = _me()
    stmt = select(Case).where(visible_cases(me)).order_by(Case.id.desc()).limit(args["limit"] + 1)
    if args["kind"]:
        stmt = stmt.where(Case.kind == args["kind"])
    if args["status"]:
        stmt = stmt.where(Case.status == args["status"])
    if args["before"]:
        stmt = stmt.where(Case.id < args["before"])
    rows = list(db.session.scalars(stmt))
    more = len(rows) > args["limit"]
    rows = rows[: args["limit"]]
    return {"data": [c for c in rows if can_view(me, c)], "next_before": rows[-1].id if more else None}


@blp.route("/cases", methods=["POST"])
@idempotent
@blp.arguments(CaseIn)
@blp.response(201, CaseDetailOut)
@require(Permission.COMPLAINTS_FILE)
def file_case(body: dict[str, Any]) -> dict[str, Any]:
    """File an objection (异议/质疑) or a complaint (投诉) in one step, or keep it as a draft
    (``submit: false``). A refused filing (422/409, the rule in ``message`` and the fields in ``errors``)
    keeps nothing; fix it and send it again."""
    me = _me()
    kind = CaseKind(body["kind"])
    data = services.CaseInput(
        section_id=body["section_id"],
        matter=body["matter"],
        knew_at=body["knew_at"],
        prior_objection_id=body["prior_objection_id"],
        by_agent=body["by_agent"],
        cross_department=body["cross_department"],
        content=body["content"],
    )
    row = services.save_draft(kind, data, actor=me)
    if body["submit"]:
        if kind is CaseKind.OBJECTION:
            services.submit_objection(row, actor=me)
        else:
            services.submit_complaint(row, actor=me)
    db.session.commit()
    return _case_out(me, row)


@blp.route("/reports", methods=["POST"])
@idempotent
@blp.arguments(ReportIn)
@blp.response(201, ReportFiledOut)
@public
def file_report(body: dict[str, Any]) -> dict[str, Any]:
    """Report (举报) a wrong, signed in or not, anonymously by default. The answer carries the tracking
    code, once; only its hash is kept. Filings from one address are limited (429 with ``Retry-After``).
    An anonymous caller's ``Idempotency-Key`` must be at least 32 characters (it guards the code)."""
    from .views import count_report_filing

    count_report_filing()
    actor = _me() if current_user.is_authenticated else None
    report, code = services.file_report(services.ReportInput(**body), actor=actor)
    db.session.commit()
    return {
        "number": report.number,
        "status": report.status,
        "filed_at": report.filed_at,
        "tracking_code": code,
    }


@blp.route("/cases/<int:case_id>")
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_READ)
def case(case_id: int) -> dict[str, Any]:
    """One case as the caller's side sees it: thread messages of its audiences, the history (internal steps
    for the handling department only), a reporter's identity for the handling department only."""
    me = _me()
    row = db.session.get(Case, case_id)
    if row is None or not can_view(me, row):
        raise NotFound(_("No such case."))
    return _case_out(me, row)


def _case_out(me: User, row: Case) -> dict[str, Any]:
    audiences = {a.value for a in visible_audiences(me, row)}
    handler = side_of(me, row) == "handler"
    out: dict[str, Any] = {name: getattr(row, name) for name in CaseOut().fields if name not in _RELATED}
    out.update(
        section=row.section,
        handling_org=row.handling_org,
        side=side_of(me, row),
        facts=row.facts,
        claims=row.claims,
        answer=row.answer,
        decision=row.decision,
        remedy=row.remedy,
        filer_org=row.filer_org.name if row.filer_org else None,
        reporter_name=(row.reporter_name or None) if can_see_identity(me, row) else None,
        messages=[m for m in row.messages if m.audience in audiences],
        events=[e for e in row.events if handler or not e.internal],
    )
    return out


@blp.route("/track")
@blp.doc(
    parameters=[
        {
            "in": "header",
            "name": "X-Tracking-Code",
            "required": True,
            "schema": {"type": "string", "maxLength": 64},
            "description": "the code the reporter was given",
        }
    ]
)
@blp.response(200, TrackOut)
@public
def track() -> dict[str, Any]:
    """Follow a report with its tracking code, sent in the ``X-Tracking-Code`` header so that it never sits
    in a URL, a link or an access log."""
    report = services.find_report(request.headers.get("X-Tracking-Code", ""))
    if report is None:
        raise NotFound(_("No report has this tracking code."))
    shown = {Audience.FILER.value, Audience.PARTIES.value}
    return {
        "number": report.number,
        "subject": report.subject,
        "status": report.status,
        "filed_at": report.filed_at,
        "answer": report.answer,
        "messages": [m for m in report.messages if m.audience in shown],
    }


@blp.route("/decisions")
@blp.response(200, DecisionOut(many=True))
@public
def decisions() -> list[dict[str, Any]]:
    """Published complaint decisions (personal data redacted), newest first."""
    return [
        {
            "number": c.number,
            "section_code": c.section.code if c.section else None,
            "decided_at": c.decided_at,
            "published_at": c.published_at,
            "remedy": c.remedy,
            "decision": services.redact(c.decision or ""),
        }
        for c in services.published_decisions()
    ]
