"""The evaluation domain: the drawn panel at work, the evaluation report, candidate publicity, the award and
the signed archive bundle of a section (SPEC §5)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the blueprint and CLI, the publicity window and the remedies of upheld complaints for the
    complaints domain, and the default award blocker (pending objections and complaints)."""
    from . import cli, endings, printing, remedies, services
    from .views import bp

    for key, default in services.DEFAULTS.items():
        app.config.setdefault(key, default)
    app.register_blueprint(bp)
    printing.register()
    from app.extensions import api as api_ext

    from . import api, api_actions  # api_actions adds its routes to api.blp

    api_ext.register_blueprint(api.blp)
    api_actions.register_scopes()
    app.jinja_env.globals.update(
        stage_label=endings.stage_label, report_state_label=endings.report_state_label
    )
    app.cli.add_command(cli.group)
    if services.pending_cases_blocker not in services.AWARD_BLOCKERS:
        services.AWARD_BLOCKERS.append(services.pending_cases_blocker)
    try:
        from app.complaints import sections as complaint_sections
    except ImportError:  # pragma: no cover - the complaints domain is optional
        return
    complaint_sections.set_publicity_window_provider(services.publicity_window)
    complaint_sections.set_evaluation_remedy(remedies.apply_remedy)
