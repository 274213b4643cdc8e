"""The demo clock: in a demo install (``DEMO_CLOCK=1``) the administrator can move platform time forward so
a whole tender runs in minutes. The offset lives in the database so every worker and machine agrees.

Production installs leave ``DEMO_CLOCK`` off: the offset is then never read and cannot be set."""

from __future__ import annotations

import datetime as dt

from flask import Flask, current_app
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from app.core import audit
from app.core.clock import clock
from app.core.db import db
from app.core.errors import DomainError
from app.core.models import AuditLeaf, Setting

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
        raise DomainError(_("The demo clock is off on this installation."))
    if delta <= dt.timedelta(0) or delta > MAX_STEP:
        raise DomainError(_("Move the demo clock forward by a positive step of at most 60 days."))
    return _store(current_offset() + delta, actor=actor, step=delta)


def _store(
    offset: dt.timedelta,
    *,
    actor: audit.Actor | None,
    step: dt.timedelta | None = None,
    action: str = "admin:demo_clock:advance",
) -> dt.timedelta:
    row = db.session.get(Setting, KEY)
    if row is None:
        db.session.add(Setting(key=KEY, value=str(offset.total_seconds())))
    else:
        row.value = str(offset.total_seconds())
    payload = {"offset_seconds": offset.total_seconds()}
    if step is not None:
        payload["step_seconds"] = step.total_seconds()
    audit.record(action, actor=actor, object_type="setting", object_id=KEY, payload=payload)
    clock.set_offset(offset)
    return offset


def start_at(instant: dt.datetime, *, actor: audit.Actor | None) -> dt.timedelta:
    """Place demo time at ``instant`` (a demo, bench or test database seeded at a fixed business date, so
    nothing depends on the day it runs). Refused when the audit log already holds a later entry: platform time
    never runs backwards past a record."""
    if not enabled():
        raise DomainError(_("The demo clock is off on this installation."))
    latest = db.session.scalar(select(func.max(AuditLeaf.created_at)))
    if latest is not None and _aware(latest) > instant:
        raise DomainError(
            _("The audit log already has entries after that time: demo time only moves forward.")
        )
    return _store(instant - dt.datetime.now(dt.UTC), actor=actor, action="admin:demo_clock:start")


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _apply_offset() -> None:
    if not enabled():
        return
    try:
        clock.set_offset(current_offset())
    except SQLAlchemyError:
        # The database is unreachable: keep the offset this worker last read. A request that needs the
        # database fails on its own with the one "retry later" answer; one that does not (health) still works.
        db.session.rollback()


def init_app(app: Flask) -> None:
    app.before_request(_apply_offset)
