"""JSON API of the complaints domain: parties, respondents, the management office and regulators read the
cases they may see (the pages' rule, ``permissions.can_view``); bidders file objections and complaints;
anyone files a report (anonymous allowed) and follows it by its tracking code, and reads the published
complaint decisions. The management office and regulators handle cases with the case page's actions and
services (receive, forward, assign, answer, supervise; for complaints accept or refuse, transfer,
investigate and suspend, stop the clock while materials are supplied, decide, publish). Filing and writing
in a thread take an ``Idempotency-Key``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import request
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from app.accounts.models import Organization, User
from app.accounts.principal import signed_in_user
from app.accounts.stepup import step_up_required
from app.core import scoping
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.core.idempotency import idempotent
from app.core.permissions import Permission, public, require
from app.core.web import MAX_ROW_ID

from . import routing, services
from .enums import CLOCKLESS_STATES, Audience, CaseKind, CaseStatus, Matter, PauseReason, Remedy
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
@scoping.filters_lists
def cases(args: dict[str, Any]) -> dict[str, Any]:
    """The cases the caller may see, newest first; continue with ``before=next_before``. A token limited
    to some sections lists their cases only."""
    me = _me()
    stmt = select(Case).where(visible_cases(me)).order_by(Case.id.desc()).limit(args["limit"] + 1)
    stmt = scoping.restrict(stmt, Case.section_id)
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
    actor = signed_in_user()
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


TRACKING_CODE = {
    "in": "header",
    "name": "X-Tracking-Code",
    "required": True,
    "schema": {"type": "string", "maxLength": 64},
    "description": "the code the reporter was given",
}


@blp.route("/track")
@blp.doc(parameters=[TRACKING_CODE])
@blp.response(200, TrackOut)
@public
def track() -> dict[str, Any]:
    """Follow a report with its tracking code, sent in the ``X-Tracking-Code`` header so that it never sits
    in a URL, a link or an access log."""
    report = services.find_report(request.headers.get("X-Tracking-Code", ""))
    if report is None:
        raise NotFound(_("No report has this tracking code."))
    return _tracked(report)


def _tracked(report: Case) -> dict[str, Any]:
    shown = {Audience.FILER.value, Audience.PARTIES.value}
    return {
        "number": report.number,
        "subject": report.subject,
        "status": report.status,
        "filed_at": report.filed_at,
        "answer": report.answer,
        "messages": [m for m in report.messages if m.audience in shown],
    }


class TrackMessageIn(Schema):
    class Meta:
        unknown = RAISE

    body = fields.String(required=True, validate=validate.Length(min=1, max=20000))


@blp.route("/track/messages", methods=["POST"])
@idempotent
@blp.doc(parameters=[TRACKING_CODE])
@blp.arguments(TrackMessageIn)
@blp.response(201, TrackOut)
@public
def track_message(body: dict[str, Any]) -> dict[str, Any]:
    """The reporter writes to the handlers with the tracking code (``X-Tracking-Code``), as on the tracking
    page; 409 once the report is closed."""
    report = services.find_report(request.headers.get("X-Tracking-Code", ""))
    if report is None:
        raise NotFound(_("No report has this tracking code."))
    if report.status in {s.value for s in CLOCKLESS_STATES}:
        raise Conflict(_("This report is closed."))
    services.post_message(report, actor=None, body=body["body"])
    db.session.commit()
    return _tracked(report)


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


# --- handling: the management office and regulators (the case page's actions, with its services) -----------


class CaseNoteIn(Schema):
    class Meta:
        unknown = RAISE

    note = fields.String(load_default="", validate=validate.Length(max=2000))


class CaseReasonIn(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class CaseForwardIn(CaseNoteIn):
    to_org_id = fields.Integer(
        required=True,
        validate=validate.Range(min=1, max=MAX_ROW_ID),
        metadata={"description": "the department (or, for a complaint, the regulator) it goes to"},
    )


class CaseAssignIn(CaseNoteIn):
    primary_id = fields.Integer(
        required=True, validate=validate.Range(min=1, max=MAX_ROW_ID), metadata={"description": "A角"}
    )
    backup_id = fields.Integer(
        required=True, validate=validate.Range(min=1, max=MAX_ROW_ID), metadata={"description": "B角"}
    )
    due_on = fields.Date(
        load_default=None,
        validate=validate.Range(min=dt.date(2000, 1, 1), max=dt.date(2099, 12, 31)),
        metadata={"description": "due at the end of this Beijing day"},
    )


class CaseAnswerIn(Schema):
    class Meta:
        unknown = RAISE

    answer = fields.String(required=True, validate=validate.Length(min=1, max=20000))


class ObjectionAnswerIn(CaseAnswerIn):
    changes_documents = fields.Boolean(
        load_default=False, metadata={"description": "the answer amends the tender documents"}
    )


class CaseMessageIn(Schema):
    class Meta:
        unknown = RAISE

    body = fields.String(required=True, validate=validate.Length(min=1, max=20000))
    audience = fields.String(
        load_default=Audience.PARTIES.value,
        validate=validate.OneOf([a.value for a in Audience]),
        metadata={"description": "who reads it; a handler asks the filer for materials with ``filer``"},
    )


class ComplaintInvestigateIn(CaseNoteIn):
    suspend = fields.Boolean(
        load_default=False, metadata={"description": "suspend the section's trade while investigating"}
    )


class ComplaintPauseIn(CaseNoteIn):
    reason = fields.String(
        required=True,
        validate=validate.OneOf([r.value for r in PauseReason]),
        metadata={
            "description": "``defect_fix``: the filer is asked to supply materials (补正); government "
            "procurement only (采购条例 Art. 58), refused for works complaints (条例 Art. 61: 422 "
            "``pause_not_excluded``)"
        },
    )


class ComplaintDecisionIn(Schema):
    class Meta:
        unknown = RAISE

    outcome = fields.String(required=True, validate=validate.OneOf(["upheld", "dismissed"]))
    decision = fields.String(required=True, validate=validate.Length(min=1, max=20000))
    remedy = fields.String(load_default=None, validate=validate.OneOf([r.value for r in Remedy]))
    groundless = fields.Boolean(load_default=False, metadata={"description": "a groundless complaint"})


def _visible_case(case_id: int) -> Case:
    """The case, 404 unless the caller may see it (the page's rule); what it may do is the service's."""
    row = db.session.get(Case, case_id)
    if row is None or not can_view(_me(), row):
        raise NotFound(_("No such case."))
    return row


def _done(row: Case) -> dict[str, Any]:
    db.session.commit()
    return _case_out(_me(), row)


def _organization(org_id: int, field: str) -> Organization:
    org = db.session.get(Organization, org_id)
    if org is None:
        raise DomainError(_("No such organization."), errors={field: [_("Unknown.")]})
    return org


def _colleague(user_id: int, field: str) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        raise DomainError(_("No such person."), errors={field: [_("Unknown.")]})
    return user


@blp.route("/cases/<int:case_id>/messages", methods=["POST"])
@idempotent
@blp.arguments(CaseMessageIn)
@blp.response(201, CaseDetailOut)
@require(Permission.COMPLAINTS_READ)
def post_message(body: dict[str, Any], case_id: int) -> dict[str, Any]:
    """Write in the case's thread to the audiences the caller's side may address; a handler asks the filer
    for materials (``audience: filer``) and may stop the clock for it (``/complaint/pause``)."""
    row = _visible_case(case_id)
    services.post_message(row, actor=_me(), body=body["body"], audience=body["audience"])
    return _done(row)


@blp.route("/cases/<int:case_id>/withdraw", methods=["POST"])
@blp.arguments(CaseReasonIn)
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_FILE)
def withdraw(body: dict[str, Any], case_id: int) -> dict[str, Any]:
    """The filer withdraws its case, with the reason."""
    row = _visible_case(case_id)
    services.withdraw(row, actor=_me(), reason=body["reason"])
    return _done(row)


@blp.route("/cases/<int:case_id>/objection-answer", methods=["POST"])
@blp.arguments(ObjectionAnswerIn)
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_ANSWER)
def answer_objection(body: dict[str, Any], case_id: int) -> dict[str, Any]:
    """The tenderer (or its agency) answers an objection (异议答复)."""
    row = _visible_case(case_id)
    services.answer_objection(
        row, actor=_me(), answer=body["answer"], changes_documents=body["changes_documents"]
    )
    return _done(row)


@blp.route("/cases/<int:case_id>/receive", methods=["POST"])
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_HANDLE)
def receive(case_id: int) -> dict[str, Any]:
    """首问: the first of the handling department to receive the case is responsible for it."""
    row = _visible_case(case_id)
    routing.receive(row, actor=_me())
    return _done(row)


@blp.route("/cases/<int:case_id>/forward", methods=["POST"])
@blp.arguments(CaseForwardIn)
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_HANDLE)
def forward(body: dict[str, Any], case_id: int) -> dict[str, Any]:
    """转办 to the competent department."""
    row = _visible_case(case_id)
    to_org = _organization(body["to_org_id"], "to_org")
    routing.forward(row, actor=_me(), to_org=to_org, note=body["note"])
    db.session.commit()
    return _case_out(_me(), row) if can_view(_me(), row) else _forwarded(row)


def _forwarded(row: Case) -> dict[str, Any]:
    """What the forwarding department still learns of a case it no longer handles."""
    out: dict[str, Any] = {name: getattr(row, name) for name in CaseOut().fields if name not in _RELATED}
    out.update(section=row.section, handling_org=row.handling_org, side=None, messages=[], events=[])
    return out


@blp.route("/cases/<int:case_id>/assign", methods=["POST"])
@blp.arguments(CaseAssignIn)
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_HANDLE)
def assign(body: dict[str, Any], case_id: int) -> dict[str, Any]:
    """交办 to a primary and a backup handler of the department, due at the end of ``due_on``."""
    from app.core.calendar import end_of_local_day

    row = _visible_case(case_id)
    routing.assign(
        row,
        actor=_me(),
        primary=_colleague(body["primary_id"], "primary"),
        backup=_colleague(body["backup_id"], "backup"),
        due_at=end_of_local_day(body["due_on"]) if body["due_on"] else None,
        note=body["note"],
    )
    return _done(row)


@blp.route("/cases/<int:case_id>/report-answer", methods=["POST"])
@blp.arguments(CaseAnswerIn)
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_HANDLE)
def answer_report(body: dict[str, Any], case_id: int) -> dict[str, Any]:
    """Answer a report; the reporter reads it with the tracking code."""
    row = _visible_case(case_id)
    services.answer_report(row, actor=_me(), answer=body["answer"])
    return _done(row)


@blp.route("/cases/<int:case_id>/close", methods=["POST"])
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_HANDLE)
def close(case_id: int) -> dict[str, Any]:
    row = _visible_case(case_id)
    services.close_case(row, actor=_me())
    return _done(row)


@blp.route("/cases/<int:case_id>/supervise", methods=["POST"])
@blp.arguments(CaseNoteIn)
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_SUPERVISE)
def supervise(body: dict[str, Any], case_id: int) -> dict[str, Any]:
    """督办: a supervision notice to the handlers, saying what is expected (``note``)."""
    row = _visible_case(case_id)
    routing.supervise(row, actor=_me(), note=body["note"])
    return _done(row)


@blp.route("/cases/<int:case_id>/complaint/accept", methods=["POST"])
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_DECIDE)
def accept(case_id: int) -> dict[str, Any]:
    """受理: the decision clock starts."""
    row = _visible_case(case_id)
    services.accept_complaint(row, actor=_me())
    return _done(row)


@blp.route("/cases/<int:case_id>/complaint/refuse", methods=["POST"])
@blp.arguments(CaseReasonIn)
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_DECIDE)
def refuse(body: dict[str, Any], case_id: int) -> dict[str, Any]:
    """不予受理, with the reason."""
    row = _visible_case(case_id)
    services.refuse_complaint(row, actor=_me(), reason=body["reason"])
    return _done(row)


@blp.route("/cases/<int:case_id>/complaint/transfer", methods=["POST"])
@blp.arguments(CaseForwardIn)
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_DECIDE)
def transfer(body: dict[str, Any], case_id: int) -> dict[str, Any]:
    """移送 a complaint to the competent regulator."""
    row = _visible_case(case_id)
    to_org = _organization(body["to_org_id"], "to_org")
    services.transfer_complaint(row, actor=_me(), to_org=to_org, note=body["note"])
    db.session.commit()
    return _case_out(_me(), row) if can_view(_me(), row) else _forwarded(row)


@blp.route("/cases/<int:case_id>/complaint/investigate", methods=["POST"])
@blp.arguments(ComplaintInvestigateIn)
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_DECIDE)
def investigate(body: dict[str, Any], case_id: int) -> dict[str, Any]:
    """Start the investigation, suspending the section's trade with ``suspend`` (暂停招标投标活动)."""
    row = _visible_case(case_id)
    services.start_investigation(row, actor=_me(), suspend=body["suspend"], note=body["note"])
    return _done(row)


@blp.route("/cases/<int:case_id>/complaint/pause", methods=["POST"])
@blp.arguments(ComplaintPauseIn)
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_DECIDE)
def pause(body: dict[str, Any], case_id: int) -> dict[str, Any]:
    """Stop the decision clock for a period that does not count (expert review, testing, appraisal, the
    filer supplying materials)."""
    row = _visible_case(case_id)
    services.pause_clock(row, actor=_me(), reason=body["reason"], note=body["note"])
    return _done(row)


@blp.route("/cases/<int:case_id>/complaint/unpause", methods=["POST"])
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_DECIDE)
def unpause(case_id: int) -> dict[str, Any]:
    row = _visible_case(case_id)
    services.resume_clock(row, actor=_me())
    return _done(row)


@blp.route("/cases/<int:case_id>/complaint/violation", methods=["POST"])
@blp.arguments(CaseNoteIn)
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_DECIDE)
def violation(body: dict[str, Any], case_id: int) -> dict[str, Any]:
    row = _visible_case(case_id)
    services.establish_violation(row, actor=_me(), note=body["note"])
    return _done(row)


@blp.route("/cases/<int:case_id>/complaint/publish", methods=["POST"])
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_DECIDE)
def publish(case_id: int) -> dict[str, Any]:
    """Publish the decision (personal data redacted)."""
    row = _visible_case(case_id)
    services.publish_decision(row, actor=_me())
    return _done(row)


@blp.route("/cases/<int:case_id>/complaint/decision", methods=["POST"])
@blp.arguments(ComplaintDecisionIn)
@blp.response(200, CaseDetailOut)
@require(Permission.COMPLAINTS_DECIDE)
def decide(body: dict[str, Any], case_id: int) -> Any:
    """Decide the complaint: upheld (with a ``remedy``) or dismissed (step-up: ``X-TOTP-Code``). 404
    first, then the step-up."""
    _visible_case(case_id)
    return step_up_required(_decide)(body, case_id)


def _decide(body: dict[str, Any], case_id: int) -> dict[str, Any]:
    row = _visible_case(case_id)
    data = services.DecisionInput(
        upheld=body["outcome"] == "upheld",
        decision=body["decision"],
        remedy=Remedy(body["remedy"]) if body["remedy"] else None,
        groundless=body["groundless"],
    )
    services.decide_complaint(row, data, actor=_me())
    return _done(row)
