"""Jinja helpers: local-time formatting, the current locale, navigation per role."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from flask_babel import get_locale

from app.core.clock import now, to_local


def fmt_dt(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Show an instant in China Standard Time."""
    if value is None:
        return ""
    return to_local(value).strftime(fmt)


def init_app(app: Flask) -> None:
    from app.core.labels import action_label, label

    app.jinja_env.filters["local"] = fmt_dt
    app.jinja_env.globals.update(label=label, action_label=action_label)

    @app.context_processor
    def _globals() -> dict[str, Any]:
        locale = get_locale()
        current = "zh_CN" if locale is None or locale.language == "zh" else "en"
        return {"current_locale": current, "server_now": now()}
