"""The management office's holiday calendar page: who may see it, who may change it, and that every
change lands in the audit log."""

from __future__ import annotations

import datetime as dt

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import scoped_session

from app.core.calendar import load_calendar
from app.core.models import AuditLeaf, CalendarOverride
from app.core.permissions import Role
from tests.factories import csrf_token, login, make_user

# A Monday in the national calendar's range that is an ordinary working day.
DAY = dt.date(2026, 6, 1)


def _leaves(action: str) -> list[AuditLeaf]:
    from app.core.db import db

    return list(db.session.scalars(select(AuditLeaf).where(AuditLeaf.action == action)).all())


@pytest.fixture
def manager_client(client: FlaskClient, db_session: scoped_session) -> tuple[FlaskClient, int]:  # type: ignore[type-arg]
    manager = make_user(Role.MANAGER)
    db_session.commit()
    login(client, manager)
    return client, manager.id


def test_page_lists_national_holidays_and_form_for_manager(manager_client: tuple[FlaskClient, int]) -> None:
    client, _ = manager_client
    resp = client.get("/calendar/?year=2026")
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    assert 'id="calendar-title"' in html
    assert "春节" in html  # national holiday summary, in Chinese by default
    assert 'id="override-submit"' in html


def test_manager_adds_and_removes_override_and_both_are_audited(
    manager_client: tuple[FlaskClient, int], db_session: scoped_session
) -> None:
    client, manager_id = manager_client
    assert load_calendar().is_workday(DAY)

    resp = client.post(
        "/calendar/overrides",
        data={
            "day": DAY.isoformat(),
            "is_workday": "0",
            "note": "市政府通知临时闭馆",
            "csrf_token": csrf_token(client, "/calendar/"),
        },
    )
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/calendar/?year=2026")
    assert not load_calendar().is_workday(DAY)
    row = db_session.get(CalendarOverride, DAY)
    assert row is not None and row.note == "市政府通知临时闭馆" and row.created_by == manager_id
    (leaf,) = _leaves("calendar:override:set")
    assert leaf.actor_id == manager_id and leaf.object_id == DAY.isoformat()

    page = client.get("/calendar/?year=2026").get_data(as_text=True)
    assert "市政府通知临时闭馆" in page
    assert "已调整为休息日" in page  # the success flash, in Chinese

    resp = client.post(
        "/calendar/overrides/remove",
        data={"day": DAY.isoformat(), "csrf_token": csrf_token(client, "/calendar/")},
    )
    assert resp.status_code == 302
    assert load_calendar().is_workday(DAY)
    assert db_session.get(CalendarOverride, DAY) is None
    (leaf,) = _leaves("calendar:override:remove")
    assert leaf.actor_id == manager_id


def test_invalid_override_is_refused_with_the_form_errors(manager_client: tuple[FlaskClient, int]) -> None:
    client, _ = manager_client
    resp = client.post(
        "/calendar/overrides",
        data={"day": "not-a-date", "is_workday": "0", "csrf_token": csrf_token(client, "/calendar/")},
    )
    assert resp.status_code == 422
    assert 'class="error"' in resp.get_data(as_text=True)
    assert not _leaves("calendar:override:set")


def test_bidder_may_read_but_not_change_the_calendar(client: FlaskClient, db_session: scoped_session) -> None:
    bidder = make_user(Role.BIDDER)
    db_session.commit()
    login(client, bidder)
    page = client.get("/calendar/?year=2026")
    assert page.status_code == 200
    assert 'id="override-submit"' not in page.get_data(as_text=True)

    token = csrf_token(client, "/calendar/")
    resp = client.post(
        "/calendar/overrides", data={"day": DAY.isoformat(), "is_workday": "0", "csrf_token": token}
    )
    assert resp.status_code == 403
    resp = client.post("/calendar/overrides/remove", data={"day": DAY.isoformat(), "csrf_token": token})
    assert resp.status_code == 403
    assert db_session.get(CalendarOverride, DAY) is None
    assert not _leaves("calendar:override:set")


def test_sysadmin_holds_no_calendar_permission(client: FlaskClient, db_session: scoped_session) -> None:
    admin = make_user(Role.SYSADMIN)
    db_session.commit()
    login(client, admin)
    assert client.get("/calendar/").status_code == 403


def test_anonymous_is_sent_to_sign_in(client: FlaskClient) -> None:
    resp = client.get("/calendar/")
    assert resp.status_code == 302
    assert "/auth/login" in resp.headers["Location"]


def test_missing_csrf_token_is_refused(
    manager_client: tuple[FlaskClient, int], db_session: scoped_session
) -> None:
    client, _ = manager_client
    resp = client.post("/calendar/overrides", data={"day": DAY.isoformat(), "is_workday": "0"})
    assert resp.status_code == 400
    assert db_session.get(CalendarOverride, DAY) is None


def test_unknown_year_is_not_found(manager_client: tuple[FlaskClient, int]) -> None:
    client, _ = manager_client
    assert client.get("/calendar/?year=abc").status_code == 404
    assert client.get("/calendar/?year=1850").status_code == 404


def test_workbench_asks_the_office_for_a_year_without_national_holiday_data(
    manager_client: tuple[FlaskClient, int],
) -> None:
    """Past the years the holiday package knows, periods still count (weekends and the office's days) and the
    management office is asked on its workbench to enter that year's holidays, until it has entered some."""
    from app.core.calendar import WorkCalendar, set_override
    from app.core.clock import CST, clock

    client, _ = manager_client
    year = WorkCalendar().coverage[1] + 5
    clock.freeze(dt.datetime(year, 4, 14, 10, 0, tzinfo=CST))
    html = client.get("/workbench").get_data(as_text=True)
    assert f"{year}年" in html and f"/calendar/?year={year}" in html
    assert f"/calendar/?year={year + 1}" in html  # periods reach into next year too
    set_override(dt.date(year, 5, 1), False, "劳动节", actor=None)
    html = client.get("/workbench").get_data(as_text=True)
    assert f"/calendar/?year={year}" not in html and f"/calendar/?year={year + 1}" in html
    # periods are still computed in such a year: weekends rest, the office's day rests
    from app.core.calendar import period_end

    end = period_end(
        dt.datetime(year, 4, 28, 10, 0, tzinfo=CST), 3, unit="calendar", calendar=load_calendar()
    )
    assert end.astimezone(CST).date() > dt.date(year, 5, 1)


def test_the_calendar_page_warns_of_a_year_without_national_holiday_data(
    manager_client: tuple[FlaskClient, int],
) -> None:
    """Issue 13: in a year the holiday package has no official data for (the business clock frozen in it), the
    calendar page opens on that year and tells the office that only weekends rest until it enters the
    holidays; a year with the official arrangement has no such warning."""
    import re

    from app.core.calendar import WorkCalendar
    from app.core.clock import CST, clock

    client, _ = manager_client
    first, last = WorkCalendar().coverage
    year = 2031 if last < 2031 else last + 5
    clock.freeze(dt.datetime(year, 4, 14, 10, 0, tzinfo=CST))
    html = client.get("/calendar/").get_data(as_text=True)  # no year asked: the business year
    assert f"<strong>{year}</strong>" in html
    warning = re.search(r'<div class="flash flash-warn" role="note">\s*(.*?)\s*</div>', html, re.S)
    assert warning is not None
    assert warning.group(1) == (
        f"平台尚未收录 {year} 年的国家节假日安排（已收录 {first}–{last} 年）。"
        "在录入调整之前，仅将周六、周日视为休息日。"
    )
    assert 'id="override-submit"' in html  # the office can enter the year's holidays right there

    known = client.get(f"/calendar/?year={last}").get_data(as_text=True)
    assert 'class="flash flash-warn" role="note"' not in known and "尚未收录" not in known
