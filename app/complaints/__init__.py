"""The complaints domain: objections (异议/质疑), complaints (投诉) and reports (举报) on statutory clocks,
with forwarding, assignment and supervision (转办、交办、督办)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this domain's blueprints, API and CLI."""
    from app.extensions import api as api_ext
    from app.projects import services as projects

    from . import api, cli, printing
    from .sections import unanswered_objection_guard
    from .views import bp

    if unanswered_objection_guard not in projects.RESUME_GUARDS:
        projects.RESUME_GUARDS.append(unanswered_objection_guard)
    app.register_blueprint(bp)
    printing.register()
    api_ext.register_blueprint(api.blp)
    from app.core import scoping

    from .models import Case

    scoping.register("case_id", scoping.by_column(Case.section_id))
    app.cli.add_command(cli.group)
    # the opening is over only when its objections are answered (条例 Art. 44)
    from app.evaluation import services as evaluation

    from .opening import unanswered_blocker

    if unanswered_blocker not in evaluation.START_BLOCKERS:
        evaluation.START_BLOCKERS.append(unanswered_blocker)
    app.jinja_env.globals["case_event_note"] = case_event_note


def case_event_note(event: object) -> str:
    """The note of a case event as people read it: the codes older events carry in their note (a pause's
    reason, a remedy, a status) in words; "" when the note only repeats the status."""
    from app.core.labels import has_label, label

    action, note = getattr(event, "action", ""), getattr(event, "note", "") or ""
    if action == "clock_paused":
        code, _sep, rest = note.partition(" ")
        if has_label("pause_reason", code):
            return f"{label('pause_reason', code)} {rest}".strip()
    if action == "remedy":
        code, _sep, rest = note.partition(": ")
        if has_label("remedy", code):
            return f"{label('remedy', code)}: {rest}" if rest else label("remedy", code)
    if action == "transition" and note == "filed":
        return ""  # the status says it: "submitted"
    if has_label("case_status", note):
        return label("case_status", note)
    if has_label("case_event", note):
        return label("case_event", note)
    return note
