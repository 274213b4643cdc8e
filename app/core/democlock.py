"""The demo clock: in a demo install (``DEMO_CLOCK=1``) the administrator can move platform time forward so
a whole tender runs in minutes. The offset lives in the database so every worker and machine agrees.

Production installs leave ``DEMO_CLOCK`` off: the offset is then never read and cannot be set."""

from __future__ import annotations

import datetime as dt

from flask import Flask, current_app
from sqlalchemy import select

from app.core import audit
from app.core.clock import clock
from app.core.db import db
from app.core.errors import DomainError
from app.core.models import Setting

KEY = "demo_clock_offset_seconds"
MAX_STEP = dt.timedelta(days=60)


def enabled() -> bool:
    return bool(current_app.config.get("DEMO_CLOCK"))


def current_offset() -> dt.timedelta:
    raw = db.session.scalar(select(Setting.value).where(Setting.key == KEY))
    return dt.timedelta(seconds=float(raw or 0))


def advance(delta: dt.timedelta, *, actor: audit.Actor | None) -> dt.timedelta:
    """Move demo time forward (never backward: receipts and the audit log only go forward)."""
    if not enabled():
        raise DomainError("The demo clock is off on this installation.")
    if delta <= dt.timedelta(0) or delta > MAX_STEP:
        raise DomainError("Move the demo clock forward by a positive step of at most 60 days.")
    row = db.session.get(Setting, KEY)
    offset = current_offset() + delta
    if row is None:
        db.session.add(Setting(key=KEY, value=str(offset.total_seconds())))
    else:
        row.value = str(offset.total_seconds())
    audit.record(
        "admin:demo_clock:advance",
        actor=actor,
        object_type="setting",
        object_id=KEY,
        payload={"step_seconds": delta.total_seconds(), "offset_seconds": offset.total_seconds()},
    )
    clock.set_offset(offset)
    return offset


def _apply_offset() -> None:
    if enabled():
        clock.set_offset(current_offset())


def init_app(app: Flask) -> None:
    app.before_request(_apply_offset)
