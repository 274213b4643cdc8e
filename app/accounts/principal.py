"""What flask-login calls the current user: an account seen through one session or one API token."""

from __future__ import annotations

from flask import Flask, request, session

from app.core.db import db
from app.core.permissions import Permission, Role, has_permission
from app.extensions import login_manager

from . import services
from .models import ApiToken, User, UserSession

SESSION_KEY = "_user_id"  # flask-login's key; it holds the session token, never the user id


class Principal:
    is_anonymous = False
    is_active = True

    def __init__(self, user: User, *, session_row: UserSession | None = None, token: ApiToken | None = None):
        self.user = user
        self.session_row = session_row
        self.token = token

    # flask-login protocol
    @property
    def is_authenticated(self) -> bool:
        return True

    def get_id(self) -> str:
        raise RuntimeError("the session token is stored by accounts.views.login, not by flask-login")

    # what services and audit need from an actor
    @property
    def id(self) -> int:
        return self.user.id

    @property
    def role(self) -> Role:
        return Role(self.user.role)

    @property
    def org_id(self) -> int:
        return self.user.org_id

    @property
    def mfa_passed(self) -> bool:
        if self.token is not None:
            return True  # tokens are issued only inside a fully authenticated session
        if not services.requires_second_factor(self.user):
            return True
        return self.session_row is not None and self.session_row.mfa_passed_at is not None

    @property
    def section_scope(self) -> frozenset[int] | None:
        """The sections a restricted API token may reach (``app.core.scoping``); None: no restriction."""
        if self.token is None or self.token.section_ids is None:
            return None
        return frozenset(int(i) for i in self.token.section_ids)

    def can(self, permission: Permission) -> bool:
        return has_permission(self.role, permission)


def signed_in_user() -> User | None:
    """The account a public route (a report, a public comment) acts for: one fully signed in, its second
    factor passed; else None, a member of the public. A session that has passed the password only is not
    yet its account: whoever knows a password alone must not act, or speak, in that account's name."""
    from flask_login import current_user

    if not current_user.is_authenticated or not current_user.mfa_passed:
        return None
    return current_user.user


def init_app(app: Flask) -> None:
    login_manager.login_view = "auth.login"

    @login_manager.user_loader
    def _load(raw_token: str) -> Principal | None:
        row = services.load_session(raw_token)
        if row is None:
            session.pop(SESSION_KEY, None)
            return None
        return Principal(row.user, session_row=row)

    @login_manager.request_loader
    def _load_bearer(_req: object) -> Principal | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer ") or not request.path.startswith("/api/"):
            return None
        token = services.authenticate_token(header[len("Bearer ") :].strip())
        if token is None:
            return None
        if db.session.dirty or db.session.new:
            # The token-use audit leaf locks the audit head. Commit it now, on its own, so the request never
            # holds that lock while it takes domain row locks (a section row, say): everywhere else the
            # order is domain rows first, the audit head last, and the reverse order deadlocks under load.
            db.session.commit()
        return Principal(token.user, token=token)
