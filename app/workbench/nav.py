"""Navigation entries per permission: a link shows only when the role may follow it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext

from app.core.permissions import Permission, has_permission


@dataclass(frozen=True)
class NavEntry:
    endpoint: str
    label: Any
    permission: Permission


# Later domains append their entries here.
NAV: list[NavEntry] = [
    NavEntry("workbench.home", _l("Workbench"), Permission.WORKBENCH_VIEW),
    NavEntry("admin.organizations", _l("Organizations"), Permission.ADMIN_ORGS),
    NavEntry("admin.users", _l("Accounts"), Permission.ADMIN_USERS),
    NavEntry("audit.log_page", _l("Audit log"), Permission.AUDIT_READ),
    NavEntry("calendar.overrides", _l("Holiday calendar"), Permission.CALENDAR_READ),
    NavEntry("projects.index", _l("Projects"), Permission.PROJECT_VIEW),
    NavEntry("projects.review_queue", _l("Registrations"), Permission.PROJECT_REVIEW),
    NavEntry("projects.rooms", _l("Opening rooms"), Permission.ROOMS_MANAGE),
    NavEntry("projects.tenders", _l("Tenders"), Permission.DOCUMENTS_OBTAIN),
    NavEntry("bidding.tenders", _l("My bids"), Permission.BIDDING_SUBMIT),
    NavEntry("bidding.openings", _l("Openings"), Permission.BIDDING_CEREMONY),
    NavEntry("bidding.custodian", _l("My key shares"), Permission.BIDDING_CUSTODIAN),
    NavEntry("bid_security.daily", _l("Bid security ledger"), Permission.BIDDING_LEDGER_READ),
    NavEntry("projects.catalogue", _l("Trading catalogue"), Permission.CATALOGUE_MANAGE),
    NavEntry("supervision.dashboard", _l("Live supervision"), Permission.SUPERVISION_MONITOR),
    NavEntry("supervision.alerts_desk", _l("Alerts desk"), Permission.SUPERVISION_ALERTS),
    NavEntry("supervision.interventions", _l("Interventions"), Permission.SUPERVISION_INTERVENE),
    NavEntry("supervision.admin_acts", _l("Administrative acts"), Permission.SUPERVISION_MONITOR),
    NavEntry("supervision.assessment_page", _l("Staff assessment"), Permission.SUPERVISION_ASSESSMENT),
    NavEntry("complaints.mine", _l("Objections and complaints"), Permission.COMPLAINTS_OWN),
    NavEntry("complaints.desk", _l("Complaint desk"), Permission.COMPLAINTS_DECIDE),
    NavEntry("complaints.board", _l("Supervision board"), Permission.COMPLAINTS_SUPERVISE),
    NavEntry("experts.pool", _l("Expert pool"), Permission.EXPERTS_POOL_MANAGE),
    NavEntry("experts.draw_room", _l("Expert draws"), Permission.EXPERTS_DRAW_REQUEST),
    NavEntry("experts.witness_list", _l("Witness draws"), Permission.EXPERTS_DRAW_WITNESS),
    NavEntry("experts.me", _l("My expert profile"), Permission.EXPERTS_SELF),
    NavEntry("evaluation.mine", _l("My evaluations"), Permission.EVALUATION_SCORE),
    NavEntry("evaluation.manage_list", _l("Evaluation results"), Permission.EVALUATION_PUBLISH),
    NavEntry("evaluation.monitor_list", _l("Evaluation monitor"), Permission.EVALUATION_MONITOR),
]


@dataclass(frozen=True)
class NavItem:
    url: str
    label: str


#: The top menu's groups, in order, and which entries (by endpoint prefix) each holds. A role that may follow
#: one entry of a group sees that entry as a plain link; several become a drop-down under the group's name,
#: so that every role's menu fits one line at 1280 px (hence short names: "top menu" context).
NAV_GROUPS: list[tuple[str, tuple[str, ...]]] = [
    ("trading", ("projects.", "prequal.", "bidding.", "bid_security.", "contracts.", "auctions.")),
    ("experts", ("experts.", "evaluation.")),
    ("cases", ("complaints.",)),
    ("supervision", ("supervision.", "audit.")),
    ("admin", ("admin.", "calendar.", "exchange.")),
]


def _group_label(key: str) -> str:
    return {
        "trading": pgettext("top menu", "Trading"),
        "experts": pgettext("top menu", "Experts"),
        "cases": pgettext("top menu", "Disputes"),
        "supervision": pgettext("top menu", "Supervision"),
        "admin": pgettext("top menu", "Setup"),
    }[key]


@dataclass(frozen=True)
class NavGroup:
    key: str
    label: str
    items: list[NavItem]


def _group_of(endpoint: str) -> str:
    if endpoint == "projects.catalogue":  # the catalogue is the management office's rule book
        return "admin"
    for key, prefixes in NAV_GROUPS:
        if endpoint.startswith(prefixes):
            return key
    return ""


def nav_groups(principal: Any) -> list[NavGroup]:
    """The top menu of this role: the workbench first, then each group that has an entry for it."""
    entries = [e for e in NAV if has_permission(principal.role, e.permission)]
    out = [
        NavGroup("", str(e.label), [NavItem(url_for(e.endpoint), str(e.label))])
        for e in entries
        if not _group_of(e.endpoint)
    ]
    for key, _prefixes in NAV_GROUPS:
        items = [NavItem(url_for(e.endpoint), str(e.label)) for e in entries if _group_of(e.endpoint) == key]
        if items:
            out.append(NavGroup(key, _group_label(key), items))
    return out


def nav_items(principal: Any) -> list[NavItem]:
    return [
        NavItem(url_for(e.endpoint), str(e.label))
        for e in NAV
        if has_permission(principal.role, e.permission)
    ]
