"""Working-day calendar and civil-law period counting (期间计算).

Two layers:

* :class:`WorkCalendar` is pure: the national holiday calendar from the ``chinese_calendar`` package
  (法定节假日 and 调休 adjusted workdays, as published every year by the 国务院办公厅 in
  《关于 20XX 年部分节假日安排的通知》) plus an explicit mapping of overrides ``date → is_workday``
  that always wins. :func:`load_calendar` builds one from the ``calendar_override`` table;
  :func:`set_override` / :func:`remove_override` maintain that table (management office) and write
  the audit log.
* :func:`period_end`, :func:`min_days_between` and :func:`satisfies_minimum` count periods as the
  Civil Code says.

Legal source — 《中华人民共和国民法典》 总则编 第十章 期间计算:

* Art. 200: periods are counted by the Gregorian year, month, day and hour.
* Art. 201: for a period counted in days, **the start day is not counted**; counting begins the
  next day.
* Art. 203: **if the last day of the period is a 法定休假日, the day after the 法定休假日 ends is
  the last day**; the last day **ends at 24:00** (or when business stops, where there are business
  hours — not used here: the platform is open 24 hours and its server clock is the only authority).
* Art. 204: the above applies unless a law provides otherwise or the parties agree otherwise.
* Art. 1259: "以上、以下、以内、届满" include the stated number — "不得少于二十日" is satisfied
  by exactly 20 days.

法定休假日 is read, as in Chinese judicial practice (cf. the former 《民通意见》 Art. 198:
"期间的最后一天是星期日或者其他法定休假日 … 有变通的，以实际休假日的次日为期间的最后一天"), as
every day people actually rest: weekends and national holidays, **except** weekend days turned into
working days by the State Council's 调休 arrangement. Consequently, in this module *statutory rest
day* is exactly *not a working day*, and "the day after the rest ends" is "the next working day".

All local dates are dates in China Standard Time (Asia/Shanghai, UTC+8, no DST). Instants are
timezone-aware and returned in UTC. Years outside the package's data fall back to "Saturday and
Sunday rest, every other day works" without warning; :meth:`WorkCalendar.covers`,
:attr:`WorkCalendar.coverage` and :meth:`WorkCalendar.source` make that fallback explicit so the UI
can tell the management office to enter overrides for such a year.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Literal

import chinese_calendar
from chinese_calendar import constants as _cc_constants
from sqlalchemy import select

from . import audit
from .audit import Actor
from .clock import CST, now
from .db import db
from .models import CalendarOverride

Unit = Literal["calendar", "working"]
DaySource = Literal["override", "national", "weekend-only"]

_ONE_DAY = dt.timedelta(days=1)
_EMPTY: Mapping[dt.date, bool] = MappingProxyType({})

# Years for which the installed chinese_calendar has the official holiday arrangement.
_NATIONAL_YEARS: tuple[int, int] = (
    min(_cc_constants.holidays).year,
    max(_cc_constants.holidays).year,
)


@functools.lru_cache(maxsize=16384)
def _national_is_workday(day: dt.date) -> bool:
    # chinese_calendar re-validates the year range on every call; the answer for a date never changes.
    if _NATIONAL_YEARS[0] <= day.year <= _NATIONAL_YEARS[1]:
        return bool(chinese_calendar.is_workday(day))
    return day.weekday() < 5


class WorkCalendar:
    """National holidays (``chinese_calendar``) corrected by ``overrides`` (date → is_workday), which win.

    Pure and immutable: no database, no clock. Build one per request with :func:`load_calendar`, or pass an
    explicit mapping in tests.
    """

    def __init__(self, overrides: Mapping[dt.date, bool] = _EMPTY) -> None:
        self._overrides: Mapping[dt.date, bool] = MappingProxyType(dict(overrides))

    # -- coverage -----------------------------------------------------------------------------------------

    @property
    def coverage(self) -> tuple[int, int]:
        """First and last year (inclusive) for which the national holiday arrangement is known.

        Outside this range a day is a working day iff it is Monday–Friday (unless overridden).
        """
        return _NATIONAL_YEARS

    def covers(self, day: dt.date) -> bool:
        """True when ``day``'s year has the official national holiday arrangement."""
        return _NATIONAL_YEARS[0] <= day.year <= _NATIONAL_YEARS[1]

    @property
    def overrides(self) -> Mapping[dt.date, bool]:
        """The overrides (read-only)."""
        return self._overrides

    def source(self, day: dt.date) -> DaySource:
        """Where the answer for ``day`` comes from: an override, the national calendar or the
        weekends-only fallback."""
        if day in self._overrides:
            return "override"
        return "national" if self.covers(day) else "weekend-only"

    # -- single days --------------------------------------------------------------------------------------

    def national_is_workday(self, day: dt.date) -> bool:
        """The national calendar's answer, ignoring overrides (weekends-only outside :attr:`coverage`)."""
        return _national_is_workday(day)

    def is_workday(self, day: dt.date) -> bool:
        """Working day (工作日): the override if any, else the national calendar (调休 Saturdays work)."""
        override = self._overrides.get(day)
        if override is not None:
            return bool(override)
        return self.national_is_workday(day)

    def is_statutory_rest(self, day: dt.date) -> bool:
        """法定休假日 in the sense of 民法典 Art. 203: a national holiday or a weekend day that is not a 调休
        working day (overrides, being corrections of the national calendar, win). The complement of
        :meth:`is_workday`."""
        return not self.is_workday(day)

    # -- day arithmetic -----------------------------------------------------------------------------------

    def next_workday(self, day: dt.date) -> dt.date:
        """``day`` itself if it is a working day, else the first working day after it."""
        while not self.is_workday(day):
            day += _ONE_DAY
        return day

    def previous_workday(self, day: dt.date) -> dt.date:
        """``day`` itself if it is a working day, else the last working day before it."""
        while not self.is_workday(day):
            day -= _ONE_DAY
        return day

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th working day after ``day`` (``day`` itself is not counted; it need not be a
        working day).

        ``n == 0`` returns ``day``; negative ``n`` counts backwards (the ``|n|``-th working day before
        ``day``).
        Inverse of :meth:`working_days_between`: ``working_days_between(d, add_working_days(d, n)) == n``.
        """
        step = _ONE_DAY if n >= 0 else -_ONE_DAY
        remaining = abs(n)
        while remaining:
            day += step
            if self.is_workday(day):
                remaining -= 1
        return day

    def working_days_between(self, a: dt.date, b: dt.date) -> int:
        """Number of working days ``d`` with ``a < d <= b`` (start day not counted, end day counted).

        Negative when ``b < a``: ``-working_days_between(b, a)``.
        """
        if b < a:
            return -self.working_days_between(b, a)
        count = 0
        day = a
        while day < b:
            day += _ONE_DAY
            if self.is_workday(day):
                count += 1
        return count

    def __repr__(self) -> str:
        return f"WorkCalendar(overrides={len(self._overrides)}, coverage={_NATIONAL_YEARS})"


# -- civil-law periods ------------------------------------------------------------------------------------


def day_or_today(text: str | None) -> dt.date:
    """A day typed in a page's address or date field (``2026-12-07``), or today (Beijing time) when it
    cannot be read or lies where the pages cannot go (a week of days and the eight hours to UTC must fit in
    the calendar: 0001-01-01 and 9999-12-31 are typos, not days to show)."""
    try:
        day = dt.date.fromisoformat((text or "").strip())
    except ValueError:
        return local_date(now())
    if not dt.date(1, 1, 2) <= day <= dt.date(9999, 12, 1):
        return local_date(now())
    return day


def local_date(instant: dt.datetime) -> dt.date:
    """The China Standard Time date of an aware instant (naive datetimes are refused: always a bug here)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("an aware datetime is required")
    return instant.astimezone(CST).date()


def end_of_local_day(day: dt.date) -> dt.datetime:
    """24:00 China Standard Time of ``day`` (= 00:00 of the next local day), as an aware UTC datetime."""
    return dt.datetime.combine(day + _ONE_DAY, dt.time(0), tzinfo=CST).astimezone(dt.UTC)


def period_last_day(start: dt.datetime, days: int, *, unit: Unit, calendar: WorkCalendar) -> dt.date:
    """The local last day of a ``days``-day period that starts at ``start`` (see :func:`period_end`)."""
    if days < 1:
        raise ValueError("a period has at least one day")
    start_day = local_date(start)
    if unit == "calendar":
        # Art. 201: the start day is not counted. Art. 203: a last day that is a 法定休假日 moves to the day
        # after the rest ends, which is the next working day.
        return calendar.next_workday(start_day + dt.timedelta(days=days))
    if unit == "working":
        # 工作日 periods count working days only; the last one is a working day, so Art. 203 never applies.
        return calendar.add_working_days(start_day, days)
    raise ValueError(f"unknown unit {unit!r}")


def period_end(start: dt.datetime, days: int, *, unit: Unit, calendar: WorkCalendar) -> dt.datetime:
    """The instant a ``days``-day period starting at ``start`` expires (民法典 Arts. 201, 203).

    * The start day — the China Standard Time date of ``start`` — is not counted, whatever the hour:
      a start at 23:30 CST (15:30 UTC, same UTC date) or at 00:10 CST (16:10 UTC of the previous UTC
      date) both count from the next local day.
    * ``unit="calendar"`` (日): the last day is start day + ``days``; if that is a statutory rest day (weekend
      not worked under 调休, national holiday, or an override closing the day) the last day becomes the next
      working day.
    * ``unit="working"`` (工作日): the last day is the ``days``-th working day after the start day.
    * The period ends at 24:00 CST of the last day, returned as the following local midnight in UTC
      (16:00 UTC of the last day).
    """
    return end_of_local_day(period_last_day(start, days, unit=unit, calendar=calendar))


def satisfies_minimum(a: dt.datetime, b: dt.datetime, n: int, *, unit: Unit, calendar: WorkCalendar) -> bool:
    """Whether at least ``n`` days (in ``unit``) separate instant ``a`` from instant ``b``.

    Defined as ``period_end(a, n) <= b``: the whole ``n``-day period that starts at ``a`` (start day not
    counted, rest-day extension applied, ending 24:00 CST) has elapsed by ``b``. Exactly ``n`` days
    satisfy a "不少于 n 日" rule (民法典 Art. 1259). Example: documents available 2025-03-03 (Mon)
    10:00 CST, 20 calendar days → the period ends 2025-03-23 (Sun) — a rest day, so it runs on to
    2025-03-24 (Mon) 24:00 CST; a deadline at or after 2025-03-25 00:00 CST satisfies it.
    """
    return period_end(a, n, unit=unit, calendar=calendar) <= b


def min_days_between(a: dt.datetime, b: dt.datetime, *, unit: Unit, calendar: WorkCalendar) -> int:
    """The largest ``n >= 0`` such that the ``n``-day period from ``a`` has fully elapsed by ``b``.

    Precisely: let ``S`` be the local (CST) date of ``a`` and ``L`` the last local day that has ended by ``b``
    (the day before ``b``'s local date; an instant at exactly 00:00 CST belongs to the new day, so the day
    that just ended counts). Then

    * ``unit="calendar"``: ``(W - S).days`` where ``W`` is the last working day on or before ``L`` — counted
      days after the start day up to ``L``, except that trailing rest days do not count yet, because a period
      ending on them would run on to the next working day (Art. 203);
    * ``unit="working"``: the number of working days ``d`` with ``S < d <= L``;

    and ``0`` if that is negative. For every ``n >= 1``: ``min_days_between(a, b) >= n`` iff
    ``satisfies_minimum(a, b, n)`` iff ``period_end(a, n) <= b``.
    """
    start_day = local_date(a)
    last_ended = local_date(b) - _ONE_DAY
    if last_ended <= start_day:
        return 0
    if unit == "calendar":
        return max(0, (calendar.previous_workday(last_ended) - start_day).days)
    if unit == "working":
        return calendar.working_days_between(start_day, last_ended)
    raise ValueError(f"unknown unit {unit!r}")


# -- database-backed loader and management-office service ------------------------------------------------


def load_calendar() -> WorkCalendar:
    """A :class:`WorkCalendar` with every ``calendar_override`` row as an override (needs an app context)."""
    rows = db.session.execute(select(CalendarOverride)).scalars()
    return WorkCalendar({row.day: bool(row.is_workday) for row in rows})


def years_without_holidays(today: dt.date) -> list[int]:
    """This year and next (periods reach into it) when the national arrangement is unknown for them and the
    management office has entered no day of theirs: periods then count weekends only, so the office is asked
    to enter that year's holidays."""
    calendar = WorkCalendar()
    missing = []
    for year in (today.year, today.year + 1):
        if calendar.covers(dt.date(year, 1, 1)):
            continue
        entered = db.session.scalar(
            select(CalendarOverride.day)
            .where(CalendarOverride.day.between(dt.date(year, 1, 1), dt.date(year, 12, 31)))
            .limit(1)
        )
        if entered is None:
            missing.append(year)
    return missing


def _actor_id(actor: Actor | None) -> int | None:
    value = getattr(actor, "id", None)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _override_state(row: CalendarOverride | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {"is_workday": bool(row.is_workday), "note": row.note}


def set_override(day: dt.date, is_workday: bool, note: str = "", *, actor: Actor | None) -> CalendarOverride:
    """Create or replace the override for ``day`` and audit it (``calendar:override:set``).

    Flushes but does not commit: the caller commits, so the row and its audit entry share one transaction.
    Returns the ``CalendarOverride`` row. Deadlines already computed and stored are not recomputed.
    """
    if isinstance(day, dt.datetime) or not isinstance(day, dt.date):
        raise ValueError("an override is for a date")
    note = (note or "").strip()
    if len(note) > 200:
        raise ValueError("note is longer than 200 characters")

    row = db.session.get(CalendarOverride, day)
    previous = _override_state(row)
    if row is None:
        row = CalendarOverride(day=day)
        db.session.add(row)
    row.is_workday = bool(is_workday)
    row.note = note
    row.created_by = _actor_id(actor)
    row.created_at = now()
    db.session.flush()

    national = WorkCalendar().national_is_workday(day)
    audit.record(
        "calendar:override:set",
        actor=actor,
        object_type="calendar_override",
        object_id=day.isoformat(),
        payload={
            "day": day.isoformat(),
            "is_workday": bool(is_workday),
            "note": note,
            "previous": previous,
            "national_is_workday": national,
            "national_source": "national" if WorkCalendar().covers(day) else "weekend-only",
        },
    )
    return row


def remove_override(day: dt.date, *, actor: Actor | None) -> bool:
    """Delete the override for ``day`` (back to the national calendar) and audit it
    (``calendar:override:remove``). Returns False, and audits nothing, when there was no override.
    Flushes but does not commit."""
    row = db.session.get(CalendarOverride, day)
    if row is None:
        return False
    previous = _override_state(row)
    db.session.delete(row)
    db.session.flush()
    audit.record(
        "calendar:override:remove",
        actor=actor,
        object_type="calendar_override",
        object_id=day.isoformat(),
        payload={
            "day": day.isoformat(),
            "previous": previous,
            "national_is_workday": WorkCalendar().national_is_workday(day),
        },
    )
    return True
