"""JSON API of the evaluation domain under /api/v1/evaluation, with the pages' rules
(``app/evaluation/permissions.py``) and services: the evaluation and its panel for panel members, the
section's tenderer and the monitors; a member's own scores (read, save, submit); the report's fingerprint;
a member's sign-in with its conflict declaration, extension requests, outlier explanations, and the report
(drawn up and closed by the leader, signed or dissented by each member); the candidate publicity (public
once published) and the tenderer's publish and award."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from app.accounts.models import User
from app.core import scoping
from app.core.db import db
from app.core.errors import NotFound
from app.core.idempotency import idempotent
from app.core.labels import label
from app.core.permissions import Permission, public, require
from app.core.web import MAX_ROW_ID
from app.extensions import DECIMAL_STRING
from app.projects.models import Section

from . import endings, panel, permissions, services
from .enums import Declaration
from .models import Evaluation, PanelMember

blp = Blueprint(
    "evaluation_api", __name__, url_prefix="/api/v1/evaluation", description="Evaluation, publicity, award"
)


def _me() -> User:
    user: User = current_user.user
    return user


# --- schemas -----------------------------------------------------------------------------------------------


class EvaluationOut(Schema):
    section_id = fields.Int()
    section_code = fields.Str()
    status = fields.Str()
    status_label = fields.Str()
    method = fields.Str()
    started_at = fields.DateTime()
    ends_at = fields.DateTime()
    report_drawn_at = fields.DateTime(allow_none=True)
    reported_at = fields.DateTime(allow_none=True)
    publicity_starts_at = fields.DateTime(allow_none=True)
    publicity_ends_at = fields.DateTime(allow_none=True)
    awarded_at = fields.DateTime(allow_none=True)
    winner_rank = fields.Int(allow_none=True)


class PanelMemberOut(Schema):
    id = fields.Int()
    name = fields.Str()
    representative = fields.Bool()
    signed_in_at = fields.DateTime(allow_none=True)
    counts = fields.Bool(metadata={"description": "signed in without conflict and not replaced"})
    submitted_at = fields.DateTime(allow_none=True)
    decision = fields.Str(allow_none=True)


class PanelOut(Schema):
    section_id = fields.Int()
    size = fields.Int(metadata={"description": "the lawful panel size of the section"})
    names = fields.List(fields.Str(), metadata={"description": "the counted members' names once awarded"})
    members = fields.List(
        fields.Nested(PanelMemberOut), metadata={"description": "center staff and the supervising regulator"}
    )


class QualificationIO(Schema):
    class Meta:
        unknown = RAISE

    org_id = fields.Int(required=True, validate=validate.Range(min=1, max=MAX_ROW_ID))
    qualified = fields.Bool(required=True)
    reason = fields.Str(load_default="", validate=validate.Length(max=2000))


class PointsIO(Schema):
    class Meta:
        unknown = RAISE

    org_id = fields.Int(required=True, validate=validate.Range(min=1, max=MAX_ROW_ID))
    criterion = fields.Str(required=True, validate=validate.Length(min=1, max=100))
    points = fields.Decimal(
        required=True,
        as_string=True,
        places=2,
        metadata={**DECIMAL_STRING, "description": "0 to the criterion's weight (checked by the service)"},
    )


class ScoreSheetOut(Schema):
    member_id = fields.Int()
    submitted_at = fields.DateTime(allow_none=True)
    qualification = fields.List(fields.Nested(QualificationIO))
    points = fields.List(fields.Nested(PointsIO))


class ScoreSheetIn(Schema):
    class Meta:
        unknown = RAISE

    qualification = fields.List(fields.Nested(QualificationIO), load_default=list)
    points = fields.List(fields.Nested(PointsIO), load_default=list)
    submit = fields.Bool(load_default=False, metadata={"description": "lock the scores after saving"})


class ReportOut(Schema):
    section_id = fields.Int()
    sha256 = fields.Str()
    drawn_at = fields.DateTime(allow_none=True)
    reported_at = fields.DateTime(allow_none=True)
    written_report_state = fields.Str(
        allow_none=True,
        metadata={"description": "the tenderer's written report: filed, filed_late, due, overdue"},
    )
    written_report_state_label = fields.Str()


class CandidateOut(Schema):
    rank = fields.Int()
    bidder_name = fields.Str()
    price = fields.Decimal(as_string=True, metadata=DECIMAL_STRING)
    score = fields.Decimal(as_string=True, allow_none=True, metadata=DECIMAL_STRING)
    project_manager = fields.Str(allow_none=True)
    pm_certificate = fields.Str(allow_none=True)
    qualifications = fields.Str(allow_none=True)


class PublicityOut(Schema):
    section_id = fields.Int()
    section_code = fields.Str()
    status = fields.Str()
    status_label = fields.Str()
    publicity_starts_at = fields.DateTime(allow_none=True)
    publicity_ends_at = fields.DateTime(allow_none=True)
    candidates = fields.List(fields.Nested(CandidateOut))
    panel = fields.List(fields.Str(), metadata={"description": "names, once the award is decided"})
    winner = fields.Str(allow_none=True)


class CandidateDetailsIn(Schema):
    class Meta:
        unknown = RAISE

    rank = fields.Int(required=True, validate=validate.Range(min=1, max=99))
    project_manager = fields.Str(load_default="", validate=validate.Length(max=200))
    pm_certificate = fields.Str(load_default="", validate=validate.Length(max=200))
    qualifications = fields.Str(load_default="", validate=validate.Length(max=2000))


class PublishIn(Schema):
    class Meta:
        unknown = RAISE

    candidates = fields.List(fields.Nested(CandidateDetailsIn), load_default=list)


class AwardIn(Schema):
    class Meta:
        unknown = RAISE

    rank = fields.Int(load_default=1, validate=validate.Range(min=1, max=99))
    reason = fields.Str(load_default="", validate=validate.Length(max=2000))


# --- helpers -----------------------------------------------------------------------------------------------


def _section_and_evaluation(section_id: int) -> tuple[Section, Evaluation]:
    section = db.session.get(Section, section_id)
    ev = services.evaluation_for(section) if section is not None else None
    if section is None or ev is None:
        raise NotFound(_("No evaluation of this section."))
    return section, ev


def _evaluation_out(section: Section, ev: Evaluation) -> dict[str, Any]:
    return {
        "section_id": section.id,
        "section_code": section.code,
        "status": ev.status,
        "status_label": label("evaluation_status", ev.status),
        "method": ev.method,
        "started_at": ev.started_at,
        "ends_at": ev.ends_at,
        "report_drawn_at": ev.report_drawn_at,
        "reported_at": ev.reported_at,
        "publicity_starts_at": ev.publicity_starts_at,
        "publicity_ends_at": ev.publicity_ends_at,
        "awarded_at": ev.awarded_at,
        "winner_rank": ev.winner_rank,
    }


def _sheet_out(member: PanelMember) -> dict[str, Any]:
    sheet = services.sheet_of(member)
    return {
        "member_id": member.id,
        "submitted_at": member.submitted_at,
        "qualification": [
            {"org_id": org_id, "qualified": ok, "reason": reason}
            for org_id, (ok, reason) in sorted(sheet.qualification.items())
        ],
        "points": [
            {"org_id": org_id, "criterion": name, "points": value}
            for org_id, by_name in sorted(sheet.points.items())
            for name, value in sorted(by_name.items())
        ],
    }


def _publicity_out(section: Section, ev: Evaluation) -> dict[str, Any]:
    return {
        "section_id": section.id,
        "section_code": section.code,
        "status": ev.status,
        "status_label": label("evaluation_status", ev.status),
        "publicity_starts_at": ev.publicity_starts_at,
        "publicity_ends_at": ev.publicity_ends_at,
        "candidates": [c for c, _items in endings.candidates_for_publicity(ev)]
        if ev.publicity_starts_at is not None
        else [],
        "panel": services.panel_public(ev),
        "winner": services.org_name(ev.winner_org_id) or None,
    }


# --- reads -------------------------------------------------------------------------------------------------


@blp.route("/sections")
@blp.response(200, EvaluationOut(many=True))
@require(Permission.EVALUATION_REPORT_READ)
@scoping.filters_lists
def evaluations() -> list[dict[str, Any]]:
    """The evaluations the caller works in or watches: a member's panels, the tenderer's sections, every
    evaluation for center staff, the supervised sections for a regulator; newest first."""
    user = _me()
    rows = db.session.execute(
        scoping.restrict(
            select(Section, Evaluation)
            .join(Evaluation, Evaluation.section_id == Section.id)
            .order_by(Evaluation.started_at.desc())
            .limit(500),
            Evaluation.section_id,
        )
    ).all()
    return [_evaluation_out(s, ev) for s, ev in rows if permissions.can_view_evaluation(user, s)]


@blp.route("/sections/<int:section_id>")
@blp.response(200, EvaluationOut)
@require(Permission.EVALUATION_REPORT_READ)
def evaluation(section_id: int) -> dict[str, Any]:
    section, ev = _section_and_evaluation(section_id)
    if not permissions.can_view_evaluation(_me(), section):
        raise NotFound(_("No evaluation of this section."))
    return _evaluation_out(section, ev)


@blp.route("/sections/<int:section_id>/panel")
@blp.response(200, PanelOut)
@require(Permission.EVALUATION_REPORT_READ)
def panel_of(section_id: int) -> dict[str, Any]:
    """The panel: its members, names and progress for the monitors (the monitor page); for members and the
    tenderer only the names, once the award is decided (法 Art. 37: secret until then)."""
    user = _me()
    section, ev = _section_and_evaluation(section_id)
    if not permissions.can_view_evaluation(user, section):
        raise NotFound(_("No evaluation of this section."))
    members: list[dict[str, Any]] = []
    if permissions.can_monitor(user, section):
        names = panel.member_names(ev)
        members = [
            {
                "id": m.id,
                "name": names.get(m.id, ""),
                "representative": m.is_representative,
                "signed_in_at": m.signed_in_at,
                "counts": m.counts,
                "submitted_at": m.submitted_at,
                "decision": m.decision,
            }
            for m in ev.members
        ]
    return {
        "section_id": section.id,
        "size": panel.composition(section)[0],
        "names": services.panel_public(ev),
        "members": members,
    }


@blp.route("/sections/<int:section_id>/scores")
@blp.response(200, ScoreSheetOut)
@require(Permission.EVALUATION_SCORE)
def my_scores(section_id: int) -> dict[str, Any]:
    """The caller's own score sheet (a member of the panel); nobody reads another member's draft."""
    user = _me()
    section, ev = _section_and_evaluation(section_id)
    member = services.member_of(ev, user) if permissions.is_panel_member(user, section) else None
    if member is None:
        raise NotFound(_("You do not sit on this panel."))
    return _sheet_out(member)


@blp.route("/sections/<int:section_id>/scores", methods=["PUT"])
@blp.arguments(ScoreSheetIn)
@blp.response(200, ScoreSheetOut)
@require(Permission.EVALUATION_SCORE)
def save_scores(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Save the caller's draft (qualification verdicts with a reason for each fail; points per subjective
    criterion), and with ``submit`` lock it: 409 ``locked`` once submitted, 409 outside scoring, 422 naming
    the fields a rule refused."""
    user = _me()
    section, ev = _section_and_evaluation(section_id)
    member = services.member_of(ev, user) if permissions.is_panel_member(user, section) else None
    if member is None:
        raise NotFound(_("You do not sit on this panel."))
    qualification = {q["org_id"]: (q["qualified"], q["reason"]) for q in body["qualification"]}
    points: dict[int, dict[str, Any]] = {}
    for p in body["points"]:
        points.setdefault(p["org_id"], {})[p["criterion"]] = p["points"]
    services.save_scores(member, actor=user, qualification=qualification, points=points)
    if body["submit"]:
        services.submit(member, actor=user)
    db.session.commit()
    return _sheet_out(member)


@blp.route("/sections/<int:section_id>/report")
@blp.response(200, ReportOut)
@require(Permission.EVALUATION_REPORT_READ)
def report(section_id: int) -> dict[str, Any]:
    """The evaluation report's fingerprint and state, for whoever may read it (the document itself is the
    page ``/evaluation/sections/<id>/report``, with the same SHA-256 in ``X-Report-SHA256``)."""
    section, ev = _section_and_evaluation(section_id)
    if not permissions.can_read_report(_me(), section, ev):
        raise NotFound(_("No report to read."))
    return _report_out(section, ev)


# --- the panel member: sign-in with the declaration, extension, explanations, the report --------------------


class PanelSignInIn(Schema):
    class Meta:
        unknown = RAISE

    declaration = fields.String(
        required=True,
        validate=validate.OneOf([d.value for d in Declaration]),
        metadata={"description": "declared against the bidders now known; a conflict recuses the member"},
    )
    note = fields.String(
        load_default="", validate=validate.Length(max=2000), metadata={"description": "the conflict"}
    )


class OutlierExplanationIn(Schema):
    class Meta:
        unknown = RAISE

    org_id = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ROW_ID))
    explanation = fields.String(required=True, validate=validate.Length(min=1, max=5000))


class ReportDecisionIn(Schema):
    class Meta:
        unknown = RAISE

    decision = fields.String(required=True, validate=validate.OneOf(["sign", "dissent"]))
    dissent = fields.String(
        load_default="", validate=validate.Length(max=5000), metadata={"description": "the written dissent"}
    )


class PanelMembershipOut(Schema):
    member_id = fields.Int()
    section_id = fields.Int()
    evaluation_status = fields.Str()
    evaluation_status_label = fields.Str()
    signed_in_at = fields.DateTime(allow_none=True)
    declaration = fields.Str(allow_none=True)
    conflict_note = fields.Str(allow_none=True)
    counts = fields.Bool(metadata={"description": "the member's scores count (signed in, not voided)"})
    voided_at = fields.DateTime(allow_none=True)
    void_reason = fields.Str(allow_none=True)
    submitted_at = fields.DateTime(allow_none=True)
    wants_extension = fields.Bool()
    leader = fields.Bool()
    decision = fields.Str(allow_none=True)
    decided_at = fields.DateTime(allow_none=True)


def _panel_section(section_id: int) -> Section:
    """A section whose panel the caller sits on (the workspace's rule; 404 for anyone else)."""
    section = db.session.get(Section, section_id)
    if section is None or not permissions.is_panel_member(_me(), section):
        raise NotFound(_("You do not sit on this panel."))
    return section


def _own_member(section: Section) -> tuple[Evaluation, PanelMember]:
    ev = services.evaluation_for(section)
    member = services.member_of(ev, _me()) if ev is not None else None
    if ev is None or member is None:
        raise NotFound(_("You do not sit on this panel."))
    return ev, member


def _member_out(section: Section, ev: Evaluation, member: PanelMember) -> dict[str, Any]:
    return {
        "member_id": member.id,
        "section_id": section.id,
        "evaluation_status": ev.status,
        "evaluation_status_label": label("evaluation_status", ev.status),
        "signed_in_at": member.signed_in_at,
        "declaration": member.declaration,
        "conflict_note": member.conflict_note,
        "counts": member.counts,
        "voided_at": member.voided_at,
        "void_reason": member.void_reason,
        "submitted_at": member.submitted_at,
        "wants_extension": member.wants_extension,
        "leader": services.is_leader(ev, member),
        "decision": member.decision,
        "decided_at": member.decided_at,
    }


def _report_out(section: Section, ev: Evaluation) -> dict[str, Any]:
    state = endings.report_state(ev)
    return {
        "section_id": section.id,
        "sha256": ev.report_sha256,
        "drawn_at": ev.report_drawn_at,
        "reported_at": ev.reported_at,
        "written_report_state": state,
        "written_report_state_label": endings.report_state_label(state) if state else "",
    }


@blp.route("/sections/<int:section_id>/me")
@blp.response(200, PanelMembershipOut)
@require(Permission.EVALUATION_SCORE)
def my_membership(section_id: int) -> dict[str, Any]:
    """The caller's seat on the panel: signed in, declaration, whether it counts, its report decision."""
    section = _panel_section(section_id)
    ev = services.evaluation_for(section)
    member = None
    if ev is not None:
        member = services.member_of(ev, _me()) or services.replaced_member_of(ev, _me())
    if ev is None or member is None:
        raise NotFound(_("The evaluation has not started."))
    return _member_out(section, ev, member)


@blp.route("/sections/<int:section_id>/sign-in", methods=["POST"])
@idempotent
@blp.arguments(PanelSignInIn)
@blp.response(201, PanelMembershipOut)
@require(Permission.EVALUATION_SCORE)
def sign_in(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Sign in and declare, against the bidders now known, no conflict or a conflict (with ``note``; the
    member is then recused and replaced). A tie the registry knows recuses whatever was declared. 409 when
    already signed in."""
    section = _panel_section(section_id)
    member = services.sign_in(
        section, actor=_me(), conflict=body["declaration"] == Declaration.CONFLICT, note=body["note"]
    )
    db.session.commit()
    return _member_out(section, member.evaluation, member)


@blp.route("/sections/<int:section_id>/extension", methods=["POST"])
@blp.response(200, PanelMembershipOut)
@require(Permission.EVALUATION_SCORE)
def extension(section_id: int) -> dict[str, Any]:
    """Ask for more time; granted once more than a third of the counted panel asked (条例 Art. 48)."""
    section = _panel_section(section_id)
    ev, member = _own_member(section)
    services.request_extension(member, actor=_me())
    db.session.commit()
    return _member_out(section, ev, member)


@blp.route("/sections/<int:section_id>/explanations", methods=["POST"])
@blp.arguments(OutlierExplanationIn)
@blp.response(200, PanelMembershipOut)
@require(Permission.EVALUATION_SCORE)
def explain(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Explain in writing a total flagged as an outlier for bidder ``org_id`` (the scores stay locked)."""
    section = _panel_section(section_id)
    ev, member = _own_member(section)
    services.explain(member, body["org_id"], body["explanation"], actor=_me())
    db.session.commit()
    return _member_out(section, ev, member)


@blp.route("/sections/<int:section_id>/report/draw-up", methods=["POST"])
@idempotent
@blp.response(201, ReportOut)
@require(Permission.EVALUATION_SCORE)
def draw_up(section_id: int) -> dict[str, Any]:
    """The leader draws up the report once every counted member submitted and every outlier is explained
    (404 for the other members, 409 before that)."""
    section = _panel_section(section_id)
    ev, _member = _own_member(section)
    services.draw_up_report(ev, actor=_me())
    db.session.commit()
    return _report_out(section, ev)


@blp.route("/sections/<int:section_id>/report/decision", methods=["POST"])
@idempotent
@blp.arguments(ReportDecisionIn)
@blp.response(201, PanelMembershipOut)
@require(Permission.EVALUATION_SCORE)
def decide(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Sign the report (the platform's signature over its hash) or record a written ``dissent``, once."""
    section = _panel_section(section_id)
    ev, member = _own_member(section)
    services.decide(member, actor=_me(), sign=body["decision"] == "sign", dissent=body["dissent"])
    db.session.commit()
    return _member_out(section, ev, member)


@blp.route("/sections/<int:section_id>/report/close", methods=["POST"])
@blp.response(200, ReportOut)
@require(Permission.EVALUATION_SCORE)
def close_report(section_id: int) -> dict[str, Any]:
    """The leader closes the report: a member who neither signed nor dissented is deemed to agree."""
    section = _panel_section(section_id)
    ev, _member = _own_member(section)
    services.close_report(ev, actor=_me())
    db.session.commit()
    return _report_out(section, ev)


@blp.route("/public/sections/<int:section_id>")
@blp.response(200, PublicityOut)
@public
def publicity(section_id: int) -> dict[str, Any]:
    """The public result of an evaluation (the public page): candidates during and after the publicity, the
    panel's names and the winner once awarded; 404 until something is public."""
    section, ev = _section_and_evaluation(section_id)
    if not services.is_public(ev):
        raise NotFound(_("No evaluation of this section."))
    return _publicity_out(section, ev)


# --- the tenderer: publicity and award ---------------------------------------------------------------------


def _tenderer_evaluation(section_id: int) -> tuple[Section, Evaluation]:
    section, ev = _section_and_evaluation(section_id)
    if not permissions.is_section_tenderer(_me(), section):
        raise NotFound(_("No evaluation of this section."))
    return section, ev


@blp.route("/sections/<int:section_id>/publicity", methods=["POST"])
@blp.arguments(PublishIn)
@blp.response(200, PublicityOut)
@require(Permission.EVALUATION_PUBLISH)
def publish(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Publish the candidates (中标候选人公示) with what the tenderer adds per candidate from its bid."""
    section, ev = _tenderer_evaluation(section_id)
    given = {c["rank"]: c for c in body["candidates"]}
    details = {
        c.rank: endings.CandidateDetails(
            project_manager=given.get(c.rank, {}).get("project_manager", ""),
            pm_certificate=given.get(c.rank, {}).get("pm_certificate", ""),
            qualifications=given.get(c.rank, {}).get("qualifications", ""),
        )
        for c in ev.candidates
    }
    services.publish_candidates(ev, actor=_me(), details=details)
    db.session.commit()
    return _publicity_out(section, ev)


@blp.route("/sections/<int:section_id>/award", methods=["POST"])
@blp.arguments(AwardIn)
@blp.response(200, EvaluationOut)
@require(Permission.EVALUATION_AWARD)
def award(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Fix the winner after the publicity (定标): rank 1 unless a legal ``reason`` passes it over."""
    section, ev = _tenderer_evaluation(section_id)
    services.award(ev, actor=_me(), rank=body["rank"], reason=body["reason"])
    db.session.commit()
    return _evaluation_out(section, ev)
