"""The portal domain: public pages, the Atom feed and the open-data API (OCDS 1.1)."""

from __future__ import annotations

import os

from flask import Flask

from app.extensions import api as api_ext


def init_app(app: Flask) -> None:
    """Register this domain's blueprints, API and CLI."""
    from . import api, cli, fastpath, views
    from .labels import CATALOGUE_STATUS_LABELS, DAY_UNIT_LABELS, category_label, status_label
    from .ocds import DEFAULT_PREFIX

    # OCDS publisher prefix (registered with the Open Contracting Partnership); see app.portal.ocds.
    app.config.setdefault("OCDS_PREFIX", os.environ.get("OCDS_PREFIX") or DEFAULT_PREFIX)
    app.config.setdefault("OCDS_PUBLISHER_NAME", os.environ.get("OCDS_PUBLISHER_NAME") or "公共资源交易中心")
    app.config.setdefault("PORTAL_TAG_AUTHORITY", os.environ.get("PORTAL_TAG_AUTHORITY"))
    app.register_blueprint(views.bp)
    fastpath.install(app)  # a cached page for an anonymous visitor, before the request pipeline
    api_ext.register_blueprint(api.blp)
    cli.init_app(app)
    app.jinja_env.globals.update(
        portal_status_label=status_label,
        portal_category_label=category_label,
        portal_catalogue_status_label=lambda v: str(CATALOGUE_STATUS_LABELS.get(v, v)),
        portal_day_unit_label=lambda v: str(DAY_UNIT_LABELS.get(v, v)),
    )
