"""Roles and permissions as data, and the decorators every route declares.

Deny by default: a view without ``@require(...)`` or ``@public`` is refused by the request guard in
``app.core.web`` and fails the authorization-matrix test.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Role(StrEnum):
    BIDDER = "bidder"
    TENDERER = "tenderer"
    CENTER_STAFF = "center_staff"
    MANAGER = "manager"
    REGULATOR = "regulator"
    EXPERT = "expert"
    SYSADMIN = "sysadmin"


class OrgKind(StrEnum):
    TENDERER = "tenderer"
    AGENCY = "agency"
    BIDDER = "bidder"
    TRADING_CENTER = "trading_center"
    MANAGEMENT_OFFICE = "management_office"
    REGULATOR = "regulator"
    EXPERT_EMPLOYER = "expert_employer"
    PLATFORM_OPERATOR = "platform_operator"


# Which organization kinds each role may belong to. Enforced by the account service and by a CHECK
# constraint on the user table (see app.accounts.models).
ROLE_ORG_KINDS: dict[Role, frozenset[OrgKind]] = {
    Role.BIDDER: frozenset({OrgKind.BIDDER}),
    Role.TENDERER: frozenset({OrgKind.TENDERER, OrgKind.AGENCY}),
    Role.CENTER_STAFF: frozenset({OrgKind.TRADING_CENTER}),
    Role.MANAGER: frozenset({OrgKind.MANAGEMENT_OFFICE}),
    Role.REGULATOR: frozenset({OrgKind.REGULATOR}),
    Role.EXPERT: frozenset({OrgKind.EXPERT_EMPLOYER}),
    Role.SYSADMIN: frozenset({OrgKind.PLATFORM_OPERATOR}),
}

# Roles whose accounts must complete TOTP before anything else.
MFA_REQUIRED_ROLES = frozenset({Role.CENTER_STAFF, Role.MANAGER, Role.REGULATOR, Role.SYSADMIN})


class Permission(StrEnum):
    """``scope:resource:action``."""

    ACCOUNT_SELF = "account:self:manage"
    ACCOUNT_TOKENS = "account:tokens:manage"
    WORKBENCH_VIEW = "workbench:home:view"
    ADMIN_ORGS = "admin:organizations:manage"
    ADMIN_USERS = "admin:users:manage"
    ADMIN_DEMO_CLOCK = "admin:demo_clock:manage"
    AUDIT_READ = "audit:log:read"
    AUDIT_CHECKPOINT = "audit:checkpoint:create"
    CALENDAR_MANAGE = "calendar:overrides:manage"
    CALENDAR_READ = "calendar:overrides:read"


_ALL_ROLES = frozenset(Role)
_BUSINESS_ROLES = _ALL_ROLES - {Role.SYSADMIN}

_GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.ACCOUNT_SELF: _ALL_ROLES,
    Permission.ACCOUNT_TOKENS: _ALL_ROLES,
    Permission.WORKBENCH_VIEW: _ALL_ROLES,
    # sysadmin manages accounts and organizations but holds no business permission.
    Permission.ADMIN_ORGS: frozenset({Role.SYSADMIN}),
    Permission.ADMIN_USERS: frozenset({Role.SYSADMIN}),
    Permission.ADMIN_DEMO_CLOCK: frozenset({Role.SYSADMIN}),
    Permission.AUDIT_READ: frozenset({Role.REGULATOR, Role.MANAGER}),
    Permission.AUDIT_CHECKPOINT: frozenset({Role.REGULATOR}),
    Permission.CALENDAR_MANAGE: frozenset({Role.MANAGER}),
    Permission.CALENDAR_READ: _BUSINESS_ROLES,
}

ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    role: frozenset(p for p, roles in _GRANTS.items() if role in roles) for role in Role
}


def has_permission(role: Role | str | None, permission: Permission) -> bool:
    if role is None:
        return False
    try:
        return permission in ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return False


def require(*permissions: Permission) -> Callable[[F], F]:
    """Declare the permissions a route needs (all of them). Checked by the request guard."""
    if not permissions:
        raise ValueError("require() needs at least one permission")

    def mark(view: F) -> F:
        view._permissions = frozenset(permissions)  # type: ignore[attr-defined]
        return view

    return mark


def public(view: F) -> F:
    """Declare a route open to anyone without login (portal, login page, feeds)."""
    view._public = True  # type: ignore[attr-defined]
    return view


def authenticated(view: F) -> F:
    """Declare a route for any signed-in account that has not finished MFA yet (MFA pages, logout)."""
    view._authenticated = True  # type: ignore[attr-defined]
    return view
