"""Supervision (监督): live monitoring, audit proofs, alerts, interventions and staff assessment (SPEC §7).

Rooms: ``live`` (dashboard data and the SSE stream fed by every committed audit leaf, channel ``audit``),
``timeline`` (a section's leaves proven into the latest signed checkpoint, JSON export with proofs),
``alerts`` (collusion and process rules, each citing its legal basis; flags, never rejections),
``services`` (deciding alerts, suspend/resume through the projects domain, rectification notices, witness
cosignatures), ``assessment`` (考核 figures, SVG charts, CSV/XLSX), ``witness`` (the regulator's offline
signing tool), ``cli`` (``flask supervision alerts`` and ``flask supervision check-consistency``).

Witness cosignatures: the regulator registers an Ed25519 public key and pastes signatures made offline with
``python -m app.supervision.witness sign``; the platform never holds a regulator's private key, so a
cosignature shows that someone outside the platform saw that tree head.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .cli import init_app as init_cli
    from .views import init_app as init_views

    init_views(app)
    init_cli(app)

    from app.extensions import api as api_ext

    from . import api

    api_ext.register_blueprint(api.blp)
    from app.core import scoping

    from .models import SupervisionAlert

    scoping.register("alert_id", scoping.by_column(SupervisionAlert.section_id))

    from app.bidding import opening

    from .alerts import run_alert_rules_after_opening

    if run_alert_rules_after_opening not in opening.AFTER_OPENING_HOOKS:
        opening.AFTER_OPENING_HOOKS.append(run_alert_rules_after_opening)
