"""The role-specific start page (工作台) every signed-in user lands on."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .nav import nav_groups, nav_items
    from .views import bp

    app.register_blueprint(bp)
    app.jinja_env.globals["nav_items"] = nav_items
    app.jinja_env.globals["nav_groups"] = nav_groups
