"""Opening rooms and their bookings (no double booking: the primary key of ``room_slot``)."""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.accounts.models import User
from app.core.calendar import local_date
from app.core.clock import CST
from app.core.db import db
from app.core.errors import Conflict, DomainError

from ..models import (
    OpeningRoom,
    RoomSlot,
    Section,
)
from ._common import _audit

#: An opening occupies its room for this long from the bid deadline (half-hour slots).
SLOT_MINUTES = 30
OPENING_SLOTS = 4

# -- rooms ------------------------------------------------------------------------------------------------


def create_room(*, actor: User, name: str, location: str = "", capacity: int = 30) -> OpeningRoom:
    name = (name or "").strip()
    if not name:
        raise DomainError(_("A name is required."), errors={"name": [_("Required.")]})
    if db.session.scalar(select(OpeningRoom).where(OpeningRoom.name == name)) is not None:
        raise DomainError(_("A room with this name exists."), errors={"name": [_("Already used.")]})
    room = OpeningRoom(name=name, location=(location or "").strip(), capacity=max(1, capacity))
    db.session.add(room)
    db.session.flush()
    _audit("projects:room:create", actor, room, {"name": name})
    return room


def _slots(start: dt.datetime) -> list[dt.datetime]:
    minute = (start.minute // SLOT_MINUTES) * SLOT_MINUTES
    first = start.replace(minute=minute, second=0, microsecond=0)
    return [first + dt.timedelta(minutes=SLOT_MINUTES * i) for i in range(OPENING_SLOTS)]


def _release_room(section: Section) -> None:
    for slot in db.session.scalars(select(RoomSlot).where(RoomSlot.section_id == section.id)):
        db.session.delete(slot)
    db.session.flush()


def book_room(section: Section, room: OpeningRoom | None) -> None:
    """(Re)book ``room`` for the opening at the section's deadline; ``None`` releases any booking (online
    opening). Double booking is refused by the database (primary key room × slot) → :class:`Conflict`."""
    _release_room(section)
    section.room_id = room.id if room else None
    if room is None or section.bid_deadline is None:
        return
    deadline = section.bid_deadline
    rows = [
        RoomSlot(room_id=room.id, starts_at=s, section_id=section.id, day=local_date(deadline))
        for s in _slots(deadline)
    ]
    taken = db.session.scalar(
        select(func.count())
        .select_from(RoomSlot)
        .where(RoomSlot.room_id == room.id, RoomSlot.starts_at.in_([r.starts_at for r in rows]))
    )
    try:
        if taken:
            raise IntegrityError("room_slot", None, ValueError("taken"))
        # A concurrent booking not visible yet is refused by the primary key at this flush.
        with db.session.begin_nested():
            db.session.add_all(rows)
    except IntegrityError:
        section.room_id = None
        raise Conflict(
            _(
                "Room %(room)s is already booked around %(time)s; choose another room or time.",
                room=room.name,
                time=deadline.astimezone(CST).strftime("%Y-%m-%d %H:%M"),
            ),
            errors={"room_id": [_("Already booked.")]},
            code="room_booked",
        ) from None


def _rebook(section: Section) -> None:
    """Move the booking to the new opening time: the same room if free, else another free room."""
    wanted = db.session.get(OpeningRoom, section.room_id)
    others = db.session.scalars(
        select(OpeningRoom)
        .where(OpeningRoom.is_active.is_(True), OpeningRoom.id != section.room_id)
        .order_by(OpeningRoom.id)
    ).all()
    last: Conflict | None = None
    for room in [wanted, *others]:
        if room is None:
            continue
        try:
            book_room(section, room)
        except Conflict as err:
            last = err
            continue
        return
    raise Conflict(
        _("No opening room is free at the new opening time; the center must free a room first."),
        code="room_booked",
    ) from last


def room_bookings(day: dt.date) -> list[tuple[OpeningRoom, Section, dt.datetime, dt.datetime]]:
    """Bookings of the local ``day``: (room, section, start, end)."""
    rows = db.session.execute(
        select(
            RoomSlot.room_id, RoomSlot.section_id, func.min(RoomSlot.starts_at), func.max(RoomSlot.starts_at)
        )
        .where(RoomSlot.day == day)
        .group_by(RoomSlot.room_id, RoomSlot.section_id)
    ).all()
    out = []
    for room_id, section_id, first, last in rows:
        room = db.session.get(OpeningRoom, room_id)
        section = db.session.get(Section, section_id)
        assert room is not None and section is not None
        first = _aware(first)
        last = _aware(last)
        out.append((room, section, first, last + dt.timedelta(minutes=SLOT_MINUTES)))
    out.sort(key=lambda r: (r[2], r[0].name))
    return out


def _aware(value: dt.datetime) -> dt.datetime:
    # Aggregates bypass the column type on SQLite and come back naive (UTC).
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
