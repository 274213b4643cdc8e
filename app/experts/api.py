"""JSON API of the experts domain under /api/v1/experts: the management office reads the pool registry
(nobody else sees personal data); draws and their panels for whoever the pages show them to
(``permissions.can_view_panel``); the public record of any draw and its recomputation; center staff request
and cancel draws, the supervising regulator witnesses and verifies them (the draw pages' rules and
services); the invited expert answers an invitation."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import or_, select

from app.accounts.models import Organization, User
from app.accounts.stepup import step_up_required
from app.core import scoping
from app.core.db import db
from app.core.errors import NotFound
from app.core.idempotency import idempotent
from app.core.labels import label
from app.core.permissions import Permission, Role, public, require
from app.core.web import MAX_ROW_ID
from app.extensions import limiter

from . import draw_record, draws, permissions, services
from .enums import ExpertStatus, RegionScope, SeatStatus
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
@scoping.filters_lists
def draw_list() -> list[dict[str, Any]]:
    """The draws the caller may see, newest first (at most 200): center staff their own requests; the
    supervising regulator; after the award the section's parties and all center staff."""
    user = _me()
    stmt = scoping.restrict(
        select(ExpertDraw).order_by(ExpertDraw.id.desc()).limit(200), ExpertDraw.section_id
    )
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
    return _draw_detail_out(draw)


def _draw_detail_out(draw: ExpertDraw) -> dict[str, Any]:
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


# --- draws: the center requests and cancels, the supervising regulator witnesses and verifies --------------


class DrawSlotIn(Schema):
    class Meta:
        unknown = RAISE

    specialty = fields.String(
        required=True,
        validate=validate.Regexp(r"^[A-Za-z0-9]{1,16}$"),
        metadata={"description": "a specialty code of the catalogue"},
    )
    seats = fields.Integer(required=True, validate=validate.Range(min=1, max=99))
    backups = fields.Integer(load_default=0, validate=validate.Range(min=0, max=99))


class DrawRequestIn(Schema):
    class Meta:
        unknown = RAISE

    composition = fields.List(
        fields.Nested(DrawSlotIn), required=True, validate=validate.Length(min=1, max=50)
    )
    evaluation_starts_at = fields.AwareDateTime(
        required=True,
        validate=validate.Range(
            min=dt.datetime(2000, 1, 1, tzinfo=dt.UTC), max=dt.datetime(2099, 12, 31, tzinfo=dt.UTC)
        ),
    )
    region_scope = fields.String(
        load_default=RegionScope.LOCAL.value, validate=validate.OneOf([r.value for r in RegionScope])
    )
    panel_size = fields.Integer(
        load_default=None,
        validate=validate.Range(min=5, max=99),
        metadata={"description": "the section's panel size unless given"},
    )


class DrawCancelIn(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class DrawWitnessIn(Schema):
    class Meta:
        unknown = RAISE

    entropy = fields.String(
        required=True,
        validate=validate.Length(min=6, max=200),
        metadata={"description": "the witness's own randomness (dice rolls, say)"},
    )


class DrawCheckOut(Schema):
    name = fields.Str()
    ok = fields.Bool(allow_none=True, metadata={"description": "null: not applicable (see detail)"})
    detail = fields.Str()


class DrawRoundCheckOut(Schema):
    number = fields.Int()
    sealed = fields.Bool(metadata={"description": "inputs not published yet: nothing recomputed"})
    ok = fields.Bool(allow_none=True)
    checks = fields.List(fields.Nested(DrawCheckOut))


class DrawVerificationOut(Schema):
    draw_id = fields.Int()
    ok = fields.Bool(allow_none=True, metadata={"description": "null while every round is sealed"})
    rounds = fields.List(fields.Nested(DrawRoundCheckOut))


@blp.route("/sections/<int:section_id>/draws", methods=["POST"])
@idempotent
@blp.arguments(DrawRequestIn)
@blp.response(201, ExpertDrawDetailOut)
@require(Permission.EXPERTS_DRAW_REQUEST)
def request_draw(body: dict[str, Any], section_id: int) -> Any:
    """Request the panel of a section (step-up: ``X-TOTP-Code``): the pool is frozen and the server's
    randomness committed; the supervising regulator then witnesses. An impossible composition is refused
    (422) before any randomness. 404 first, then the step-up."""
    from app.projects.models import Section

    if db.session.get(Section, section_id) is None:
        raise NotFound(_("No such section."))
    return step_up_required(_request_draw)(body, section_id)


def _request_draw(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    from app.projects.models import Section

    section = db.session.get(Section, section_id)
    draw = draws.request_draw(
        section,
        slots=[draws.Slot(s["specialty"].upper(), s["seats"], s["backups"]) for s in body["composition"]],
        evaluation_starts_at=body["evaluation_starts_at"],
        region_scope=body["region_scope"],
        panel_size=body["panel_size"],
        actor=_me(),
    )
    db.session.commit()
    return _draw_detail_out(draw)


@blp.route("/draws/<int:draw_id>/cancel", methods=["POST"])
@blp.arguments(DrawCancelIn)
@blp.response(200, ExpertDrawDetailOut)
@require(Permission.EXPERTS_DRAW_REQUEST)
def cancel_draw(body: dict[str, Any], draw_id: int) -> dict[str, Any]:
    """Cancel a draw, with the reason: the staff member who requested it only (404 for the others)."""
    draw = db.session.get(ExpertDraw, draw_id)
    if draw is None or not permissions.can_manage_draw(_me(), draw):
        raise NotFound(_("No such draw."))
    draws.cancel(draw, reason=body["reason"], actor=_me())
    db.session.commit()
    return _draw_detail_out(draw)


@blp.route("/draws/<int:draw_id>/witness", methods=["POST"])
@blp.arguments(DrawWitnessIn)
@blp.response(200, ExpertDrawDetailOut)
@require(Permission.EXPERTS_DRAW_WITNESS)
def witness(body: dict[str, Any], draw_id: int) -> Any:
    """Witness the pending round (step-up: ``X-TOTP-Code``): the witness's entropy and the revealed server
    randomness seed the draw, and the panel is drawn. Only the regulator supervising the section (404 for
    the others, before the step-up)."""
    draw = db.session.get(ExpertDraw, draw_id)
    if draw is None or not permissions.can_witness(_me(), draw):
        raise NotFound(_("No such draw."))
    return step_up_required(_witness)(body, draw_id)


def _witness(body: dict[str, Any], draw_id: int) -> dict[str, Any]:
    draw = db.session.get(ExpertDraw, draw_id)
    assert draw is not None  # checked by the caller
    draws.witness(draw, body["entropy"], actor=_me())
    db.session.commit()
    return _draw_detail_out(draw)


@blp.route("/draws/<int:draw_id>/verification")
@blp.response(200, DrawVerificationOut)
@require(Permission.EXPERTS_DRAW_VERIFY)
def verify_draw(draw_id: int) -> dict[str, Any]:
    """The regulator's verification (the verify page): every round recomputed from the stored inputs and
    compared with what was recorded; the verification is audited."""
    draw = db.session.get(ExpertDraw, draw_id)
    if draw is None or not permissions.can_view_panel(_me(), draw):
        raise NotFound(_("No such draw."))
    report = draws.verify_draw(draw, actor=_me())
    db.session.commit()  # the audit leaf of the verification
    return {
        "draw_id": draw.id,
        "ok": report.ok,
        "rounds": [
            {
                "number": r.number,
                "sealed": False,
                "ok": r.ok,
                "checks": [
                    {
                        "name": c.name,
                        "ok": c.ok,
                        "detail": "" if c.ok else f"recorded {c.recorded}, recomputed {c.recomputed}"[:400],
                    }
                    for c in r.checks
                ],
            }
            for r in report.rounds
        ],
    }


@blp.route("/public/draws/<int:draw_id>/verification")
@blp.response(200, DrawVerificationOut)
@public
@limiter.limit("60 per minute")
def verify_public_record(draw_id: int) -> dict[str, Any]:
    """Anyone's verification of a draw from its public record alone (``app/core/draw_verify.py``, what
    ``ggzy-audit draw`` runs): rounds stay sealed until the section's result is determined."""
    from app.core import draw_verify

    draw = db.session.get(ExpertDraw, draw_id)
    if draw is None:
        raise NotFound(_("No such draw."))
    record = draw_record.public_record(draw)
    if not record.get("rounds"):
        return {"draw_id": draw.id, "ok": None, "rounds": []}
    results = draw_verify.verify_record(record)
    rounds = []
    for r in results:
        verdicts = [c.ok for c in r.checks if c.ok is not None]
        rounds.append(
            {
                "number": r.number,
                "sealed": r.sealed,
                "ok": None if r.sealed else all(verdicts),
                "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in r.checks],
            }
        )
    opened = [r["ok"] for r in rounds if not r["sealed"]]
    return {"draw_id": draw.id, "ok": all(opened) if opened else None, "rounds": rounds}


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
@scoping.filters_lists
def invitations() -> list[dict[str, Any]]:
    """The caller's invitations and seats, newest first (backups not yet called are not shown)."""
    expert = services.expert_of(_me())
    if expert is None:
        return []
    if draws.expire_overdue():
        db.session.commit()
    rows = db.session.execute(
        scoping.restrict(
            select(PanelSeat, ExpertDraw)
            .join(ExpertDraw, ExpertDraw.id == PanelSeat.draw_id)
            .where(PanelSeat.expert_id == expert.id, PanelSeat.status != SeatStatus.STANDBY.value)
            .order_by(PanelSeat.id.desc()),
            ExpertDraw.section_id,
        )
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
