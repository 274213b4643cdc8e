"""The projects domain: trading catalogue, project registration, sections, tender publication, amendments,
obtaining documents, opening rooms and the section state machine."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this domain's blueprints, API and CLI."""
    from app.core import audit_sealing

    from . import api, cli, prequal
    from .services import obtainment_leaf_sealed, question_leaf_sealed
    from .views import bp, jinja_globals

    audit_sealing.register(obtainment_leaf_sealed)
    audit_sealing.register(question_leaf_sealed)
    app.register_blueprint(bp)
    api.init_app(app)
    cli.init_app(app)
    prequal.init_app(app)
    app.jinja_env.globals.update(jinja_globals())
