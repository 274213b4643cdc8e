"""Navigation entries per permission: a link shows only when the role may follow it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import url_for
from flask_babel import lazy_gettext as _l

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
]


@dataclass(frozen=True)
class NavItem:
    url: str
    label: str


def nav_items(principal: Any) -> list[NavItem]:
    return [
        NavItem(url_for(e.endpoint), str(e.label))
        for e in NAV
        if has_permission(principal.role, e.permission)
    ]
