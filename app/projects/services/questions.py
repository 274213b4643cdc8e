"""Questions on the tender documents (答疑) and the clarifications that answer them (澄清).

* Only a bidder that obtained the documents asks, while the section is published, not suspended, and before
  the questions close. Who asked is confidential (法 Art. 22): the tenderer side, staff and regulators see
  the text and the number only; the audit leaf of the question is sealed on the audit pages.
* Questions close when an answer could no longer reach the bidders in time — the platform's rule, stated in
  docs/rules.md: works (and every category with an objection lead time) when fewer than that lead time
  remains before the deadline (10 日, the period of 实施条例 Art. 22); government procurement when fewer
  than 3 working days remain, the time the purchaser has to answer an enquiry (政府采购法实施条例 Art. 52).
* The tenderer answers one or more questions at once with a clarification published to every obtainer
  (:func:`~.amendments.publish_amendment`): when it affects bids and fewer than 15 days remain, the
  deadline moves (法 Art. 23, 条例 Art. 21). In government procurement each enquiry is due within 3 working
  days of being asked; the page shows what is overdue.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.core import outbox
from app.core.calendar import load_calendar, local_date, period_end
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, Forbidden
from app.core.permissions import Role

from .. import rules
from ..enums import Category, DayUnit
from ..models import Project, Section, SectionQuestion
from ..permissions import acts_for
from ._common import S, _audit, _ensure_not_suspended
from .amendments import publish_amendment
from .documents import obtainment_of
from .sections import rule_set

MIN_QUESTION = 5
MAX_QUESTION = 2000
MAX_ANSWER = 20000
GP_ANSWER_DAYS = 3  # working days (政府采购法实施条例 Art. 52)

ASK_ACTION = "projects:question:ask"


def is_procurement(section: Section) -> bool:
    return bool(section.project.catalogue_item.category == Category.GOVERNMENT_PROCUREMENT.value)


def _close_rule(section: Section) -> tuple[int, DayUnit, str]:
    """(days, unit, basis) of the time that must remain before the deadline for a question to be asked."""
    item = rule_set(section)
    if item.objection_lead_days is not None:
        return item.objection_lead_days, item.objection_day_unit, "实施条例第22条"
    return GP_ANSWER_DAYS, DayUnit.WORKING, "政府采购法实施条例第52条"


def _in_time(section: Section, at: dt.datetime) -> bool:
    """Works: at least the objection lead time remains before the deadline. Government procurement: the
    3 working days the answer may take end before the deadline."""
    assert section.bid_deadline is not None
    days, unit, _basis = _close_rule(section)
    calendar = load_calendar()
    if rule_set(section).objection_lead_days is not None:
        return rules.satisfies(at, section.bid_deadline, days, unit, calendar)
    return period_end(at, days, unit="working", calendar=calendar) <= section.bid_deadline


def questions_close_on(section: Section) -> dt.date | None:
    """The last local (China Standard Time) day on which a question may be asked; None without a deadline."""
    if section.bid_deadline is None:
        return None
    day = local_date(section.bid_deadline)
    for _step in range(400):  # bounded: a period is never longer than a year of rest days
        end_of_day = dt.datetime.combine(day, dt.time(15, 59), tzinfo=dt.UTC)  # 23:59 CST
        if end_of_day <= section.bid_deadline and _in_time(section, end_of_day):
            return day
        day -= dt.timedelta(days=1)
    return None


def may_ask(section: Section, at: dt.datetime | None = None) -> bool:
    """Whether questions are open on ``section`` now (state, suspension and the closing day)."""
    at = at or now()
    if section.status != S.PUBLISHED or section.suspended or section.bid_deadline is None:
        return False
    return _in_time(section, at)


def _tenderer_side(project: Project) -> list[User]:
    org_ids = [i for i in (project.owner_org_id, project.agency_org_id) if i is not None]
    return list(
        db.session.scalars(
            select(User).where(
                User.org_id.in_(org_ids), User.role == Role.TENDERER.value, User.is_active.is_(True)
            )
        )
    )


def ask_question(section: Section, *, actor: User, body: str) -> SectionQuestion:
    """A bidder that obtained the documents asks a question; the tenderer side is told (not who asked)."""
    if actor.role != Role.BIDDER or obtainment_of(section, actor.org_id) is None:
        raise Forbidden(_("Only a bidder that obtained the tender documents may ask questions on them."))
    locked = db.session.scalar(
        select(Section)
        .where(Section.id == section.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    section = locked
    if section.status != S.PUBLISHED:
        raise Conflict(_("Questions are asked while bidding is open."), code="not_open")
    _ensure_not_suspended(section)
    text = (body or "").strip()
    if not MIN_QUESTION <= len(text) <= MAX_QUESTION:
        raise DomainError(
            _("Write the question in %(min)d to %(max)d characters.", min=MIN_QUESTION, max=MAX_QUESTION),
            errors={"body": [_("Required.")]},
        )
    at = now()
    if not may_ask(section, at):
        days, unit, basis = _close_rule(section)
        closed = questions_close_on(section)
        raise Conflict(
            _(
                "Questions on these documents closed on %(day)s: they are asked at least %(n)d %(unit)s "
                "before the bid deadline so that the answer reaches every bidder in time (%(basis)s). An "
                "objection to the documents follows its own rule.",
                day=closed.isoformat() if closed else "—",
                n=days,
                unit=rules.unit_label(unit),
                basis=basis,
            ),
            code="questions_closed",
        )
    number = (
        db.session.scalar(
            select(func.max(SectionQuestion.number)).where(SectionQuestion.section_id == section.id)
        )
        or 0
    ) + 1
    question = SectionQuestion(
        section_id=section.id,
        number=number,
        asker_org_id=actor.org_id,
        asker_user_id=actor.id,
        body=text,
        asked_at=at,
        status="asked",
        answer_due_at=(
            period_end(at, GP_ANSWER_DAYS, unit="working", calendar=load_calendar())
            if is_procurement(section)
            else None
        ),
    )
    try:
        with db.session.begin_nested():
            db.session.add(question)
    except IntegrityError:  # two questions numbered at once on an engine without the row lock
        raise Conflict(_("Another question was being filed at the same moment; send yours again.")) from None
    # who asked stays out of the payload; the leaf's actor is sealed on the audit pages (question_leaf_sealed)
    _audit(
        ASK_ACTION,
        actor,
        question,
        {"section_id": section.id, "number": number, "sha256": hashlib.sha256(text.encode()).hexdigest()},
    )
    for user in _tenderer_side(section.project):
        outbox.enqueue(
            channel="inbox",
            recipient=user.email or user.username,
            subject=_("Question %(n)d on %(code)s", n=number, code=section.code),
            body=_("A bidder asked a question on the tender documents. Answer it with a clarification."),
            user_id=user.id,
        )
    return question


def question_leaf_sealed(leaf: Any) -> bool:
    """Audit sealer: the audit pages, exports and live stream never show who asked a question."""
    return bool(leaf.action == ASK_ACTION)


def questions_of(section: Section, *, viewer: User) -> list[SectionQuestion]:
    """The questions ``viewer`` may read: a bidder its own organization's; the tenderer side, staff and
    regulators all of them (without who asked)."""
    stmt = select(SectionQuestion).where(SectionQuestion.section_id == section.id)
    if viewer.role == Role.BIDDER:
        stmt = stmt.where(SectionQuestion.asker_org_id == viewer.org_id)
    elif viewer.role == Role.TENDERER:
        if not acts_for(viewer, section.project):
            return []
    elif viewer.role not in {Role.CENTER_STAFF, Role.REGULATOR, Role.MANAGER}:
        return []
    return list(db.session.scalars(stmt.order_by(SectionQuestion.number)))


def shown_numbers(questions: Sequence[SectionQuestion], *, viewer: User) -> dict[int, int]:
    """Question id → the number ``viewer`` is shown. The section numbers questions in the order they
    arrive, so a bidder shown that number would learn how many its competitors asked (and so that they
    obtained the documents: 招标投标法 Art. 22); a bidder sees its own questions numbered 1, 2, …"""
    if viewer.role == Role.BIDDER:
        own = sorted((q for q in questions if q.asker_org_id == viewer.org_id), key=lambda q: q.number)
        return {q.id: n for n, q in enumerate(own, start=1)}
    return {q.id: q.number for q in questions}


def is_overdue(question: SectionQuestion, at: dt.datetime | None = None) -> bool:
    return (
        question.status == "asked"
        and question.answer_due_at is not None
        and (at or now()) >= question.answer_due_at
    )


def answer_questions(
    section: Section, *, actor: User, question_ids: Sequence[int], answer: str, affects_bids: bool
) -> Any:
    """The tenderer answers questions with one clarification to every obtainer; returns the amendment."""
    if not acts_for(actor, section.project):
        raise Forbidden(_("Only the tenderer or its agency answers questions on its documents."))
    wanted = sorted({int(i) for i in question_ids})
    if not wanted:
        raise DomainError(_("Choose the questions you answer."), errors={"questions": [_("Required.")]})
    rows = list(
        db.session.scalars(
            select(SectionQuestion)
            .where(SectionQuestion.section_id == section.id, SectionQuestion.id.in_(wanted))
            .order_by(SectionQuestion.number)
        )
    )
    if len(rows) != len(wanted):
        raise DomainError(
            _("Choose questions of this section."), errors={"questions": [_("Unknown question.")]}
        )
    if any(q.status != "asked" for q in rows):
        raise Conflict(_("A chosen question was already answered."), code="already_answered")
    text = (answer or "").strip()
    if not text or len(text) > MAX_ANSWER:
        raise DomainError(
            _("Write the answer (at most %(max)d characters).", max=MAX_ANSWER),
            errors={"answer": [_("Required.")]},
        )
    numbers = ", ".join(str(q.number) for q in rows)
    body = "\n\n".join(
        [
            *(_("Question %(n)d: %(text)s", n=q.number, text=q.body) for q in rows),
            _("Answer: %(text)s", text=text),
        ]
    )
    amendment = publish_amendment(
        section,
        actor=actor,
        title=_("Answers to questions %(numbers)s", numbers=numbers),
        body=body,
        affects_bids=affects_bids,
    )
    at = amendment.published_at
    for q in rows:
        q.status = "answered"
        q.answered_at = at
        q.amendment_id = amendment.id
    db.session.flush()
    _audit(
        "projects:question:answer",
        actor,
        section,
        {
            "questions": [q.number for q in rows],
            "amendment": amendment.number,
            "late": [q.number for q in rows if q.answer_due_at is not None and at > q.answer_due_at],
        },
    )
    return amendment
