"""Procurement intentions (采购意向公开, 财库〔2020〕10号).

A government procurement purchaser (or its agency) publishes, for a registered project, what it intends to
buy: the project name, the budget, a summary of the needs and the expected month. The tender announcement of
a government procurement section is refused unless an intention of its project was published at least 30
days before (:func:`intention_check`, run by app/projects/services/publication.py). Counting as the other
publication rules (app/projects/rules.py): the publication day is not counted, the announcement day counts.
An intention whose expected month ends less than 30 days after its publication could never be followed by a
lawful announcement in that month: its publication is refused.
"""

from __future__ import annotations

import calendar as month_calendar
import datetime as dt
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import User
from app.core import audit
from app.core.calendar import WorkCalendar, load_calendar, local_date
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.projects import rules
from app.projects.enums import Category, DayUnit
from app.projects.models import Project, Section
from app.projects.permissions import acts_for

from .enums import INTENTION_TRANSITIONS, IntentionStatus
from .models import ProcurementIntention
from .services import parse_amount

I = IntentionStatus  # noqa: E741  (the domain's one-letter alias, as S for SectionStatus)


def _audit(action: str, actor: User | None, intention: ProcurementIntention, payload: dict[str, Any]) -> None:
    audit.record(
        action,
        actor=actor,
        object_type="procurement_intention",
        object_id=intention.id,
        payload={"project_id": intention.project_id, **payload},
    )


def _month_end(month: dt.date) -> dt.date:
    return month.replace(day=month_calendar.monthrange(month.year, month.month)[1])


def parse_month(raw: str) -> dt.date:
    """``2027-03`` → 2027-03-01."""
    try:
        year, month = (int(p) for p in (raw or "").strip().split("-")[:2])
        return dt.date(year, month, 1)
    except ValueError:
        message = _("Enter the expected month.")
        raise DomainError(message, errors={"expected_month": [message]}) from None


def create_intention(
    project: Project,
    *,
    actor: User,
    project_name: str,
    budget: object,
    needs_summary: str,
    expected_month: dt.date,
) -> ProcurementIntention:
    if not acts_for(actor, project):
        raise NotFound(_("Not found."))
    if project.catalogue_item.category != Category.GOVERNMENT_PROCUREMENT:
        message = _("Procurement intentions are published for government procurement projects only.")
        raise DomainError(message, errors={"project_id": [message]})
    name = (project_name or "").strip()
    if not name or len(name) > 200:
        raise DomainError(
            _("Enter the project name."), errors={"project_name": [_("Enter the project name.")]}
        )
    summary = (needs_summary or "").strip()
    if not summary or len(summary) > 4000:
        message = _("Summarise the procurement needs.")
        raise DomainError(message, errors={"needs_summary": [message]})
    value = parse_amount(budget, "budget")
    if _month_end(expected_month) < local_date(now()):
        message = _("The expected month has passed.")
        raise DomainError(message, errors={"expected_month": [message]})
    intention = ProcurementIntention(
        project_id=project.id,
        org_id=actor.org_id,
        project_name=name,
        budget=value,
        needs_summary=summary,
        expected_month=expected_month,
        status=I.DRAFT.value,
        created_at=now(),
        created_by=actor.id,
    )
    db.session.add(intention)
    db.session.flush()  # the intention id goes into its audit leaf
    _audit(
        "contracts:intention:create",
        actor,
        intention,
        {"budget": str(value), "expected_month": expected_month.isoformat()},
    )
    return intention


def _transition(intention: ProcurementIntention, to: IntentionStatus) -> None:
    if to not in INTENTION_TRANSITIONS[IntentionStatus(intention.status)]:
        raise Conflict(_("This intention cannot change that way any more."))
    intention.status = to.value


def publish_intention(intention: ProcurementIntention, *, actor: User) -> ProcurementIntention:
    project = db.session.get(Project, intention.project_id)
    if project is None or not acts_for(actor, project):
        raise NotFound(_("Not found."))
    at = now()
    earliest = rules.earliest_date(at, rules.INTENTION_LEAD_DAYS, DayUnit.CALENDAR, load_calendar())
    if _month_end(intention.expected_month) < earliest:
        message = _(
            "The intention must be public at least 30 days before the procurement (财库〔2020〕10号): the "
            "expected month ends before %(day)s. Choose a later month.",
            day=earliest.isoformat(),
        )
        raise DomainError(message, errors={"expected_month": [message]}, code="intention_too_short")
    _transition(intention, I.PUBLISHED)
    intention.published_at = at
    _audit("contracts:intention:publish", actor, intention, {"earliest_announcement": earliest.isoformat()})
    return intention


def withdraw_intention(intention: ProcurementIntention, *, actor: User, reason: str) -> ProcurementIntention:
    project = db.session.get(Project, intention.project_id)
    if project is None or not acts_for(actor, project):
        raise NotFound(_("Not found."))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give the reason."), errors={"reason": [_("Give the reason.")]})
    _transition(intention, I.WITHDRAWN)
    intention.withdrawn_at, intention.withdraw_reason = now(), reason[:2000]
    _audit("contracts:intention:withdraw", actor, intention, {"reason": intention.withdraw_reason})
    return intention


def published_for(project_id: int) -> list[ProcurementIntention]:
    return list(
        db.session.scalars(
            select(ProcurementIntention)
            .where(
                ProcurementIntention.project_id == project_id,
                ProcurementIntention.status == I.PUBLISHED.value,
            )
            .order_by(ProcurementIntention.published_at)
        )
    )


def public_intentions(*, limit: int = 200) -> list[ProcurementIntention]:
    return list(
        db.session.scalars(
            select(ProcurementIntention)
            .where(ProcurementIntention.status == I.PUBLISHED.value)
            .order_by(ProcurementIntention.published_at.desc(), ProcurementIntention.id.desc())
            .limit(limit)
        )
    )


def intention_check(section: Section, at: dt.datetime, calendar: WorkCalendar) -> rules.RuleCheck | None:
    """The publication check of a government procurement section (None for other categories)."""
    if section.project.catalogue_item.category != Category.GOVERNMENT_PROCUREMENT:
        return None
    published = [i for i in published_for(section.project_id) if i.published_at is not None]
    if not published:
        return rules.RuleCheck(
            "intention",
            False,
            _(
                "Publish the procurement intention of this project at least 30 days before the tender "
                "announcement (财库〔2020〕10号)."
            ),
        )
    first = published[0]
    assert first.published_at is not None
    earliest = rules.earliest_date(first.published_at, rules.INTENTION_LEAD_DAYS, DayUnit.CALENDAR, calendar)
    params = {"published": rules.fmt_day(first.published_at), "earliest": earliest.isoformat()}
    if local_date(at) < earliest:
        return rules.RuleCheck(
            "intention",
            False,
            _(
                "The procurement intention was published on %(published)s: the tender announcement may "
                "follow from %(earliest)s, at least 30 days later (财库〔2020〕10号).",
                **params,
            ),
            params,
        )
    return rules.RuleCheck(
        "intention", True, _("Procurement intention published on %(published)s.", **params), params
    )


def projects_for_intentions(user: User) -> list[Project]:
    """The user's side's government procurement projects (the form's choices)."""
    from app.projects.models import CatalogueItem

    return list(
        db.session.scalars(
            select(Project)
            .join(CatalogueItem, CatalogueItem.id == Project.catalogue_item_id)
            .where(
                CatalogueItem.category == Category.GOVERNMENT_PROCUREMENT.value,
                (Project.owner_org_id == user.org_id) | (Project.agency_org_id == user.org_id),
            )
            .order_by(Project.id.desc())
        )
    )


def intentions_for(user: User) -> list[ProcurementIntention]:
    return list(
        db.session.scalars(
            select(ProcurementIntention)
            .join(Project, Project.id == ProcurementIntention.project_id)
            .where((Project.owner_org_id == user.org_id) | (Project.agency_org_id == user.org_id))
            .order_by(ProcurementIntention.id.desc())
        )
    )
