"""Object checks of the supervision domain. Every regulator reads everything (SPEC §1); acting on a trade
(suspend, notices, deciding its alerts) is for the regulator that supervises it. Alerts carry capture data
(IP addresses, machines, signing keys): only the supervising regulator reads them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.accounts.models import User
from app.projects.models import Project, Section
from app.projects.permissions import can_suspend, supervises

from .models import SupervisionAlert


def can_act_on(user: User, section: Section) -> bool:
    return can_suspend(user, section)


def visible_alerts(user: User) -> Any:
    """The SQL condition on :class:`SupervisionAlert` of the alerts ``user`` may read (the alerts desk and
    the API): those of the sections its regulator organization supervises."""
    supervised = select(Section.id).join(Project).where(Project.regulator_org_id == user.org_id)
    if user.role != "regulator":
        return SupervisionAlert.id.is_(None)  # as ``supervises``: regulators only
    return SupervisionAlert.section_id.in_(supervised)


def can_view_alert(user: User, alert: SupervisionAlert, section: Section) -> bool:
    """``visible_alerts`` for one alert (``section`` is the alert's)."""
    return section.id == alert.section_id and supervises(user, section)
