"""Prequalification (资格预审) of works tenders: a section's rounds, their notice and documents, the
applications, the review and the notice of results; the tender then admits only the qualified."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the pages, the API, the audit sealer and the menu entry."""
    from flask_babel import lazy_gettext as _l

    from app.core import audit_sealing
    from app.core.permissions import Permission
    from app.extensions import api as api_ext
    from app.workbench.nav import NAV, NavEntry

    from . import api
    from .services import application_leaf_sealed
    from .views import bp

    audit_sealing.register(application_leaf_sealed)
    app.register_blueprint(bp)
    api_ext.register_blueprint(api.blp)
    entry = NavEntry("prequal.index", _l("Prequalification"), Permission.PREQUAL_VIEW)
    if entry not in NAV:
        NAV.append(entry)
