"""Each statutory clock at its boundary, on the 2025 National Day holiday (10-01 … 10-08 rest; Sunday 09-28
and Saturday 10-11 adjusted working days) and ordinary weeks of 2026."""

from __future__ import annotations

import datetime as dt

import pytest

from app.complaints import clocks
from app.complaints.enums import Regime
from app.core.calendar import WorkCalendar
from app.core.clock import CST

CAL = WorkCalendar()
UTC = dt.UTC


def cst(y: int, m: int, d: int, hh: int = 0, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=CST)


def midnight_after(y: int, m: int, d: int) -> dt.datetime:
    """24:00 CST of the given day, in UTC."""
    return (dt.datetime(y, m, d, tzinfo=CST) + dt.timedelta(days=1)).astimezone(UTC)


def test_document_objection_closes_at_2400_ten_days_before_the_deadline() -> None:
    window = clocks.document_objection_window(cst(2025, 10, 20, 9, 30), CAL)
    assert window.closes == midnight_after(2025, 10, 10)
    assert window.contains(cst(2025, 10, 10, 23, 59))
    assert not window.contains(cst(2025, 10, 11, 0, 0))


def test_document_objection_lead_in_working_days_skips_the_holiday() -> None:
    # deadline Thu 10-16, counting back working days: 10-15, 10-14, 10-13, Sat 10-11 (adjusted), 10-10,
    # 10-09, then over the holiday 09-30, 09-29, Sun 09-28 (adjusted) and Fri 09-26 — the 10th.
    window = clocks.document_objection_window(cst(2025, 10, 16, 9, 30), CAL, unit="working")
    assert window.closes == midnight_after(2025, 9, 26)


def test_objection_answer_three_days_runs_over_national_day() -> None:
    # filed Tue 09-30: the 3rd day is 10-03, a holiday → the period ends on the next working day, Thu 10-09.
    assert clocks.objection_answer_due(
        cst(2025, 9, 30, 15), CAL, regime=Regime.CONSTRUCTION
    ) == midnight_after(2025, 10, 9)
    # filed Mon 2026-03-02: ends Thu 03-05 at 24:00
    assert clocks.objection_answer_due(cst(2026, 3, 2, 9), CAL, regime=Regime.CONSTRUCTION) == midnight_after(
        2026, 3, 5
    )


def test_acceptance_three_working_days_counts_the_adjusted_saturday() -> None:
    # received Thu 10-09: Fri 10-10, Sat 10-11 (worked under 调休), Mon 10-13.
    assert clocks.accept_due(cst(2025, 10, 9, 10), CAL) == midnight_after(2025, 10, 13)
    # received at 23:59 the same day still counts from the next day
    assert clocks.accept_due(cst(2025, 10, 9, 23, 59), CAL) == midnight_after(2025, 10, 13)


def test_complaint_ten_days_from_knowing_ends_after_the_holiday() -> None:
    window = clocks.complaint_window(cst(2025, 9, 26, 11), CAL, regime=Regime.CONSTRUCTION)
    # 09-26 + 10 = 10-06 (holiday) → next working day 10-09
    assert window.closes == midnight_after(2025, 10, 9)
    assert window.contains(cst(2025, 10, 9, 23, 59))
    assert not window.contains(midnight_after(2025, 10, 9))


def test_objection_waiting_time_does_not_count_towards_the_complaint_period() -> None:
    wait = clocks.objection_wait_days(cst(2026, 3, 3, 10), cst(2026, 3, 6, 16))
    assert wait == 3
    window = clocks.complaint_window(cst(2026, 3, 2, 9), CAL, regime=Regime.CONSTRUCTION, objection_wait=wait)
    # 03-02 + 13 = 03-15 (Sunday) → Monday 03-16
    assert window.closes == midnight_after(2026, 3, 16)


def test_procurement_challenge_reply_and_complaint_windows() -> None:
    knew = cst(2025, 9, 30, 10)
    challenge = clocks.challenge_window(knew, CAL)
    # 7 working days: 10-09, 10-10, 10-11 (adjusted), 10-13, 10-14, 10-15, 10-16
    assert challenge.closes == midnight_after(2025, 10, 16)
    reply_due = clocks.objection_answer_due(knew, CAL, regime=Regime.PROCUREMENT)
    assert reply_due == midnight_after(2025, 10, 16)
    complaint = clocks.complaint_window(knew, CAL, regime=Regime.PROCUREMENT, reply_due=reply_due)
    # 15 working days after 10-16: 10-17, 10-20..24, 10-27..31, 11-03..06
    assert complaint.closes == midnight_after(2025, 11, 6)


def test_decision_thirty_working_days_with_pauses() -> None:
    accepted = cst(2026, 3, 2, 10)  # Monday; no holiday until 清明 (04-04..06)
    plain = clocks.decision_due(accepted, CAL)
    assert plain == midnight_after(2026, 4, 14)  # 30 working days, skipping 清明 Mon 04-06
    # expert review Mon 03-09 10:00 → Wed 03-11 15:00 removes Tue and Wed
    pause = clocks.Interval(cst(2026, 3, 9, 10), cst(2026, 3, 11, 15))
    assert clocks.decision_due(accepted, CAL, [pause]) == midnight_after(2026, 4, 16)
    # a pause inside one day removes nothing; an open pause has no due date
    same_day = clocks.Interval(cst(2026, 3, 9, 10), cst(2026, 3, 9, 17))
    assert clocks.decision_due(accepted, CAL, [same_day]) == plain
    assert clocks.decision_due(accepted, CAL, [clocks.Interval(cst(2026, 3, 9, 10), None)]) is None


def test_pause_over_a_holiday_removes_only_working_days() -> None:
    pause = clocks.Interval(cst(2025, 9, 30, 9), cst(2025, 10, 10, 9))
    # 10-01..10-08 rest, 10-09 and 10-10 work
    assert clocks.paused_days([pause], "working", CAL) == 2
    assert clocks.paused_days([pause], "calendar", CAL) == 10


def test_backup_is_alerted_from_the_working_day_before_the_last_day() -> None:
    due = clocks.forward_due(cst(2025, 9, 30, 16), CAL)  # last day Sat 10-11 (adjusted working day)
    assert clocks.backup_alert_from(due, CAL) == cst(2025, 10, 10)
    # over a weekend: last day Mon 2026-03-09 → alerted from Fri 03-06 00:00
    assert clocks.backup_alert_from(midnight_after(2026, 3, 9), CAL) == cst(2026, 3, 6)


@pytest.mark.parametrize(
    ("received", "last_day"),
    [
        (cst(2025, 9, 30, 16), (2025, 10, 11)),  # 10-09, 10-10, Sat 10-11 (adjusted working day)
        (cst(2026, 3, 6, 16), (2026, 3, 11)),  # Fri → Mon, Tue, Wed
    ],
)
def test_forward_due_three_working_days(received: dt.datetime, last_day: tuple[int, int, int]) -> None:
    assert clocks.forward_due(received, CAL) == midnight_after(*last_day)
