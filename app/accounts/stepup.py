"""Step-up re-authentication for sensitive actions (ASVS 7.5.3): submitting a key share, starting an
opening, running a draw, deciding a complaint. Use ``@step_up_required`` on the view."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import jsonify, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.core.db import db
from app.core.errors import error_body

from . import services

F = TypeVar("F", bound=Callable[..., Any])


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths are followed after login or step-up (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    # Browsers read a backslash as "/", so "/\\evil.example" would leave the site like "//evil.example".
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
        or any(ord(c) < 32 for c in target)
    ):
        return default
    return target


def step_up_required(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        principal = current_user
        if principal.token is not None:
            code = request.headers.get("X-TOTP-Code", "")
            try:
                services.step_up_token(principal.user, code)
            except services.AuthError as err:
                db.session.commit()  # keep the audit leaf of the failure
                resp = jsonify(error_body(401, "step_up_required", err.message))
                resp.status_code = 401
                return resp
            # The used time step (and the step-up leaf) are kept whatever the action does: an action that
            # fails rolls back its own transaction, and the code would otherwise work again in its window.
            db.session.commit()
            return view(*args, **kwargs)
        if services.recently_stepped_up(principal.session_row):
            return view(*args, **kwargs)
        if request.path.startswith("/api/"):
            resp = jsonify(error_body(401, "step_up_required", _("Confirm with your 6-digit code first.")))
            resp.status_code = 401
            return resp
        back = request.full_path if request.method == "GET" else (request.referrer or "/")
        back = safe_next(urlsplit(back).path if "://" in back else back, "/")
        return redirect(url_for("auth.step_up", next=back))

    return wrapper  # type: ignore[return-value]
