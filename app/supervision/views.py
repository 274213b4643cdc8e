"""Supervision pages: live dashboard and stream, section timeline, alerts desk, interventions, assessment,
witness cosignatures, and the public checkpoint page."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from app.accounts.enums import Industry
from app.accounts.models import Organization
from app.accounts.stepup import step_up_required
from app.core import audit, streams
from app.core.calendar import end_of_local_day, local_date
from app.core.clock import now
from app.core.db import db
from app.core.errors import DomainError
from app.core.labels import error_details
from app.core.models import AuditCheckpoint
from app.core.permissions import Permission, public, require
from app.projects.models import Project, Section

from . import alerts, assessment, live, permissions, schemas, services, timeline
from .enums import AlertRule, AlertStatus
from .models import RectificationNotice, SupervisionAlert

bp = Blueprint("supervision", __name__, url_prefix="/supervision")


def _section(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None:
        abort(404)
    return section


def _acting_on(section_id: int) -> Section:
    """The section, if the signed-in regulator supervises it (403 otherwise: others may only watch)."""
    section = _section(section_id)
    if not permissions.can_act_on(current_user.user, section):
        abort(403)
    return section


def _attempt(action: Callable[[], Any], success: str) -> bool:
    """Run one service call and commit; a refused rule becomes a flash message on the page."""
    try:
        action()
    except DomainError as err:
        db.session.rollback()
        detail = error_details(err.errors)
        flash(f"{err.message} {detail}".strip(), "error")
        return False
    db.session.commit()
    flash(success, "success")
    return True


# -- live monitoring ----------------------------------------------------------------------------------------


def _filters() -> tuple[dict[str, Any], live.StreamFilter]:
    args = schemas.load(schemas.FilterArgs(), request.args)
    sections = live.section_ids(industry=args["industry"] or None, project_id=args["project"])
    return args, live.StreamFilter(sections, args["type"] or "")


@bp.route("/")
@require(Permission.SUPERVISION_MONITOR)
def dashboard() -> str:
    args, flt = _filters()
    board = live.dashboard(flt.sections)
    board.recent = [d for d in board.recent if flt.matches(d)]
    projects = db.session.scalars(select(Project).order_by(Project.id.desc()).limit(200)).all()
    stream_args = {k: v for k, v in args.items() if v}
    return render_template(
        "supervision/dashboard.html",
        board=board,
        args=args,
        industries=list(Industry),
        projects=projects,
        stream_url=url_for("supervision.stream", **stream_args),
        open_alerts=alerts.open_alert_counts(),
        live_labels=live_labels(),
        summary=live.summary(board, flt.sections, user=current_user),
        section_names=live.section_names(board),
    )


def live_labels() -> dict[str, object]:
    """The words the live table's script needs for the codes of a leaf, in the page's language."""
    from app.core.labels import tables

    t = tables()
    return {
        "action": t["action"],
        "role": t["role"],
        "audit_object": t["audit_object"],
        "other": _("(other)"),
    }


@bp.route("/stream")
@require(Permission.SUPERVISION_MONITOR)
def stream() -> Response:
    """Server-Sent Events: one event per audit leaf (``id:`` = leaf index), replay after ``Last-Event-ID``."""
    _, flt = _filters()
    raw = request.headers.get("Last-Event-ID") or request.args.get("last_id")
    try:
        last = int(raw) if raw not in (None, "") else None
    except ValueError:
        last = None
    seconds = live.stream_seconds(request.args.get("seconds"))
    keepalive = float(current_app.config.get("SUPERVISION_SSE_KEEPALIVE") or 15)
    return streams.respond(
        seconds=seconds,
        plan=lambda _lease: live.plan(flt, last_event_id=last, seconds=seconds, keepalive=keepalive),
        body=lambda: live.stream(flt, last_event_id=last, seconds=seconds, keepalive=keepalive),
    )


# -- section timeline -------------------------------------------------------------------------------------


@bp.route("/sections/<int:section_id>/timeline")
@require(Permission.SUPERVISION_TIMELINE)
def section_timeline(section_id: int) -> str:
    section = _section(section_id)
    tl = timeline.build(section.id)
    return render_template(
        "supervision/timeline.html",
        section=section,
        tl=tl,
        notices=services.notices_of(section.id),
        verified=request.args.get("verified"),
    )


@bp.route("/sections/<int:section_id>/verify", methods=["POST"])
@require(Permission.SUPERVISION_TIMELINE)
def verify_section(section_id: int) -> BaseResponse:
    section = _section(section_id)
    tl = timeline.build(section.id)
    verdict = tl.verdict
    if verdict == "ok":
        flash(_("All %(n)d leaves of this section verify.", n=len(tl.entries)), "success")
    elif verdict == "partial":
        flash(
            _(
                "%(ok)d leaves verify; %(n)d newer ones wait for the next checkpoint.",
                ok=len(tl.proven),
                n=len(tl.pending),
            ),
            "success",
        )
    elif verdict == "unsigned":
        flash(_("No checkpoint has been signed yet: nothing could be proven."), "warning")
    elif verdict == "empty":
        flash(_("This section has no audit leaves yet."), "info")
    else:
        flash(_("Verification failed for %(n)d leaves.", n=len(tl.failed)), "error")
    return redirect(url_for("supervision.section_timeline", section_id=section.id, verified=int(tl.ok)))


@bp.route("/sections/<int:section_id>/timeline.json")
@require(Permission.SUPERVISION_TIMELINE)
def timeline_export(section_id: int) -> Response:
    section = _section(section_id)
    doc = timeline.export(timeline.build(section.id))
    resp = Response(json.dumps(doc, ensure_ascii=False, indent=2), mimetype="application/json")
    resp.headers["Content-Disposition"] = f'attachment; filename="section-{section.id}-timeline.json"'
    return resp


# -- alerts desk --------------------------------------------------------------------------------------------


@bp.route("/alerts")
@require(Permission.SUPERVISION_ALERTS)
def alerts_desk() -> str:
    status = request.args.get("status", AlertStatus.OPEN.value)
    stmt = select(SupervisionAlert).order_by(SupervisionAlert.raised_at.desc(), SupervisionAlert.id.desc())
    if status in {s.value for s in AlertStatus}:
        stmt = stmt.where(SupervisionAlert.status == status)
    section_id = request.args.get("section", type=int)
    if section_id:
        stmt = stmt.where(SupervisionAlert.section_id == section_id)
    stmt = stmt.where(permissions.visible_alerts(current_user.user))
    rows = db.session.scalars(stmt.limit(500)).all()
    sections = {
        s.id: s
        for s in db.session.scalars(select(Section).where(Section.id.in_({a.section_id for a in rows})))
    }
    return render_template(
        "supervision/alerts.html",
        alerts=rows,
        sections=sections,
        status=status,
        statuses=list(AlertStatus),
        rules=alerts.RULES,
        rule_enum=AlertRule,
        section_id=section_id,
    )


@bp.route("/sections/<int:section_id>/alerts/run", methods=["POST"])
@require(Permission.SUPERVISION_ALERTS)
def run_rules(section_id: int) -> BaseResponse:
    section = _acting_on(section_id)
    raised = alerts.run_alert_rules(section, actor=current_user.user)
    db.session.commit()
    flash(_("%(n)d new alerts.", n=len(raised)), "success" if not raised else "warn")
    return redirect(url_for("supervision.alerts_desk", section=section.id, status="open"))


@bp.route("/alerts/<int:alert_id>/decide", methods=["POST"])
@require(Permission.SUPERVISION_ALERTS)
def decide_alert(alert_id: int) -> BaseResponse:
    alert = db.session.get(SupervisionAlert, alert_id)
    if alert is None:
        abort(404)
    _acting_on(alert.section_id)
    actor = current_user.user

    def act() -> None:
        form = schemas.load(schemas.DecideAlertForm(), request.form)
        if form["action"] == "acknowledge":
            services.acknowledge_alert(alert, actor=actor, note=form["note"])
        elif form["action"] == "escalate":
            services.escalate_alert(alert, actor=actor, note=form["note"])
        else:
            services.dismiss_alert(alert, actor=actor, reason=form["note"])

    _attempt(act, _("Alert updated."))
    return redirect(request.referrer or url_for("supervision.alerts_desk"))


# -- what the system administrator did to accounts ---------------------------------------------------------


@bp.route("/admin-acts")
@require(Permission.SUPERVISION_MONITOR)
def admin_acts() -> str:
    """Under 监管办分离 the administrator must not become a business user: every act on an account or an
    organization (creation, reset, disabling) is listed here for the regulators and the management office."""
    from app.accounts.labels import admin_act_label
    from app.accounts.models import AccountNotice, User
    from app.core.models import AuditLeaf

    leaves = db.session.scalars(
        select(AuditLeaf)
        .where(
            AuditLeaf.action.like("admin:user:%")
            | AuditLeaf.action.like("admin:organization:%")
            | (AuditLeaf.action == "account:user:approve")  # the second party's approval of a new account
        )
        .order_by(AuditLeaf.idx.desc())
        .limit(500)
    ).all()
    users = {u.id: u for u in db.session.scalars(select(User)).all()}
    seen = {
        n.audit_idx: n.seen_at
        for n in db.session.scalars(select(AccountNotice).where(AccountNotice.audit_idx.is_not(None))).all()
    }
    return render_template(
        "supervision/admin_acts.html", leaves=leaves, users=users, seen=seen, label=admin_act_label
    )


# -- interventions -----------------------------------------------------------------------------------------


@bp.route("/interventions")
@require(Permission.SUPERVISION_INTERVENE)
def interventions() -> str:
    suspended = db.session.scalars(
        select(Section).where(Section.suspended.is_(True)).order_by(Section.id)
    ).all()
    notices = db.session.scalars(
        select(RectificationNotice)
        .where(RectificationNotice.status != "closed")
        .order_by(RectificationNotice.due_at)
    ).all()
    active = db.session.scalars(
        select(Section).where(Section.status.in_(live.ACTIVE)).order_by(Section.id)
    ).all()
    return render_template(
        "supervision/interventions.html", suspended=suspended, notices=notices, active=active, now=now()
    )


@bp.route("/sections/<int:section_id>/interventions")
@require(Permission.SUPERVISION_INTERVENE)
def section_interventions(section_id: int) -> str:
    section = _section(section_id)
    return render_template(
        "supervision/section_interventions.html",
        section=section,
        notices=services.notices_of(section.id),
        addressees=services.notice_addressees(section),
        now=now(),
        can_act=permissions.can_act_on(current_user.user, section),
    )


@bp.route("/sections/<int:section_id>/suspend", methods=["POST"])
@require(Permission.SUPERVISION_INTERVENE)
@step_up_required
def suspend(section_id: int) -> BaseResponse:
    section = _acting_on(section_id)
    actor = current_user.user

    def act() -> None:
        form = schemas.load(schemas.SuspendForm(), request.form)
        services.suspend(section, actor=actor, reason=form["reason"])

    _attempt(act, _("The section is suspended."))
    return redirect(url_for("supervision.section_interventions", section_id=section.id))


@bp.route("/sections/<int:section_id>/resume", methods=["POST"])
@require(Permission.SUPERVISION_INTERVENE)
@step_up_required
def resume(section_id: int) -> BaseResponse:
    section = _acting_on(section_id)
    actor = current_user.user

    def act() -> None:
        form = schemas.load(schemas.ResumeForm(), request.form)
        services.resume(section, actor=actor, note=form["note"])

    _attempt(act, _("The section is resumed."))
    return redirect(url_for("supervision.section_interventions", section_id=section.id))


@bp.route("/sections/<int:section_id>/notices", methods=["POST"])
@require(Permission.SUPERVISION_INTERVENE)
def issue_notice(section_id: int) -> BaseResponse:
    section = _acting_on(section_id)
    actor = current_user.user

    def act() -> None:
        form = schemas.load(schemas.NoticeForm(), request.form)
        org = db.session.get(Organization, form["addressee_org_id"])
        if org is None:
            raise DomainError(_("Unknown addressee."), errors={"addressee_org_id": [_("Required.")]})
        services.issue_notice(
            section, actor=actor, addressee=org, body=form["body"], due_at=end_of_local_day(form["due_on"])
        )

    _attempt(act, _("Rectification notice issued."))
    return redirect(url_for("supervision.section_interventions", section_id=section.id))


def _notice(notice_id: int) -> RectificationNotice:
    notice = db.session.get(RectificationNotice, notice_id)
    if notice is None:
        abort(404)
    _acting_on(notice.section_id)
    return notice


@bp.route("/notices/<int:notice_id>/response", methods=["POST"])
@require(Permission.SUPERVISION_INTERVENE)
def notice_response(notice_id: int) -> BaseResponse:
    notice = _notice(notice_id)
    actor = current_user.user

    def act() -> None:
        form = schemas.load(schemas.ResponseForm(), request.form)
        services.record_response(notice, actor=actor, response=form["response"])

    _attempt(act, _("Response recorded."))
    return redirect(url_for("supervision.section_interventions", section_id=notice.section_id))


@bp.route("/notices/<int:notice_id>/close", methods=["POST"])
@require(Permission.SUPERVISION_INTERVENE)
def notice_close(notice_id: int) -> BaseResponse:
    notice = _notice(notice_id)
    _attempt(lambda: services.close_notice(notice, actor=current_user.user), _("Notice closed."))
    return redirect(url_for("supervision.section_interventions", section_id=notice.section_id))


# -- staff assessment ----------------------------------------------------------------------------------------


def _period() -> tuple[dt.date, dt.date, dt.datetime, dt.datetime]:
    args = schemas.load(schemas.PeriodArgs(), request.args)
    today = local_date(now())
    start_day = args["start"] or today.replace(day=1)
    end_day = args["end"] or today
    if end_day < start_day:
        start_day, end_day = end_day, start_day
    return start_day, end_day, end_of_local_day(start_day - dt.timedelta(days=1)), end_of_local_day(end_day)


@bp.route("/assessment")
@require(Permission.SUPERVISION_ASSESSMENT)
def assessment_page() -> str:
    start_day, end_day, start, end = _period()
    people, departments = assessment.assess(start, end)
    charts = [
        Markup(assessment.bar_chart(departments, metric, title=label))  # noqa: S704 - built from escaped parts
        for metric, label in (
            ("cases_handled", _("Cases handled")),
            ("openings_run", _("Openings run")),
            ("registrations_reviewed", _("Registrations reviewed")),
            ("median_hours", _("Median hours to handle")),
        )
    ]
    return render_template(
        "supervision/assessment.html",
        people=people,
        departments=departments,
        start=start_day,
        end=end_day,
        charts=charts,
        columns=assessment.COLUMNS,
    )


@bp.route("/assessment.csv")
@require(Permission.SUPERVISION_ASSESSMENT)
def assessment_csv() -> Response:
    start_day, end_day, start, end = _period()
    people, departments = assessment.assess(start, end)
    which = departments if request.args.get("by") == "department" else people
    resp = Response("\ufeff" + assessment.to_csv(which), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="assessment-{start_day}-{end_day}.csv"'
    return resp


@bp.route("/assessment.xlsx")
@require(Permission.SUPERVISION_ASSESSMENT)
def assessment_xlsx() -> Response:
    start_day, end_day, start, end = _period()
    people, departments = assessment.assess(start, end)
    resp = Response(
        assessment.to_xlsx(people, departments),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    resp.headers["Content-Disposition"] = f'attachment; filename="assessment-{start_day}-{end_day}.xlsx"'
    return resp


# -- checkpoints: witness cosignatures and the public page ------------------------------------------------


def _recent_checkpoints(limit: int = 20) -> list[AuditCheckpoint]:
    return list(
        db.session.scalars(
            select(AuditCheckpoint)
            .order_by(AuditCheckpoint.tree_size.desc(), AuditCheckpoint.id.desc())
            .limit(limit)
        )
    )


@bp.route("/witness")
@require(Permission.SUPERVISION_WITNESS)
def witness() -> str:
    cps = _recent_checkpoints()
    return render_template(
        "supervision/witness.html",
        key=services.active_witness_key(current_user.user),
        checkpoints=cps,
        names=services.cosigner_names(cps),
    )


@bp.route("/witness/key", methods=["POST"])
@require(Permission.SUPERVISION_WITNESS)
@step_up_required
def witness_key() -> BaseResponse:
    actor = current_user.user

    def act() -> None:
        form = schemas.load(schemas.WitnessKeyForm(), request.form)
        services.register_witness_key(actor=actor, public_key=form["public_key"])

    _attempt(act, _("Witness key registered."))
    return redirect(url_for("supervision.witness"))


@bp.route("/checkpoints/<int:checkpoint_id>/cosign", methods=["POST"])
@require(Permission.SUPERVISION_WITNESS)
def cosign(checkpoint_id: int) -> BaseResponse:
    cp = db.session.get(AuditCheckpoint, checkpoint_id)
    if cp is None:
        abort(404)
    actor = current_user.user

    def act() -> None:
        form = schemas.load(schemas.CosignForm(), request.form)
        services.cosign_checkpoint(cp, actor=actor, signature_b64=form["signature"])

    _attempt(act, _("Checkpoint cosigned."))
    return redirect(url_for("supervision.witness"))


@bp.route("/checkpoints")
@public
def public_checkpoints() -> str:
    """Signed tree heads for anyone to pin, with the regulators' witness cosignatures."""
    cps = _recent_checkpoints(50)
    return render_template(
        "supervision/checkpoints.html",
        checkpoints=cps,
        cosignatures={cp.id: audit.cosignature_views(cp) for cp in cps},
        names=services.cosigner_names(cps),
        verifier_key=audit.platform_verifier_key(),
        size=audit.tree_size(),
    )


@bp.route("/checkpoints.json")
@public
def public_checkpoints_json() -> Response:
    cps = _recent_checkpoints(50)
    return jsonify(
        {
            "verifier_key": audit.platform_verifier_key(),
            "checkpoints": [
                {"tree_size": cp.tree_size, "note": cp.note, "cosignatures": cp.cosignatures or []}
                for cp in cps
            ],
        }
    )


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
