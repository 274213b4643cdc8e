"""Government procurement (政府采购) results, which follow their own law rather than the works rules.

* No candidate publicity. Once the evaluation report is closed the purchaser confirms the supplier in the
  report's order — the first-ranked, unless a reason is recorded — and the result announcement
  (中标/成交结果公告) is published together with the award letters (采购条例 Art. 43: confirm within 5
  working days of receiving the report, announce within 2 working days of confirming; 财政部令第87号 Arts. 68,
  69: the announcement runs for 1 working day). The platform does both in one step: the announcement *is*
  the award (``reported → awarded``). An announcement later than 7 working days after the report closed is
  marked late, as the works publicity is.
* Challenges (质疑) to the result come after the announcement: within 7 working days of its end (采购法
  Art. 52; 采购条例 Art. 53) — see :mod:`app.complaints.clocks`.
* A pending challenge or complaint (投诉) on the section blocks the contract signing (采购条例 Art. 54:
  a challenge that may affect the result suspends the signing).
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import User
from app.core import calendar
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, NotFound
from app.projects.models import Section

from .enums import EvaluationStatus, NoticeKind
from .models import Evaluation

E = EvaluationStatus
ANNOUNCEMENT_WORKING_DAYS = 1  # 87号令 Art. 69
ANNOUNCE_WITHIN_WORKING_DAYS = 7  # 采购条例 Art. 43: 5 to confirm + 2 to announce

PENDING_CHALLENGE_STATES = ("submitted",)
PENDING_COMPLAINT_STATES = ("submitted", "transferred", "accepted", "investigating")


def is_procurement(section: Any) -> bool:
    return bool(section.project.catalogue_item.category == "government_procurement")


def announce_deadline(ev: Evaluation) -> Any:
    if ev.reported_at is None:
        return None
    return calendar.period_end(
        ev.reported_at, ANNOUNCE_WITHIN_WORKING_DAYS, unit="working", calendar=calendar.load_calendar()
    )


def announce_result(ev: Evaluation, *, actor: User, rank: int = 1, reason: str = "") -> Evaluation:
    """The purchaser confirms the supplier and publishes the result announcement: the award, its letters
    and the 1-working-day announcement period in one step (采购条例 Art. 43; 87号令 Arts. 68, 69)."""
    from . import services

    section = services.section_of(ev)
    if not services._owns(actor, section):
        raise NotFound(_("Not found."))
    if ev.notice_kind != NoticeKind.RESULT_ANNOUNCEMENT:
        raise Conflict(
            _(
                "Works tenders publish the candidates for at least 3 days before the award "
                "(招标投标法实施条例第54条); a result announcement is for government procurement."
            ),
            code="works_candidate_publicity",
        )
    if ev.status != E.REPORTED or section.status != "evaluating":
        raise Conflict(_("There is no closed report to announce."))
    blockers = services.award_blockers(section)
    if blockers:
        raise Conflict(" ".join(blockers), code="pending")
    candidate, reason = services.choose_candidate(ev, section, rank, reason)
    if rank != 1 and not reason:
        from app.core.errors import DomainError

        raise DomainError(
            _(
                "The purchaser confirms the first-ranked supplier unless a reason is recorded "
                "(财政部令第87号第68条)."
            ),
            errors={"reason": [_("Required.")]},
        )
    at = now()
    deadline = announce_deadline(ev)
    ev.publicity_late = bool(deadline is not None and at >= deadline)
    ev.publicity_starts_at = at
    ev.publicity_ends_at = calendar.period_end(
        at, ANNOUNCEMENT_WORKING_DAYS, unit="working", calendar=calendar.load_calendar()
    )
    services.issue_award(ev, section, candidate, rank, reason, actor=actor)
    services._audit(
        "evaluation:result:announce",
        actor,
        ev,
        {"starts_at": at, "ends_at": ev.publicity_ends_at, "late": ev.publicity_late, "rank": rank},
    )
    return ev


def contract_blockers(section: Section) -> list[str]:
    """Why the contract may not be signed yet: a pending challenge or complaint on a procurement section
    (采购条例 Art. 54)."""
    if not is_procurement(section):
        return []
    from app.complaints.models import Case

    pending = db.session.scalars(
        select(Case.number).where(
            Case.section_id == section.id,
            ((Case.kind == "objection") & Case.status.in_(PENDING_CHALLENGE_STATES))
            | ((Case.kind == "complaint") & Case.status.in_(PENDING_COMPLAINT_STATES)),
        )
    ).all()
    if not pending:
        return []
    return [
        _(
            "A challenge (质疑) or complaint (投诉) on this procurement is pending (%(numbers)s): "
            "the contract "
            "is not signed until it is settled (政府采购法实施条例第54条).",
            numbers=", ".join(n or "—" for n in pending),
        )
    ]
