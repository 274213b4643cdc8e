"""Time left in words, from the business clock, in Chinese and English."""

from __future__ import annotations

import datetime as dt

from flask import Flask
from flask_babel import force_locale

from app.core.calendar import WorkCalendar
from app.core.clock import CST, clock
from app.core.countdown import countdown, words_left, working_days_left, working_days_words

AT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=CST)  # a Monday


def test_words_left_in_both_languages(app: Flask) -> None:
    with app.test_request_context(), force_locale("zh_CN"):
        assert words_left(AT + dt.timedelta(days=2, hours=3), at=AT) == "还剩 2 天 3 小时"
        assert words_left(AT + dt.timedelta(hours=5, minutes=7), at=AT) == "还剩 5 小时 7 分钟"
        assert words_left(AT + dt.timedelta(seconds=30), at=AT) == "还剩 1 分钟"
        assert words_left(AT, at=AT) == "已截止"
        assert working_days_words(3) == "剩余 3 个工作日"
        assert working_days_words(0) == "今日到期"
        assert working_days_words(-2) == "已逾期 2 个工作日"
    with app.test_request_context(), force_locale("en"):
        assert words_left(AT + dt.timedelta(days=1, hours=1), at=AT) == "1 day 1 hour left"
        assert words_left(AT + dt.timedelta(days=3), at=AT) == "3 days left"


def test_the_business_clock_decides(app: Flask) -> None:
    clock.freeze(AT)
    try:
        with app.test_request_context(), force_locale("zh_CN"):
            html = str(countdown(AT + dt.timedelta(hours=2)))
            assert "还剩 2 小时" in html and 'class="countdown soon"' in html
            clock.advance(dt.timedelta(hours=3))
            assert 'class="countdown passed"' in str(countdown(AT + dt.timedelta(hours=2)))
    finally:
        clock.reset()


def test_working_days_skip_the_weekend() -> None:
    calendar = WorkCalendar()
    friday = dt.date(2026, 3, 6)
    assert working_days_left(friday, calendar=calendar, at=AT) == 4
    assert working_days_left(dt.date(2026, 3, 9), calendar=calendar, at=AT) == 5  # next Monday
    wednesday = AT + dt.timedelta(days=2)
    assert working_days_left(AT.date(), calendar=calendar, at=wednesday) == -2  # overdue since Monday
