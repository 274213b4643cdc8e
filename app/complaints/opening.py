"""Objections to the opening (开标异议) as cases (实施条例 Art. 44; Art. 60 for the complaint after).

* Who: only a bidder of the section — an organization with a bid in the published opening record — may
  object at its opening; anyone else is refused with the rule.
* When: "on the spot" — from the publication of the opening record (the bidders and their prices are then
  public; before it, an objection would tell the tenderer who bid) until the end of that day (24:00 China
  Standard Time), and never once the evaluation has begun.
* How many: a bidder waits for the answer to its objection before raising another, and raises at most
  ``OPENING_OBJECTIONS_PER_BIDDER`` (5) at one opening; decided in the database, so the limit holds across
  workers and machines.
* The answer: the tenderer (or its agency) answers on the spot — not the trading center — and the answer
  is recorded in the opening record (the on-site objection row the hall and the record show) and on the
  case, with its history. The evaluation does not start while an objection to the opening is unanswered.
* After: the answered objection is the objection a complaint about the opening needs first (条例 Art. 60);
  the complaint is filed on the normal clock (10 days from knowing, the objection's waiting time not
  counted).
* No opening, no objection first: a section ended unopened for fewer than 3 bidders (招标投标法 Art. 28) has
  no completed ceremony and no published record, so nobody could object at it; a complaint about that
  opening is admissible without a prior objection (:func:`objection_was_possible`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from app.accounts.models import User
from app.core import events
from app.core.calendar import end_of_local_day, local_date
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, Forbidden
from app.core.permissions import Role

from .enums import CaseKind, CaseStatus, Matter
from .models import Case, Objection

S = CaseStatus
DEFAULT_PER_BIDDER = 5


class TooManyObjections(DomainError):
    status = 429
    code = "rate_limited"


def per_bidder() -> int:
    return int(current_app.config.get("OPENING_OBJECTIONS_PER_BIDDER", DEFAULT_PER_BIDDER))


def _ceremony(section: Any) -> Any:
    from app.bidding.opening import completed_ceremony

    return completed_ceremony(section)


def window_closes(ceremony: Any) -> dt.datetime:
    """24:00 of the day the opening record was published."""
    return end_of_local_day(local_date(ceremony.completed_at))


def _opening_cases(section_id: int, org_id: int) -> list[Case]:
    return list(
        db.session.scalars(
            select(Case)
            .where(
                Case.section_id == section_id,
                Case.kind == CaseKind.OBJECTION.value,
                Case.matter == Matter.OPENING.value,
                Case.filer_org_id == org_id,
                Case.status != S.DRAFT.value,
            )
            .order_by(Case.id)
        )
    )


def objection_was_possible(section: Any) -> bool:
    """Whether the opening gave the bidders the chance to object on the spot (条例 Art. 44), so that the
    objection-first rule of 条例 Art. 60 can apply to a complaint about it: not when the section ended
    unopened for too few bidders (no completed ceremony, no published record)."""
    from app.bidding.opening import not_opened_ceremony

    return not (_ceremony(section) is None and not_opened_ceremony(section) is not None)


def check_may_object(section: Any, actor: User) -> Any:
    """The ceremony an objection by ``actor`` would be raised in; refused with the rule otherwise."""
    if actor.role != Role.BIDDER:
        raise Forbidden(_("Only bidders of this section object at its opening (招标投标法实施条例第44条)."))
    ceremony = _ceremony(section)
    if ceremony is None or ceremony.completed_at is None:
        raise Conflict(
            _("Objections to the opening are raised once the opening record is published."),
            code="no_record",
        )
    if not any(e.org_id == actor.org_id for e in ceremony.entries):
        raise Forbidden(
            _(
                "Only bidders of this section object at its opening (招标投标法实施条例第44条): your "
                "organization has no bid in this opening record."
            ),
            code="not_a_bidder",
        )
    if str(section.status) not in {"opened", "failed"} or now() >= window_closes(ceremony):
        raise Conflict(
            _(
                "Objections to the opening are raised on the spot, on the day of the opening and before the "
                "evaluation (招标投标法实施条例第44条); a complaint may follow an answered objection."
            ),
            code="out_of_time",
        )
    return ceremony


def raise_objection(section: Any, *, actor: User, text: str) -> Objection:
    """An objection to the opening by a bidder of the section, as a case answered by the tenderer."""
    from . import services

    text = (text or "").strip()
    if not text:
        raise DomainError(_("Say what the objection is."), errors={"text": [_("Required.")]})
    check_may_object(section, actor)
    # one at a time and a few per opening, counted in the database under the section's row lock
    from app.projects.models import Section

    db.session.execute(select(Section.id).where(Section.id == section.id).with_for_update())
    mine = _opening_cases(section.id, actor.org_id)
    waiting = next((c for c in mine if c.status == S.SUBMITTED), None)
    if waiting is not None:
        raise TooManyObjections(
            _(
                "Your objection %(number)s is waiting for the tenderer's answer; raise the next one "
                "after it.",
                number=waiting.number,
            )
        )
    if len(mine) >= per_bidder():
        raise TooManyObjections(_("A bidder raises at most %(n)d objections at one opening.", n=per_bidder()))
    at = now()
    project = section.project
    case = Objection(
        status=S.DRAFT.value,
        section_id=section.id,
        matter=Matter.OPENING.value,
        regime=services.regime_of(section).value,
        filer_id=actor.id,
        filer_org_id=actor.org_id,
        respondent_org_id=project.agency_org_id or project.owner_org_id,
        subject=text[:200],
        facts=text,
        claims=text,
        knew_at=at,
        created_at=at,
    )
    db.session.add(case)
    services._file(case, actor=actor, at=at)
    case.handling_org_id = case.respondent_org_id
    services.transition(case, S.SUBMITTED, actor=actor, reason="raised on the spot")
    case.number = services._number(case)
    services.notify(
        services.org_users(project.owner_org_id, {Role.TENDERER})
        + services.org_users(project.agency_org_id, {Role.TENDERER}),
        _("Objection %(number)s at the opening", number=case.number),
        _("A bidder objects to the opening of %(section)s; answer it on the spot.", section=section.code),
    )
    return case


def answer(case: Case, *, actor: User, text: str) -> Case:
    """The tenderer's answer on the spot, on the case and in the opening record."""
    from app.bidding.models import OnSiteObjection
    from app.bidding.opening import channel

    from . import services
    from .permissions import can_answer_objection

    text = (text or "").strip()
    if case.kind != CaseKind.OBJECTION or case.matter != Matter.OPENING:
        raise Conflict(_("Not an objection to the opening."))
    if not can_answer_objection(actor, case):
        raise Forbidden(
            _("The tenderer answers objections to its opening on the spot (招标投标法实施条例第44条).")
        )
    if not text:
        raise DomainError(_("Write the answer."), errors={"answer": [_("Required.")]})
    if case.status != S.SUBMITTED:
        raise Conflict(_("This objection has been answered."))
    at = now()
    case.answer, case.answered_at = text, at
    services.transition(case, S.ANSWERED, actor=actor, reason="answered on the spot")
    row = db.session.scalar(select(OnSiteObjection).where(OnSiteObjection.case_id == case.id))
    if row is not None:
        row.answer, row.answered_by, row.answered_at = text[:4000], actor.id, at
        events.publish(
            db.session(),
            channel(case.section_id or 0),
            {"event": "answer", "id": row.id, "answer": row.answer},
        )
    if case.filer is not None:
        services.notify([case.filer], _("Objection %(number)s answered", number=case.number), text)
    return case


def unanswered_blocker(section: Any) -> str | None:
    """Installed into the evaluation's start checks: the opening is over only when every objection to it
    has its answer."""
    pending = db.session.scalar(
        select(func.count())
        .select_from(Case)
        .where(
            Case.section_id == section.id,
            Case.kind == CaseKind.OBJECTION.value,
            Case.matter == Matter.OPENING.value,
            Case.status == S.SUBMITTED.value,
        )
    )
    if not pending:
        return None
    return _(
        "%(n)d objection(s) to the opening wait for the tenderer's answer; the evaluation starts after they "
        "are answered (招标投标法实施条例第44条).",
        n=int(pending),
    )
