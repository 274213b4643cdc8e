"""Object-level checks of the projects domain. A party reaching another party's object gets 404."""

from __future__ import annotations

from app.accounts.models import User
from app.core.permissions import Role

from .enums import SectionStatus
from .models import DocumentObtainment, Project, Section, SectionDocument


def acts_for(user: User, project: Project) -> bool:
    """The user's organization owns the project or is the agency acting for the owner."""
    return user.role == Role.TENDERER and user.org_id in {project.owner_org_id, project.agency_org_id}


def can_view_project(user: User, project: Project) -> bool:
    if user.role == Role.TENDERER:
        return acts_for(user, project)
    return user.role in {Role.CENTER_STAFF, Role.MANAGER, Role.REGULATOR}


def can_edit_project(user: User, project: Project) -> bool:
    return acts_for(user, project)


def can_view_tender(user: User, section: Section) -> bool:
    """The published tender page: every business role once published; drafts only to the project's side."""
    if section.status == SectionStatus.DRAFT:
        return can_view_project(user, section.project) and user.role != Role.MANAGER
    return user.role != Role.SYSADMIN


def supervises(user: User, section: Section) -> bool:
    """Jurisdiction (监): the user is a regulator of the organization that supervises the section's project —
    the regulator of its industry, which registration derives from the trading catalogue
    (``services.supervising_regulator``). Witnessing its draws, its sealed panel, its opened envelopes'
    capture data, its alerts, report and archive are for that regulator only; any other regulator gets 404."""
    return user.role == Role.REGULATOR and user.org_id == section.project.regulator_org_id


def can_suspend(user: User, section: Section) -> bool:
    """A regulator suspends the trades it supervises."""
    return supervises(user, section)


def can_download(user: User, doc: SectionDocument, obtained: bool) -> bool:
    section = doc.section
    if user.role == Role.BIDDER:
        return obtained and doc.published_at is not None
    if user.role == Role.TENDERER:
        return acts_for(user, section.project)
    if user.role in {Role.CENTER_STAFF, Role.REGULATOR}:
        return doc.published_at is not None
    return False


def can_view_obtainment(user: User, obtainment: DocumentObtainment) -> bool:
    """Only the bidder company itself sees its registration (法 Art. 22)."""
    return user.role == Role.BIDDER and user.org_id == obtainment.bidder_org_id
