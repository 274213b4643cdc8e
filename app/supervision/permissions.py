"""Object checks of the supervision domain. Every regulator reads everything (SPEC §1); acting on a trade
(suspend, notices, deciding its alerts) is for the regulator that supervises it."""

from __future__ import annotations

from app.accounts.models import User
from app.projects.models import Section
from app.projects.permissions import can_suspend


def can_act_on(user: User, section: Section) -> bool:
    return can_suspend(user, section)
