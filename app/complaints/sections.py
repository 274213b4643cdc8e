"""What cases do to sections, only through the projects domain's public services: suspend while an
objection or investigation is pending, resume after, and apply the remedy of an upheld complaint through
the section state machine. Kept in one place so the seam is easy to find."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from app.accounts.models import User
from app.core.calendar import load_calendar, period_end
from app.core.db import db
from app.core.errors import Conflict
from app.core.labels import label

from .clocks import PROCUREMENT_SUSPENSION_DAYS
from .enums import CaseKind, CaseStatus, Regime, Remedy
from .models import Case

#: The evaluation domain installs the candidate publicity window of a section here:
#: ``provider(section) -> (starts_at, ends_at) | None``. Until it does, a section in ``publicity`` is
#: inside its window and any other section is not.
PublicityWindow = Callable[[Any], tuple[dt.datetime, dt.datetime] | None]
_publicity_provider: list[PublicityWindow] = []


def set_publicity_window_provider(provider: PublicityWindow | None) -> None:
    _publicity_provider.clear()
    if provider is not None:
        _publicity_provider.append(provider)


def publicity_window(section: Any) -> tuple[dt.datetime, dt.datetime] | None:
    if _publicity_provider:
        return _publicity_provider[0](section)
    return None


def in_publicity(section: Any, at: dt.datetime) -> bool:
    window = publicity_window(section)
    if window is not None:
        return window[0] <= at < window[1]
    return bool(section.status == "publicity")


CONCLUDED = frozenset({"awarded", "archived", "failed", "cancelled"})


def is_public(section: Any) -> bool:
    """A section cases may be filed against: published, or a draft whose prequalification is announced
    (资格预审公告: its documents are public and may be objected to, 条例 Art. 22). Other drafts are secret."""
    if section.status != "draft":
        return True
    from app.projects.prequal.services import current_round

    pq = current_round(section)
    return pq is not None and pq.status != "draft"


def is_concluded(section: Any) -> bool:
    """The trade has ended (award, failure, cancellation): there is no procedure left to suspend."""
    return str(section.status) in CONCLUDED


def _pending_holder(section_id: int, exclude: int) -> Case | None:
    """Another open case on the section that could hold the suspension."""
    return db.session.scalar(
        select(Case)
        .where(
            Case.section_id == section_id,
            Case.id != exclude,
            Case.status.in_([CaseStatus.SUBMITTED.value, CaseStatus.INVESTIGATING.value]),
            Case.kind != "report",
        )
        .order_by(Case.id)
    )


def suspend_for(case: Case, *, actor: User, reason: str) -> bool:
    """Suspend the case's section, or — when a regulator or another case suspended it already — join that
    suspension: the case holds it either way, so nobody resumes the section before the case is answered
    (条例 Art. 22, 54). Returns whether the section was suspended now."""
    from app.projects import services as projects

    section = case.section
    if section is None:
        return False
    case.suspended_section = True
    if section.suspended:
        return False
    projects.suspend_section(section, actor=actor, reason=reason, cause="case")
    return True


def release_for(case: Case, *, actor: User, note: str) -> None:
    """Let go of the section's suspension once the case is answered or decided: the section resumes —
    unless another pending case on the same section takes it over (it then stays suspended until that case
    is answered too), or a regulator's intervention started it (the regulator resumes it, now that no case
    holds it)."""
    from app.projects import services as projects

    if not case.suspended_section:
        return
    case.suspended_section = False
    section = case.section
    if section is None or not section.suspended:
        return
    other = _pending_holder(section.id, case.id)
    if other is not None:
        other.suspended_section = True
        return
    suspension = projects.open_suspension(section)
    if suspension is not None and suspension.cause != "case":
        return
    projects.resume_section(section, actor=actor, note=note)


def suspension_limit(case: Case) -> dt.datetime | None:
    """When the suspension of a government procurement must end at the latest while ``case``, a complaint,
    is handled (政府采购法 Art. 57: 最长不得超过三十日): 30 日 from the later of the suspension and the
    acceptance, counted as every other period. None when the limit does not apply: not a procurement
    complaint, the case decided or closed, the section not suspended, or suspended for another case (an
    objection or a challenge holds it, the case does not)."""
    from app.projects import services as projects

    section = case.section
    if (
        case.kind != CaseKind.COMPLAINT.value
        or case.regime_enum is not Regime.PROCUREMENT
        or case.accepted_at is None
        or case.decided_at is not None
        or case.closed_at is not None
        or section is None
        or not section.suspended
    ):
        return None
    row = projects.open_suspension(section)
    if row is None or not (case.suspended_section or row.cause == "intervention"):
        return None
    start = max(row.started_at, case.accepted_at)
    return period_end(start, PROCUREMENT_SUSPENSION_DAYS, unit="calendar", calendar=load_calendar())


#: Why an unanswered objection holds its section, per matter (the article that suspends the procedure).
HOLD_ARTICLES = {
    "documents": "实施条例第22条",
    "prequal": "实施条例第22条",
    "results": "实施条例第54条",
}


def unanswered_objection_guard(section: Any, actor: User) -> str | None:
    """Installed into the projects domain's resume guards: while an objection that suspended the section
    waits for the tenderer's answer, nobody — a regulator included — resumes the section; the answer does
    (:func:`release_for`)."""
    holder = db.session.scalar(
        select(Case)
        .where(
            Case.section_id == section.id,
            Case.kind == "objection",
            Case.status == CaseStatus.SUBMITTED.value,
            Case.suspended_section.is_(True),
        )
        .order_by(Case.id)
        .limit(1)
    )
    if holder is None:
        return None
    from flask_babel import gettext as _

    article = HOLD_ARTICLES.get(holder.matter, "政府采购法实施条例第54条")
    number = holder.number or str(holder.id)
    return _(
        "Objection %(number)s has not been answered: the procedure stays suspended until the tenderer "
        "answers it (%(article)s); nobody, a regulator included, resumes it before the answer.",
        number=number,
        article=article,
    )


#: The evaluation domain installs how a remedy acts on a section whose evaluation has begun:
#: ``handler(section, remedy, actor=, case_number=) -> new section status | None`` — None when the remedy
#: is not one for the evaluation in its state; :data:`REMEDY_TARGETS` then applies.
EvaluationRemedy = Callable[..., str | None]
_evaluation_remedy: list[EvaluationRemedy] = []


def set_evaluation_remedy(handler: EvaluationRemedy | None) -> None:
    _evaluation_remedy.clear()
    if handler is not None:
        _evaluation_remedy.append(handler)


# Remedy → the section states to move to, in order of preference (the first the state machine allows),
# when the evaluation domain has nothing to do (no evaluation yet, or nothing in it to undo).
REMEDY_TARGETS: dict[Remedy, tuple[str, ...]] = {
    Remedy.CORRECTION: (),
    # 重新评审 before the evaluation has begun: there is nothing to evaluate again yet.
    Remedy.RE_EVALUATION: (),
    # 重新招标: the trade ends as failed (流标, re-tender offered) or, where the machine allows only that,
    # cancelled with the decision as the public reason.
    Remedy.RE_TENDER: ("failed", "cancelled"),
    # 中标无效 with no award issued yet ("no winner yet → re-procure"): the trade ends.
    Remedy.VOID_AWARD: ("cancelled",),
}


def apply_remedy(case: Case, remedy: Remedy, *, actor: User) -> str | None:
    """Act on the section as the remedy orders: through the evaluation domain once the evaluation has
    begun (re-evaluation restarts it; a voided award goes back to choosing among the remaining candidates
    or ends the trade; both state machines move together), else through :data:`REMEDY_TARGETS`. Returns
    the section's status afterwards, or None when nothing changed (a correction order, or a state the
    machines do not allow — recorded on the case by the caller)."""
    from app.projects import services as projects
    from app.projects.enums import SectionStatus

    section = case.section
    if section is None or remedy is Remedy.CORRECTION:
        return None
    if _evaluation_remedy:
        try:
            moved = _evaluation_remedy[0](
                section, remedy.value, actor=actor, case_number=case.number or f"#{case.id}"
            )
        except Conflict:
            return None
        if moved is not None:
            return moved
    current = SectionStatus(section.status)
    allowed = projects.TRANSITIONS.get(current, frozenset())
    for target in REMEDY_TARGETS[remedy]:
        if SectionStatus(target) in allowed:
            reason = f"{case.number}: {label('remedy', remedy)}"
            try:
                projects.transition(section, target, actor=actor, reason=reason)
            except Conflict:
                return None
            return target
    return None
