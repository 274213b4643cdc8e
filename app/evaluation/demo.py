"""Demo support: sign-in accounts for the experts drawn onto a section's panel.

A demo pool has hundreds of experts and only one expert account; a draw picks at random, so the demo needs
a login for each drawn expert to be driven through the UI (five browser windows, one per member). This
links a fresh account (password printed once) to every drawn expert that has none, and — with
``confirm`` — answers their invitations, as the experts would by SMS.
"""

from __future__ import annotations

import secrets

from sqlalchemy import select

from app.accounts import services as accounts
from app.accounts.models import Organization, User
from app.core.db import db
from app.core.permissions import Role
from app.experts import draws
from app.experts.enums import SeatStatus
from app.projects.models import Section


def link_panel_accounts(section: Section, *, confirm: bool = True) -> list[str]:
    """Printable ``username | password`` lines for the drawn experts of ``section`` that had no account."""
    draw = draws.active_draw_for(section.id)
    if draw is None:
        return []
    lines = []
    for seat in sorted(draw.seats, key=lambda s: s.id):
        if seat.status not in (SeatStatus.INVITED, SeatStatus.CONFIRMED):
            continue
        expert = seat.expert
        if expert.user_id is None:
            org = db.session.get(Organization, expert.employer_org_id)
            assert org is not None
            username = f"expert-s{section.id}-{seat.id}"
            password = "demo-" + secrets.token_urlsafe(9)
            user = accounts.create_user(
                username=username,
                display_name=expert.name,
                organization=org,
                role=Role.EXPERT,
                password=password,
                actor=None,
            )
            expert.user_id = user.id
            db.session.flush()  # the seat's answer below is given as this user
            lines.append(f"{username:<24} | {password}")
        if confirm and seat.status == SeatStatus.INVITED:
            user_row = db.session.scalar(select(User).where(User.id == expert.user_id))
            draws.respond(seat, accept=True, actor=user_row)
    return lines
