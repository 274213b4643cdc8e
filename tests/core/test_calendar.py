"""Working-day calendar and civil-law period counting (民法典 Arts. 201, 203, 1259).

National dates are checked against the State Council notices:
* 国务院办公厅关于2025年部分节假日安排的通知 (国办发明电〔2024〕12号, 2024-11-12);
* 国务院办公厅关于2026年部分节假日安排的通知 (2025-11-04).
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import scoped_session

from app.core.calendar import (
    Unit,
    WorkCalendar,
    end_of_local_day,
    load_calendar,
    local_date,
    min_days_between,
    period_end,
    period_last_day,
    remove_override,
    satisfies_minimum,
    set_override,
)
from app.core.clock import CST
from app.core.db import db
from app.core.models import AuditLeaf, CalendarOverride
from app.core.permissions import Role
from tests.factories import make_user

D = dt.date
UTC = dt.UTC
NATIONAL = WorkCalendar()


def cst(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, ss, tzinfo=CST)


def utc(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=UTC)


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


# -- national calendar -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("holidays", "adjusted_workdays"),
    [
        # 2025 春节: 1月28日(除夕)至2月4日放假调休共8天; 1月26日(周日)、2月8日(周六)上班.
        (days(D(2025, 1, 28), D(2025, 2, 4)), [D(2025, 1, 26), D(2025, 2, 8)]),
        # 2025 劳动节: 5月1日至5日; 4月27日(周日)上班.
        (days(D(2025, 5, 1), D(2025, 5, 5)), [D(2025, 4, 27)]),
        # 2025 国庆节、中秋节: 10月1日至8日放假调休共8天; 9月28日(周日)、10月11日(周六)上班.
        (days(D(2025, 10, 1), D(2025, 10, 8)), [D(2025, 9, 28), D(2025, 10, 11)]),
        # 2026 元旦: 1月1日至3日; 1月4日(周日)上班.
        (days(D(2026, 1, 1), D(2026, 1, 3)), [D(2026, 1, 4)]),
        # 2026 春节: 2月15日(腊月二十八)至23日(正月初七)放假调休共9天; 2月14日(周六)、2月28日(周六)上班.
        (days(D(2026, 2, 15), D(2026, 2, 23)), [D(2026, 2, 14), D(2026, 2, 28)]),
        # 2026 劳动节: 5月1日至5日; 5月9日(周六)上班.
        (days(D(2026, 5, 1), D(2026, 5, 5)), [D(2026, 5, 9)]),
        # 2026 中秋节 9月25日至27日; 国庆节 10月1日至7日; 9月20日(周日)、10月10日(周六)上班.
        (
            days(D(2026, 9, 25), D(2026, 9, 27)) + days(D(2026, 10, 1), D(2026, 10, 7)),
            [D(2026, 9, 20), D(2026, 10, 10)],
        ),
    ],
)
def test_national_holidays_and_adjusted_workdays(
    holidays: list[dt.date], adjusted_workdays: list[dt.date]
) -> None:
    for day in holidays:
        assert NATIONAL.is_statutory_rest(day), day
        assert not NATIONAL.is_workday(day), day
        assert NATIONAL.source(day) == "national"
    for day in adjusted_workdays:
        assert day.weekday() >= 5, f"{day} is an adjusted weekend day"
        assert NATIONAL.is_workday(day), day
        assert not NATIONAL.is_statutory_rest(day), day


def test_the_days_around_the_holidays_are_ordinary() -> None:
    assert NATIONAL.is_workday(D(2025, 9, 30))  # Tue before National Day
    assert NATIONAL.is_workday(D(2025, 10, 9))  # Thu after
    assert not NATIONAL.is_workday(D(2025, 10, 12))  # Sun after the adjusted Saturday
    assert NATIONAL.is_workday(D(2026, 2, 13))  # Fri before Spring Festival
    assert NATIONAL.is_workday(D(2026, 2, 24))  # Tue after
    assert not NATIONAL.is_workday(D(2026, 2, 21))  # a Saturday inside the holiday
    assert not NATIONAL.is_workday(D(2025, 3, 8))  # ordinary Saturday
    assert not NATIONAL.is_workday(D(2025, 3, 9))  # ordinary Sunday
    assert NATIONAL.is_workday(D(2025, 3, 10))  # ordinary Monday


def test_override_wins_both_ways() -> None:
    calendar = WorkCalendar(
        {
            D(2025, 10, 3): True,  # a holiday declared a working day
            D(2025, 3, 5): False,  # a Wednesday closed (e.g. typhoon)
            D(2025, 10, 11): False,  # an adjusted Saturday cancelled
            D(2025, 3, 8): True,  # an ordinary Saturday worked
        }
    )
    assert calendar.is_workday(D(2025, 10, 3)) and not calendar.is_statutory_rest(D(2025, 10, 3))
    assert not calendar.is_workday(D(2025, 3, 5)) and calendar.is_statutory_rest(D(2025, 3, 5))
    assert not calendar.is_workday(D(2025, 10, 11))
    assert calendar.is_workday(D(2025, 3, 8))
    assert calendar.source(D(2025, 10, 3)) == "override"
    assert calendar.source(D(2025, 10, 4)) == "national"
    # The national answer stays available for display.
    assert not calendar.national_is_workday(D(2025, 10, 3))
    # Overrides are copied and read-only: mutating the input later changes nothing.
    mapping = {D(2025, 3, 6): False}
    frozen = WorkCalendar(mapping)
    mapping[D(2025, 3, 6)] = True
    assert not frozen.is_workday(D(2025, 3, 6))
    with pytest.raises(TypeError):
        frozen.overrides[D(2025, 3, 7)] = False  # type: ignore[index]


def test_years_outside_the_package_fall_back_to_weekends_only() -> None:
    first, last = NATIONAL.coverage
    assert first <= 2025 and last >= 2026
    for year in (first - 1, 2099):
        jan1 = D(year, 1, 1)
        assert not NATIONAL.covers(jan1)
        assert NATIONAL.source(jan1) == "weekend-only"
        for day in days(jan1, jan1 + dt.timedelta(days=13)):
            assert NATIONAL.is_workday(day) is (day.weekday() < 5)
    # Overrides still win there, and periods can run into such a year without crashing.
    saturday = D(2099, 1, 3)
    assert saturday.weekday() == 5
    assert WorkCalendar({saturday: True}).is_workday(saturday)
    assert NATIONAL.covers(D(2026, 12, 31))
    end = period_end(cst(last, 12, 20, 10), 30, unit="working", calendar=NATIONAL)
    assert local_date(end - dt.timedelta(seconds=1)).year == last + 1


# -- working-day arithmetic --------------------------------------------------------------------------------


def test_add_working_days_across_national_day() -> None:
    # 2025-09-30 (Tue): next working day is 10-09 (Thu), then 10-10 (Fri), then 10-11 (adjusted Sat).
    assert NATIONAL.add_working_days(D(2025, 9, 30), 1) == D(2025, 10, 9)
    assert NATIONAL.add_working_days(D(2025, 9, 30), 3) == D(2025, 10, 11)
    assert NATIONAL.add_working_days(D(2025, 9, 30), 4) == D(2025, 10, 13)  # skips Sun 10-12
    # 09-27 (Sat) → 09-28 (adjusted Sun) is the first working day.
    assert NATIONAL.add_working_days(D(2025, 9, 27), 1) == D(2025, 9, 28)
    assert NATIONAL.add_working_days(D(2025, 10, 5), 0) == D(2025, 10, 5)
    assert NATIONAL.add_working_days(D(2025, 10, 9), -1) == D(2025, 9, 30)
    assert NATIONAL.add_working_days(D(2025, 10, 9), -2) == D(2025, 9, 29)


def test_working_days_between_is_the_inverse() -> None:
    assert NATIONAL.working_days_between(D(2025, 9, 30), D(2025, 10, 8)) == 0
    assert NATIONAL.working_days_between(D(2025, 9, 30), D(2025, 10, 11)) == 3
    assert NATIONAL.working_days_between(D(2025, 10, 11), D(2025, 9, 30)) == -3
    assert NATIONAL.working_days_between(D(2025, 3, 3), D(2025, 3, 3)) == 0
    start = D(2026, 2, 10)
    for n in range(-15, 25):
        assert NATIONAL.working_days_between(start, NATIONAL.add_working_days(start, n)) == n


def test_next_and_previous_workday() -> None:
    assert NATIONAL.next_workday(D(2026, 2, 15)) == D(2026, 2, 24)
    assert NATIONAL.next_workday(D(2026, 2, 14)) == D(2026, 2, 14)
    assert NATIONAL.previous_workday(D(2026, 2, 23)) == D(2026, 2, 14)


# -- civil-law periods -------------------------------------------------------------------------------------


def test_start_day_not_counted_and_period_ends_at_24_00_cst() -> None:
    # Tue 2025-03-04 10:00 CST + 10 days: day 1 is 03-05, day 10 is Fri 03-14; ends 03-14 24:00 CST.
    end = period_end(cst(2025, 3, 4, 10), 10, unit="calendar", calendar=NATIONAL)
    assert end == cst(2025, 3, 15, 0, 0)
    assert end == utc(2025, 3, 14, 16, 0)
    assert end.tzinfo == UTC
    # The hour of the start does not matter: the whole start day is dropped.
    assert period_end(cst(2025, 3, 4, 0, 0), 10, unit="calendar", calendar=NATIONAL) == end
    assert period_end(cst(2025, 3, 4, 23, 59, 59), 10, unit="calendar", calendar=NATIONAL) == end
    assert end_of_local_day(D(2025, 3, 14)) == utc(2025, 3, 14, 16)


def test_start_late_in_the_evening_cst_counts_from_the_local_date() -> None:
    # 2025-03-05 00:30 CST is 2025-03-04 16:30 UTC: the start day is Wed 03-05 (local), not 03-04 (UTC).
    start = utc(2025, 3, 4, 16, 30)
    assert local_date(start) == D(2025, 3, 5)
    # 9 days: 03-06 … 03-14 (Fri).
    assert period_end(start, 9, unit="calendar", calendar=NATIONAL) == utc(2025, 3, 14, 16)
    # 23:30 CST is still the same local day (15:30 UTC).
    assert period_end(utc(2025, 3, 4, 15, 30), 9, unit="calendar", calendar=NATIONAL) == utc(2025, 3, 13, 16)
    # Working days from the same instant: 03-06 (Thu) is the first, 03-07 (Fri) the second.
    assert period_end(start, 2, unit="working", calendar=NATIONAL) == utc(2025, 3, 7, 16)


def test_period_ending_on_a_holiday_moves_to_the_next_working_day() -> None:
    # Sun 2025-09-21 + 10 days = 10-01 (National Day); the holiday ends 10-08, so the period ends 10-09.
    start = cst(2025, 9, 21, 9)
    assert period_last_day(start, 10, unit="calendar", calendar=NATIONAL) == D(2025, 10, 9)
    assert period_end(start, 10, unit="calendar", calendar=NATIONAL) == cst(2025, 10, 10, 0)
    # Ending on the last holiday day (10-08) also moves to 10-09.
    assert period_end(start, 17, unit="calendar", calendar=NATIONAL) == cst(2025, 10, 10, 0)
    # Spring Festival 2026: Tue 2026-02-10 + 5 = 02-15 → the first working day after is 02-24.
    assert period_last_day(cst(2026, 2, 10, 9), 5, unit="calendar", calendar=NATIONAL) == D(2026, 2, 24)


def test_period_ending_on_a_weekend_moves_to_monday() -> None:
    # Wed 2025-03-05 + 10 = Sat 03-15 → Mon 03-17; + 11 = Sun 03-16 → Mon 03-17.
    for n in (10, 11, 12):
        assert period_end(cst(2025, 3, 5, 14), n, unit="calendar", calendar=NATIONAL) == cst(2025, 3, 18)


def test_adjusted_saturday_is_a_working_day_for_periods() -> None:
    # Wed 2025-10-01 + 10 = Sat 10-11, an adjusted working day: the period ends that day.
    assert period_last_day(cst(2025, 10, 1, 9), 10, unit="calendar", calendar=NATIONAL) == D(2025, 10, 11)
    # In working days from the last holiday day 10-08: 10-09, 10-10, 10-11 (Sat) are the first three.
    assert period_last_day(cst(2025, 10, 8, 9), 3, unit="working", calendar=NATIONAL) == D(2025, 10, 11)
    assert period_last_day(cst(2025, 10, 8, 9), 4, unit="working", calendar=NATIONAL) == D(2025, 10, 13)


def test_override_closing_the_last_day_extends_the_period() -> None:
    closed = WorkCalendar({D(2025, 3, 14): False})
    assert period_last_day(cst(2025, 3, 4, 10), 10, unit="calendar", calendar=closed) == D(2025, 3, 17)
    opened = WorkCalendar({D(2025, 3, 15): True})
    assert period_last_day(cst(2025, 3, 5, 10), 10, unit="calendar", calendar=opened) == D(2025, 3, 15)


def test_working_day_unit_across_spring_festival_2026() -> None:
    # Thu 2026-02-12: 02-13 (Fri) 1, 02-14 (adjusted Sat) 2, holiday 02-15..23, 02-24 (Tue) 3.
    start = cst(2026, 2, 12, 16)
    assert period_last_day(start, 1, unit="working", calendar=NATIONAL) == D(2026, 2, 13)
    assert period_last_day(start, 2, unit="working", calendar=NATIONAL) == D(2026, 2, 14)
    assert period_end(start, 3, unit="working", calendar=NATIONAL) == utc(2026, 2, 24, 16)
    # Complaint acceptance: 3 working days from a complaint received on the first holiday day.
    assert period_last_day(cst(2026, 2, 15, 11), 3, unit="working", calendar=NATIONAL) == D(2026, 2, 26)
    # 30 working days (complaint decision) from Mon 2026-02-09: 5 before the holiday (10..14), 25 after.
    # After 02-23: Feb 24,25,26,27 (4), 28 Sat adjusted (5), Mar 2-6 (10), 9-13 (15), 16-20 (20), 23-27 (25).
    assert period_last_day(cst(2026, 2, 9, 9), 30, unit="working", calendar=NATIONAL) == D(2026, 3, 27)


def test_boundary_19_vs_20_days() -> None:
    # Documents available Thu 2025-03-06 10:00 CST. Day 19 = Tue 03-25, day 20 = Wed 03-26 (no rest days).
    available = cst(2025, 3, 6, 10)
    assert period_end(available, 20, unit="calendar", calendar=NATIONAL) == cst(2025, 3, 27, 0)

    deadline_on_day_20 = cst(2025, 3, 26, 9, 30)
    assert min_days_between(available, deadline_on_day_20, unit="calendar", calendar=NATIONAL) == 19
    assert satisfies_minimum(available, deadline_on_day_20, 19, unit="calendar", calendar=NATIONAL)
    assert not satisfies_minimum(available, deadline_on_day_20, 20, unit="calendar", calendar=NATIONAL)

    just_before = cst(2025, 3, 26, 23, 59, 59)
    assert not satisfies_minimum(available, just_before, 20, unit="calendar", calendar=NATIONAL)
    at_24_00 = cst(2025, 3, 27, 0, 0)
    assert satisfies_minimum(available, at_24_00, 20, unit="calendar", calendar=NATIONAL)
    assert min_days_between(available, at_24_00, unit="calendar", calendar=NATIONAL) == 20

    deadline_day_21 = cst(2025, 3, 27, 9, 30)
    assert min_days_between(available, deadline_day_21, unit="calendar", calendar=NATIONAL) == 20
    assert satisfies_minimum(available, deadline_day_21, 20, unit="calendar", calendar=NATIONAL)
    assert not satisfies_minimum(available, deadline_day_21, 21, unit="calendar", calendar=NATIONAL)


def test_minimum_whose_last_day_is_a_weekend_runs_on_to_monday() -> None:
    # Mon 2025-03-03 + 20 = Sun 03-23 → the period ends Mon 03-24 24:00: a Monday deadline is too early.
    available = cst(2025, 3, 3, 10)
    monday = cst(2025, 3, 24, 9, 30)
    assert not satisfies_minimum(available, monday, 20, unit="calendar", calendar=NATIONAL)
    # 19 days (Sat 03-22) also runs on to Monday; 18 days (Fri 03-21) is satisfied.
    assert min_days_between(available, monday, unit="calendar", calendar=NATIONAL) == 18
    assert satisfies_minimum(available, cst(2025, 3, 25, 9, 30), 20, unit="calendar", calendar=NATIONAL)


def test_min_days_between_degenerate_cases() -> None:
    a = cst(2025, 3, 6, 10)
    assert min_days_between(a, a, unit="calendar", calendar=NATIONAL) == 0
    assert min_days_between(a, a - dt.timedelta(days=5), unit="working", calendar=NATIONAL) == 0
    assert min_days_between(a, cst(2025, 3, 7, 23), unit="calendar", calendar=NATIONAL) == 0
    assert min_days_between(a, cst(2025, 3, 8, 0), unit="calendar", calendar=NATIONAL) == 1


@pytest.mark.parametrize("unit", ["calendar", "working"])
def test_min_days_between_agrees_with_period_end(unit: Unit) -> None:
    """``min_days_between(a, b) >= n`` ⇔ ``satisfies_minimum(a, b, n)`` ⇔ ``period_end(a, n) <= b``."""
    calendar = WorkCalendar({D(2025, 9, 24): False, D(2025, 10, 4): True})
    starts = [
        cst(2025, 9, 19, 10),
        cst(2025, 9, 26, 23, 50),
        utc(2025, 9, 27, 16, 5),  # 09-28 00:05 CST, an adjusted Sunday
        cst(2025, 10, 1, 0, 0),
        cst(2025, 10, 7, 12),
        cst(2026, 2, 6, 9),
        cst(2026, 2, 19, 18),
    ]
    for a in starts:
        ends = {n: period_end(a, n, unit=unit, calendar=calendar) for n in range(1, 31)}
        for hours in range(0, 24 * 36, 7):
            b = a + dt.timedelta(hours=hours)
            count = min_days_between(a, b, unit=unit, calendar=calendar)
            for n, end in ends.items():
                expected = end <= b
                assert (count >= n) is expected, (a, b, n, count, end)
                assert satisfies_minimum(a, b, n, unit=unit, calendar=calendar) is expected


def test_invalid_input_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        period_end(dt.datetime(2025, 3, 4, 10), 10, unit="calendar", calendar=NATIONAL)
    with pytest.raises(ValueError):
        period_end(cst(2025, 3, 4), 0, unit="calendar", calendar=NATIONAL)
    with pytest.raises(ValueError, match="unit"):
        period_end(cst(2025, 3, 4), 1, unit="weeks", calendar=NATIONAL)  # type: ignore[arg-type]


# -- database-backed overrides -----------------------------------------------------------------------------


def test_db_override_is_loaded_used_for_periods_and_audited(db_session: scoped_session) -> None:
    manager = make_user(Role.MANAGER)
    db_session.flush()
    friday = D(2025, 3, 14)  # Tue 03-04 + 10 days ends here in the national calendar
    assert load_calendar().is_workday(friday)

    row = set_override(friday, False, "  临时闭馆  ", actor=manager)
    assert row.note == "临时闭馆" and row.created_by == manager.id
    calendar = load_calendar()
    assert calendar.source(friday) == "override" and not calendar.is_workday(friday)
    assert period_last_day(cst(2025, 3, 4, 10), 10, unit="calendar", calendar=calendar) == D(2025, 3, 17)

    # Replacing the override keeps one row and records what it replaced.
    set_override(friday, True, "恢复办公", actor=manager)
    assert db_session.scalars(select(CalendarOverride)).all() == [row]
    assert load_calendar().is_workday(friday)

    first, second = _audit_payloads("calendar:override:set")
    assert first["previous"] is None and first["is_workday"] is False and first["national_is_workday"] is True
    assert second["previous"] == {"is_workday": False, "note": "临时闭馆"}

    assert remove_override(friday, actor=manager)
    assert not remove_override(friday, actor=manager)  # nothing left: no second audit entry
    assert load_calendar().overrides == {}
    (removed,) = _audit_payloads("calendar:override:remove")
    assert removed["previous"] == {"is_workday": True, "note": "恢复办公"}


def test_set_override_refuses_bad_input(db_session: scoped_session) -> None:
    with pytest.raises(ValueError, match="200"):
        set_override(D(2025, 3, 14), False, "x" * 201, actor=None)
    with pytest.raises(ValueError, match="date"):
        set_override(cst(2025, 3, 14), False, "", actor=None)
    assert load_calendar().overrides == {}


def _audit_payloads(action: str) -> list[dict[str, Any]]:
    leaves = db.session.scalars(select(AuditLeaf).where(AuditLeaf.action == action).order_by(AuditLeaf.idx))
    result = []
    for leaf in leaves:
        assert leaf.object_type == "calendar_override" and leaf.object_id == "2025-03-14"
        result.append(json.loads(leaf.payload))
    return result
