"""The experts domain: the comprehensive expert pool (综合评标专家库) with employment histories, verifiable
random draws, sealed panels with confirmations and backups, recusal once the bidders are known, and
after-service ratings."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this domain's blueprints, API and CLI."""
    import os

    from app.core import audit_sealing

    from . import cli, draw_record, services
    from .views import bp

    # The witness and reveal leaves carry what decides the panel: "not shown yet" until publication.
    audit_sealing.register(draw_record.draw_leaf_sealed)
    # Who sits on a panel stays confidential until the result: no expert's act shows who acted.
    audit_sealing.register(draw_record.panel_leaf_sealed)

    for key, default in services.DEFAULTS.items():
        raw = os.environ.get(key)
        app.config.setdefault(key, type(default)(raw) if raw else default)
    app.register_blueprint(bp)
    from app.extensions import api as api_ext

    from . import api

    api_ext.register_blueprint(api.blp)
    from app.core import scoping

    from .models import ExpertDraw

    scoping.register("draw_id", scoping.by_column(ExpertDraw.section_id))
    scoping.register("seat_id", api.section_of_seat)
    cli.init_app(app)
    # Bidders become known at the opening: from then on the draw excludes them, and the drawn panel is
    # checked against them (app/experts/recusal.py).
    from app.bidding import opening

    from . import recusal

    if recusal.bidders_at_opening not in services.BIDDER_PROVIDERS:
        services.BIDDER_PROVIDERS.append(recusal.bidders_at_opening)
    if recusal.check_panel_at_opening not in opening.AFTER_OPENING_HOOKS:
        opening.AFTER_OPENING_HOOKS.append(recusal.check_panel_at_opening)
    app.jinja_env.globals.update(
        expert_status_label=services.status_label,
        title_level_label=services.title_level_label,
        conflict_relation_label=services.relation_label,
    )
