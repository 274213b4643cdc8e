"""Object-level checks of the evaluation domain. A party reaching another party's object gets 404.

* An expert works only in the evaluation of a section where it holds a confirmed seat (or a membership); a
  tenderer representative only where it is named (or sat).
* The tenderer (owner or agency organization of the project) publishes and awards its own sections and
  reads their report once it is closed.
* Center staff and the regulator supervising the section (its industry's) read the evaluation; the report
  once it is drawn up. Regulators of other industries get 404: the panel is sealed from them.
"""

from __future__ import annotations

from app.accounts.models import User
from app.core.permissions import Role
from app.projects.models import Section
from app.projects.permissions import supervises

from .enums import EvaluationStatus
from .models import Evaluation

CLOSED = frozenset(
    {
        EvaluationStatus.REPORTED,
        EvaluationStatus.PUBLICITY,
        EvaluationStatus.AWARDED,
        EvaluationStatus.ARCHIVED,
    }
)


def is_panel_expert(user: User, section: Section) -> bool:
    from . import services

    if user.role != Role.EXPERT:
        return False
    ev = services.evaluation_for(section)
    if ev is not None and any(m.user_id == user.id for m in ev.members):
        return True  # a replaced member still reads why
    return services.seat_of_user(section, user) is not None


def is_panel_member(user: User, section: Section) -> bool:
    """A drawn expert of the section, or a tenderer representative named to its panel (or who sat on it)."""
    if user.role == Role.EXPERT:
        return is_panel_expert(user, section)
    if user.role != Role.TENDERER:
        return False
    from . import panel, services

    if panel.representative_of(section, user) is not None:
        return True
    ev = services.evaluation_for(section)
    return ev is not None and any(m.user_id == user.id and m.is_representative for m in ev.members)


def is_section_tenderer(user: User, section: Section) -> bool:
    project = section.project
    return user.role == Role.TENDERER and user.org_id in {project.owner_org_id, project.agency_org_id}


def can_monitor(user: User, section: Section) -> bool:
    """Center staff, and the regulator supervising the section (the panel is sealed from the others)."""
    return user.role == Role.CENTER_STAFF or supervises(user, section)


def can_view_evaluation(user: User, section: Section) -> bool:
    """Who reads an evaluation's state at all: its panel members (the workspace), the section's tenderer (the
    manage page) and the monitors (the monitor page); what each sees of it is the page's own rule."""
    return is_panel_member(user, section) or is_section_tenderer(user, section) or can_monitor(user, section)


def can_read_report(user: User, section: Section, ev: Evaluation) -> bool:
    if ev.report_sha256 is None:
        return False
    if user.role in (Role.CENTER_STAFF, Role.REGULATOR):
        return can_monitor(user, section)
    from . import services

    if user.role in (Role.EXPERT, Role.TENDERER) and services.member_of(ev, user) is not None:
        return True  # a member signs the report it reads, a tenderer representative too
    return is_section_tenderer(user, section) and ev.status_enum in CLOSED


def can_download_archive(user: User, section: Section, ev: Evaluation) -> bool:
    if ev.archive_path is None:
        return False
    return can_monitor(user, section) or is_section_tenderer(user, section)
