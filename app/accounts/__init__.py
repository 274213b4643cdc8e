"""Organizations, accounts, sessions, MFA and API tokens."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from app.core import audit_sealing

    from . import api, cli, principal
    from .admin_views import admin
    from .services import bidder_activity_sealed
    from .views import accounts, auth

    audit_sealing.register(bidder_activity_sealed)
    principal.init_app(app)
    app.register_blueprint(auth)
    app.register_blueprint(accounts)
    app.register_blueprint(admin)
    api.init_app(app)
    cli.init_app(app)

    from app.core.permissions import Permission

    from .services import industry_label, org_kind_label, role_label

    app.jinja_env.globals.update(
        role_label=role_label,
        org_kind_label=org_kind_label,
        industry_label=industry_label,
        Permission=Permission,
    )
