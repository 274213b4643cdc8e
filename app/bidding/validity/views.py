"""HTML pages of the bid validity: the tenderer's page (validity, extension request, the bidders' answers)
and the bidder's answer page."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response as WzResponse

from app.core.clock import parse_local
from app.core.db import db
from app.core.errors import DomainError, NotFound
from app.core.labels import error_details
from app.core.permissions import Permission, require
from app.projects.enums import SectionStatus
from app.projects.models import Section
from app.projects.permissions import acts_for

from ..permissions import is_opened
from . import services
from .models import ValidityExtension

bp = Blueprint("bid_validity", __name__, url_prefix="/bidding/validity")


def _section(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or section.status == SectionStatus.DRAFT:
        raise NotFound(_("No such section."))
    return section


def _failed(err: DomainError) -> None:
    db.session.rollback()
    details = error_details(err.errors)
    flash(f"{err.message} {details}".strip(), "error")


@bp.route("/sections/<int:section_id>")
@require(Permission.SECTION_EDIT)
def manage(section_id: int) -> str:
    section = _section(section_id)
    if not acts_for(current_user.user, section.project):
        raise NotFound(_("No such section."))
    return render_template(
        "bidding/validity/manage.html",
        section=section,
        original_end=services.original_end(section),
        current_end=services.current_end(section),
        extensions=services.extensions_of(section),
        # who bid is secret until the opening (SPEC §3.3): the answers are listed from then on
        standings=services.standings(section) if is_opened(section) else [],
        held=section.status in {s.value for s in services.HELD_STATES},
        lapsed=services.lapse_refusal(section),
    )


@bp.route("/sections/<int:section_id>/extensions", methods=["POST"])
@require(Permission.SECTION_EDIT)
def request_extension(section_id: int) -> WzResponse:
    section = _section(section_id)
    try:
        services.request_extension(
            section,
            services.ExtensionInput(
                new_end_at=parse_local(request.form.get("new_end_at")), reason=request.form.get("reason", "")
            ),
            actor=current_user.user,
        )
        db.session.commit()
        flash(_("The extension request was sent to every bidder."), "success")
    except NotFound:
        raise
    except DomainError as err:
        _failed(err)
    return redirect(url_for(".manage", section_id=section_id))


@bp.route("/sections/<int:section_id>/mine")
@require(Permission.BIDDING_SUBMIT)
def mine(section_id: int) -> str:
    section = _section(section_id)
    org_id = current_user.org_id
    if org_id not in services.bidders(section):
        raise NotFound(_("No such section."))
    exts = services.extensions_of(section)
    latest = exts[-1] if exts else None
    return render_template(
        "bidding/validity/mine.html",
        section=section,
        original_end=services.original_end(section),
        valid_until=services.valid_until(section, org_id),
        latest=latest,
        my_answer=next((a for a in latest.answers if a.org_id == org_id), None) if latest else None,
    )


@bp.route("/extensions/<int:extension_id>/answer", methods=["POST"])
@require(Permission.BIDDING_SUBMIT)
def answer(extension_id: int) -> WzResponse:
    ext = db.session.get(ValidityExtension, extension_id)
    if ext is None:
        raise NotFound(_("Not found."))
    accept = request.form.get("answer") == "accept"
    if request.form.get("answer") not in ("accept", "refuse"):
        flash(_("Choose to accept or to refuse."), "error")
        return redirect(url_for(".mine", section_id=ext.section_id))
    try:
        services.answer(ext, actor=current_user.user, accept=accept)
        db.session.commit()
        flash(
            _("You accepted: your bid stays valid, unchanged, until the new end.")
            if accept
            else _("You refused: your bid is withdrawn and your bid security is refunded."),
            "success",
        )
    except NotFound:
        raise
    except DomainError as err:
        _failed(err)
    return redirect(url_for(".mine", section_id=ext.section_id))
