"""Pages of prequalification (资格预审): the list, a section's rounds, one round (notice, documents, periods;
the tenderer's preparation, review and notice of results; a bidder's application)."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from app.accounts.models import User
from app.core import storage
from app.core.clock import CST, parse_local
from app.core.db import db
from app.core.errors import DomainError
from app.core.labels import flash_refusal
from app.core.permissions import Permission, require

from .. import permissions as project_perms
from ..models import Section
from . import permissions as perms
from . import services
from .models import PrequalApplication, Prequalification

bp = Blueprint("prequal", __name__, url_prefix="/prequal")


def _user() -> User:
    user: User = current_user.user
    return user


def _round(prequal_id: int) -> Prequalification:
    pq = db.session.get(Prequalification, prequal_id)
    if pq is None or not perms.can_view(_user(), pq):
        abort(404)
    return pq


def _managed(prequal_id: int) -> Prequalification:
    pq = db.session.get(Prequalification, prequal_id)
    if pq is None or not perms.can_manage(_user(), pq):
        abort(404)
    return pq


def _local(field: str) -> dt.datetime | None:
    """A ``datetime-local`` input, China Standard Time."""
    raw = request.form.get(field, "").strip()
    if not raw:
        return None
    value = parse_local(raw)
    if value is None:
        raise DomainError(_("Enter a date and time."), errors={field: [_("Enter a date and time.")]})
    return value


def _input_value(value: dt.datetime | None) -> str:
    return value.astimezone(CST).strftime("%Y-%m-%dT%H:%M") if value else ""


@bp.route("/")
@require(Permission.PREQUAL_VIEW)
def index() -> str:
    return render_template("prequal/index.html", rounds=services.visible_rounds(_user()))


@bp.route("/sections/<int:section_id>")
@require(Permission.PREQUAL_VIEW)
def section(section_id: int) -> ResponseReturnValue:
    """The section's current round, or (for the tenderer's side) the page that opens one."""
    sec = db.session.get(Section, section_id)
    if sec is None or not sec.prequalification:
        abort(404)
    latest = services.current_round(sec)
    if latest is not None and perms.can_view(_user(), latest):
        return redirect(url_for(".detail", prequal_id=latest.id))
    if not project_perms.acts_for(_user(), sec.project):
        abort(404)
    return render_template("prequal/start.html", section=sec, rounds=services.rounds_of(sec))


@bp.post("/sections/<int:section_id>/rounds")
@require(Permission.PREQUAL_MANAGE)
def start(section_id: int) -> ResponseReturnValue:
    sec = db.session.get(Section, section_id)
    if sec is None or not project_perms.acts_for(_user(), sec.project):
        abort(404)
    try:
        pq = services.start_round(sec, actor=_user())
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
        return redirect(url_for("projects.section", section_id=sec.id))
    flash(_("Prequalification round %(n)d opened as a draft.", n=pq.round), "success")
    return redirect(url_for(".detail", prequal_id=pq.id))


@bp.route("/<int:prequal_id>")
@require(Permission.PREQUAL_VIEW)
def detail(prequal_id: int) -> str:
    user = _user()
    pq = _round(prequal_id)
    return render_template(
        "prequal/detail.html",
        pq=pq,
        section=pq.section,
        rounds=services.rounds_of(pq.section),
        can_manage=perms.can_manage(user, pq),
        can_apply=perms.can_apply(user, pq) and not perms.applications_closed(pq),
        closed=perms.applications_closed(pq),
        own=services.own_application(pq, user.org_id) if user.role == "bidder" else None,
        applications=services.applications_for(pq, viewer=user),
        see_applicants=perms.can_see_applicants(user, pq),
        see_qualified_count=perms.can_see_qualified_count(user, pq),
        checks=services.period_checks(pq),
        org_name=services.organization_name,
        value=_input_value,
    )


@bp.post("/<int:prequal_id>/edit")
@require(Permission.PREQUAL_MANAGE)
def edit(prequal_id: int) -> ResponseReturnValue:
    pq = _managed(prequal_id)
    file = request.files.get("document")
    try:
        services.update_round(
            pq,
            actor=_user(),
            notice_text=request.form.get("notice_text", ""),
            docs_available_from=_local("docs_available_from"),
            docs_available_until=_local("docs_available_until"),
            application_deadline=_local("application_deadline"),
        )
        if file is not None and file.filename:
            services.upload_document(pq, actor=_user(), filename=file.filename, stream=file.stream)
        db.session.commit()
        flash(_("The prequalification is saved."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".detail", prequal_id=pq.id))


@bp.post("/<int:prequal_id>/publish")
@require(Permission.PREQUAL_MANAGE)
def publish(prequal_id: int) -> ResponseReturnValue:
    pq = _managed(prequal_id)
    try:
        services.publish_round(pq, actor=_user())
        db.session.commit()
        flash(_("The prequalification notice and documents are published."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".detail", prequal_id=pq.id))


def _send(path: str | None, sha256: str | None, filename: str | None) -> ResponseReturnValue:
    if not path:
        abort(404)
    try:
        full = storage.absolute(path)
    except (OSError, ValueError):
        abort(404)
    if not full.exists():
        abort(404)
    resp = send_file(
        full, mimetype="application/octet-stream", as_attachment=True, download_name=filename or "document"
    )
    resp.headers["X-Content-SHA256"] = sha256 or ""
    return resp


@bp.route("/<int:prequal_id>/document")
@require(Permission.PREQUAL_VIEW)
def document(prequal_id: int) -> ResponseReturnValue:
    pq = _round(prequal_id)
    return _send(pq.document_blob_path, pq.document_sha256, pq.document_filename)


@bp.post("/<int:prequal_id>/apply")
@require(Permission.PREQUAL_APPLY)
def apply(prequal_id: int) -> ResponseReturnValue:
    pq = _round(prequal_id)
    file = request.files.get("application_file")
    try:
        row = services.apply(
            pq,
            actor=_user(),
            filename=(file.filename or "") if file else "",
            stream=file.stream if file and file.filename else None,
        )
        db.session.commit()
        flash(_("Your application is received (SHA-256 %(sha)s).", sha=row.sha256), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".detail", prequal_id=pq.id))


def _application(application_id: int) -> PrequalApplication:
    row = db.session.get(PrequalApplication, application_id)
    if row is None or not perms.can_read_application(_user(), row):
        abort(404)
    return row


@bp.route("/applications/<int:application_id>/file")
@require(Permission.PREQUAL_VIEW)
def application_file(application_id: int) -> ResponseReturnValue:
    row = _application(application_id)
    return _send(row.blob_path, row.sha256, row.filename)


@bp.post("/applications/<int:application_id>/review")
@require(Permission.PREQUAL_MANAGE)
def review(application_id: int) -> ResponseReturnValue:
    row = _application(application_id)
    if not perms.can_manage(_user(), row.prequalification):
        abort(404)
    try:
        services.review(
            row,
            actor=_user(),
            qualified=request.form.get("result") == "qualified",
            reason=request.form.get("reason", ""),
        )
        db.session.commit()
        flash(_("The result is recorded."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".detail", prequal_id=row.prequalification_id))


@bp.post("/<int:prequal_id>/notify")
@require(Permission.PREQUAL_MANAGE)
def notify(prequal_id: int) -> ResponseReturnValue:
    pq = _managed(prequal_id)
    try:
        services.notify_results(pq, actor=_user())
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
        return redirect(url_for(".detail", prequal_id=pq.id))
    if pq.status == "passed":
        flash(_("The results are notified to every applicant; the tender may proceed."), "success")
    else:
        flash(
            _(
                "The results are notified to every applicant. Fewer than 3 qualified: the prequalification "
                "must be redone before the tender (招标投标法实施条例第19条)."
            ),
            "warning",
        )
    return redirect(url_for(".detail", prequal_id=pq.id))
