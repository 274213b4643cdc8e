"""The server clock: the only authority for deadlines and receipts.

Injectable so tests and the demo can move time. ``now()`` is always timezone-aware UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from zoneinfo import ZoneInfo

CST = ZoneInfo("Asia/Shanghai")


class Clock:
    def __init__(self) -> None:
        self._frozen: dt.datetime | None = None
        self._offset = dt.timedelta(0)

    @property
    def is_frozen(self) -> bool:
        return self._frozen is not None

    def now(self) -> dt.datetime:
        if self._frozen is not None:
            return self._frozen
        return dt.datetime.now(dt.UTC) + self._offset

    def freeze(self, at: dt.datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("clock needs an aware datetime")
        self._frozen = at.astimezone(dt.UTC)

    def advance(self, delta: dt.timedelta) -> None:
        if self._frozen is not None:
            self._frozen += delta
        else:
            self._offset += delta

    def set_offset(self, delta: dt.timedelta) -> None:
        self._offset = delta

    def reset(self) -> None:
        self._frozen = None
        self._offset = dt.timedelta(0)

    @contextmanager
    def frozen_at(self, at: dt.datetime) -> Iterator[None]:
        previous = (self._frozen, self._offset)
        self.freeze(at)
        try:
            yield
        finally:
            self._frozen, self._offset = previous


clock = Clock()
# Security decisions (two-factor codes, sessions, lockouts, API tokens, step-up windows) run on real time:
# authenticator apps and people live in it. The demo clock moves ``clock`` only; tests freeze either.
security_clock = Clock()


def now() -> dt.datetime:
    return clock.now()


def security_now() -> dt.datetime:
    """Real time, never the demo clock's: what authentication and sessions are decided on."""
    return security_clock.now()


def to_local(value: dt.datetime) -> dt.datetime:
    """The same instant in China Standard Time, for display."""
    return value.astimezone(CST)


def local_to_utc(value: dt.datetime | None) -> dt.datetime | None:
    """A time a person typed, read as China Standard Time when it carries no zone, as a UTC instant. None
    for None and for a time in the first hours of 0001-01-01 (Beijing time), which has no UTC instant: such a
    typo is no date, asked for again like an empty field — never a server error."""
    if value is None:
        return None
    try:
        return (value if value.tzinfo is not None else value.replace(tzinfo=CST)).astimezone(dt.UTC)
    except OverflowError:
        return None


def parse_local(text: str | None) -> dt.datetime | None:
    """A ``datetime-local`` or date input (ISO 8601), read as China Standard Time, as a UTC instant; None
    when empty, not a date, or without a UTC instant (:func:`local_to_utc`)."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return local_to_utc(dt.datetime.fromisoformat(text))
    except ValueError:
        return None
