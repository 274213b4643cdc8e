"""Reading a time a person typed: Beijing time unless it says otherwise; a typo is no date, never a 500."""

from __future__ import annotations

import datetime as dt

import pytest

from app.core.clock import CST, local_to_utc, parse_local


@pytest.mark.parametrize(
    ("typed", "instant"),
    [
        ("2026-03-02T09:30", dt.datetime(2026, 3, 2, 1, 30, tzinfo=dt.UTC)),  # datetime-local, Beijing time
        ("2026-03-02", dt.datetime(2026, 3, 1, 16, 0, tzinfo=dt.UTC)),  # a date: its Beijing midnight
        (" 2026-03-02T09:30 ", dt.datetime(2026, 3, 2, 1, 30, tzinfo=dt.UTC)),  # stray spaces
        ("2026-03-02T09:30+00:00", dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC)),  # a zone is kept
        ("9999-12-31T23:59", dt.datetime(9999, 12, 31, 15, 59, tzinfo=dt.UTC)),
        ("0001-01-01T07:59", None),  # before the first UTC instant there is: a typo
        ("0001-01-01", None),
        ("2026-02-30T09:00", None),
        ("明天上午", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_local(typed: str | None, instant: dt.datetime | None) -> None:
    assert parse_local(typed) == instant


def test_local_to_utc_reads_naive_times_as_beijing_time() -> None:
    assert local_to_utc(dt.datetime(2026, 3, 2, 9, 30)) == dt.datetime(2026, 3, 2, 1, 30, tzinfo=dt.UTC)
    aware = dt.datetime(2026, 3, 2, 9, 30, tzinfo=CST)
    assert local_to_utc(aware) == aware and local_to_utc(aware).tzinfo is dt.UTC  # type: ignore[union-attr]
    assert local_to_utc(dt.datetime(1, 1, 1)) is None and local_to_utc(None) is None


def test_the_first_day_of_the_calendar_is_still_a_day() -> None:
    noon = parse_local("0001-01-01T12:00")  # Shanghai's zone data gives that year local mean time, +08:05:43
    assert noon is not None and noon.date() == dt.date(1, 1, 1)
