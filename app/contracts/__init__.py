"""Contracts and closure (合同与归档) and procurement intentions (采购意向公开): the signed contract of a
section, its publication and amendments, the archive listing of a section, and the government procurement
intentions that must precede a tender announcement by 30 days."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this domain's blueprints, API and labels."""
    from flask_babel import lazy_gettext as _l

    from app.core.permissions import Permission
    from app.extensions import api as api_ext
    from app.workbench.nav import NAV, NavEntry

    from . import api
    from .labels import archive_part_label
    from .views import bp, public_bp

    app.register_blueprint(bp)
    app.register_blueprint(public_bp)
    api_ext.register_blueprint(api.blp)
    from app.core import scoping

    # an amendment is named by its number within the section the path also names: that is its scope
    scoping.register("amendment_number", lambda _number: [])
    for entry in (
        NavEntry("contracts.index", _l("Contracts"), Permission.CONTRACT_READ),
        NavEntry("contracts.intention_list", _l("Procurement intentions"), Permission.INTENTION_MANAGE),
    ):
        if entry not in NAV:
            NAV.append(entry)
    app.jinja_env.globals["archive_part_label"] = archive_part_label
