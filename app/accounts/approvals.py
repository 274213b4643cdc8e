"""Four eyes on new business accounts (监管办分离): the system administrator keeps the platform running but
must not be able to create a usable regulator, staff, manager or party account alone. An account with a
business role that an administrator creates stays inactive, and no activation link goes out, until a second
party outside the administrator role approves it:

* a regulator: a regulator of the same organization, or the management office (manager);
* center staff and managers: a manager (another one: nobody approves their own account);
* tenderers, agencies, bidders and experts: center staff or a manager (the trading center registers parties).

The approval is an audit leaf (``account:user:approve``) listed with the administrator's acts for the
regulators (``/supervision/admin-acts``) and shown to the holder at the first sign-in; only then the holder
receives the one-time activation link. Accounts made by seeding or the command line (no administrator) are
not affected."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from app.core import audit
from app.core.clock import security_now
from app.core.db import db
from app.core.errors import NotFound
from app.core.permissions import Role

from .models import User

# Who may approve an account of each business role.
APPROVERS: dict[Role, frozenset[Role]] = {
    Role.REGULATOR: frozenset({Role.REGULATOR, Role.MANAGER}),  # a regulator: of the same organization
    Role.CENTER_STAFF: frozenset({Role.MANAGER}),
    Role.MANAGER: frozenset({Role.MANAGER}),
    Role.TENDERER: frozenset({Role.CENTER_STAFF, Role.MANAGER}),
    Role.BIDDER: frozenset({Role.CENTER_STAFF, Role.MANAGER}),
    Role.EXPERT: frozenset({Role.CENTER_STAFF, Role.MANAGER}),
}


def needs_approval(role: Role) -> bool:
    return role in APPROVERS


def may_approve(approver: User, user: User) -> bool:
    """The object rule, used by the list and the action alike."""
    if not user.awaiting_approval or approver.id == user.id or not approver.is_active:
        return False
    approver_role = Role(approver.role)
    if approver_role not in APPROVERS.get(Role(user.role), frozenset()):
        return False
    if Role(user.role) is Role.REGULATOR and approver_role is Role.REGULATOR:
        return approver.org_id == user.org_id
    return True


def pending_for(approver: User) -> list[User]:
    rows = db.session.scalars(
        select(User)
        .where(User.approval_requested_at.is_not(None), User.approved_at.is_(None))
        .order_by(User.id)
    )
    return [u for u in rows if may_approve(approver, u)]


def approve(user: User, *, actor: User) -> None:
    """Approve, activate, audit, tell the holder, and send the activation link to the holder."""
    from . import links

    if not may_approve(actor, user):
        raise NotFound(_("No such account awaits your approval."))
    user.approved_at = security_now()
    user.approved_by = actor.id
    user.is_active = True
    leaf = audit.record(
        "account:user:approve",
        actor=actor,
        object_type="user",
        object_id=user.id,
        payload={"username": user.username, "role": user.role, "org_id": user.org_id},
    )
    links.notify_holder(user, "account:user:approve", actor=actor, leaf=leaf)
    links.send_link(user, "activate", actor=actor)
