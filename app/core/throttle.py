"""Shared attempt limits: counters that every worker and every machine see, kept in the database (correctness
never depends on Redis), with a growing delay that an outsider cannot turn into a lock-out of someone else.

Two shapes:

* :func:`failure` / :func:`check` / :func:`success` — failures of one subject (an account name from one
  source address, the codes of one account) are free up to a number, then each further failure blocks the
  subject for a delay that doubles up to a cap; a success clears it.
* :func:`hit` — at most ``limit`` events of one subject per ``window`` (anonymous reports from one address).

Subjects are keyed with an HMAC under the application's secret key, so the table holds no name or address in
clear; rows are forgotten when their rate window ends, or a day after the last failure. The counter update is
one atomic ``INSERT … ON CONFLICT DO UPDATE`` on both engines, so concurrent attempts are all counted."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import case, delete, literal, null, select
from sqlalchemy.dialects import postgresql, sqlite

from .clock import security_now
from .db import UTCDateTime, db
from .errors import DomainError
from .models import Throttle

FORGET_AFTER = dt.timedelta(days=1)


class Throttled(DomainError):
    status = 429
    code = "too_many_attempts"

    def __init__(self, retry_after: dt.timedelta) -> None:
        self.retry_after = max(1, math.ceil(retry_after.total_seconds()))
        super().__init__(_("Too many attempts. Try again in %(seconds)d seconds.", seconds=self.retry_after))


@dataclass(frozen=True)
class Policy:
    free: int  # failures allowed before any delay
    base: dt.timedelta  # the first delay; each further failure doubles it
    cap: dt.timedelta  # the longest delay


def key(*parts: object) -> str:
    """The keyed digest of a subject (e.g. ``key("login", name, address)``)."""
    secret = str(current_app.config["SECRET_KEY"]).encode()
    message = "\x1f".join(str(p) for p in parts).encode()
    return hmac.new(
        hashlib.sha256(b"ggzy-throttle\x00" + secret).digest(), message, hashlib.sha256
    ).hexdigest()


def _row(subject: str) -> Throttle | None:
    stmt = select(Throttle).where(Throttle.key == subject).execution_options(populate_existing=True)
    return db.session.scalar(stmt)


def check(*subjects: str) -> None:
    """Refuse (:class:`Throttled`) while any subject is blocked; say for how long."""
    moment = security_now()
    waits = [
        row.blocked_until - moment
        for row in (_row(s) for s in subjects)
        if row is not None and row.blocked_until is not None and row.blocked_until > moment
    ]
    if waits:
        raise Throttled(max(waits))


def _increment(subject: str, *, window: dt.timedelta | None) -> Throttle:
    """Add one to the subject's count atomically (a new window when the last one ended, or after a day of
    quiet) and return the row. Expired rows of every subject are forgotten on the way."""
    moment = security_now()
    keep = window if window is not None else FORGET_AFTER
    db.session.execute(delete(Throttle).where(Throttle.expires_at < literal(moment, UTCDateTime())))
    dialect = db.session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(Throttle).values(
        key=subject, count=1, window_started_at=moment, updated_at=moment, expires_at=moment + keep
    )
    table = Throttle.__table__
    at = literal(moment, UTCDateTime())
    expired = table.c.expires_at < at
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.key],
        set_={
            "count": case((expired, 1), else_=table.c.count + 1),
            "window_started_at": case((expired, at), else_=table.c.window_started_at),
            "blocked_until": case((expired, null()), else_=table.c.blocked_until),
            "updated_at": at,
            # a rate window ends where it started + window; failures are forgotten a day after the last one
            "expires_at": (
                case((expired, literal(moment + keep, UTCDateTime())), else_=table.c.expires_at)
                if window is not None
                else literal(moment + keep, UTCDateTime())
            ),
        },
    )
    db.session.execute(stmt)
    row = _row(subject)
    assert row is not None
    return row


def failure(subject: str, policy: Policy) -> None:
    """Count one failure; past ``policy.free`` the subject is blocked for a doubling delay."""
    row = _increment(subject, window=None)
    over = row.count - policy.free
    if over > 0:
        delay = min(policy.base * (2 ** min(over - 1, 30)), policy.cap)
        row.blocked_until = security_now() + delay
        row.expires_at = max(row.expires_at, row.blocked_until)


def success(*subjects: str) -> None:
    db.session.execute(delete(Throttle).where(Throttle.key.in_(subjects)))


def hit(subject: str, *, limit: int, window: dt.timedelta) -> None:
    """Count one event; refuse (:class:`Throttled`) past ``limit`` events in the current ``window``."""
    row = _increment(subject, window=window)
    if row.count > limit:
        raise Throttled(row.window_started_at + window - security_now())
