"""JSON API of the experts domain under /api/v1/experts: the management office reads the pool registry
(nobody else sees personal data); draws and their panels for whoever the pages show them to
(``permissions.can_view_panel``); the public record of any draw; the invited expert answers an invitation."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import or_, select

from app.accounts.models import Organization, User
from app.core.db import db
from app.core.errors import NotFound
from app.core.labels import label
from app.core.permissions import Permission, Role, public, require
from app.core.web import MAX_ROW_ID

from . import draw_record, draws, permissions, services
from .enums import ExpertStatus, SeatStatus
from .models import Expert, ExpertDraw, ExpertSpecialty, PanelSeat

blp = Blueprint("experts_api", __name__, url_prefix="/api/v1/experts", description="Expert pool and draws")


def _me() -> User:
    user: User = current_user.user
    return user


# --- schemas -----------------------------------------------------------------------------------------------


class ExpertPoolArgs(Schema):
    class Meta:
        unknown = RAISE

    q = fields.String(load_default="", validate=validate.Length(max=100), metadata={"description": "name"})
    specialty = fields.String(
        load_default="", validate=validate.Length(max=16), metadata={"description": "code prefix"}
    )
    status = fields.String(load_default=None, validate=validate.OneOf([s.value for s in ExpertStatus]))
    before = fields.Integer(
        load_default=None, validate=validate.Range(min=1, max=MAX_ROW_ID), metadata={"description": "cursor"}
    )
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class PoolExpertOut(Schema):
    id = fields.Int()
    name = fields.Str()
    id_number_masked = fields.Str()
    title = fields.Str()
    title_level = fields.Str()
    title_level_label = fields.Str()
    years_of_practice = fields.Int()
    employer = fields.Str(allow_none=True)
    region = fields.Str()
    status = fields.Str()
    status_label = fields.Str()
    credit_score = fields.Int()
    specialties = fields.List(fields.Str())
    primary_specialty = fields.Str(allow_none=True)


class PoolExpertDetailOut(PoolExpertOut):
    phone = fields.Str()
    email = fields.Str(allow_none=True)
    status_reason = fields.Str(allow_none=True)
    admitted_at = fields.DateTime(allow_none=True)
    entry_exception = fields.Bool()
    exception_reason = fields.Str(allow_none=True)
    conflicts = fields.List(fields.Str(), metadata={"description": "organizations the expert declared"})


class PoolExpertPageOut(Schema):
    data = fields.List(fields.Nested(PoolExpertOut))
    next_before = fields.Int(allow_none=True)


class ExpertSeatOut(Schema):
    id = fields.Int()
    expert_name = fields.Str()
    specialty_code = fields.Str()
    kind = fields.Str()
    kind_label = fields.Str()
    round_number = fields.Int()
    rank = fields.Int()
    status = fields.Str()
    status_label = fields.Str()
    responded_at = fields.DateTime(allow_none=True)


class ExpertDrawOut(Schema):
    id = fields.Int()
    section_id = fields.Int()
    section_code = fields.Str(allow_none=True)
    status = fields.Str()
    status_label = fields.Str()
    requested_at = fields.DateTime()
    evaluation_starts_at = fields.DateTime()
    panel_size = fields.Int()
    region_scope = fields.Str()
    region = fields.Str()
    cancelled_at = fields.DateTime(allow_none=True)


class ExpertDrawDetailOut(ExpertDrawOut):
    composition = fields.List(fields.Dict())
    cancel_reason = fields.Str(allow_none=True)
    seats = fields.List(fields.Nested(ExpertSeatOut))


class ExpertPublicRecordOut(Schema):
    """The public record of a draw (docs/verify-a-draw.md), as ``/experts/public/draws/<id>.json``."""

    record = fields.Str()
    version = fields.Int()
    draw_id = fields.Int()
    section_id = fields.Int()
    hash = fields.Str()
    published = fields.Bool()
    section_status = fields.Str(allow_none=True)
    rounds = fields.List(fields.Dict())


class ExpertInvitationOut(Schema):
    seat_id = fields.Int()
    draw_id = fields.Int()
    section_code = fields.Str(allow_none=True)
    evaluation_starts_at = fields.DateTime()
    specialty_code = fields.Str()
    kind = fields.Str()
    status = fields.Str()
    status_label = fields.Str()
    invited_at = fields.DateTime(allow_none=True)
    respond_by = fields.DateTime(allow_none=True)
    responded_at = fields.DateTime(allow_none=True)


class ExpertAnswerIn(Schema):
    class Meta:
        unknown = RAISE

    answer = fields.String(required=True, validate=validate.OneOf(["confirm", "decline"]))
    reason = fields.String(load_default="", validate=validate.Length(max=500))


# --- the management office: the pool registry --------------------------------------------------------------


def _expert_out(expert: Expert, employer: str | None) -> dict[str, Any]:
    return {
        "id": expert.id,
        "name": expert.name,
        "id_number_masked": expert.id_number_masked,
        "title": expert.title,
        "title_level": expert.title_level,
        "title_level_label": label("title_level", expert.title_level),
        "years_of_practice": expert.years_of_practice,
        "employer": employer,
        "region": expert.region,
        "status": expert.status,
        "status_label": label("expert_status", expert.status),
        "credit_score": expert.credit_score,
        "specialties": [s.specialty_code for s in expert.specialties],
        "primary_specialty": expert.primary_specialty,
    }


@blp.route("/pool")
@blp.arguments(ExpertPoolArgs, location="query")
@blp.response(200, PoolExpertPageOut)
@require(Permission.EXPERTS_POOL_MANAGE)
def pool(args: dict[str, Any]) -> dict[str, Any]:
    """The pool registry, newest first: search by name or employer (``q``), specialty code prefix, status;
    continue with ``before=next_before``. The management office only: nobody else reads personal data."""
    stmt = select(Expert, Organization).join(Organization, Organization.id == Expert.employer_org_id)
    q = args["q"].strip()
    if q:
        stmt = stmt.where(or_(Expert.name.contains(q), Organization.name.contains(q)))
    if args["status"]:
        stmt = stmt.where(Expert.status == args["status"])
    specialty = args["specialty"].strip().upper()
    if specialty:
        stmt = stmt.where(
            Expert.id.in_(
                select(ExpertSpecialty.expert_id).where(ExpertSpecialty.specialty_code.like(f"{specialty}%"))
            )
        )
    if args["before"]:
        stmt = stmt.where(Expert.id < args["before"])
    rows = db.session.execute(stmt.order_by(Expert.id.desc()).limit(args["limit"] + 1)).all()
    more = len(rows) > args["limit"]
    rows = rows[: args["limit"]]
    return {
        "data": [_expert_out(e, org.name) for e, org in rows],
        "next_before": rows[-1][0].id if more else None,
    }


@blp.route("/pool/<int:expert_id>")
@blp.response(200, PoolExpertDetailOut)
@require(Permission.EXPERTS_POOL_MANAGE)
def expert(expert_id: int) -> dict[str, Any]:
    """One pool member with contact details, status and declared conflicts (the registry page's data)."""
    row = db.session.get(Expert, expert_id)
    if row is None:
        raise NotFound(_("No such expert."))
    orgs = {
        o.id: o.name
        for o in db.session.scalars(
            select(Organization).where(
                Organization.id.in_([row.employer_org_id, *[c.org_id for c in row.conflicts]])
            )
        )
    }
    out = _expert_out(row, orgs.get(row.employer_org_id))
    out.update(
        phone=row.phone,
        email=row.email,
        status_reason=row.status_reason,
        admitted_at=row.admitted_at,
        entry_exception=row.entry_exception,
        exception_reason=row.exception_reason,
        conflicts=[orgs.get(c.org_id, "") for c in row.conflicts],
    )
    return out


# --- draws: who the pages show them to ---------------------------------------------------------------------


def _section_codes(ids: set[int]) -> dict[int, str]:
    from app.projects.models import Section

    if not ids:
        return {}
    rows = db.session.execute(select(Section.id, Section.code).where(Section.id.in_(ids))).all()
    return {section_id: code for section_id, code in rows}


def _draw_out(draw: ExpertDraw, codes: dict[int, str]) -> dict[str, Any]:
    return {
        "id": draw.id,
        "section_id": draw.section_id,
        "section_code": codes.get(draw.section_id),
        "status": draw.status,
        "status_label": label("draw_status", draw.status),
        "requested_at": draw.requested_at,
        "evaluation_starts_at": draw.evaluation_starts_at,
        "panel_size": draw.panel_size,
        "region_scope": draw.region_scope,
        "region": draw.region,
        "cancelled_at": draw.cancelled_at,
    }


@blp.route("/draws")
@blp.response(200, ExpertDrawOut(many=True))
@require(Permission.EXPERTS_DRAW_READ)
def draw_list() -> list[dict[str, Any]]:
    """The draws the caller may see, newest first (at most 200): center staff their own requests; the
    supervising regulator; after the award the section's parties and all center staff."""
    user = _me()
    stmt = select(ExpertDraw).order_by(ExpertDraw.id.desc()).limit(200)
    if user.role == Role.CENTER_STAFF:
        stmt = stmt.where(ExpertDraw.requested_by == user.id)
    rows = [d for d in db.session.scalars(stmt) if permissions.can_view_panel(user, d)]
    codes = _section_codes({d.section_id for d in rows})
    return [_draw_out(d, codes) for d in rows]


@blp.route("/draws/<int:draw_id>")
@blp.response(200, ExpertDrawDetailOut)
@require(Permission.EXPERTS_DRAW_READ)
def draw_detail(draw_id: int) -> dict[str, Any]:
    """One draw and its panel; a sealed panel is 404 to whoever may not see it yet."""
    draw = db.session.get(ExpertDraw, draw_id)
    if draw is None or not permissions.can_view_panel(_me(), draw):
        raise NotFound(_("No such draw."))
    if draws.expire_overdue():  # as the draw page: deadlines are also enforced by `flask experts sweep`
        db.session.commit()
        db.session.refresh(draw)
    out = _draw_out(draw, _section_codes({draw.section_id}))
    out.update(
        composition=draw.composition,
        cancel_reason=draw.cancel_reason,
        seats=[
            {
                "id": s.id,
                "expert_name": s.expert.name,
                "specialty_code": s.specialty_code,
                "kind": s.kind,
                "kind_label": label("seat_kind", s.kind),
                "round_number": s.round_number,
                "rank": s.rank,
                "status": s.status,
                "status_label": label("seat_status", s.status),
                "responded_at": s.responded_at,
            }
            for s in draw.seats
        ],
    )
    return out


@blp.route("/public/draws/<int:draw_id>")
@blp.response(200, ExpertPublicRecordOut)
@public
def public_draw_record(draw_id: int) -> dict[str, Any]:
    """The public record of a draw: the commitment and digests until the section's result is determined,
    every input (with pseudonyms) from then on; what ``ggzy-audit draw`` verifies."""
    draw = db.session.get(ExpertDraw, draw_id)
    if draw is None:
        raise NotFound(_("No such draw."))
    return draw_record.public_record(draw)


# --- the invited expert ------------------------------------------------------------------------------------


def _invitation_out(seat: PanelSeat, draw: ExpertDraw, codes: dict[int, str]) -> dict[str, Any]:
    return {
        "seat_id": seat.id,
        "draw_id": draw.id,
        "section_code": codes.get(draw.section_id),
        "evaluation_starts_at": draw.evaluation_starts_at,
        "specialty_code": seat.specialty_code,
        "kind": seat.kind,
        "status": seat.status,
        "status_label": label("seat_status", seat.status),
        "invited_at": seat.invited_at,
        "respond_by": seat.respond_by,
        "responded_at": seat.responded_at,
    }


@blp.route("/me/invitations")
@blp.response(200, ExpertInvitationOut(many=True))
@require(Permission.EXPERTS_SELF)
def invitations() -> list[dict[str, Any]]:
    """The caller's invitations and seats, newest first (backups not yet called are not shown)."""
    expert = services.expert_of(_me())
    if expert is None:
        return []
    if draws.expire_overdue():
        db.session.commit()
    rows = db.session.execute(
        select(PanelSeat, ExpertDraw)
        .join(ExpertDraw, ExpertDraw.id == PanelSeat.draw_id)
        .where(PanelSeat.expert_id == expert.id, PanelSeat.status != SeatStatus.STANDBY.value)
        .order_by(PanelSeat.id.desc())
    ).all()
    codes = _section_codes({d.section_id for _s, d in rows})
    return [_invitation_out(s, d, codes) for s, d in rows]


@blp.route("/me/invitations/<int:seat_id>/answer", methods=["POST"])
@blp.arguments(ExpertAnswerIn)
@blp.response(200, ExpertInvitationOut)
@require(Permission.EXPERTS_SELF)
def answer(body: dict[str, Any], seat_id: int) -> dict[str, Any]:
    """Confirm (``confirm``) or decline (``decline`` with a ``reason``) an invitation, once: a second
    answer or an expired invitation is 409."""
    user = _me()
    seat = db.session.get(PanelSeat, seat_id)
    if seat is None or not permissions.can_answer(user, seat):
        raise NotFound(_("No such invitation."))
    draws.respond(seat, accept=body["answer"] == "confirm", reason=body["reason"], actor=user)
    db.session.commit()
    return _invitation_out(seat, seat.draw, _section_codes({seat.draw.section_id}))


def section_of_seat(seat_id: int) -> list[int | None]:
    """The section of an invitation, for tokens restricted to some sections (``app.core.scoping``)."""
    rows = db.session.execute(
        select(ExpertDraw.section_id)
        .join(PanelSeat, PanelSeat.draw_id == ExpertDraw.id)
        .where(PanelSeat.id == seat_id)
    ).all()
    return [row[0] for row in rows]
