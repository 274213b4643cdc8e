"""JSON API of prequalification under /api/v1/prequal: read a round, apply (bidders), review and notify the
results (the tenderer's side). Same rules as the pages (:mod:`.permissions`, :mod:`.services`)."""

from __future__ import annotations

from typing import Any

from flask import abort, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.accounts.models import User
from app.core.db import db
from app.core.errors import DomainError
from app.core.idempotency import idempotent
from app.core.labels import label
from app.core.permissions import Permission, require

from . import permissions as perms
from . import services
from .models import PrequalApplication, Prequalification

blp = Blueprint(
    "prequal_api", __name__, url_prefix="/api/v1/prequal", description="Prequalification (资格预审)"
)


class PrequalOut(Schema):
    id = fields.Int()
    section_id = fields.Int()
    round = fields.Int()
    status = fields.Str()
    status_label = fields.Method("_status_label")
    notice_text = fields.Str()
    docs_available_from = fields.DateTime(allow_none=True)
    docs_available_until = fields.DateTime(allow_none=True)
    application_deadline = fields.DateTime(allow_none=True)
    document_filename = fields.Str(allow_none=True)
    document_sha256 = fields.Str(allow_none=True)
    published_at = fields.DateTime(allow_none=True)
    notified_at = fields.DateTime(allow_none=True)
    qualified_count = fields.Method(
        "_qualified_count",
        metadata={
            "type": "integer",
            "nullable": True,
            "description": "null for bidders (招标投标法 Art. 22)",
        },
    )

    def _qualified_count(self, obj: Prequalification) -> int | None:
        return obj.qualified_count if perms.can_see_qualified_count(_me(), obj) else None

    def _status_label(self, obj: Prequalification) -> str:
        return label("prequal_status", obj.status)


class ApplicationOut(Schema):
    id = fields.Int()
    applicant_org_id = fields.Int()
    applicant_name = fields.Method("_name")
    filename = fields.Str()
    sha256 = fields.Str()
    size = fields.Int()
    submitted_at = fields.DateTime()
    result = fields.Str()
    result_label = fields.Method("_result_label")
    reason = fields.Str()
    reviewed_at = fields.DateTime(allow_none=True)

    def _name(self, obj: PrequalApplication) -> str:
        return services.organization_name(obj.applicant_org_id)

    def _result_label(self, obj: PrequalApplication) -> str:
        return label("prequal_result", obj.result)


class ReviewIn(Schema):
    class Meta:
        unknown = "raise"

    qualified = fields.Bool(required=True)
    reason = fields.Str(load_default="", metadata={"maxLength": services.MAX_REASON})


class NotifyIn(Schema):
    class Meta:
        unknown = "raise"


def _me() -> User:
    user: User = current_user.user
    return user


def _round(prequal_id: int) -> Prequalification:
    pq = db.session.get(Prequalification, prequal_id)
    if pq is None or not perms.can_view(_me(), pq):
        abort(404)
    return pq


def _managed(prequal_id: int) -> Prequalification:
    pq = db.session.get(Prequalification, prequal_id)
    if pq is None or not perms.can_manage(_me(), pq):
        abort(404)
    return pq


@blp.route("/<int:prequal_id>")
@blp.response(200, PrequalOut)
@require(Permission.PREQUAL_VIEW)
def get_round(prequal_id: int) -> Prequalification:
    """One prequalification round: its notice, periods, documents' SHA-256 and (once notified) the count
    of qualified applicants."""
    return _round(prequal_id)


@blp.route("/<int:prequal_id>/applications")
@blp.response(200, ApplicationOut(many=True))
@require(Permission.PREQUAL_VIEW)
def list_applications(prequal_id: int) -> list[PrequalApplication]:
    """A bidder: its own application. The tenderer's side, staff, office and supervising regulator: every
    application once the deadline has passed — none before (who applied is secret until then)."""
    return services.applications_for(_round(prequal_id), viewer=_me())


@blp.route("/<int:prequal_id>/applications", methods=["POST"])
@idempotent
@blp.response(201, ApplicationOut)
@require(Permission.PREQUAL_APPLY)
def apply(prequal_id: int) -> PrequalApplication:
    """Submit (or replace, before the deadline) the organization's application: ``multipart/form-data`` with
    the file in ``file``. After the deadline: 409 ``applications_closed`` naming the deadline and the arrival
    time."""
    pq = _round(prequal_id)
    file = request.files.get("file")
    if file is None or not file.filename:
        raise DomainError(_("Choose the file."), errors={"application_file": [_("Required.")]})
    row = services.apply(pq, actor=_me(), filename=file.filename, stream=file.stream)
    db.session.commit()
    return row


@blp.route("/applications/<int:application_id>/review", methods=["POST"])
@blp.arguments(ReviewIn)
@blp.response(200, ApplicationOut)
@require(Permission.PREQUAL_MANAGE)
def review(body: dict[str, Any], application_id: int) -> PrequalApplication:
    """Record an applicant's result after the deadline: ``qualified`` true, or false with the ``reason``.
    Before the deadline every application is 404, like one that does not exist: who applied, and how many,
    is secret until then (法 Art. 22)."""
    row = db.session.get(PrequalApplication, application_id)
    me = _me()
    if (
        row is None
        or not perms.can_read_application(me, row)
        or not perms.can_manage(me, row.prequalification)
    ):
        abort(404)
    services.review(row, actor=_me(), qualified=body["qualified"], reason=body["reason"])
    db.session.commit()
    return row


@blp.route("/<int:prequal_id>/notify", methods=["POST"])
@blp.arguments(NotifyIn)
@blp.response(200, PrequalOut)
@require(Permission.PREQUAL_MANAGE)
def notify(_body: dict[str, Any], prequal_id: int) -> Prequalification:
    """Send every applicant its result notice (资格预审结果通知书) and close the round: ``passed`` with at
    least 3 qualified, ``failed`` (redo before the tender, 条例 Art. 19) with fewer."""
    pq = _managed(prequal_id)
    services.notify_results(pq, actor=_me())
    db.session.commit()
    return pq
