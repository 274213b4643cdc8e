"""Object-level checks of prequalification. A party reaching a round it may not see gets 404."""

from __future__ import annotations

import datetime as dt

from app.accounts.models import User
from app.core.clock import now
from app.core.permissions import Role

from ..permissions import acts_for, supervises
from .enums import PrequalStatus
from .models import PrequalApplication, Prequalification


def can_manage(user: User, pq: Prequalification) -> bool:
    """Prepare, publish, review and notify: the tenderer's side of the section (tenderer or agency)."""
    return acts_for(user, pq.section.project)


def can_view(user: User, pq: Prequalification) -> bool:
    """A draft: the tenderer's side and the center staff. Published: every bidder (the notice is public), the
    tenderer's side, the center staff and office, and the regulator that supervises the section."""
    if user.role == Role.TENDERER:
        return acts_for(user, pq.section.project)
    if pq.status == PrequalStatus.DRAFT:
        return user.role == Role.CENTER_STAFF
    if user.role == Role.REGULATOR:
        return supervises(user, pq.section)
    return user.role in {Role.BIDDER, Role.CENTER_STAFF, Role.MANAGER}


def can_apply(user: User, pq: Prequalification) -> bool:
    return user.role == Role.BIDDER and pq.status == PrequalStatus.PUBLISHED


def applications_closed(pq: Prequalification, at: dt.datetime | None = None) -> bool:
    return pq.application_deadline is not None and (at or now()) >= pq.application_deadline


def can_see_applicants(user: User, pq: Prequalification, at: dt.datetime | None = None) -> bool:
    """Who applied is secret until the deadline, from everybody but each applicant (its own application);
    afterwards the tenderer's side reviews them, staff, the office and the supervising regulator see them."""
    if pq.status == PrequalStatus.DRAFT or not applications_closed(pq, at):
        return False
    if user.role == Role.BIDDER:
        return False
    return can_view(user, pq)


def can_see_qualified_count(user: User, pq: Prequalification) -> bool:
    """How many applicants qualified is how many potential bidders there are, whose number stays confidential
    (招标投标法 Art. 22): each applicant learns its own result only; the parties that may see the applicants
    see the count."""
    return user.role != Role.BIDDER and can_view(user, pq)


def can_read_application(user: User, app: PrequalApplication) -> bool:
    """The application file: its applicant always; others once the applicants may be seen."""
    if user.role == Role.BIDDER:
        return user.org_id == app.applicant_org_id
    return can_see_applicants(user, app.prequalification)
