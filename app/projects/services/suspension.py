"""Suspension (暂停) and resumption of a section, and what resuming owes the bidders.

A suspension must not eat the bidding period (招标投标法 Art. 24: at least 20 days to prepare bids;
实施条例 Art. 22: the procedure is suspended while an objection to the documents waits for its answer).
While suspended every step is refused, uploads included. On resuming a section whose bidding period was
running, the bid deadline (which is the opening time) moves by at least the time suspended — to the same
local time of day, on a working day — the sale period moves with it if it was still running, the room
booking follows, and every bidder that obtained the documents is told through the outbox. When the answer
changed the documents, it is published as an amendment affecting bids, and the 15-day rule of 招标投标法
Art. 23 applies on top (:func:`app.projects.services.publish_amendment`).

Who may resume: the suspension's ``cause`` tells a regulator's intervention from a pending case. The
:data:`RESUME_GUARDS` may refuse — the complaints domain refuses while an objection to the documents holds
the suspension unanswered, whoever asks (a regulator included).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import User
from app.core import events
from app.core.calendar import load_calendar, local_date
from app.core.clock import CST, now
from app.core.db import db
from app.core.errors import Conflict, DomainError

from ..enums import SectionStatus
from ..models import Section, SectionSuspension
from ._common import S, _audit, _timeline
from .documents import notify_obtainers
from .rooms import _rebook, _release_room
from .sections import TERMINAL

CAUSES = frozenset({"intervention", "case"})

#: Checks run before a section resumes: ``guard(section, actor) -> refusal or None``. Read through the
#: package (``services.RESUME_GUARDS``); the complaints domain installs its own at start-up.
RESUME_GUARDS: list[Callable[[Section, User], str | None]] = []


def open_suspension(section: Section) -> SectionSuspension | None:
    return db.session.scalar(
        select(SectionSuspension).where(
            SectionSuspension.section_id == section.id, SectionSuspension.ended_at.is_(None)
        )
    )


def _prequalifying(section: Section) -> bool:
    """A draft section whose prequalification takes applications is a trade in progress: the public knows
    it, and an objection to the prequalification documents suspends it (条例 Art. 22)."""
    from ..prequal.services import taking_applications

    return taking_applications(section) is not None


def suspend_section(
    section: Section, *, actor: User, reason: str, cause: str = "intervention"
) -> SectionSuspension:
    """Suspend (暂停) the section: every step is blocked until :func:`resume_section`. ``cause`` is
    ``intervention`` (a regulator) or ``case`` (a pending objection or complaint investigation)."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A reason is required."), errors={"reason": [_("Required.")]})
    if cause not in CAUSES:
        raise ValueError(f"unknown suspension cause {cause!r}")
    if SectionStatus(section.status) in TERMINAL or (
        section.status == S.DRAFT and not _prequalifying(section)
    ):
        raise Conflict(_("Only a trade in progress can be suspended."))
    if section.suspended:
        raise Conflict(_("The section is already suspended."), code="suspended")
    at = now()
    row = SectionSuspension(
        section_id=section.id, reason=reason, cause=cause, started_at=at, started_by=actor.id
    )
    db.session.add(row)
    section.suspended = True
    db.session.flush()  # the partial unique index refuses a second open suspension here
    _timeline(section, section.status, "suspended", actor, reason)
    _audit(
        "projects:section:suspend",
        actor,
        section,
        {"reason": reason, "suspension_id": row.id, "cause": cause},
    )
    events.publish(db.session(), f"section:{section.id}", {"suspended": True})
    return row


def resume_section(section: Section, *, actor: User, note: str = "") -> SectionSuspension:
    """End the open suspension, unless a guard refuses (an objection still unanswered, 条例 Art. 22), and
    give the bidders back the time suspended (:func:`_give_back_bidding_time`)."""
    from app.projects import services as package  # tests may replace the package's guard list

    row = open_suspension(section)
    if row is None or not section.suspended:
        raise Conflict(_("The section is not suspended."))
    for guard in package.RESUME_GUARDS:
        refusal = guard(section, actor)
        if refusal:
            raise Conflict(refusal, code="held_by_case")
    actor_id = actor.id  # read first: loading an expired actor autoflushes, and the CHECK needs both columns
    row.ended_by = actor_id
    row.ended_at = now()
    row.resume_note = (note or "").strip() or None
    section.suspended = False
    db.session.flush()
    paused = row.ended_at - row.started_at
    _timeline(section, section.status, "resumed", actor, row.resume_note or "")
    _audit(
        "projects:section:resume",
        actor,
        section,
        {"suspension_id": row.id, "paused_seconds": int(paused.total_seconds()), "note": row.resume_note},
    )
    _give_back_bidding_time(section, row, actor=actor)
    if section.status == S.DRAFT:
        from ..prequal.services import give_back_application_time

        give_back_application_time(section, row.started_at, paused, actor=actor)
    events.publish(db.session(), f"section:{section.id}", {"suspended": False})
    return row


def later_by_at_least(instant: dt.datetime, paused: dt.timedelta, *, workday: bool) -> dt.datetime:
    """``instant + paused``, moved on to ``instant``'s local time of day (and, with ``workday``, to a working
    day): never earlier than ``instant + paused``."""
    local = instant.astimezone(CST)
    target = instant + paused
    day = local_date(target)
    candidate = dt.datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=CST)
    if candidate < target:
        day += dt.timedelta(days=1)
    if workday:
        day = load_calendar().next_workday(day)
    return dt.datetime.combine(day, local.timetz().replace(tzinfo=None), tzinfo=CST).astimezone(dt.UTC)


def _give_back_bidding_time(section: Section, row: SectionSuspension, *, actor: User) -> None:
    """A suspension that began while bids could be prepared moves the deadline (= the opening) by at least
    the time suspended; the sale period too if it was running. Bidders that obtained the documents are
    told. A deadline that passed during the suspension is moved like any other: bidding reopens."""
    if section.status != S.PUBLISHED or section.bid_deadline is None or row.ended_at is None:
        return
    if row.started_at >= section.bid_deadline:
        return  # the bidding period had ended already: nothing was taken from the bidders
    paused = row.ended_at - row.started_at
    old_deadline = section.bid_deadline
    new_deadline = later_by_at_least(old_deadline, paused, workday=True)
    old_until = section.docs_available_until
    if old_until is not None and row.started_at < old_until:
        section.docs_available_until = min(
            later_by_at_least(old_until, paused, workday=False), new_deadline - dt.timedelta(minutes=1)
        )
    section.bid_deadline = new_deadline
    room_note = ""
    if section.room_id is not None:
        try:
            _rebook(section)
        except Conflict:
            _release_room(section)
            section.room_id = None
            room_note = _("No opening room is free at the new time: the center books one again.")
    db.session.flush()
    _audit(
        "projects:section:deadline_extend",
        actor,
        section,
        {
            "cause": "suspension",
            "suspension_id": row.id,
            "paused_seconds": int(paused.total_seconds()),
            "old_deadline": old_deadline,
            "new_deadline": new_deadline,
            "old_docs_until": old_until,
            "new_docs_until": section.docs_available_until,
            "room_released": bool(room_note),
        },
    )
    _timeline(
        section,
        section.status,
        "deadline_moved",
        actor,
        _(
            "Suspended %(start)s – %(end)s: the bid deadline moves from %(old)s to %(new)s.",
            start=_fmt(row.started_at),
            end=_fmt(row.ended_at),
            old=_fmt(old_deadline),
            new=_fmt(new_deadline),
        ),
    )
    notify_obtainers(
        section,
        _("%(code)s resumed: new bid deadline %(deadline)s", code=section.code, deadline=_fmt(new_deadline)),
        _(
            "The tender %(name)s was suspended from %(start)s to %(end)s (%(reason)s). The time suspended is "
            "given back to the bidders (招标投标法第24条): the bid deadline and opening move from %(old)s to "
            "%(new)s (China Standard Time).%(room)s",
            name=section.name,
            start=_fmt(row.started_at),
            end=_fmt(row.ended_at),
            reason=row.reason,
            old=_fmt(old_deadline),
            new=_fmt(new_deadline),
            room=(" " + room_note) if room_note else "",
        ),
    )
    events.publish(db.session(), f"section:{section.id}", {"bid_deadline": new_deadline.isoformat()})


def _fmt(instant: dt.datetime | None) -> str:
    return instant.astimezone(CST).strftime("%Y-%m-%d %H:%M") if instant else ""
