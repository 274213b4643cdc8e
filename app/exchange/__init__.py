"""Data exchange with the provincial public resource trading platform (电子招标投标办法 Arts. 41–45): the
public records of every trade are pushed to the upper platform, reliably and without duplicates."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this domain's blueprint and CLI."""
    from app.extensions import api as api_ext

    from . import api, cli
    from .views import bp

    app.config.setdefault("EXCHANGE_ADAPTER", "simulated")
    app.config.setdefault("EXCHANGE_REGION_CODE", "320600")  # 南通市 (GB/T 2260)
    app.register_blueprint(bp)
    api_ext.register_blueprint(api.blp)
    cli.init_app(app)
    from flask_babel import lazy_gettext as _l

    from app.core.permissions import Permission
    from app.workbench.nav import NAV, NavEntry

    from .labels import error_label

    entry = NavEntry("exchange.index", _l("Data exchange"), Permission.EXCHANGE_VIEW)
    if entry not in NAV:
        NAV.append(entry)

    app.jinja_env.globals["exchange_error_label"] = error_label
