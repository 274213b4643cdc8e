"""Time left, in words: "还剩 2 天 3 小时" to a deadline, "剩余 3 个工作日" to a due date.

Computed on the server from the business clock (:func:`app.core.clock.now`, which the demo clock moves),
never from the visitor's computer. A page may let ``static/js/countdown.js`` tick the words on between
reloads; the server's words are what counts.
"""

from __future__ import annotations

import datetime as dt

from flask import g
from flask_babel import gettext as _
from flask_babel import ngettext
from markupsafe import Markup, escape

from app.core.calendar import WorkCalendar, load_calendar, local_date
from app.core.clock import now


def parts_left(deadline: dt.datetime, *, at: dt.datetime | None = None) -> tuple[int, int, int] | None:
    """(days, hours, minutes) until ``deadline``, rounded up to the minute; None once it has passed."""
    seconds = (deadline - (at or now())).total_seconds()
    if seconds <= 0:
        return None
    minutes = int(-(-seconds // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    return days, hours, minutes


def words_left(deadline: dt.datetime, *, at: dt.datetime | None = None) -> str:
    """ "2 days 3 hours left" (two largest units; minutes only within the last day), or "Deadline passed"."""
    parts = parts_left(deadline, at=at)
    if parts is None:
        return _("Deadline passed")
    days, hours, minutes = parts
    if days:
        pieces = [ngettext("%(num)d day", "%(num)d days", days)]
        if hours:
            pieces.append(ngettext("%(num)d hour", "%(num)d hours", hours))
    elif hours:
        pieces = [ngettext("%(num)d hour", "%(num)d hours", hours)]
        if minutes:
            pieces.append(ngettext("%(num)d minute", "%(num)d minutes", minutes))
    else:
        pieces = [ngettext("%(num)d minute", "%(num)d minutes", minutes)]
    return _("%(time)s left", time=" ".join(pieces))


def countdown(deadline: dt.datetime | None, *, at: dt.datetime | None = None) -> Markup:
    """The words in a ``<span class="countdown">`` that countdown.js can tick (data-deadline is the instant,
    data-now the business clock's, so a shifted demo clock ticks correctly)."""
    if deadline is None:
        return Markup("")
    at = at or now()
    passed = parts_left(deadline, at=at) is None
    return Markup(
        '<span class="countdown{cls}" data-deadline="{deadline}" data-now="{now}">{words}</span>'
    ).format(
        cls=" passed" if passed else (" soon" if deadline - at < dt.timedelta(days=1) else ""),
        deadline=deadline.astimezone(dt.UTC).isoformat(),
        now=at.astimezone(dt.UTC).isoformat(),
        words=escape(words_left(deadline, at=at)),
    )


def working_days_left(
    due: dt.date, *, calendar: WorkCalendar | None = None, at: dt.datetime | None = None
) -> int:
    """Working days after today up to and including ``due`` (0 on the due day, negative when overdue)."""
    calendar = calendar or load_calendar()
    return calendar.working_days_between(local_date(at or now()), due)


def working_days_words(days: int) -> str:
    if days < 0:
        return ngettext("%(num)d working day overdue", "%(num)d working days overdue", -days)
    if days == 0:
        return _("Due today")
    return ngettext("%(num)d working day left", "%(num)d working days left", days)


def working_days_to(due_at: dt.datetime | None) -> str:
    """Template filter: "剩余 3 个工作日" to the local day of an instant ("" without one)."""
    if due_at is None:
        return ""
    # One calendar per request: a list of cases asks once per row.
    calendar = g.get("_work_calendar")
    if calendar is None:
        calendar = g._work_calendar = load_calendar()
    return working_days_words(working_days_left(local_date(due_at), calendar=calendar))
