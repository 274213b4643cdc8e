"""Pages of the complaints domain: parties file and track, tenderers answer, regulators decide on their
desk, the management office forwards, assigns and supervises, and the public reports and tracks by code."""

from __future__ import annotations

import datetime as dt
from typing import Any

import limits
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import or_, select
from werkzeug.wrappers import Response

from app.accounts.models import Organization, User
from app.accounts.principal import signed_in_user
from app.accounts.stepup import step_up_required
from app.core import storage, throttle
from app.core.bodies import FORM_OVERHEAD, body_limit
from app.core.calendar import local_date
from app.core.clock import now, parse_local
from app.core.db import db
from app.core.errors import DomainError
from app.core.labels import error_details
from app.core.permissions import Permission, Role, public, require

from . import clocks, routing, services
from .enums import CLOCKLESS_STATES, Audience, CaseKind, CaseStatus, Matter, PauseReason, Remedy
from .models import Case, CaseAttachment, CaseTransfer, CreditRecord
from .permissions import (
    can_act,
    can_answer_objection,
    can_coordinate,
    can_see_identity,
    can_supervise,
    can_view,
    is_filer,
    side_of,
    visible_audiences,
)
from .sections import suspension_limit

bp = Blueprint("complaints", __name__, url_prefix="/complaints")


def _user() -> User:
    user: User = current_user.user
    return user


def _case(case_id: int) -> Case:
    case = db.session.get(Case, case_id)
    if case is None or not can_view(_user(), case):
        abort(404)
    return case


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _back(case: Case) -> Response:
    return redirect(url_for("complaints.case_detail", case_id=case.id))


def _fail(case: Case, err: DomainError) -> Response:
    db.session.rollback()
    details = error_details(err.errors)
    flash(f"{err.message} {details}".strip(), "error")
    return _back(case)


# -- public: reports, tracking, published decisions ----------------------------------------------------------


def count_report_filing() -> None:
    """ASVS 2.4.1: anonymous filing is an unauthenticated write; one address cannot flood it. The counter is
    the only trace of the sender the platform keeps: keyed (an HMAC of the address, never the address), shared
    by all workers, forgotten when its window ends. Nothing else records where a report came from."""
    rule = limits.parse(str(current_app.config.get("REPORT_RATE_LIMIT") or "20 per hour"))
    subject = throttle.key("report", request.remote_addr or "-")
    throttle.hit(subject, limit=rule.amount, window=dt.timedelta(seconds=rule.get_expiry()))


@bp.route("/report", methods=["GET", "POST"])
@public
def report_form() -> ResponseReturnValue:
    values: dict[str, Any] = {"anonymous": True}
    errors: dict[str, Any] = {}
    if request.method == "POST":
        # Read first: a refusal (too many reports) shows the report as typed, to be sent later.
        values = {
            "subject": request.form.get("subject", ""),
            "facts": request.form.get("facts", ""),
            "anonymous": request.form.get("anonymous") == "1",
            "reporter_name": request.form.get("reporter_name", ""),
            "reporter_contact": request.form.get("reporter_contact", ""),
        }
        try:
            count_report_filing()
        except throttle.Throttled as err:
            db.session.rollback()
            page = render_template(
                "complaints/report_form.html", values=values, errors={}, message=err.message
            )
            return page, 429, {"Retry-After": str(err.retry_after)}
        actor = signed_in_user()
        try:
            report, code = services.file_report(services.ReportInput(**values), actor=actor)
        except DomainError as err:
            db.session.rollback()
            return render_template(
                "complaints/report_form.html", values=values, errors=err.errors, message=err.message
            ), 422
        db.session.commit()
        return render_template("complaints/report_filed.html", report=report, code=code)
    return render_template("complaints/report_form.html", values=values, errors=errors, message=None)


@bp.route("/track", methods=["GET", "POST"])
@public
def track() -> str | tuple[str, int]:
    if request.method == "GET":
        return render_template("complaints/track.html", report=None, code="")
    code = request.form.get("code", "")
    report = services.find_report(code)
    if report is None:
        return render_template("complaints/track.html", report=None, code="", not_found=True), 404
    body = request.form.get("body", "").strip()
    if body and report.status not in {s.value for s in CLOCKLESS_STATES}:
        services.post_message(report, actor=None, body=body)
        db.session.commit()
        flash(_("Your message was added."), "success")
    messages = [m for m in report.messages if m.audience in {Audience.FILER.value, Audience.PARTIES.value}]
    return render_template("complaints/track.html", report=report, code=code, messages=messages)


@bp.route("/decisions")
@public
def decisions() -> str:
    return render_template(
        "complaints/decisions.html", cases=services.published_decisions(), redact=services.redact
    )


# -- parties -------------------------------------------------------------------------------------------------


@bp.route("/")
@require(Permission.COMPLAINTS_OWN)
def mine() -> str:
    user = _user()
    if user.role == Role.BIDDER:
        cases = db.session.scalars(
            select(Case).where(Case.filer_org_id == user.org_id).order_by(Case.id.desc())
        )
    else:
        from app.projects.models import Project, Section

        sections = (
            select(Section.id)
            .join(Project)
            .where(or_(Project.owner_org_id == user.org_id, Project.agency_org_id == user.org_id))
        )
        cases = db.session.scalars(
            select(Case)
            .where(Case.section_id.in_(sections), Case.kind != CaseKind.REPORT.value, Case.status != "draft")
            .order_by(Case.id.desc())
        )
    return render_template("complaints/mine.html", cases=list(cases), now=now())


def _sections() -> list[Any]:
    """The sections a case may be about: published ones, and drafts whose prequalification is announced."""
    from app.projects.models import Section
    from app.projects.prequal.models import Prequalification

    announced = select(Prequalification.section_id).where(Prequalification.status != "draft")
    return list(
        db.session.scalars(
            select(Section)
            .where(or_(Section.status != "draft", Section.id.in_(announced)))
            .order_by(Section.id.desc())
        )
    )


def _form_input() -> services.CaseInput:
    return services.CaseInput(
        section_id=_int(request.form.get("section_id")),
        matter=request.form.get("matter", Matter.OTHER.value),
        knew_at=parse_local(request.form.get("knew_at")),
        prior_objection_id=_int(request.form.get("prior_objection_id")),
        by_agent=request.form.get("by_agent") == "1",
        cross_department=request.form.get("cross_department") == "1",
        content={name: request.form.get(name, "") for name in services.CONTENT_FIELDS},
    )


def _render_form(
    kind: CaseKind, case: Case | None, errors: dict[str, Any], message: str | None, status: int = 200
) -> tuple[str, int]:
    user = _user()
    prior = list(
        db.session.scalars(
            select(Case)
            .where(
                Case.kind == CaseKind.OBJECTION.value,
                Case.filer_org_id == user.org_id,
                Case.status != "draft",
            )
            .order_by(Case.id.desc())
        )
    )
    window = None
    if case is not None and kind is CaseKind.COMPLAINT and case.section is not None:
        window = services.complaint_window_for(case, services.case_calendar())
    html = render_template(
        "complaints/form.html",
        kind=kind.value,
        case=case,
        errors=errors,
        message=message,
        sections=_sections(),
        prior=prior,
        matters=list(Matter),
        window=window,
        preselect=_int(request.args.get("section")),
        required=services.COMPLAINT_REQUIRED,
    )
    return html, status


def _case_form(kind: CaseKind, case: Case | None) -> Response | tuple[str, int]:
    if request.method == "GET":
        return _render_form(kind, case, {}, None)
    user = _user()
    try:
        case = services.save_draft(kind, _form_input(), actor=user, case=case)
        upload = request.files.get("power_of_attorney")
        if upload is not None and upload.filename:
            att = services.add_attachment(
                case, actor=user, stream=upload.stream, filename=upload.filename, audience=Audience.FILER
            )
            services.set_power_of_attorney(case, att)
    except DomainError as err:
        db.session.rollback()
        return _render_form(kind, case, err.errors, err.message, 422)
    db.session.commit()  # the draft is kept whatever the checks below say
    if request.form.get("action") != "submit":
        flash(_("Draft saved."), "success")
        return redirect(url_for("complaints.edit_draft", case_id=case.id))
    try:
        if kind is CaseKind.OBJECTION:
            services.submit_objection(case, actor=user)
        else:
            services.submit_complaint(case, actor=user)
    except DomainError as err:
        db.session.rollback()
        case = db.session.get(Case, case.id)
        return _render_form(kind, case, err.errors, err.message, 422)
    db.session.commit()
    flash(_("Filed as %(number)s.", number=case.number), "success")
    if case.suspended_section:
        flash(_("The tender is suspended until your objection is answered."), "info")
    return _back(case)


@bp.route("/new/<kind>", methods=["GET", "POST"])
@require(Permission.COMPLAINTS_FILE)
@body_limit(services.MAX_ATTACHMENT_BYTES + FORM_OVERHEAD)  # a power of attorney
def new_case(kind: str) -> Response | tuple[str, int]:
    if kind not in {CaseKind.OBJECTION.value, CaseKind.COMPLAINT.value}:
        abort(404)
    return _case_form(CaseKind(kind), None)


@bp.route("/drafts/<int:case_id>", methods=["GET", "POST"])
@require(Permission.COMPLAINTS_FILE)
@body_limit(services.MAX_ATTACHMENT_BYTES + FORM_OVERHEAD)  # a power of attorney
def edit_draft(case_id: int) -> Response | tuple[str, int]:
    case = db.session.get(Case, case_id)
    if case is None or not is_filer(_user(), case):
        abort(404)
    if case.status != CaseStatus.DRAFT:
        return _back(case)
    return _case_form(case.kind_enum, case)


@bp.route("/cases/<int:case_id>")
@require(Permission.COMPLAINTS_READ)
def case_detail(case_id: int) -> str:
    case = _case(case_id)
    user = _user()
    audiences = {a.value for a in visible_audiences(user, case)}
    handler = side_of(user, case) == "handler"
    internal = handler or can_supervise(user, case)  # who supervises a case reads its internal history
    return render_template(
        "complaints/case.html",
        case=case,
        user=user,
        messages=[m for m in case.messages if m.audience in audiences],
        attachments=[a for a in case.attachments if a.audience in audiences],
        events=[e for e in case.events if internal or not e.internal],
        transfers=case.transfers if handler or user.role == Role.MANAGER else [],
        show_identity=can_see_identity(user, case),
        may_act=can_act(user, case),
        may_coordinate=can_coordinate(user, case),
        may_supervise=can_supervise(user, case),
        may_answer=can_answer_objection(user, case) and case.status == CaseStatus.SUBMITTED,
        is_filer=is_filer(user, case),
        side=side_of(user, case),
        departments=routing.departments(),
        staff=routing.department_staff(case.handling_org_id),
        regulators=[o for o in routing.departments() if o.kind == "regulator"],
        remedies=list(Remedy),
        pause_reasons=list(PauseReason),
        audiences=list(Audience),
        suspension_limit=suspension_limit(case),
        explanation_due=services.explanation_due(case),
        explained=any(
            m.author_side == "respondent" and case.accepted_at is not None and m.at >= case.accepted_at
            for m in case.messages
        ),
        now=now(),
    )


@bp.route("/cases/<int:case_id>/decision.pdf")
@require(Permission.COMPLAINTS_READ)
def decision_pdf(case_id: int) -> Any:
    """The decision on a complaint as a signed PDF, to whoever may read the case."""
    from app.core import printing as core_printing

    from . import printing

    case = _case(case_id)
    with core_printing.requested_locale():
        record = printing.printed_record(case)
        if record is None:
            abort(404)
        return core_printing.response(record)


@bp.route("/cases/<int:case_id>/messages", methods=["POST"])
@require(Permission.COMPLAINTS_READ)
@body_limit(services.MAX_ATTACHMENT_BYTES + FORM_OVERHEAD)  # an evidence attachment
def post_message(case_id: int) -> Response:
    case = _case(case_id)
    user = _user()
    try:
        upload = request.files.get("file")
        audience = request.form.get("audience", Audience.PARTIES.value)
        if audience not in {a.value for a in Audience}:
            audience = Audience.PARTIES.value
        if upload is not None and upload.filename:
            services.add_attachment(
                case, actor=user, stream=upload.stream, filename=upload.filename, audience=audience
            )
        if request.form.get("body", "").strip() or upload is None or not upload.filename:
            services.post_message(case, actor=user, body=request.form.get("body", ""), audience=audience)
    except DomainError as err:
        return _fail(case, err)
    db.session.commit()
    return _back(case)


@bp.route("/cases/<int:case_id>/attachments/<int:attachment_id>")
@require(Permission.COMPLAINTS_READ)
def attachment(case_id: int, attachment_id: int) -> Response:
    case = _case(case_id)
    att = db.session.get(CaseAttachment, attachment_id)
    if att is None or att.case_id != case.id or att.audience not in visible_audiences(_user(), case):
        abort(404)
    return send_file(
        storage.open_blob(att.blob_path),
        mimetype=att.content_type,
        as_attachment=True,
        download_name=att.filename,
    )


@bp.route("/cases/<int:case_id>/withdraw", methods=["POST"])
@require(Permission.COMPLAINTS_FILE)
def withdraw(case_id: int) -> Response:
    case = _case(case_id)
    try:
        services.withdraw(case, actor=_user(), reason=request.form.get("reason", ""))
    except DomainError as err:
        return _fail(case, err)
    db.session.commit()
    flash(_("Withdrawn."), "success")
    return _back(case)


@bp.route("/cases/<int:case_id>/answer-objection", methods=["POST"])
@require(Permission.COMPLAINTS_ANSWER)
def answer_objection(case_id: int) -> Response:
    case = _case(case_id)
    try:
        services.answer_objection(
            case,
            actor=_user(),
            answer=request.form.get("answer", ""),
            changes_documents=request.form.get("changes_documents") == "1",
        )
    except DomainError as err:
        return _fail(case, err)
    db.session.commit()
    flash(_("Answer sent."), "success")
    return _back(case)


# -- handling departments ------------------------------------------------------------------------------------


@bp.route("/cases/<int:case_id>/receive", methods=["POST"])
@require(Permission.COMPLAINTS_HANDLE)
def receive(case_id: int) -> Response:
    case = _case(case_id)
    try:
        routing.receive(case, actor=_user())
    except DomainError as err:
        return _fail(case, err)
    db.session.commit()
    return _back(case)


@bp.route("/cases/<int:case_id>/forward", methods=["POST"])
@require(Permission.COMPLAINTS_HANDLE)
def forward(case_id: int) -> Response:
    case = _case(case_id)
    to_org = db.session.get(Organization, _int(request.form.get("to_org")) or 0)
    try:
        if to_org is None:
            raise DomainError(_("Choose a department."), errors={"to_org": [_("Required.")]})
        routing.forward(case, actor=_user(), to_org=to_org, note=request.form.get("note", ""))
    except DomainError as err:
        return _fail(case, err)
    db.session.commit()
    flash(_("Forwarded to %(org)s.", org=to_org.name), "success")
    return redirect(url_for("complaints.board"))


@bp.route("/cases/<int:case_id>/assign", methods=["POST"])
@require(Permission.COMPLAINTS_HANDLE)
def assign(case_id: int) -> Response:
    case = _case(case_id)
    primary = db.session.get(User, _int(request.form.get("primary")) or 0)
    backup = db.session.get(User, _int(request.form.get("backup")) or 0)
    due_day = request.form.get("due_on")
    due_at = None
    try:
        if primary is None or backup is None:
            raise DomainError(
                _("Choose the primary and the backup handler."),
                errors={"primary": [_("Required.")], "backup": [_("Required.")]},
            )
        if due_day:
            try:
                due_at = _end_of(dt.date.fromisoformat(due_day))
            except (ValueError, OverflowError):  # not a date, or 9999-12-31 (its end is past the calendar)
                raise DomainError(_("Give a date."), errors={"due_on": [_("Invalid date.")]}) from None
        routing.assign(
            case,
            actor=_user(),
            primary=primary,
            backup=backup,
            due_at=due_at,
            note=request.form.get("note", ""),
        )
    except DomainError as err:
        return _fail(case, err)
    db.session.commit()
    flash(_("Assigned."), "success")
    return _back(case)


def _end_of(day: dt.date) -> dt.datetime:
    from app.core.calendar import end_of_local_day

    return end_of_local_day(day)


@bp.route("/cases/<int:case_id>/answer-report", methods=["POST"])
@require(Permission.COMPLAINTS_HANDLE)
def answer_report(case_id: int) -> Response:
    case = _case(case_id)
    try:
        services.answer_report(case, actor=_user(), answer=request.form.get("answer", ""))
    except DomainError as err:
        return _fail(case, err)
    db.session.commit()
    flash(_("Answer recorded; the reporter reads it with the tracking code."), "success")
    return _back(case)


@bp.route("/cases/<int:case_id>/close", methods=["POST"])
@require(Permission.COMPLAINTS_HANDLE)
def close(case_id: int) -> Response:
    case = _case(case_id)
    try:
        services.close_case(case, actor=_user())
    except DomainError as err:
        return _fail(case, err)
    db.session.commit()
    return _back(case)


@bp.route("/cases/<int:case_id>/supervise", methods=["POST"])
@require(Permission.COMPLAINTS_SUPERVISE)
def supervise(case_id: int) -> Response:
    case = _case(case_id)
    try:
        routing.supervise(case, actor=_user(), note=request.form.get("note", ""))
    except DomainError as err:
        return _fail(case, err)
    db.session.commit()
    flash(_("Supervision notice sent."), "success")
    return _back(case)


@bp.route("/cases/<int:case_id>/complaint/<action>", methods=["POST"])
@require(Permission.COMPLAINTS_DECIDE)
def complaint_action(case_id: int, action: str) -> Response:
    case = _case(case_id)
    user = _user()
    form = request.form
    try:
        if action == "accept":
            services.accept_complaint(case, actor=user)
        elif action == "refuse":
            services.refuse_complaint(case, actor=user, reason=form.get("reason", ""))
        elif action == "transfer":
            to_org = db.session.get(Organization, _int(form.get("to_org")) or 0)
            if to_org is None:
                raise DomainError(_("Choose a regulator."), errors={"to_org": [_("Required.")]})
            services.transfer_complaint(case, actor=user, to_org=to_org, note=form.get("note", ""))
        elif action == "investigate":
            services.start_investigation(
                case, actor=user, suspend=form.get("suspend") == "1", note=form.get("note", "")
            )
        elif action == "pause":
            reason = form.get("reason", "")
            if reason not in {r.value for r in PauseReason}:
                raise DomainError(_("Choose why the clock stops."), errors={"reason": [_("Required.")]})
            services.pause_clock(case, actor=user, reason=reason, note=form.get("note", ""))
        elif action == "unpause":
            services.resume_clock(case, actor=user)
        elif action == "violation":
            services.establish_violation(case, actor=user, note=form.get("note", ""))
        elif action == "publish":
            services.publish_decision(case, actor=user)
        else:
            abort(404)
    except DomainError as err:
        return _fail(case, err)
    db.session.commit()
    return _back(case)


@bp.route("/cases/<int:case_id>/decide", methods=["POST"])
@require(Permission.COMPLAINTS_DECIDE)
@step_up_required
def decide(case_id: int) -> Response:
    case = _case(case_id)
    form = request.form
    remedy = form.get("remedy") or None
    try:
        data = services.DecisionInput(
            upheld=form.get("outcome") == "upheld",
            decision=form.get("decision", ""),
            remedy=Remedy(remedy) if remedy in {r.value for r in Remedy} else None,
            groundless=form.get("groundless") == "1",
        )
        services.decide_complaint(case, data, actor=_user())
    except DomainError as err:
        return _fail(case, err)
    db.session.commit()
    flash(_("Decision recorded."), "success")
    return _back(case)


@bp.route("/desk")
@require(Permission.COMPLAINTS_DECIDE)
def desk() -> str:
    """The regulator's complaint desk: its complaints by due date, overdue first; objections on its trades."""
    user = _user()
    open_states = [s.value for s in CLOCKLESS_STATES]
    complaints = list(
        db.session.scalars(
            select(Case)
            .where(
                Case.kind == CaseKind.COMPLAINT.value,
                Case.handling_org_id == user.org_id,
                Case.status != "draft",
            )
            .order_by(Case.due_at.is_(None), Case.due_at, Case.id)
        )
    )
    from app.projects.models import Project, Section

    supervised = select(Section.id).join(Project).where(Project.regulator_org_id == user.org_id)
    objections = list(
        db.session.scalars(
            select(Case)
            .where(
                Case.kind == CaseKind.OBJECTION.value,
                Case.section_id.in_(supervised),
                Case.status.not_in(open_states),
            )
            .order_by(Case.due_at)
        )
    )
    reports = list(
        db.session.scalars(
            select(Case).where(
                Case.kind == CaseKind.REPORT.value,
                Case.handling_org_id == user.org_id,
                Case.status.not_in(open_states),
            )
        )
    )
    credit = list(
        db.session.scalars(
            select(CreditRecord)
            .where(CreditRecord.regulator_org_id == user.org_id)
            .order_by(CreditRecord.id.desc())
        )
    )
    return render_template(
        "complaints/desk.html",
        complaints=complaints,
        objections=objections,
        reports=reports,
        credit=credit,
        now=now(),
        open_states=open_states,
    )


@bp.route("/board")
@require(Permission.COMPLAINTS_SUPERVISE)
def board() -> str:
    """The supervision board (督办): reports to forward and assign, every open case by department, overdue
    and stalled cases first."""
    user = _user()
    open_states = [s.value for s in CLOCKLESS_STATES]
    stmt = select(Case).where(Case.status.not_in(open_states)).order_by(Case.due_at.is_(None), Case.due_at)
    if user.role != Role.MANAGER:
        stmt = stmt.where(Case.handling_org_id == user.org_id)
    cases = list(db.session.scalars(stmt))
    calendar = services.case_calendar()
    at = now()
    stalled = {
        c.id for c in cases if c.last_activity_at and at >= clocks.stalled_since(c.last_activity_at, calendar)
    }
    incoming = [c for c in cases if c.kind == CaseKind.REPORT and c.handling_org_id == user.org_id]
    transfers = list(db.session.scalars(select(CaseTransfer).order_by(CaseTransfer.id.desc()).limit(30)))
    return render_template(
        "complaints/board.html",
        cases=cases,
        incoming=incoming,
        stalled=stalled,
        now=at,
        transfers=transfers if user.role == Role.MANAGER else [],
        staff=routing.department_staff(user.org_id),
        today=local_date(at),
    )


@bp.route("/absences", methods=["POST"])
@require(Permission.COMPLAINTS_HANDLE)
def absence() -> Response:
    user = _user()
    who = db.session.get(User, _int(request.form.get("user_id")) or 0)
    try:
        first = dt.date.fromisoformat(request.form.get("first_day", ""))
        last = dt.date.fromisoformat(request.form.get("last_day", ""))
    except ValueError:
        flash(_("Give the first and last day of the leave."), "error")
        return redirect(url_for("complaints.board"))
    try:
        if who is None:
            raise DomainError(_("Choose the handler."))
        routing.record_absence(who, first, last, actor=user, note=request.form.get("note", ""))
    except DomainError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("complaints.board"))
    db.session.commit()
    flash(_("Leave recorded; the backup acts meanwhile."), "success")
    return redirect(url_for("complaints.board"))
