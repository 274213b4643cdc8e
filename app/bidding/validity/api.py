"""JSON API of the bid validity under /api/v1/bidding/validity: the section's validity and extensions, the
tenderer's extension request, the bidder's answer."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from app.core import scoping
from app.core.db import db
from app.core.errors import NotFound
from app.core.idempotency import idempotent
from app.core.permissions import Permission, require
from app.extensions import api as api_ext
from app.projects.enums import SectionStatus
from app.projects.models import Section
from app.projects.permissions import acts_for

from ..permissions import is_opened
from . import services
from .models import ValidityExtension

blp = Blueprint(
    "bidding_validity_api", __name__, url_prefix="/api/v1/bidding/validity", description="Bid validity"
)


class ValidityExtensionIn(Schema):
    new_end_at = fields.AwareDateTime(required=True, metadata={"description": "the new end (with offset)"})
    reason = fields.Str(required=True, validate=validate.Length(min=1, max=services.MAX_REASON))


class ValidityAnswerIn(Schema):
    accept = fields.Bool(required=True, metadata={"description": "true: extend; false: withdraw the bid"})


class ValidityAnswerOut(Schema):
    org_id = fields.Int(required=True)
    bidder = fields.Str(allow_none=True)
    accepted = fields.Bool(required=True)
    answer_label = fields.Str(required=True)
    answered_at = fields.DateTime(required=True)


class ValidityExtensionOut(Schema):
    id = fields.Int(required=True)
    section_id = fields.Int(required=True)
    previous_end_at = fields.DateTime(required=True)
    new_end_at = fields.DateTime(required=True)
    reason = fields.Str(required=True)
    requested_at = fields.DateTime(required=True)
    answers = fields.List(fields.Nested(ValidityAnswerOut), required=True)


class BidValidityOut(Schema):
    section_id = fields.Int(required=True)
    bid_validity_days = fields.Int(required=True)
    original_end_at = fields.DateTime(allow_none=True)
    current_end_at = fields.DateTime(allow_none=True)
    lapsed = fields.Bool(required=True)
    my_valid_until = fields.DateTime(allow_none=True, metadata={"description": "bidders: their own bid"})
    extensions = fields.List(fields.Nested(ValidityExtensionOut), required=True)


def _section(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or section.status == SectionStatus.DRAFT:
        raise NotFound(_("No such section."))
    return section


def _answer_json(a: Any, names: dict[int, str]) -> dict[str, Any]:
    return {
        "org_id": a.org_id,
        "bidder": names.get(a.org_id),
        "accepted": a.accepted,
        "answer_label": _("Accepted") if a.accepted else _("Refused"),
        "answered_at": a.answered_at,
    }


def extension_json(ext: ValidityExtension, *, org_id: int | None = None) -> dict[str, Any]:
    """An extension; a bidder (``org_id``) sees its own answer only."""
    section = db.session.get(Section, ext.section_id)
    opened = section is not None and is_opened(section)
    names = services.bidders(section) if opened and section is not None else {}
    # who bid is secret until the opening (SPEC §3.3): before it a bidder sees its own answer, nobody else any
    answers = [a for a in ext.answers if a.org_id == org_id or (org_id is None and opened)]
    return {
        "id": ext.id,
        "section_id": ext.section_id,
        "previous_end_at": ext.previous_end_at,
        "new_end_at": ext.new_end_at,
        "reason": ext.reason,
        "requested_at": ext.requested_at,
        "answers": [_answer_json(a, names) for a in answers],
    }


def _viewer_org(section: Section) -> int | None:
    """None for the tenderer side (sees every answer); the bidder's org for a bidder of the section."""
    user = current_user.user
    if acts_for(user, section.project):
        return None
    if user.org_id in services.bidders(section):
        return int(user.org_id)
    raise NotFound(_("No such section."))


@blp.route("/sections/<int:section_id>")
@blp.response(200, BidValidityOut)
@require(Permission.TENDER_BROWSE)
def validity(section_id: int) -> dict[str, Any]:
    """The section's bid validity, its extensions and the answers (a bidder: its own)."""
    section = _section(section_id)
    org_id = _viewer_org(section)
    return {
        "section_id": section.id,
        "bid_validity_days": section.bid_validity_days,
        "original_end_at": services.original_end(section),
        "current_end_at": services.current_end(section),
        "lapsed": services.lapse_refusal(section) is not None,
        "my_valid_until": services.valid_until(section, org_id) if org_id is not None else None,
        "extensions": [extension_json(e, org_id=org_id) for e in services.extensions_of(section)],
    }


@blp.route("/sections/<int:section_id>/extensions", methods=["POST"])
@idempotent
@blp.arguments(ValidityExtensionIn)
@blp.response(201, ValidityExtensionOut)
@require(Permission.SECTION_EDIT)
def request_extension(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Ask every bidder to extend the bid validity (before it lapses; 409 ``validity_lapsed`` after)."""
    ext = services.request_extension(
        _section(section_id),
        services.ExtensionInput(new_end_at=body["new_end_at"], reason=body["reason"]),
        actor=current_user.user,
    )
    db.session.commit()
    return extension_json(ext)


@blp.route("/extensions/<int:extension_id>/answer", methods=["POST"])
@blp.arguments(ValidityAnswerIn)
@blp.response(200, ValidityExtensionOut)
@require(Permission.BIDDING_SUBMIT)
def answer(body: dict[str, Any], extension_id: int) -> dict[str, Any]:
    """A bidder accepts or refuses (refusing withdraws the bid and refunds its security); 404 for anyone
    who has no bid in the section."""
    ext = db.session.get(ValidityExtension, extension_id)
    if ext is None:
        raise NotFound(_("Not found."))
    services.answer(ext, actor=current_user.user, accept=body["accept"])
    db.session.commit()
    return extension_json(ext, org_id=current_user.org_id)


def init_app(app: Flask) -> None:
    api_ext.register_blueprint(blp)
    scoping.register("extension_id", scoping.by_column(ValidityExtension.section_id))
