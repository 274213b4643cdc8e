"""The statutory clocks of objections, complaints and reports — pure functions of instants and a calendar.

Every period is counted as the Civil Code says (``app.core.calendar``): the start day is not counted, a
calendar-day period ending on a rest day runs on to the next working day, and it ends at 24:00 China
Standard Time. Numbers and sources (reference file §§3–5):

* objection to tender documents: filed ≥ 10 日 before the bid deadline, answered within 3 日 (条例 22); to the
  prequalification documents ≥ 2 日 before the application deadline, answered alike;
* objection to results: only during candidate publicity, answered within 3 日 (条例 54);
* complaint: within 10 日 of knowing, the time a required objection waited for its answer not counted
  (条例 60); accepted or refused within 3 工作日, decided within 30 工作日 of acceptance, expert review,
  testing and appraisal not counted (条例 61);
* government procurement: challenge (质疑) within 7 工作日 of knowing — for the result, within 7 工作日 after
  the result announcement period ends (采购条例 53) — reply within 7 工作日, complaint within 15 工作日 after
  the reply period, accepted or refused within 5 工作日 (94号令 Art. 21), decision within 30 工作日
  (采购法 52–56); a procurement the finance department suspends while it handles a complaint stays
  suspended at most 30 日 (采购法 57);
* forwarding (转办) within 3 工作日 of receipt (濮阳 Art. 32 pattern, reference file §5.3).

Pauses: a pause from instant ``a`` to instant ``b`` removes the days ``d`` with ``date(a) < d <= date(b)``
(in the period's unit) from the count — the same start-day-excluded rule as every other period — so the due
date moves by exactly that many days. While a pause is open there is no due date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from app.core.calendar import Unit, WorkCalendar, end_of_local_day, local_date, period_end

from .enums import Regime

DOCUMENT_OBJECTION_LEAD_DAYS = 10
PREQUAL_OBJECTION_LEAD_DAYS = 2  # 条例 22: objections to the prequalification documents
OBJECTION_ANSWER_DAYS = 3
COMPLAINT_DAYS = 10
ACCEPT_DAYS = 3
DECIDE_DAYS = 30
FORWARD_DAYS = 3
CHALLENGE_DAYS = 7
CHALLENGE_REPLY_DAYS = 7
PROCUREMENT_COMPLAINT_DAYS = 15
PROCUREMENT_SUSPENSION_DAYS = 30  # 采购法 Art. 57: a suspension while a complaint is handled, at most 30 日
RESPONDENT_EXPLANATION_DAYS = 5  # 94号令: the respondent explains in writing within 5 工作日 of the copy
PROCUREMENT_ACCEPT_DAYS = 5  # 94号令 Art. 21: the finance department reviews a complaint in 5 working days
REPORT_HANDLE_DAYS = 15  # no national rule (reference file §5.3): the platform's default assignment period
BACKUP_WARNING_WORKING_DAYS = 1  # AB角: the backup is alerted this many working days before the due date
STALLED_WORKING_DAYS = 5  # 督办: no activity for this long


@dataclass(frozen=True)
class Window:
    """When something may be filed: ``opens`` (None: any time before) to ``closes`` (exclusive)."""

    closes: dt.datetime
    opens: dt.datetime | None = None

    def contains(self, instant: dt.datetime) -> bool:
        return (self.opens is None or instant >= self.opens) and instant < self.closes


@dataclass(frozen=True)
class Interval:
    started_at: dt.datetime
    ended_at: dt.datetime | None


def days_in(a: dt.datetime, b: dt.datetime, unit: Unit, calendar: WorkCalendar) -> int:
    """Days ``d`` with ``date(a) < d <= date(b)`` in ``unit`` (0 when ``b`` is not after ``a``)."""
    start, end = local_date(a), local_date(b)
    if end <= start:
        return 0
    if unit == "calendar":
        return (end - start).days
    return calendar.working_days_between(start, end)


def paused_days(pauses: Iterable[Interval], unit: Unit, calendar: WorkCalendar) -> int | None:
    """Days removed from a period by closed pauses; None while a pause is open."""
    total = 0
    for pause in pauses:
        if pause.ended_at is None:
            return None
        total += days_in(pause.started_at, pause.ended_at, unit, calendar)
    return total


def due_with_pauses(
    start: dt.datetime, days: int, unit: Unit, calendar: WorkCalendar, pauses: Iterable[Interval] = ()
) -> dt.datetime | None:
    """The end of a ``days``-day period from ``start`` moved on by the paused days; None while paused."""
    extra = paused_days(pauses, unit, calendar)
    if extra is None:
        return None
    return period_end(start, days + extra, unit=unit, calendar=calendar)


# -- objections --------------------------------------------------------------------------------------------


def document_objection_window(
    bid_deadline: dt.datetime,
    calendar: WorkCalendar,
    *,
    lead_days: int = DOCUMENT_OBJECTION_LEAD_DAYS,
    unit: Unit = "calendar",
) -> Window:
    """An objection to the documents is filed at least ``lead_days`` before the bid deadline (条例 22):
    the last filing day ``L`` is the latest day with ``L + lead_days <= date(deadline)``, counted as the
    projects domain counts lead times (start day excluded, deadline day included); filing closes at 24:00
    of ``L``."""
    deadline_day = local_date(bid_deadline)
    if unit == "calendar":
        last = deadline_day - dt.timedelta(days=lead_days)
    else:
        last = calendar.add_working_days(deadline_day, -lead_days)
        # the lead must fit even when the deadline day itself is not a working day
        while calendar.add_working_days(last, lead_days) > deadline_day:
            last -= dt.timedelta(days=1)
    return Window(closes=end_of_local_day(last))


def objection_answer_due(filed_at: dt.datetime, calendar: WorkCalendar, *, regime: Regime) -> dt.datetime:
    """Construction: 3 日 (条例 22/54). Procurement challenge (质疑): 7 工作日 (采购法 53)."""
    if regime is Regime.PROCUREMENT:
        return period_end(filed_at, CHALLENGE_REPLY_DAYS, unit="working", calendar=calendar)
    return period_end(filed_at, OBJECTION_ANSWER_DAYS, unit="calendar", calendar=calendar)


def challenge_window(knew_at: dt.datetime, calendar: WorkCalendar) -> Window:
    """Government procurement: a challenge within 7 工作日 of knowing (采购法 52)."""
    return Window(
        closes=period_end(knew_at, CHALLENGE_DAYS, unit="working", calendar=calendar), opens=knew_at
    )


def result_challenge_window(
    announced_at: dt.datetime, announcement_ends: dt.datetime, calendar: WorkCalendar
) -> Window:
    """Government procurement: a challenge to the result from its announcement until 7 工作日 after the
    announcement period ends (采购条例 53). ``announcement_ends`` is 24:00 of its last day, so counting
    starts the day after that day."""
    last_day = announcement_ends - dt.timedelta(microseconds=1)
    return Window(
        closes=period_end(last_day, CHALLENGE_DAYS, unit="working", calendar=calendar), opens=announced_at
    )


# -- complaints --------------------------------------------------------------------------------------------


def objection_wait_days(filed_at: dt.datetime, answered_at: dt.datetime) -> int:
    """Calendar days an objection waited for its answer; they do not count towards the complaint period
    (条例 60). Counted like any period: the filing day is not a waiting day, the answer day is."""
    return max(0, (local_date(answered_at) - local_date(filed_at)).days)


def complaint_window(
    knew_at: dt.datetime,
    calendar: WorkCalendar,
    *,
    regime: Regime,
    objection_wait: int = 0,
    reply_due: dt.datetime | None = None,
) -> Window:
    """When a complaint may be filed.

    Construction: 10 日 from knowing, plus the days a required objection waited (条例 60).
    Procurement: 15 工作日 after the challenge reply period ends (采购法 55); ``reply_due`` is the instant
    that period ended (24:00 of its last day), so counting starts the day after."""
    if regime is Regime.PROCUREMENT:
        if reply_due is None:
            raise ValueError("a procurement complaint needs the challenge reply period")
        last_reply_day = reply_due - dt.timedelta(microseconds=1)
        closes = period_end(last_reply_day, PROCUREMENT_COMPLAINT_DAYS, unit="working", calendar=calendar)
        return Window(closes=closes, opens=knew_at)
    closes = period_end(knew_at, COMPLAINT_DAYS + objection_wait, unit="calendar", calendar=calendar)
    return Window(closes=closes, opens=knew_at)


def accept_due(
    received_at: dt.datetime, calendar: WorkCalendar, *, regime: Regime = Regime.CONSTRUCTION
) -> dt.datetime:
    """Accept, refuse or transfer within 3 工作日 of receipt (条例 61); government procurement: review within
    5 工作日 (94号令 Art. 21)."""
    days = PROCUREMENT_ACCEPT_DAYS if regime is Regime.PROCUREMENT else ACCEPT_DAYS
    return period_end(received_at, days, unit="working", calendar=calendar)


def respondent_explanation_due(notified_at: dt.datetime, calendar: WorkCalendar) -> dt.datetime:
    """Government procurement: the respondent explains in writing, with its evidence, within 5 工作日 of
    receiving the copy of the complaint (财政部令第94号) — sent by the platform at the acceptance, well
    within the 8 工作日 the finance department has to send it."""
    return period_end(notified_at, RESPONDENT_EXPLANATION_DAYS, unit="working", calendar=calendar)


def decision_due(
    accepted_at: dt.datetime, calendar: WorkCalendar, pauses: Iterable[Interval] = ()
) -> dt.datetime | None:
    """Decide within 30 工作日 of acceptance; expert review, testing and appraisal time excluded."""
    return due_with_pauses(accepted_at, DECIDE_DAYS, "working", calendar, pauses)


def forward_due(received_at: dt.datetime, calendar: WorkCalendar) -> dt.datetime:
    """转办 within 3 工作日 of receipt."""
    return period_end(received_at, FORWARD_DAYS, unit="working", calendar=calendar)


def handling_due(
    assigned_at: dt.datetime, calendar: WorkCalendar, days: int = REPORT_HANDLE_DAYS
) -> dt.datetime:
    """交办: the default due date of an assigned report."""
    return period_end(assigned_at, days, unit="working", calendar=calendar)


def backup_alert_from(due_at: dt.datetime, calendar: WorkCalendar) -> dt.datetime:
    """From this instant an untouched case alerts its backup handler (AB角): the start (00:00 CST) of the
    working day ``BACKUP_WARNING_WORKING_DAYS`` before the last day of the period."""
    last_day = local_date(due_at - dt.timedelta(microseconds=1))
    warn_day = calendar.add_working_days(last_day, -BACKUP_WARNING_WORKING_DAYS)
    return end_of_local_day(warn_day - dt.timedelta(days=1))


def stalled_since(last_activity: dt.datetime, calendar: WorkCalendar) -> dt.datetime:
    """A case with no activity since ``last_activity`` is stalled from this instant."""
    return period_end(last_activity, STALLED_WORKING_DAYS, unit="working", calendar=calendar)
