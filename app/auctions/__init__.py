"""Land and state property listings and auctions (挂牌/限时竞价): a catalogue item of kind land (TD…) or state
property (CQ…) is listed with a sealed reserve price, registered bidders quote rising prices, and when two or
more are still competing at the end of the listing a timed auction decides (docs/rules.md, "Auctions")."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Register this domain's blueprint, API, CLI and menu entries."""
    from flask_babel import lazy_gettext as _l

    from app.core.permissions import Permission
    from app.extensions import api as api_ext
    from app.workbench.nav import NAV, NavEntry

    from . import api, api_manage, cli  # noqa: F401 (api_manage adds its routes to api.blp)
    from .views import bp

    app.register_blueprint(bp)
    api_ext.register_blueprint(api.blp)
    cli.init_app(app)
    entry = NavEntry("auctions.index", _l("Listings and auctions"), Permission.AUCTION_VIEW)
    if entry not in NAV:
        NAV.append(entry)
