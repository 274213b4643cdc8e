"""HTML pages of the bid security ledger: the bidder's sub-account and guarantee, the staff's section ledger
(refunds, forfeiture), the daily ledger with reconciliation and exports; regulators read."""

from __future__ import annotations

import datetime as dt
import json

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as WzResponse

from app.core.calendar import day_or_today
from app.core.clock import now
from app.core.db import db
from app.core.errors import DomainError, Forbidden, NotFound
from app.core.labels import choices
from app.core.permissions import Permission, require
from app.projects.enums import SectionStatus
from app.projects.models import Section

from .. import permissions
from ..enums import ForfeitureGround
from . import ledger, services
from .models import BidSecurity, Reconciliation

bp = Blueprint("bid_security", __name__, url_prefix="/bidding/security")


def _section(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or section.status == SectionStatus.DRAFT:
        raise NotFound(_("No such section."))
    return section


def _failed(err: DomainError) -> None:
    db.session.rollback()
    flash(err.message, "error")


def _day() -> dt.date:
    return day_or_today(request.args.get("day") or request.form.get("day"))


# -- bidder ------------------------------------------------------------------------------------------------


@bp.route("/sections/<int:section_id>")
@require(Permission.BIDDING_SECURITY_PAY)
def mine(section_id: int) -> str:
    section = _section(section_id)
    return render_template(
        "bidding/security/mine.html",
        section=section,
        sec=services.security_of(section, current_user.org_id),
        required_fen=services.required_fen(section),
        fen=services.fen_text,
    )


@bp.route("/sections/<int:section_id>/account", methods=["POST"])
@require(Permission.BIDDING_SECURITY_PAY)
def issue(section_id: int) -> WzResponse:
    try:
        services.issue_account(_section(section_id), actor=current_user.user)
        db.session.commit()
        flash(_("Your sub-account for this section is ready."), "success")
    except DomainError as err:
        _failed(err)
    return redirect(url_for(".mine", section_id=section_id))


@bp.route("/sections/<int:section_id>/guarantee", methods=["POST"])
@require(Permission.BIDDING_SECURITY_PAY)
def guarantee(section_id: int) -> WzResponse:
    from app.projects.services import may_take_part, take_part_refusal

    section = _section(section_id)
    if not may_take_part(section, current_user.org_id):  # decided before the document is read
        raise Forbidden(take_part_refusal(section, bids=True))
    upload = request.files.get("document")
    text = upload.read(65536).decode("utf-8", "replace") if upload else request.form.get("document", "")
    try:
        try:
            document = json.loads(text)
        except ValueError:
            raise DomainError(_("This is not an electronic guarantee document.")) from None
        services.submit_guarantee(section, document, actor=current_user.user)
        db.session.commit()
        flash(_("The guarantee verified: your bid is secured."), "success")
    except DomainError as err:
        _failed(err)
    return redirect(url_for(".mine", section_id=section_id))


@bp.route("/sections/<int:section_id>/withdraw", methods=["POST"])
@require(Permission.BIDDING_SECURITY_PAY)
def withdraw(section_id: int) -> WzResponse:
    sec = services.security_of(_section(section_id), current_user.org_id)
    if sec is None:
        raise NotFound(_("No such bid security."))
    try:
        services.withdraw_before_deadline(sec, actor=current_user.user)
        db.session.commit()
        flash(_("Withdrawn: the security will be returned within 5 days."), "success")
    except DomainError as err:
        _failed(err)
    return redirect(url_for(".mine", section_id=section_id))


# -- staff and regulator -----------------------------------------------------------------------------------


@bp.route("/sections/<int:section_id>/ledger")
@require(Permission.BIDDING_LEDGER_READ)
def section_ledger(section_id: int) -> str:
    section = _section(section_id)
    if not permissions.can_read_security_ledger(current_user.user, section):
        raise NotFound(_("No such section."))
    opened = permissions.is_opened(section)
    return render_template(
        "bidding/security/section_ledger.html",
        section=section,
        opened=opened,
        totals=services.section_totals(section),
        rows=services.securities_of(section) if opened else [],
        required=services.check_required_amount(section),
        required_fen=services.required_fen(section),
        grounds=choices("forfeiture_ground", list(ForfeitureGround)),
        basis=services.GROUND_BASIS,
        fen=services.fen_text,
        now=now(),
    )


def _security(security_id: int) -> BidSecurity:
    sec = db.session.get(BidSecurity, security_id)
    if sec is None or not permissions.can_read_security_ledger(current_user.user, sec.section):
        raise NotFound(_("No such bid security."))
    return sec


@bp.route("/sections/<int:section_id>/refunds", methods=["POST"])
@require(Permission.BIDDING_LEDGER_MANAGE)
def schedule_refunds(section_id: int) -> WzResponse:
    try:
        count = services.schedule_refunds(_section(section_id), actor=current_user.user)
        db.session.commit()
        flash(_("Refund deadlines set for %(n)d bidders.", n=count), "success")
    except DomainError as err:
        _failed(err)
    return redirect(url_for(".section_ledger", section_id=section_id))


@bp.route("/securities/<int:security_id>/refund", methods=["POST"])
@require(Permission.BIDDING_LEDGER_MANAGE)
def refund(security_id: int) -> WzResponse:
    sec = _security(security_id)
    try:
        services.refund(sec, actor=current_user.user)
        db.session.commit()
        flash(_("Refunded with interest."), "success")
    except DomainError as err:
        _failed(err)
    return redirect(url_for(".section_ledger", section_id=sec.section_id))


@bp.route("/securities/<int:security_id>/forfeit", methods=["POST"])
@require(Permission.BIDDING_LEDGER_MANAGE)
def forfeit(security_id: int) -> WzResponse:
    sec = _security(security_id)
    try:
        services.forfeit(
            sec, request.form.get("ground", ""), request.form.get("note", ""), actor=current_user.user
        )
        db.session.commit()
        flash(_("The bid security was forfeited."), "success")
    except DomainError as err:
        _failed(err)
    return redirect(url_for(".section_ledger", section_id=sec.section_id))


@bp.route("/ledger")
@require(Permission.BIDDING_LEDGER_READ)
def daily() -> str:
    day = _day()
    runs = db.session.scalars(
        select(Reconciliation).where(Reconciliation.day == day).order_by(Reconciliation.id.desc())
    ).all()
    return render_template(
        "bidding/security/ledger.html",
        ledger=ledger.daily_ledger(day, viewer=current_user.user),
        runs=runs,
        suspense=services.suspense_movements(),
        previous=day - dt.timedelta(days=1),
        following=day + dt.timedelta(days=1),
        fen=services.fen_text,
    )


@bp.route("/ledger.csv")
@require(Permission.BIDDING_LEDGER_READ)
def export_csv() -> Response:
    day = ledger.daily_ledger(_day(), viewer=current_user.user)
    return Response(
        ledger.export_csv(day),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename=security-ledger-{day.day.isoformat()}.csv"},
    )


@bp.route("/ledger.xlsx")
@require(Permission.BIDDING_LEDGER_READ)
def export_xlsx() -> Response:
    day = ledger.daily_ledger(_day(), viewer=current_user.user)
    return Response(
        ledger.export_xlsx(day),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f"attachment; filename=security-ledger-{day.day.isoformat()}.xlsx"},
    )


@bp.route("/reconcile", methods=["POST"])
@require(Permission.BIDDING_LEDGER_MANAGE)
def reconcile() -> WzResponse:
    day = _day()
    run = services.reconcile(day, actor=current_user.user)
    db.session.commit()
    if run.balanced:
        flash(_("The statement and the ledger agree to the fen."), "success")
    else:
        flash(_("The statement and the ledger differ: see the differences below."), "error")
    return redirect(url_for(".daily", day=day.isoformat()))
