"""Jinja helpers: local-time formatting, the current locale, navigation per role."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask import Flask
from flask_babel import get_locale, gettext

from app.core.clock import now, to_local
from app.core.countdown import countdown, working_days_to


def fmt_dt(value: dt.datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Show an instant in China Standard Time."""
    if value is None:
        return ""
    return to_local(value).strftime(fmt)


def fmt_iso(value: str | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Show an ISO-8601 instant (as audit leaves and event streams carry it) in China Standard Time."""
    if not value:
        return ""
    return fmt_dt(dt.datetime.fromisoformat(value.replace("Z", "+00:00")), fmt)


def person_name(user_id: int | None) -> str:
    """A person's name for an account id (audit views store ids): never a bare number on a page."""
    if user_id is None:
        return ""
    from flask import g

    from app.accounts.models import User
    from app.core.db import db

    names: dict[int, str] = g.setdefault("person_names", {})
    if user_id not in names:
        user = db.session.get(User, user_id)
        names[user_id] = user.display_name if user is not None else gettext("a deleted account")
    return names[user_id]


def percent(value: Decimal | int | str) -> str:
    """A stored rate as people write it: 5.00 → "5", 12.50 → "12.5" (never "5.00" or "1E+1")."""
    return f"{Decimal(value).normalize():f}"


def init_app(app: Flask) -> None:
    from app.core.labels import action_label, choices, has_label, label, label_list

    app.jinja_env.filters["local"] = fmt_dt
    app.jinja_env.filters["countdown"] = countdown
    app.jinja_env.filters["working_days"] = working_days_to
    app.jinja_env.filters["local_iso"] = fmt_iso
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.globals.update(
        label=label,
        has_label=has_label,
        action_label=action_label,
        label_choices=choices,
        label_list=label_list,
        person_name=person_name,
    )

    @app.context_processor
    def _globals() -> dict[str, Any]:
        locale = get_locale()
        current = "zh_CN" if locale is None or locale.language == "zh" else "en"
        return {"current_locale": current, "server_now": now()}
