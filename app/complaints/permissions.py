"""Object-level checks of the complaints domain. A party reaching another party's case gets 404."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from app.accounts.models import User
from app.core.calendar import local_date
from app.core.clock import now
from app.core.db import db
from app.core.permissions import Role

from .enums import Audience, CaseKind, CaseStatus
from .models import Case, HandlerAbsence


def _project_side(user: User, case: Case) -> bool:
    """The user's organization owns the case's project or is its agency (the respondent side)."""
    if case.section is None or user.role != Role.TENDERER:
        return False
    project = case.section.project
    return user.org_id in {project.owner_org_id, project.agency_org_id}


def is_filer(user: User, case: Case) -> bool:
    return case.filer_org_id is not None and user.org_id == case.filer_org_id and user.role == Role.BIDDER


def is_respondent(user: User, case: Case) -> bool:
    return case.kind != CaseKind.REPORT and case.status != CaseStatus.DRAFT and _project_side(user, case)


def is_handling_department(user: User, case: Case) -> bool:
    return (
        user.role in {Role.MANAGER, Role.REGULATOR}
        and case.handling_org_id is not None
        and user.org_id == case.handling_org_id
    )


def can_view(user: User, case: Case) -> bool:
    """Filers see their organization's cases; respondents the cases against them (never drafts); the
    handling department its cases; the management office every filed case (it coordinates and supervises);
    regulators the cases on the trades they supervise."""
    if is_filer(user, case):
        return True
    if case.status == CaseStatus.DRAFT:
        return False
    if is_respondent(user, case) or is_handling_department(user, case):
        return True
    if user.role == Role.MANAGER:
        return True
    if user.role == Role.REGULATOR and case.section is not None:
        return user.org_id == case.section.project.regulator_org_id
    return False


def can_see_identity(user: User, case: Case) -> bool:
    """A reporter's identity is visible to the handling department only (北京条例 Art. 44)."""
    return is_handling_department(user, case)


def is_absent(user_id: int | None, day: dt.date | None = None) -> bool:
    if user_id is None:
        return False
    day = day or local_date(now())
    return (
        db.session.scalar(
            select(HandlerAbsence.id).where(
                HandlerAbsence.user_id == user_id,
                HandlerAbsence.first_day <= day,
                HandlerAbsence.last_day >= day,
            )
        )
        is not None
    )


def can_act(user: User, case: Case) -> bool:
    """Who may act for the handling department on ``case`` (首问负责 and AB角):

    * the primary handler (A角) once assigned; the backup (B角) when the primary is absent or the backup was
      alerted (the case neared its due date untouched);
    * before assignment, whoever received the case first (the owner) until it is formally transferred;
    * before anyone received it, anyone in the handling department (acting receives it).
    """
    if not is_handling_department(user, case):
        return False
    if case.primary_handler_id is not None:
        if user.id == case.primary_handler_id:
            return True
        if user.id == case.backup_handler_id:
            return case.backup_may_act or is_absent(case.primary_handler_id)
        return False
    if case.owner_id is not None:
        return user.id == case.owner_id
    return True


def can_coordinate(user: User, case: Case) -> bool:
    """Receive, forward (转办) and assign (交办): the owner, or anyone in the department before receipt."""
    if not is_handling_department(user, case):
        return False
    return case.owner_id is None or case.owner_id == user.id


def can_answer_objection(user: User, case: Case) -> bool:
    return case.kind == CaseKind.OBJECTION and _project_side(user, case)


def can_supervise(user: User, case: Case) -> bool:
    """The management office supervises (督办) every case; a regulator the cases its department handles."""
    return user.role == Role.MANAGER or is_handling_department(user, case)


def visible_audiences(user: User | None, case: Case) -> frozenset[Audience]:
    """Which thread messages a user may read."""
    if user is None:
        return frozenset({Audience.PARTIES, Audience.FILER})  # the reporter, through the tracking code
    audiences = set()
    if is_filer(user, case):
        audiences |= {Audience.PARTIES, Audience.FILER}
    if is_respondent(user, case):
        audiences |= {Audience.PARTIES, Audience.RESPONDENT}
    if is_handling_department(user, case):
        audiences |= set(Audience)
    elif user.role in {Role.MANAGER, Role.REGULATOR} and can_view(user, case):
        audiences |= {Audience.PARTIES}
    return frozenset(audiences)


def side_of(user: User, case: Case) -> str | None:
    if is_handling_department(user, case):
        return "handler"
    if is_filer(user, case):
        return "filer"
    if is_respondent(user, case):
        return "respondent"
    return None


def visible_cases(user: User) -> Any:
    """The SQL condition of :func:`can_view` (lists and the API page by it; each row is checked again with
    :func:`can_view`, the one rule)."""
    from sqlalchemy import false, or_

    from app.projects.models import Project, Section

    not_draft = Case.status != CaseStatus.DRAFT.value
    if user.role == Role.BIDDER:
        return Case.filer_org_id == user.org_id
    if user.role == Role.TENDERER:
        sections = (
            select(Section.id)
            .join(Project, Project.id == Section.project_id)
            .where(or_(Project.owner_org_id == user.org_id, Project.agency_org_id == user.org_id))
        )
        return not_draft & (Case.kind != CaseKind.REPORT.value) & Case.section_id.in_(sections)
    if user.role == Role.MANAGER:
        return not_draft
    if user.role == Role.REGULATOR:
        supervised = (
            select(Section.id)
            .join(Project, Project.id == Section.project_id)
            .where(Project.regulator_org_id == user.org_id)
        )
        return not_draft & or_(Case.handling_org_id == user.org_id, Case.section_id.in_(supervised))
    return false()
