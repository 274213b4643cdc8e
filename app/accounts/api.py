"""JSON API for accounts under /api/v1."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_login import current_user
from flask_smorest import Blueprint

from app.core.permissions import ROLE_PERMISSIONS, Permission, public, require
from app.extensions import api as api_ext

from .schemas import HealthOut, MeOut

blp = Blueprint("accounts_api", __name__, url_prefix="/api/v1", description="Accounts")


@blp.route("/health")
@blp.response(200, HealthOut)
@public
def health() -> dict[str, Any]:
    """Liveness probe: the process answers (it touches no database)."""
    return {"status": "ok"}


@blp.route("/me")
@blp.response(200, MeOut)
@require(Permission.ACCOUNT_SELF)
def me() -> dict[str, Any]:
    """The caller's account, role and permissions."""
    user = current_user.user
    return {
        "id": user.id,
        "username": user.username,
        "display_name": user.display_name,
        "role": user.role,
        "permissions": sorted(p.value for p in ROLE_PERMISSIONS[current_user.role]),
        "organization": user.organization,
    }


def init_app(app: Flask) -> None:
    api_ext.register_blueprint(blp)
    api_ext.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
