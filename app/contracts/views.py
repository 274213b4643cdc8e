"""Pages of the contracts domain: the tenderer's contract page (upload, publish, amend), the staff and
regulator list, a section's archive listing, procurement intentions, and the public portal lists."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from app.accounts.models import User
from app.core import storage
from app.core.clock import CST, now
from app.core.db import db
from app.core.errors import DomainError
from app.core.labels import flash_refusal
from app.core.permissions import Permission, Role, public, require
from app.core.web import MAX_ROW_ID
from app.projects.models import Project, Section
from app.projects.permissions import acts_for

from . import archive, intentions, permissions, services
from .models import Contract, ContractAmendment, ProcurementIntention

bp = Blueprint("contracts", __name__, url_prefix="/contracts")
public_bp = Blueprint("contracts_public", __name__, url_prefix="/portal")


def _user() -> User:
    user: User = current_user.user
    return user


def _readable_section(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or not permissions.can_read(_user(), section):
        abort(404)
    return section


def _managed_section(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or not permissions.can_manage(_user(), section):
        abort(404)
    return section


def _signed_on(field: str = "signed_on") -> dt.datetime | None:
    raw = request.form.get(field, "").strip()
    if not raw:
        return None
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise DomainError(_("Enter a date."), errors={field: [_("Enter a date.")]}) from None
    signed = dt.datetime.combine(day, dt.time(12), tzinfo=CST).astimezone(dt.UTC)
    return min(signed, now())  # signed today: not later than now


@bp.route("/")
@require(Permission.CONTRACT_READ)
def index() -> str:
    user = _user()
    return render_template(
        "contracts/index.html",
        contracts=services.contracts_for(user),
        awaiting=services.awaiting_upload(user) if user.role == Role.TENDERER else [],
        state=services.publication_state,
    )


@bp.route("/sections/<int:section_id>")
@require(Permission.CONTRACT_READ)
def section(section_id: int) -> str:
    from app.evaluation.services import evaluation_for

    sec = _readable_section(section_id)
    contract = services.contract_for(sec)
    return render_template(
        "contracts/section.html",
        section=sec,
        ev=evaluation_for(sec),
        contract=contract,
        state=services.publication_state(contract) if contract is not None else None,
        can_manage=permissions.can_manage(_user(), sec),
        procurement=services.is_procurement(sec),
        current_amount=services.current_amount(contract) if contract is not None else None,
    )


@bp.post("/sections/<int:section_id>/upload")
@require(Permission.CONTRACT_MANAGE)
def upload(section_id: int) -> ResponseReturnValue:
    sec = _managed_section(section_id)
    file = request.files.get("document")
    try:
        services.upload_contract(
            sec,
            actor=_user(),
            stream=file.stream if file else None,
            filename=(file.filename or "") if file else "",
            amount=request.form.get("amount", ""),
            title=request.form.get("title", ""),
            signed_at=_signed_on(),
        )
        db.session.commit()
        flash(_("The signed contract is uploaded."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".section", section_id=sec.id))


@bp.post("/sections/<int:section_id>/publish")
@require(Permission.CONTRACT_MANAGE)
def publish(section_id: int) -> ResponseReturnValue:
    sec = _managed_section(section_id)
    contract = services.contract_for(sec)
    if contract is None:
        abort(404)
    try:
        services.publish_contract(contract, actor=_user())
        db.session.commit()
        if contract.published_late:
            flash(_("The contract is published, after its deadline: the delay is recorded."), "warning")
        else:
            flash(_("The contract is published."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".section", section_id=sec.id))


@bp.post("/sections/<int:section_id>/amendments")
@require(Permission.CONTRACT_MANAGE)
def amend(section_id: int) -> ResponseReturnValue:
    sec = _managed_section(section_id)
    contract = services.contract_for(sec)
    if contract is None:
        abort(404)
    file = request.files.get("document")
    try:
        services.record_amendment(
            contract,
            actor=_user(),
            summary=request.form.get("summary", ""),
            amount_after=request.form.get("amount_after", ""),
            stream=file.stream if file else None,
            filename=(file.filename or "") if file else "",
            signed_at=_signed_on(),
        )
        db.session.commit()
        flash(_("The amendment is recorded."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".section", section_id=sec.id))


def _pdf(blob_path: str, sha256: str, filename: str) -> ResponseReturnValue:
    try:
        path = storage.absolute(blob_path)
    except (OSError, ValueError):
        abort(404)
    if not path.exists():
        abort(404)
    resp = send_file(path, mimetype="application/pdf", as_attachment=True, download_name=filename)
    resp.headers["X-Content-SHA256"] = sha256
    return resp


@bp.route("/sections/<int:section_id>/document")
@require(Permission.CONTRACT_READ)
def document(section_id: int) -> ResponseReturnValue:
    contract = services.contract_for(_readable_section(section_id))
    if contract is None:
        abort(404)
    return _pdf(contract.blob_path, contract.sha256, contract.filename)


@bp.route("/sections/<int:section_id>/amendments/<int:number>/document")
@require(Permission.CONTRACT_READ)
def amendment_document(section_id: int, number: int) -> ResponseReturnValue:
    contract = services.contract_for(_readable_section(section_id))
    row = next((a for a in contract.amendments if a.number == number), None) if contract else None
    if row is None:
        abort(404)
    return _pdf(row.blob_path, row.sha256, row.filename)


@bp.route("/sections/<int:section_id>/archive")
@require(Permission.CONTRACT_READ)
def archive_listing(section_id: int) -> str:
    sec = _readable_section(section_id)
    return render_template("contracts/archive.html", section=sec, listing=archive.listing(sec))


# -- procurement intentions -------------------------------------------------------------------------------


@bp.route("/intentions")
@require(Permission.INTENTION_MANAGE)
def intention_list() -> str:
    user = _user()
    return render_template(
        "contracts/intentions.html",
        rows=intentions.intentions_for(user),
        projects=intentions.projects_for_intentions(user),
    )


@bp.post("/intentions")
@require(Permission.INTENTION_MANAGE)
def intention_create() -> ResponseReturnValue:
    user = _user()
    try:
        raw_project = request.form.get("project_id", "")
        project_id = int(raw_project) if raw_project.isdigit() and len(raw_project) <= 10 else 0
        project = db.session.get(Project, project_id) if 0 < project_id <= MAX_ROW_ID else None
        if project is None:
            raise DomainError(_("Choose the project."), errors={"project_id": [_("Choose the project.")]})
        intentions.create_intention(
            project,
            actor=user,
            project_name=request.form.get("project_name", ""),
            budget=request.form.get("budget", ""),
            needs_summary=request.form.get("needs_summary", ""),
            expected_month=intentions.parse_month(request.form.get("expected_month", "")),
        )
        db.session.commit()
        flash(_("The intention is saved as a draft."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".intention_list"))


def _own_intention(intention_id: int) -> ProcurementIntention:
    row = db.session.get(ProcurementIntention, intention_id)
    project = db.session.get(Project, row.project_id) if row is not None else None
    if row is None or project is None or not acts_for(_user(), project):
        abort(404)
    return row


@bp.post("/intentions/<int:intention_id>/publish")
@require(Permission.INTENTION_MANAGE)
def intention_publish(intention_id: int) -> ResponseReturnValue:
    row = _own_intention(intention_id)
    try:
        intentions.publish_intention(row, actor=_user())
        db.session.commit()
        flash(_("The procurement intention is published."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".intention_list"))


@bp.post("/intentions/<int:intention_id>/withdraw")
@require(Permission.INTENTION_MANAGE)
def intention_withdraw(intention_id: int) -> ResponseReturnValue:
    row = _own_intention(intention_id)
    try:
        intentions.withdraw_intention(row, actor=_user(), reason=request.form.get("reason", ""))
        db.session.commit()
        flash(_("The procurement intention is withdrawn."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".intention_list"))


# -- public portal ----------------------------------------------------------------------------------------


@public_bp.route("/contracts")
@public
def public_contracts() -> str:
    return render_template(
        "contracts/public_contracts.html",
        contracts=services.published_contracts(),
        state=services.publication_state,
        current_amount=services.current_amount,
    )


def _published(contract_id: int) -> Contract:
    contract = db.session.get(Contract, contract_id)
    if contract is None or contract.published_at is None:
        abort(404)
    return contract


@public_bp.route("/contracts/<int:contract_id>/document")
@public
def public_contract_document(contract_id: int) -> ResponseReturnValue:
    contract = _published(contract_id)
    return _pdf(contract.blob_path, contract.sha256, contract.filename)


@public_bp.route("/contracts/<int:contract_id>/amendments/<int:number>/document")
@public
def public_amendment_document(contract_id: int, number: int) -> ResponseReturnValue:
    contract = _published(contract_id)
    row: ContractAmendment | None = next((a for a in contract.amendments if a.number == number), None)
    if row is None:
        abort(404)
    return _pdf(row.blob_path, row.sha256, row.filename)


@public_bp.route("/intentions")
@public
def public_intentions() -> str:
    return render_template("contracts/public_intentions.html", rows=intentions.public_intentions())
