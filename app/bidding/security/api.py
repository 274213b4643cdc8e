"""JSON API of the bid security ledger under /api/v1/bidding/security: the bank's signed callback, the
bidder's own sub-account and guarantee, the staff's ledger, reconciliation, refunds and forfeiture."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint

from app.core.db import db
from app.core.errors import NotFound
from app.core.labels import label
from app.core.permissions import Permission, require, signed_callback
from app.extensions import api as api_ext
from app.projects.enums import SectionStatus
from app.projects.models import Section

from .. import permissions
from . import bank, ledger, schemas, services
from .models import BidSecurity

log = logging.getLogger(__name__)

blp = Blueprint(
    "bidding_security_api", __name__, url_prefix="/api/v1/bidding/security", description="Bid security ledger"
)


def _section(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or section.status == SectionStatus.DRAFT:
        raise NotFound(_("No such section."))
    return section


def security_json(sec: BidSecurity, *, viewer: Any) -> dict[str, Any]:
    shown = permissions.may_see_identity(viewer, sec)
    return {
        "id": sec.id,
        "section_id": sec.section_id,
        "account_no": sec.account_no if shown else None,
        "form": sec.form,
        "status": sec.status,
        "status_label": label("security_status", sec.status),
        "required_fen": sec.required_fen,
        "received_fen": sec.received_fen,
        "held_fen": sec.held_fen,
        "interest_fen": sec.interest_fen,
        "refund_due_at": sec.refund_due_at,
        "refunded_at": sec.refunded_at,
        "guarantee_issuer": sec.guarantee_issuer,
        "guarantee_number": sec.guarantee_number,
        "bidder": sec.org.name if shown else None,
    }


@blp.route("/bank/callback", methods=["POST"])
@blp.doc(
    requestBody={"required": True, "content": {"application/json": {"schema": schemas.BankCallbackIn}}},
    parameters=[
        {"in": "header", "name": "X-Bank-Timestamp", "schema": {"type": "string"}, "required": True},
        {"in": "header", "name": "X-Bank-Signature", "schema": {"type": "string"}, "required": True},
    ],
)
@blp.response(200, schemas.BankCallbackOut)
@signed_callback
def bank_callback() -> dict[str, Any]:
    """The bank announces a credit to a virtual sub-account. Signed (``X-Bank-Signature: sha256=<hex>``,
    the HMAC of ``<X-Bank-Timestamp>.<body>``): a bad signature is refused with 400 ``bad_signature``; a
    reference already booked answers ``duplicate`` and books nothing."""
    body = request.get_data()
    try:
        bank.verify_callback(
            body, request.headers.get("X-Bank-Timestamp"), request.headers.get("X-Bank-Signature")
        )
    except bank.CallbackRefused:
        log.warning("bank callback refused from %s: signature", request.remote_addr)
        raise
    line = bank.parse_callback(body)
    _movement, created = services.receive_credit(line, source="callback")
    return {"bank_ref": line.bank_ref, "status": "booked" if created else "duplicate"}


@blp.route("/sections/<int:section_id>/mine")
@blp.response(200, schemas.SecurityOut)
@require(Permission.BIDDING_SECURITY_PAY)
def my_security(section_id: int) -> dict[str, Any]:
    """The caller's own sub-account and security in this section (404 before it was issued)."""
    sec = services.security_of(_section(section_id), current_user.org_id)
    if sec is None:
        raise NotFound(_("No sub-account has been issued to you for this section."))
    return security_json(sec, viewer=current_user.user)


@blp.route("/sections/<int:section_id>/account", methods=["POST"])
@blp.response(201, schemas.SecurityOut)
@require(Permission.BIDDING_SECURITY_PAY)
def issue_account(section_id: int) -> dict[str, Any]:
    """Issue (once) the caller's virtual sub-account for this section."""
    sec = services.issue_account(_section(section_id), actor=current_user.user)
    return security_json(sec, viewer=current_user.user)


@blp.route("/sections/<int:section_id>/guarantee", methods=["POST"])
@blp.arguments(schemas.GuaranteeIn)
@blp.response(201, schemas.SecurityOut)
@require(Permission.BIDDING_SECURITY_PAY)
def submit_guarantee(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Secure the bid with an electronic guarantee; refused (422) unless the issuer's signature verifies."""
    sec = services.submit_guarantee(_section(section_id), body, actor=current_user.user)
    return security_json(sec, viewer=current_user.user)


@blp.route("/sections/<int:section_id>/ledger")
@blp.response(200, schemas.SectionLedgerOut)
@require(Permission.BIDDING_LEDGER_READ)
def section_ledger(section_id: int) -> dict[str, Any]:
    """Counts and amounts; who paid only once the section is opened."""
    section = _section(section_id)
    user = current_user.user
    if not permissions.can_read_security_ledger(user, section):
        raise NotFound(_("No such section."))
    opened = permissions.is_opened(section)
    return {
        "section_id": section.id,
        "required_fen": services.required_fen(section),
        "opened": opened,
        **services.section_totals(section),
        "securities": [security_json(s, viewer=user) for s in services.securities_of(section)]
        if opened
        else [],
    }


@blp.route("/ledger")
@blp.arguments(schemas.DayArgs, location="query")
@blp.response(200, schemas.DailyLedgerOut)
@require(Permission.BIDDING_LEDGER_READ)
def daily_ledger(args: dict[str, Any]) -> dict[str, Any]:
    """The day's movements (Beijing date) with opening and closing balances."""
    day = ledger.daily_ledger(args["day"], viewer=current_user.user)
    return {
        "day": day.day,
        "opening_fen": day.opening_fen,
        "credits_fen": day.credits_fen,
        "debits_fen": day.debits_fen,
        "closing_fen": day.closing_fen,
        "balanced": day.balanced,
        "rows": [
            {
                "bank_ref": r.movement.bank_ref,
                "booked_at": r.movement.booked_at,
                "direction": r.movement.direction,
                "kind": r.movement.kind,
                "kind_label": label("movement_kind", r.movement.kind),
                "amount_fen": r.movement.amount_fen,
                "section_code": r.section_code,
                "bidder": r.bidder,
                "account_no": r.account_no,
            }
            for r in day.rows
        ],
    }


@blp.route("/reconcile", methods=["POST"])
@blp.arguments(schemas.DayArgs)
@blp.response(201, schemas.ReconciliationOut)
@require(Permission.BIDDING_LEDGER_MANAGE)
def reconcile(body: dict[str, Any]) -> dict[str, Any]:
    """Reconcile the bank's statement of ``day`` with the ledger."""
    run = services.reconcile(body["day"], actor=current_user.user)
    return {
        "id": run.id,
        "day": run.day,
        "statement_lines": run.statement_lines,
        "matched": run.matched,
        "booked_from_statement": run.booked_from_statement,
        "balanced": run.balanced,
        "differences": run.differences,
    }


def _security(security_id: int) -> BidSecurity:
    sec = db.session.get(BidSecurity, security_id)
    if sec is None or not permissions.can_read_security_ledger(current_user.user, sec.section):
        raise NotFound(_("No such bid security."))
    return sec


@blp.route("/securities/<int:security_id>/refund", methods=["POST"])
@blp.response(200, schemas.SecurityOut)
@require(Permission.BIDDING_LEDGER_MANAGE)
def refund(security_id: int) -> dict[str, Any]:
    """Pay back principal and interest (a guarantee: release it)."""
    sec = services.refund(_security(security_id), actor=current_user.user)
    return security_json(sec, viewer=current_user.user)


@blp.route("/securities/<int:security_id>/forfeit", methods=["POST"])
@blp.arguments(schemas.ForfeitIn)
@blp.response(200, schemas.SecurityOut)
@require(Permission.BIDDING_LEDGER_MANAGE)
def forfeit(body: dict[str, Any], security_id: int) -> dict[str, Any]:
    """Keep the security on a ground the law lists (``forfeiture_ground`` codes)."""
    sec = services.forfeit(_security(security_id), body["ground"], body["note"], actor=current_user.user)
    return security_json(sec, viewer=current_user.user)


def init_app(app: Flask) -> None:
    api_ext.register_blueprint(blp)
