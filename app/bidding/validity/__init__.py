"""Bid validity (投标有效期) and its extensions — 招标投标法实施条例 Arts. 25, 26.

Rooms: ``models`` (extensions, answers), ``services`` (the rules), ``views``/``api`` (HTTP).
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from . import api, views

    app.register_blueprint(views.bp)
    api.init_app(app)
