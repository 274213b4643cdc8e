"""Object-level checks of the bidding domain. A party reaching another party's object gets 404."""

from __future__ import annotations

from app.accounts.models import User
from app.core.permissions import Role
from app.projects.enums import SectionStatus
from app.projects.models import Section
from app.projects.permissions import supervises

from .models import SealedEnvelope
from .security.models import BidSecurity

#: Once the opening record is out, these states have no sealed secrets left.
OPENED_STATES = frozenset(
    {
        SectionStatus.OPENED,
        SectionStatus.EVALUATING,
        SectionStatus.PUBLICITY,
        SectionStatus.AWARDED,
        SectionStatus.ARCHIVED,
    }
)
BIDDING_STATES = frozenset({SectionStatus.PUBLISHED})


def is_opened(section: Section) -> bool:
    from .opening import completed_ceremony

    return SectionStatus(section.status) in OPENED_STATES or completed_ceremony(section) is not None


def can_submit(user: User, section: Section) -> bool:
    return user.role == Role.BIDDER and SectionStatus(section.status) in BIDDING_STATES


def can_see_envelope(user: User, envelope: SealedEnvelope) -> bool:
    """Only the bidder's own organization, ever, through the envelope and receipt pages."""
    return user.role == Role.BIDDER and envelope.org_id == user.org_id


def is_custodian(user: User, section: Section) -> bool:
    return any(c.user_id == user.id for c in section.custodians)


def can_see_count(user: User, section: Section) -> bool:
    """Center staff see how many bidders submitted, before the opening; nobody else sees anything."""
    return user.role == Role.CENTER_STAFF and section.status != SectionStatus.DRAFT


def can_run_ceremony(user: User, section: Section) -> bool:
    return user.role == Role.CENTER_STAFF and section.status != SectionStatus.DRAFT


def can_read_opened(user: User, section: Section) -> bool:
    """Opened envelopes with their capture data (IP, machine, signing key): center staff, and the regulator
    that supervises the section (not every regulator)."""
    if user.role == Role.REGULATOR and not supervises(user, section):
        return False
    return user.role in {Role.CENTER_STAFF, Role.REGULATOR} and is_opened(section)


# -- bid security (app/bidding/security) -------------------------------------------------------------------


def may_see_identity(user: User, security: BidSecurity) -> bool:
    """Who paid (or guaranteed) a section's security: before the opening the bidder itself only; afterwards
    center staff and the regulator that supervises the section."""
    if user.role == Role.BIDDER:
        return security.org_id == user.org_id
    if user.role == Role.REGULATOR and not supervises(user, security.section):
        return False
    return user.role in {Role.CENTER_STAFF, Role.REGULATOR} and is_opened(security.section)


def can_read_security_ledger(user: User, section: Section) -> bool:
    """Counts and amounts of a section's securities: center staff, and the supervising regulator."""
    if user.role == Role.REGULATOR:
        return supervises(user, section)
    return user.role == Role.CENTER_STAFF
