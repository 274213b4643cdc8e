"""Statutory time rules at their exact boundaries, on calendar-day and working-day catalogue items,
including periods that end on or across national holidays (2026 Mid-Autumn/National Day, Spring Festival)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from app.core.calendar import WorkCalendar
from app.projects import rules
from app.projects.enums import Category, DayUnit
from app.projects.rules import DEFAULT_RULES
from tests.projects.conftest import cst

CAL = WorkCalendar()
CONSTRUCTION = DEFAULT_RULES[Category.ENGINEERING_CONSTRUCTION]
PROCUREMENT = DEFAULT_RULES[Category.GOVERNMENT_PROCUREMENT]
STATE_PROPERTY = DEFAULT_RULES[Category.STATE_PROPERTY]


@pytest.fixture(autouse=True)
def _ctx(app: Any) -> Any:
    with app.test_request_context():
        yield


def test_issued_march_first_earliest_deadline_is_march_twenty_first() -> None:
    # The lead's reading of 法 Art. 24: the start day is not counted, the deadline day counts.
    start = cst(2026, 3, 1, 10, 0)
    assert rules.earliest_date(start, 20, DayUnit.CALENDAR, CAL) == dt.date(2026, 3, 21)
    assert rules.satisfies(start, cst(2026, 3, 21, 9, 0), 20, DayUnit.CALENDAR, CAL)
    assert not rules.satisfies(start, cst(2026, 3, 20, 23, 59), 20, DayUnit.CALENDAR, CAL)


def test_bid_period_19_days_refused_20_days_accepted_with_dates_in_the_message() -> None:
    start = cst(2026, 3, 2, 9, 0)
    refused = rules.check_bid_period(start, cst(2026, 3, 21, 9, 30), CONSTRUCTION, CAL)
    accepted = rules.check_bid_period(start, cst(2026, 3, 22, 9, 30), CONSTRUCTION, CAL)
    assert not refused.ok and refused.data["days"] == 19 and refused.data["min"] == 20
    assert "2026-03-02" in refused.message and "2026-03-21" in refused.message and "19" in refused.message
    assert "2026-03-22" in refused.message  # the earliest legal deadline is named
    assert accepted.ok and accepted.data["days"] == 20


def test_local_dates_count_not_utc_dates() -> None:
    # 2026-03-02 00:30 CST is still 1 March in UTC; the local date is what counts.
    start = cst(2026, 3, 2, 0, 30)
    assert start.astimezone(dt.UTC).date() == dt.date(2026, 3, 1)
    assert not rules.satisfies(start, cst(2026, 3, 21, 23, 0), 20, DayUnit.CALENDAR, CAL)
    assert rules.satisfies(start, cst(2026, 3, 22, 0, 0), 20, DayUnit.CALENDAR, CAL)


def test_sale_period_4_days_refused_5_days_accepted() -> None:
    start = cst(2026, 3, 2, 9, 0)
    assert not rules.check_sale_period(start, cst(2026, 3, 6, 17, 0), CONSTRUCTION, CAL).ok
    ok = rules.check_sale_period(start, cst(2026, 3, 7, 9, 0), CONSTRUCTION, CAL)
    assert ok.ok and ok.data["days"] == 5


def test_procurement_sale_period_counts_working_days_across_mid_autumn_and_national_day() -> None:
    # Wed 23 Sep 2026: working days after it are 24 Sep, 28, 29, 30 Sep (25–27 Mid-Autumn), then 8 Oct
    # (1–7 Oct National Day). The fifth working day falls right after the holiday.
    start = cst(2026, 9, 23, 10, 0)
    assert rules.earliest_date(start, 5, DayUnit.WORKING, CAL) == dt.date(2026, 10, 8)
    four = rules.check_sale_period(start, cst(2026, 10, 7, 17, 0), PROCUREMENT, CAL)
    five = rules.check_sale_period(start, cst(2026, 10, 8, 17, 0), PROCUREMENT, CAL)
    assert not four.ok and four.data["days"] == 4
    assert five.ok and five.data["days"] == 5
    # the same dates pass on a calendar-day item: 14 calendar days
    assert rules.check_sale_period(start, cst(2026, 10, 7, 17, 0), CONSTRUCTION, CAL).ok


def test_procurement_bid_period_is_calendar_days() -> None:
    start = cst(2026, 9, 23, 10, 0)
    assert rules.check_bid_period(start, cst(2026, 10, 13, 9, 30), PROCUREMENT, CAL).ok  # 20 日
    assert not rules.check_bid_period(start, cst(2026, 10, 12, 9, 30), PROCUREMENT, CAL).ok


def test_state_property_disclosure_counts_20_working_days_over_national_day() -> None:
    start = cst(2026, 9, 18, 10, 0)  # Friday
    last = rules.earliest_date(start, 20, DayUnit.WORKING, CAL)
    assert CAL.working_days_between(dt.date(2026, 9, 18), last) == 20
    assert not rules.check_bid_period(
        start, cst(last.year, last.month, last.day) - dt.timedelta(days=1), STATE_PROPERTY, CAL
    ).ok
    assert rules.check_bid_period(start, cst(last.year, last.month, last.day), STATE_PROPERTY, CAL).ok


def test_management_office_override_closes_a_day() -> None:
    closed = WorkCalendar({dt.date(2026, 10, 8): False})
    start = cst(2026, 9, 23, 10, 0)
    assert rules.earliest_date(start, 5, DayUnit.WORKING, closed) == dt.date(2026, 10, 9)


def test_platform_moved_deadline_lands_on_a_working_day_after_a_holiday() -> None:
    # 15 calendar days after 22 Sep 2026 is 7 Oct (National Day): the moved deadline goes to 8 Oct.
    moved = rules.earliest_deadline(
        cst(2026, 9, 22, 10, 0), 15, DayUnit.CALENDAR, CAL, keep_time_of=cst(2026, 9, 30, 9, 30)
    )
    assert moved == cst(2026, 10, 8, 9, 30)
    # Spring Festival 2026 (15–23 Feb): 15 days after 1 Feb is 16 Feb → 24 Feb.
    moved = rules.earliest_deadline(
        cst(2026, 2, 1, 10, 0), 15, DayUnit.CALENDAR, CAL, keep_time_of=cst(2026, 2, 10, 14, 0)
    )
    assert moved == cst(2026, 2, 24, 14, 0)


@pytest.mark.parametrize(
    ("security", "ok"),
    [("200000.00", True), ("200000.01", False), ("0", True), ("199999.99", True)],
)
def test_bid_security_at_most_two_percent_exactly(security: str, ok: bool) -> None:
    check = rules.check_bid_security(Decimal("10000000"), Decimal(security))
    assert check.ok is ok


@pytest.mark.parametrize(
    ("size", "pool", "ok"),
    [(5, 4, True), (5, 3, False), (4, 4, False), (7, 5, True), (7, 4, False), (3, 3, False), (9, 6, True)],
)
def test_panel_odd_at_least_five_pool_two_thirds(size: int, pool: int, ok: bool) -> None:
    assert rules.check_panel(size, pool, {}).ok is ok


def test_panel_specialties_must_add_up() -> None:
    assert rules.check_panel(5, 4, {"市政": 3, "造价": 1}).ok
    assert not rules.check_panel(5, 4, {"市政": 3}).ok


def test_scoring_weights_sum_to_100() -> None:
    assert rules.check_scoring(
        "comprehensive", [{"name": "价格", "weight": 60}, {"name": "技术", "weight": 40}]
    ).ok
    assert not rules.check_scoring(
        "comprehensive", [{"name": "价格", "weight": 60}, {"name": "技术", "weight": 39}]
    ).ok
    assert rules.check_scoring("lowest_price", []).ok
