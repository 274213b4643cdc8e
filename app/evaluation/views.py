"""Pages of the evaluation: the expert's workspace (sign-in and declaration, documents, scoring, report
signing), the tenderer's publicity and award, the staff monitor and archive, and the public candidates and
awards. Thin handlers: load (404), check, call one service, commit, render."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.accounts.models import User
from app.core import storage
from app.core.clock import CST, now, to_local
from app.core.db import db
from app.core.errors import DomainError
from app.core.labels import flash_refusal
from app.core.permissions import Permission, Role, public, require
from app.projects.models import Project, Section

from . import archive, documents, endings, panel, permissions, procurement, scoring, services
from .enums import EvaluationStatus
from .models import Evaluation, PanelMember, PanelRepresentative, SecurityRefund

bp = Blueprint("evaluation", __name__, url_prefix="/evaluation")


def _user() -> User:
    user: User = current_user.user
    return user


def _section(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None:
        abort(404)
    return section


def _evaluation(section: Section) -> Evaluation:
    ev = services.evaluation_for(section)
    if ev is None:
        abort(404)
    return ev


# -- expert workspace ------------------------------------------------------------------------------------


def _expert_section(section_id: int) -> Section:
    """A section whose panel the user sits on: a drawn expert or a named tenderer representative."""
    section = _section(section_id)
    if not permissions.is_panel_member(_user(), section):
        abort(404)
    return section


@bp.get("/")
@require(Permission.EVALUATION_SCORE)
def mine() -> ResponseReturnValue:
    return render_template("evaluation/mine.html", rows=services.evaluations_of_member(_user()))


@bp.get("/sections/<int:section_id>")
@require(Permission.EVALUATION_SCORE)
def workspace(section_id: int) -> ResponseReturnValue:
    section = _expert_section(section_id)
    user = _user()
    ev = services.evaluation_for(section)
    member = None
    if ev is not None:
        member = services.member_of(ev, user) or services.replaced_member_of(ev, user)
    seat = services.seat_of_user(section, user) if user.role == Role.EXPERT else None
    draw = services._draw_of(section)
    ready = ev is not None or (
        section.status == "opened" and draw is not None and now() >= draw.evaluation_starts_at
    )
    bids = services.bids_of(section) if ev is not None and member is not None and member.counts else []
    sheet = services.sheet_of(member) if member is not None else scoring.Sheet(0)
    flagged = [
        o for o in (services.outliers(ev) if ev is not None else []) if member and o[0].id == member.id
    ]
    return render_template(
        "evaluation/workspace.html",
        section=section,
        ev=ev,
        member=member,
        seat=seat,
        ready=ready,
        bids=bids,
        entries=services.all_entries(section) if ready else [],
        documents={b.org_id: services.documents_of(section, b.org_id) for b in bids},
        tender_documents=section.current_documents if bids else [],
        sheet=sheet,
        subjective=scoring.subjective_criteria(ev.criteria) if ev is not None else [],
        flagged=flagged,
        is_leader=ev is not None and services.is_leader(ev, member),
        all_submitted=ev is not None and services.all_submitted(ev),
        outliers=services.outliers(ev) if ev is not None else [],
        panel_problems=panel.composition_problems(ev) if ev is not None and ev.status == "sign_in" else [],
        is_representative=user.role == Role.TENDERER,
    )


@bp.post("/sections/<int:section_id>/sign-in")
@require(Permission.EVALUATION_SCORE)
def sign_in(section_id: int) -> ResponseReturnValue:
    section = _expert_section(section_id)
    conflict = request.form.get("declaration") == "conflict"
    try:
        services.sign_in(section, actor=_user(), conflict=conflict, note=request.form.get("note", ""))
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".workspace", section_id=section.id))


def _member(section: Section) -> tuple[Evaluation, Any]:
    ev = _evaluation(section)
    member = services.member_of(ev, _user())
    if member is None:
        abort(404)
    return ev, member


@bp.post("/sections/<int:section_id>/scores")
@require(Permission.EVALUATION_SCORE)
def save_scores(section_id: int) -> ResponseReturnValue:
    section = _expert_section(section_id)
    ev, member = _member(section)
    form = request.form
    qualification: dict[int, tuple[bool, str]] = {}
    points: dict[int, dict[str, Any]] = {}
    for bid in services.bids_of(section):
        verdict = form.get(f"qualified_{bid.org_id}")
        if verdict in ("pass", "fail"):
            qualification[bid.org_id] = (verdict == "pass", form.get(f"reason_{bid.org_id}", ""))
        for c in scoring.subjective_criteria(ev.criteria):
            points.setdefault(bid.org_id, {})[str(c["name"])] = form.get(f"points_{bid.org_id}_{c['name']}")
    try:
        services.save_scores(member, actor=_user(), qualification=qualification, points=points)
        if form.get("action") == "submit":
            services.submit(member, actor=_user())
            flash(_("Your scores are submitted and locked."), "success")
        else:
            flash(_("Draft saved."), "success")
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".workspace", section_id=section.id))


@bp.post("/sections/<int:section_id>/extension")
@require(Permission.EVALUATION_SCORE)
def extension(section_id: int) -> ResponseReturnValue:
    section = _expert_section(section_id)
    _ev, member = _member(section)
    try:
        granted = services.request_extension(member, actor=_user())
        db.session.commit()
        flash(
            _("The evaluation time was extended.") if granted else _("Your request is recorded."), "success"
        )
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".workspace", section_id=section.id))


@bp.post("/sections/<int:section_id>/explain/<int:org_id>")
@require(Permission.EVALUATION_SCORE)
def explain(section_id: int, org_id: int) -> ResponseReturnValue:
    section = _expert_section(section_id)
    _ev, member = _member(section)
    try:
        services.explain(member, org_id, request.form.get("explanation", ""), actor=_user())
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".workspace", section_id=section.id))


@bp.post("/sections/<int:section_id>/report/draw-up")
@require(Permission.EVALUATION_SCORE)
def draw_up(section_id: int) -> ResponseReturnValue:
    section = _expert_section(section_id)
    ev, _member_row = _member(section)
    try:
        services.draw_up_report(ev, actor=_user())
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".workspace", section_id=section.id))


@bp.post("/sections/<int:section_id>/report/decide")
@require(Permission.EVALUATION_SCORE)
def decide(section_id: int) -> ResponseReturnValue:
    section = _expert_section(section_id)
    _ev, member = _member(section)
    try:
        services.decide(
            member,
            actor=_user(),
            sign=request.form.get("decision") == "sign",
            dissent=request.form.get("dissent", ""),
        )
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".workspace", section_id=section.id))


@bp.post("/sections/<int:section_id>/report/close")
@require(Permission.EVALUATION_SCORE)
def close(section_id: int) -> ResponseReturnValue:
    section = _expert_section(section_id)
    ev, _member_row = _member(section)
    try:
        services.close_report(ev, actor=_user())
        db.session.commit()
        flash(_("The report is closed and sent to the tenderer."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".workspace", section_id=section.id))


@bp.get("/sections/<int:section_id>/bids/<int:envelope_id>")
@require(Permission.EVALUATION_SCORE)
def bid_document(section_id: int, envelope_id: int) -> ResponseReturnValue:
    """A decrypted bid document of this section, streamed from the at-rest file; every view is audited."""
    from app.bidding.opening import read_document

    section = _expert_section(section_id)
    ev, member = _member(section)
    env = documents.open_bid_document(section, ev, member, envelope_id, actor=_user())
    db.session.commit()
    resp = Response(stream_with_context(read_document(env)), mimetype="application/octet-stream")
    resp.headers["Content-Disposition"] = f'attachment; filename="bid-{env.id}.bin"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("/sections/<int:section_id>/tender-documents/<int:doc_id>")
@require(Permission.EVALUATION_SCORE)
def tender_document(section_id: int, doc_id: int) -> ResponseReturnValue:
    section = _expert_section(section_id)
    ev, _member_row = _member(section)
    doc = documents.open_tender_document(section, ev, doc_id, actor=_user())
    db.session.commit()
    resp = Response(stream_with_context(storage.iter_blob(doc.blob_path)), mimetype=doc.content_type)
    resp.headers["Content-Disposition"] = f'attachment; filename="document-{doc.id}"'
    return resp


# -- the report ------------------------------------------------------------------------------------------


@bp.get("/sections/<int:section_id>/report")
@require(Permission.EVALUATION_REPORT_READ)
def report(section_id: int) -> ResponseReturnValue:
    section = _section(section_id)
    ev = _evaluation(section)
    if not permissions.can_read_report(_user(), section, ev) or ev.report_path is None:
        abort(404)
    resp = Response(b"".join(storage.iter_blob(ev.report_path)), mimetype="text/html")
    resp.headers["X-Report-SHA256"] = ev.report_sha256 or ""
    return resp


@bp.get("/sections/<int:section_id>/archive.zip")
@require(Permission.EVALUATION_REPORT_READ)
def archive_download(section_id: int) -> ResponseReturnValue:
    section = _section(section_id)
    ev = _evaluation(section)
    if not permissions.can_download_archive(_user(), section, ev) or ev.archive_path is None:
        abort(404)
    resp = Response(stream_with_context(storage.iter_blob(ev.archive_path)), mimetype="application/zip")
    resp.headers["Content-Disposition"] = f'attachment; filename="archive-{section.code}.zip"'
    return resp


# -- tenderer --------------------------------------------------------------------------------------------


def _tenderer_section(section_id: int) -> Section:
    section = _section(section_id)
    if not permissions.is_section_tenderer(_user(), section):
        abort(404)
    return section


@bp.get("/manage")
@require(Permission.EVALUATION_PUBLISH)
def manage_list() -> ResponseReturnValue:
    org = _user().org_id
    rows = db.session.execute(
        select(Section, Evaluation)
        .join(Evaluation, Evaluation.section_id == Section.id)
        .join(Project, Project.id == Section.project_id)
        .where((Project.owner_org_id == org) | (Project.agency_org_id == org))
        .order_by(Evaluation.started_at.desc())
    ).all()
    forming = db.session.scalars(
        select(Section)
        .join(Project, Project.id == Section.project_id)
        .where(
            (Project.owner_org_id == org) | (Project.agency_org_id == org),
            Section.status.in_(["published", "bidding_closed", "opening", "opened", "evaluating"]),
        )
        .order_by(Section.id)
    ).all()
    panels = [(s, panel.representative_seats(s), len(panel.active_representatives(s))) for s in forming]
    return render_template("evaluation/manage_list.html", rows=rows, panels=[p for p in panels if p[1] > 0])


@bp.route("/manage/<int:section_id>/panel", methods=["GET", "POST"])
@require(Permission.EVALUATION_REPRESENTATIVES)
def manage_panel(section_id: int) -> ResponseReturnValue:
    """The tenderer names its representatives to the panel's non-pool seats (法 Art. 37)."""
    section = _tenderer_section(section_id)
    if request.method == "POST":
        user = db.session.get(User, int(request.form.get("user_id", "0") or 0))
        try:
            if user is None:
                raise DomainError(_("Choose an account of the tenderer."))
            panel.name_representative(section, user, actor=_user())
            db.session.commit()
            flash(_("The representative is named."), "success")
        except DomainError as err:
            db.session.rollback()
            flash_refusal(err)
        return redirect(url_for(".manage_panel", section_id=section.id))
    size, pool = panel.composition(section)
    ev = services.evaluation_for(section)
    reps = panel.active_representatives(section)
    named = {r.user_id for r in reps}
    members = {m.representative_id: m for m in ev.members} if ev is not None else {}
    return render_template(
        "evaluation/manage_panel.html",
        section=section,
        size=size,
        pool=pool,
        reps=[(r, db.session.get(User, r.user_id), members.get(r.id)) for r in reps],
        candidates=[u for u in panel.candidates_for_representative(section) if u.id not in named],
        ev=ev,
    )


@bp.post("/manage/<int:section_id>/panel/<int:rep_id>/withdraw")
@require(Permission.EVALUATION_REPRESENTATIVES)
def withdraw_representative(section_id: int, rep_id: int) -> ResponseReturnValue:
    section = _tenderer_section(section_id)
    rep = db.session.get(PanelRepresentative, rep_id)
    if rep is None or rep.section_id != section.id:
        abort(404)
    try:
        panel.withdraw_representative(rep, actor=_user(), reason=request.form.get("reason", ""))
        db.session.commit()
        flash(_("The representative is withdrawn."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".manage_panel", section_id=section.id))


@bp.get("/manage/<int:section_id>")
@require(Permission.EVALUATION_PUBLISH)
def manage(section_id: int) -> ResponseReturnValue:
    section = _tenderer_section(section_id)
    ev = _evaluation(section)
    return render_template(
        "evaluation/manage.html",
        section=section,
        ev=ev,
        candidates=endings.candidates_for_publicity(ev),
        rejected=endings.rejected_bids(ev) if ev.report_sha256 else [],
        needs_details=not endings.is_procurement(section),
        report_state=endings.report_state(ev),
        publish_deadline=services.publish_deadline(ev),
        blockers=services.award_blockers(section)
        if ev.status in (EvaluationStatus.PUBLICITY, EvaluationStatus.REPORTED)
        else [],
        contract_blockers=procurement.contract_blockers(section),
        result_announcement=ev.notice_kind == "result_announcement",
        announce_deadline=procurement.announce_deadline(ev),
        state_funded=services.is_state_funded(section),
        panel=services.panel_public(ev),
        can_read_report=permissions.can_read_report(_user(), section, ev),
        now=now(),
    )


@bp.post("/manage/<int:section_id>/publish")
@require(Permission.EVALUATION_PUBLISH)
def publish(section_id: int) -> ResponseReturnValue:
    section = _tenderer_section(section_id)
    ev = _evaluation(section)
    details = {
        c.rank: endings.CandidateDetails(
            project_manager=request.form.get(f"project_manager_{c.rank}", ""),
            pm_certificate=request.form.get(f"pm_certificate_{c.rank}", ""),
            qualifications=request.form.get(f"qualifications_{c.rank}", ""),
        )
        for c in ev.candidates
    }
    try:
        services.publish_candidates(ev, actor=_user(), details=details)
        db.session.commit()
        flash(_("The candidates are published."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".manage", section_id=section.id))


@bp.post("/manage/<int:section_id>/announce")
@require(Permission.EVALUATION_AWARD)
def announce(section_id: int) -> ResponseReturnValue:
    """Government procurement: confirm the supplier and publish the result announcement (the award)."""
    section = _tenderer_section(section_id)
    ev = _evaluation(section)
    try:
        rank = int(request.form.get("rank", "1") or 1)
    except ValueError:
        rank = 0
    try:
        procurement.announce_result(ev, actor=_user(), rank=rank, reason=request.form.get("reason", ""))
        db.session.commit()
        flash(_("The result announcement is published and the award letters are sent."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".manage", section_id=section.id))


@bp.post("/manage/<int:section_id>/written-report")
@require(Permission.EVALUATION_AWARD)
def written_report(section_id: int) -> ResponseReturnValue:
    """The tenderer's written report to the regulator (招标投标法 Art. 47)."""
    section = _tenderer_section(section_id)
    ev = _evaluation(section)
    data = endings.ReportInput(
        scope=request.form.get("scope", ""),
        method_and_media=request.form.get("method_and_media", ""),
        documents_summary=request.form.get("documents_summary", ""),
        remarks=request.form.get("remarks", ""),
    )
    try:
        endings.file_written_report(ev, data, actor=_user())
        db.session.commit()
        flash(_("The written report is filed with the regulator."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".manage", section_id=section.id))


@bp.get("/sections/<int:section_id>/written-report")
@require(Permission.EVALUATION_REPORT_READ)
def written_report_document(section_id: int) -> ResponseReturnValue:
    """The filed written report: the tenderer side and the supervising regulator (and center staff)."""
    section = _section(section_id)
    ev = _evaluation(section)
    user = _user()
    report = ev.written_report
    allowed = permissions.is_section_tenderer(user, section) or permissions.can_monitor(user, section)
    if report is None or report.blob_path is None or not allowed:
        abort(404)
    resp = Response(b"".join(storage.iter_blob(report.blob_path)), mimetype="text/html")
    resp.headers["X-Report-SHA256"] = report.sha256 or ""
    return resp


@bp.get("/sections/<int:section_id>/<document>.pdf")
@require(Permission.EVALUATION_REPORT_READ)
def document_pdf(section_id: int, document: str) -> ResponseReturnValue:
    """The evaluation report, the written report or the award notice as a signed PDF, to whoever may read the
    page it prints (the report: :func:`permissions.can_read_report`; the written report and the award notice:
    the tenderer side and the supervisors)."""
    from app.core import printing as core_printing

    from . import printing

    section = _section(section_id)
    ev = _evaluation(section)
    user = _user()
    if document == "report":
        allowed = permissions.can_read_report(user, section, ev)
    else:
        allowed = permissions.is_section_tenderer(user, section) or permissions.can_monitor(user, section)
    kind = printing.DOCUMENTS.get(document)
    if kind is None:
        abort(404)
    with core_printing.requested_locale():
        record = printing.printed_record(kind, section, ev) if allowed else None
        if record is None:
            abort(404)
        return core_printing.response(record)


@bp.post("/manage/<int:section_id>/award")
@require(Permission.EVALUATION_AWARD)
def award(section_id: int) -> ResponseReturnValue:
    section = _tenderer_section(section_id)
    ev = _evaluation(section)
    try:
        rank = int(request.form.get("rank", "1") or 1)
    except ValueError:
        rank = 0
    try:
        services.award(ev, actor=_user(), rank=rank, reason=request.form.get("reason", ""))
        db.session.commit()
        flash(_("The award is issued."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".manage", section_id=section.id))


@bp.post("/manage/<int:section_id>/contract")
@require(Permission.EVALUATION_AWARD)
def contract(section_id: int) -> ResponseReturnValue:
    section = _tenderer_section(section_id)
    ev = _evaluation(section)
    signed_at = None
    raw = request.form.get("signed_on", "")
    if raw:
        try:
            day = dt.date.fromisoformat(raw)
            signed_at = dt.datetime.combine(day, dt.time(12), tzinfo=CST).astimezone(dt.UTC)
            if day == to_local(now()).date():  # signed this morning counts: noon is not yet, now is
                signed_at = min(signed_at, now())
        except ValueError:
            flash(_("Enter a date."), "error")
            return redirect(url_for(".manage", section_id=section.id))
    try:
        services.record_contract(ev, actor=_user(), signed_at=signed_at)
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".manage", section_id=section.id))


@bp.post("/manage/<int:section_id>/refunds/<int:refund_id>")
@require(Permission.EVALUATION_AWARD)
def refund(section_id: int, refund_id: int) -> ResponseReturnValue:
    section = _tenderer_section(section_id)
    ev = _evaluation(section)
    row = db.session.get(SecurityRefund, refund_id)
    if row is None or row.evaluation_id != ev.id:
        abort(404)
    try:
        services.record_refund(row, actor=_user())
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".manage", section_id=section.id))


# -- center staff and regulators -------------------------------------------------------------------------


@bp.get("/monitor")
@require(Permission.EVALUATION_MONITOR)
def monitor_list() -> ResponseReturnValue:
    user = _user()
    rows = [
        row
        for row in db.session.execute(
            select(Section, Evaluation)
            .join(Evaluation, Evaluation.section_id == Section.id)
            .order_by(Evaluation.started_at.desc())
        ).all()
        if permissions.can_monitor(user, row[0])
    ]
    return render_template("evaluation/monitor_list.html", rows=rows)


@bp.get("/monitor/<int:section_id>")
@require(Permission.EVALUATION_MONITOR)
def monitor(section_id: int) -> ResponseReturnValue:
    section = _section(section_id)
    if not permissions.can_monitor(_user(), section):
        abort(404)
    ev = _evaluation(section)
    return render_template(
        "evaluation/monitor.html",
        section=section,
        ev=ev,
        outliers=services.outliers(ev),
        report_state=endings.report_state(ev),
        blockers=services.award_blockers(section),
        panel_size=panel.composition(section)[0],
        panel_problems=panel.composition_problems(ev),
        absent=panel.absent_members(ev),
        names=panel.member_names(ev),
        can_replace=_user().role == Role.CENTER_STAFF,
        now=now(),
    )


@bp.post("/monitor/<int:section_id>/members/<int:member_id>/absent")
@require(Permission.EVALUATION_REPLACE)
def mark_absent(section_id: int, member_id: int) -> ResponseReturnValue:
    """Center staff replace a member who did not sign in (from the backups, a new draw, or the tenderer)."""
    section = _section(section_id)
    ev = _evaluation(section)
    member = db.session.get(PanelMember, member_id)
    if member is None or member.evaluation_id != ev.id:
        abort(404)
    try:
        panel.mark_absent(member, actor=_user())
        db.session.commit()
        flash(_("The absent member is replaced."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".monitor", section_id=section.id))


@bp.post("/monitor/<int:section_id>/archive")
@require(Permission.EVALUATION_ARCHIVE)
def make_archive(section_id: int) -> ResponseReturnValue:
    section = _section(section_id)
    ev = _evaluation(section)
    try:
        archive.archive(ev, actor=_user())
        db.session.commit()
        flash(_("The archive bundle is sealed."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".monitor", section_id=section.id))


# -- public ----------------------------------------------------------------------------------------------


@bp.get("/public")
@public
def public_list() -> ResponseReturnValue:
    return render_template("evaluation/public_list.html", rows=services.public_sections(), now=now())


@bp.get("/public/<int:section_id>")
@public
def public_section(section_id: int) -> ResponseReturnValue:
    section = _section(section_id)
    ev = services.evaluation_for(section)
    if ev is None or not services.is_public(ev):
        abort(404)
    return render_template(
        "evaluation/public_section.html",
        section=section,
        ev=ev,
        candidates=endings.candidates_for_publicity(ev),
        rejected=endings.rejected_bids(ev),
        panel=services.panel_public(ev),
        winner=services.org_name(ev.winner_org_id),
        now=now(),
        zero=Decimal("0"),
    )
