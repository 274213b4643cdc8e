"""Object-level checks of the experts domain. A party reaching a sealed panel gets 404, not 403.

Sealed panels (12号令 Art. 8, 法 Art. 37): until the section is awarded, a draw and its panel are visible
only to the staff member who requested it and to the regulator supervising the section (its industry's).
After the award, the tenderer (or its agency), the section's bidders and all center staff may see it too."""

from __future__ import annotations

from app.accounts.models import User
from app.core.clock import now
from app.core.db import db
from app.core.permissions import Role

from .enums import SeatStatus
from .models import ExpertDraw, PanelSeat

AWARDED_STATUSES = frozenset({"awarded", "archived"})


def section_awarded(draw: ExpertDraw) -> bool:
    from app.projects.models import Section

    section = db.session.get(Section, draw.section_id)
    return section is not None and section.status in AWARDED_STATUSES


def is_drawing_staff(user: User, draw: ExpertDraw) -> bool:
    return user.role == Role.CENTER_STAFF and draw.requested_by == user.id


def supervises_draw(user: User, draw: ExpertDraw) -> bool:
    """The regulator supervising the draw's section (its industry's regulator): it witnesses the draw and
    sees the sealed panel; regulators of other industries do not."""
    from app.projects.models import Section
    from app.projects.permissions import supervises

    section = db.session.get(Section, draw.section_id)
    return section is not None and supervises(user, section)


def can_witness(user: User, draw: ExpertDraw) -> bool:
    return supervises_draw(user, draw)


def can_view_panel(user: User, draw: ExpertDraw) -> bool:
    if user.role == Role.REGULATOR:
        return supervises_draw(user, draw)
    if is_drawing_staff(user, draw):
        return True
    if user.role not in (Role.CENTER_STAFF, Role.TENDERER, Role.BIDDER) or not section_awarded(draw):
        return False
    if user.role == Role.CENTER_STAFF:
        return True
    from app.projects.models import Section

    from .services import is_party_user, section_parties

    section = db.session.get(Section, draw.section_id)
    return section is not None and is_party_user(user, section_parties(section))


def can_manage_draw(user: User, draw: ExpertDraw) -> bool:
    """Cancel, watch answers and replacements: the drawing staff member only."""
    return is_drawing_staff(user, draw)


def can_rate(user: User, seat: PanelSeat) -> bool:
    """After the evaluation started: the drawing staff; after the award: the tenderer or its agency."""
    draw = seat.draw
    if seat.status != SeatStatus.CONFIRMED or now() < draw.evaluation_starts_at:
        return False
    if is_drawing_staff(user, draw):
        return True
    if user.role == Role.TENDERER and section_awarded(draw):
        return user.org_id in {draw.tenderer_org_id, draw.agency_org_id}
    return False


def can_answer(user: User, seat: PanelSeat) -> bool:
    return user.role == Role.EXPERT and seat.expert.user_id == user.id
