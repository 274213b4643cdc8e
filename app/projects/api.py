"""JSON API of the projects domain under /api/v1 (tenderer side)."""

from __future__ import annotations

from typing import Any

from flask import Flask, abort
from flask_login import current_user
from flask_smorest import Blueprint
from sqlalchemy import or_, select

from app.accounts.models import User
from app.core import scoping
from app.core.db import db
from app.core.idempotency import idempotent
from app.core.permissions import Permission, require
from app.extensions import api as api_ext

from . import permissions as perms
from . import services
from .enums import SectionStatus
from .models import Project, Section
from .schemas import (
    AnswerIn,
    ClarificationOut,
    PublicationChecksOut,
    PublishSectionIn,
    PublishSectionOut,
    QuestionIn,
    QuestionOut,
    TendererProjectOut,
    TendererSectionOut,
)

blp = Blueprint("projects_api", __name__, url_prefix="/api/v1/projects", description="Projects and sections")


def _me() -> User:
    user: User = current_user.user
    return user


def _own_section(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or not perms.acts_for(_me(), section.project):
        abort(404)
    return section


@blp.route("/")
@blp.response(200, TendererProjectOut(many=True))
@require(Permission.SECTION_EDIT)
@scoping.filters_lists
def list_projects() -> list[Project]:
    """The projects the caller's organization owns or acts for as agency; for a token limited to some
    sections, the projects of those sections."""
    me = _me()
    stmt = (
        select(Project)
        .where(or_(Project.owner_org_id == me.org_id, Project.agency_org_id == me.org_id))
        .order_by(Project.id)
    )
    scope = scoping.current()
    if scope is not None:
        stmt = stmt.where(Project.id.in_(select(Section.project_id).where(Section.id.in_(sorted(scope)))))
    return list(db.session.scalars(stmt))


@blp.route("/<int:project_id>")
@blp.response(200, TendererProjectOut)
@require(Permission.SECTION_EDIT)
def get_project(project_id: int) -> Project:
    project = db.session.get(Project, project_id)
    if project is None or not perms.acts_for(_me(), project):
        abort(404)
    return project


@blp.route("/sections/<int:section_id>")
@blp.response(200, TendererSectionOut)
@require(Permission.SECTION_EDIT)
def get_section(section_id: int) -> Section:
    return _own_section(section_id)


@blp.route("/sections/<int:section_id>/checks")
@blp.response(200, PublicationChecksOut)
@require(Permission.SECTION_PUBLISH)
def section_checks(section_id: int) -> dict[str, Any]:
    """The publication rule checks, each with pass/fail and the dates (what the publish wizard shows)."""
    section = _own_section(section_id)
    checks = services.publication_checks(section) if section.status == SectionStatus.DRAFT else []
    return {"ready": bool(checks) and all(c.ok for c in checks), "checks": checks}


@blp.route("/sections/<int:section_id>/publish", methods=["POST"])
@blp.arguments(PublishSectionIn)
@blp.response(200, PublishSectionOut)
@require(Permission.SECTION_PUBLISH)
def publish_section(_body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Publish the draft. Idempotent: a retry answers 200 with ``created: false`` and changes nothing;
    a refusal answers 422 naming every failed rule in ``errors``."""
    section = _own_section(section_id)
    result = services.publish_section(section, actor=_me())
    db.session.commit()
    return {"created": result.created, "section": result.section}


def _question_out(q: Any, number: int | None = None) -> dict[str, Any]:
    return {
        "id": q.id,
        "number": q.number if number is None else number,
        "body": q.body,
        "asked_at": q.asked_at,
        "status": q.status,
        "answer_due_at": q.answer_due_at,
        "overdue": services.is_overdue(q),
        "clarification_number": q.amendment.number if q.amendment is not None else None,
    }


def _published_tender(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or section.status == SectionStatus.DRAFT:
        abort(404)
    return section


@blp.route("/sections/<int:section_id>/questions")
@blp.response(200, QuestionOut(many=True))
@require(Permission.QUESTION_ANSWER)
def section_questions(section_id: int) -> list[dict[str, Any]]:
    """The bidders' questions on the section's documents (答疑), without who asked."""
    section = _own_section(section_id)
    return [_question_out(q) for q in services.questions_of(section, viewer=_me())]


@blp.route("/sections/<int:section_id>/answers", methods=["POST"])
@idempotent
@blp.arguments(AnswerIn)
@blp.response(201, ClarificationOut)
@require(Permission.QUESTION_ANSWER)
def answer_questions(body: dict[str, Any], section_id: int) -> Any:
    """Answer questions with one clarification published to every bidder that obtained the documents; when it
    affects bids and fewer than 15 days remain, the deadline moves (``new_deadline``)."""
    section = _own_section(section_id)
    amendment = services.answer_questions(
        section,
        actor=_me(),
        question_ids=body["question_ids"],
        answer=body["answer"],
        affects_bids=body["affects_bids"],
    )
    db.session.commit()
    return amendment


@blp.route("/tenders/<int:section_id>/questions")
@blp.response(200, QuestionOut(many=True))
@require(Permission.QUESTION_ASK)
def my_questions(section_id: int) -> list[dict[str, Any]]:
    """The questions the caller's organization asked on this tender."""
    questions = services.questions_of(_published_tender(section_id), viewer=_me())
    numbers = services.shown_numbers(questions, viewer=_me())
    return [_question_out(q, numbers[q.id]) for q in questions]


@blp.route("/tenders/<int:section_id>/questions", methods=["POST"])
@idempotent
@blp.arguments(QuestionIn)
@blp.response(201, QuestionOut)
@require(Permission.QUESTION_ASK)
def ask_question(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Ask a question on the tender documents (only after obtaining them, before questions close: 409
    ``questions_closed`` names the closing day and its basis)."""
    section = _published_tender(section_id)
    question = services.ask_question(section, actor=_me(), body=body["body"])
    db.session.commit()
    numbers = services.shown_numbers(services.questions_of(section, viewer=_me()), viewer=_me())
    return _question_out(question, numbers[question.id])


def _sections_of_project(project_id: int) -> list[int | None]:
    project = db.session.get(Project, project_id)
    if project is None:
        return []
    return [s.id for s in project.sections] or [None]


def init_app(app: Flask) -> None:
    from app.core import scoping

    api_ext.register_blueprint(blp)
    scoping.register("section_id", scoping.by_column(Section.id))
    scoping.register("project_id", _sections_of_project)
