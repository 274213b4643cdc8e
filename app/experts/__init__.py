"""The experts domain: the comprehensive expert pool (综合评标专家库), verifiable random draws, sealed
panels with confirmations and backups, and after-service ratings."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this domain's blueprints, API and CLI."""
    import os

    from . import cli, services
    from .views import bp

    for key, default in services.DEFAULTS.items():
        raw = os.environ.get(key)
        app.config.setdefault(key, type(default)(raw) if raw else default)
    app.register_blueprint(bp)
    cli.init_app(app)
    app.jinja_env.globals.update(
        expert_status_label=services.status_label,
        title_level_label=services.title_level_label,
        conflict_relation_label=services.relation_label,
    )
