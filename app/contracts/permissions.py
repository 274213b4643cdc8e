"""Object-level checks of the contracts domain. A party reaching another party's contract gets 404."""

from __future__ import annotations

from app.accounts.models import User
from app.core.permissions import Role
from app.projects.models import Section
from app.projects.permissions import acts_for, supervises


def can_manage(user: User, section: Section) -> bool:
    """Upload, publish and amend: the tenderer's side of the section."""
    return acts_for(user, section.project)


def can_read(user: User, section: Section) -> bool:
    """The contract page and the archive listing: the tenderer's side, center staff, the office, and the
    regulator that supervises the section."""
    if user.role == Role.TENDERER:
        return acts_for(user, section.project)
    if user.role == Role.REGULATOR:
        return supervises(user, section)
    return user.role in {Role.CENTER_STAFF, Role.MANAGER}
