"""The complaints domain: objections (异议/质疑), complaints (投诉) and reports (举报) on statutory clocks,
with forwarding, assignment and supervision (转办、交办、督办)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this domain's blueprints, API and CLI."""
    from app.extensions import api as api_ext
    from app.projects import services as projects

    from . import api, cli
    from .sections import unanswered_objection_guard
    from .views import bp

    if unanswered_objection_guard not in projects.RESUME_GUARDS:
        projects.RESUME_GUARDS.append(unanswered_objection_guard)
    app.register_blueprint(bp)
    api_ext.register_blueprint(api.blp)
    app.cli.add_command(cli.group)
    # the opening is over only when its objections are answered (条例 Art. 44)
    from app.evaluation import services as evaluation

    from .opening import unanswered_blocker

    if unanswered_blocker not in evaluation.START_BLOCKERS:
        evaluation.START_BLOCKERS.append(unanswered_blocker)
