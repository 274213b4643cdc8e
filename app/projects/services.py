"""Business rules of the projects domain: catalogue, registration, sections, publication, amendments,
obtaining documents, rooms, and the section state machine.

Every function takes the acting ``User`` explicitly, flushes but never commits (the caller commits), and
audits each state change in the same transaction.

Seams for later domains:

* :func:`transition` — the one way to move a section between states (bidding, evaluation, awards call it);
* :data:`PUBLISH_HOOKS` — run by :func:`publish_section` inside the publishing transaction, after the section
  is marked published (the sealed-bids domain appends the opening-key generation, SPEC §3.1, which fills
  ``Section.opening_recipient``).
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, BinaryIO

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from app.accounts.models import Organization, User
from app.core import audit, events, outbox, storage
from app.core.calendar import WorkCalendar, load_calendar, local_date, period_end
from app.core.clock import CST, now
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.core.permissions import OrgKind, Role

from . import rules
from .enums import (
    CatalogueStatus,
    Category,
    DayUnit,
    EvaluationMethod,
    OpeningItem,
    ProjectStatus,
    SectionStatus,
)
from .models import (
    Amendment,
    CatalogueComment,
    CatalogueItem,
    CatalogueVersion,
    DocumentObtainment,
    OpeningRoom,
    Project,
    RoomSlot,
    Section,
    SectionCustodian,
    SectionDocument,
    SectionStatusChange,
    SectionSuspension,
)

# -- section state machine --------------------------------------------------------------------------------

S = SectionStatus

#: Every legal move. ``draft → published`` only through :func:`publish_section` (rule checks, hooks).
TRANSITIONS: dict[SectionStatus, frozenset[SectionStatus]] = {
    S.DRAFT: frozenset({S.PUBLISHED}),
    S.PUBLISHED: frozenset({S.BIDDING_CLOSED, S.CANCELLED}),
    S.BIDDING_CLOSED: frozenset({S.OPENING, S.FAILED, S.CANCELLED}),
    S.OPENING: frozenset({S.OPENED, S.FAILED}),
    S.OPENED: frozenset({S.EVALUATING, S.FAILED, S.CANCELLED}),
    # evaluating → awarded: government procurement's result announcement is the award (no publicity;
    # app/evaluation/procurement.py); works reach the award only through the publicity
    S.EVALUATING: frozenset({S.PUBLICITY, S.AWARDED, S.FAILED, S.CANCELLED}),
    S.PUBLICITY: frozenset({S.AWARDED, S.EVALUATING, S.FAILED, S.CANCELLED}),
    # back from an award only on an upheld complaint (app/evaluation/remedies.py): 中标无效 → publicity
    # (choose again) or failed (re-tender); 重新评审 → evaluating
    S.AWARDED: frozenset({S.ARCHIVED, S.PUBLICITY, S.EVALUATING, S.FAILED}),
    S.FAILED: frozenset({S.ARCHIVED}),
    S.CANCELLED: frozenset({S.ARCHIVED}),
    S.ARCHIVED: frozenset(),
}

#: States that need a reason (stored in the column the CHECK constraints tie to the state).
REASON_REQUIRED = frozenset({S.CANCELLED, S.FAILED})
#: States that end the trade.
TERMINAL = frozenset({S.AWARDED, S.FAILED, S.CANCELLED, S.ARCHIVED})

#: Run by :func:`publish_section` in the publishing transaction, once, by the request that publishes.
#: A hook raising aborts the publication (the whole transaction rolls back).
#: Signature: ``hook(section, actor)``.
PUBLISH_HOOKS: list[Callable[[Section, User], None]] = []

#: An opening occupies its room for this long from the bid deadline (half-hour slots).
SLOT_MINUTES = 30
OPENING_SLOTS = 4


def _audit(action: str, actor: User | None, obj: Any, payload: dict[str, Any]) -> None:
    audit.record(action, actor=actor, object_type=obj.__tablename__, object_id=obj.id, payload=payload)


def _timeline(section: Section, from_status: str | None, to: str, actor: User | None, reason: str) -> None:
    db.session.add(
        SectionStatusChange(
            section_id=section.id,
            from_status=from_status,
            to_status=to,
            reason=reason,
            actor_id=actor.id if actor else None,
            at=now(),
        )
    )


def _ensure_not_suspended(section: Section) -> None:
    if section.suspended:
        raise Conflict(_("The section is suspended; every step waits until it is resumed."), code="suspended")


def transition(section: Section, to: SectionStatus | str, *, actor: User | None, reason: str = "") -> Section:
    """Move ``section`` to ``to`` if :data:`TRANSITIONS` allows it, the section is not suspended and the
    guards pass; write the timeline row and the audit leaf (``projects:section:transition``).

    Guards: ``bidding_closed`` only once the bid deadline has passed; ``failed``/``cancelled`` need a reason.
    Concurrency: the change is a conditional UPDATE on the current status, so of two concurrent callers
    one wins and the other gets :class:`Conflict`. ``actor`` is None for the system (the deadline job).
    """
    target = SectionStatus(to)
    current = SectionStatus(section.status)
    reason = (reason or "").strip()
    if target is S.PUBLISHED:
        raise DomainError(_("Sections are published through the publication service."))
    if target not in TRANSITIONS[current]:
        raise Conflict(
            _("A section cannot go from %(from)s to %(to)s.", **{"from": current.value, "to": target.value}),
            code="illegal_transition",
        )
    _ensure_not_suspended(section)
    if target in REASON_REQUIRED and not reason:
        raise DomainError(_("A reason is required."), errors={"reason": [_("Required.")]})
    at = now()
    if target is S.BIDDING_CLOSED and (section.bid_deadline is None or at < section.bid_deadline):
        raise Conflict(_("Bidding closes at the bid deadline, not before."), code="before_deadline")

    values: dict[str, Any] = {"status": target.value, "updated_at": at}
    if target is S.BIDDING_CLOSED:
        values["closed_at"] = at
    if target is S.CANCELLED:
        values["cancel_reason"] = reason
    if target is S.FAILED:
        values["failed_reason"] = reason
    if target in {S.AWARDED, S.FAILED, S.CANCELLED}:
        values["ended_at"] = at
    elif current is S.AWARDED and target not in TERMINAL:  # an award undone by an upheld complaint
        values["ended_at"] = None
    db.session.flush()  # pending edits of the section must not be overwritten by the refresh below
    result = db.session.execute(
        update(Section)
        .where(Section.id == section.id, Section.status == current.value, Section.suspended.is_(False))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        db.session.refresh(section)
        raise Conflict(_("The section changed meanwhile; reload and try again."), code="stale")
    db.session.refresh(section)
    if target is S.CANCELLED or target is S.FAILED:
        _release_room(section)
    _timeline(section, current.value, target.value, actor, reason)
    _audit(
        "projects:section:transition",
        actor,
        section,
        {"from": current.value, "to": target.value, "reason": reason},
    )
    events.publish(db.session(), f"section:{section.id}", {"status": target.value})
    return section


def cancel_section(section: Section, *, actor: User, reason: str) -> Section:
    """Cancel (终止招标) with a public reason."""
    return transition(section, S.CANCELLED, actor=actor, reason=reason)


def close_due_sections(*, at: dt.datetime | None = None) -> list[Section]:
    """Move every published, not suspended section whose deadline has passed to ``bidding_closed``."""
    at = at or now()
    due = db.session.scalars(
        select(Section)
        .where(
            Section.status == S.PUBLISHED.value,
            Section.suspended.is_(False),
            Section.bid_deadline <= at,
        )
        .order_by(Section.id)
    ).all()
    closed = []
    for section in due:
        try:
            closed.append(transition(section, S.BIDDING_CLOSED, actor=None, reason="deadline"))
        except Conflict:
            continue  # closed or suspended by someone else meanwhile
    return closed


def suspend_section(section: Section, *, actor: User, reason: str) -> SectionSuspension:
    """Suspend (暂停) the section: every step is blocked until :func:`resume_section`."""
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("A reason is required."), errors={"reason": [_("Required.")]})
    if SectionStatus(section.status) in TERMINAL or section.status == S.DRAFT:
        raise Conflict(_("Only a trade in progress can be suspended."))
    if section.suspended:
        raise Conflict(_("The section is already suspended."), code="suspended")
    at = now()
    row = SectionSuspension(section_id=section.id, reason=reason, started_at=at, started_by=actor.id)
    db.session.add(row)
    section.suspended = True
    db.session.flush()  # the partial unique index refuses a second open suspension here
    _timeline(section, section.status, "suspended", actor, reason)
    _audit("projects:section:suspend", actor, section, {"reason": reason, "suspension_id": row.id})
    events.publish(db.session(), f"section:{section.id}", {"suspended": True})
    return row


def resume_section(section: Section, *, actor: User, note: str = "") -> SectionSuspension:
    row = db.session.scalar(
        select(SectionSuspension).where(
            SectionSuspension.section_id == section.id, SectionSuspension.ended_at.is_(None)
        )
    )
    if row is None or not section.suspended:
        raise Conflict(_("The section is not suspended."))
    actor_id = actor.id  # read first: loading an expired actor autoflushes, and the CHECK needs both columns
    row.ended_by = actor_id
    row.ended_at = now()
    row.resume_note = (note or "").strip() or None
    section.suspended = False
    db.session.flush()
    paused = (row.ended_at - row.started_at).total_seconds()
    _timeline(section, section.status, "resumed", actor, row.resume_note or "")
    _audit(
        "projects:section:resume",
        actor,
        section,
        {"suspension_id": row.id, "paused_seconds": int(paused), "note": row.resume_note},
    )
    events.publish(db.session(), f"section:{section.id}", {"suspended": False})
    return row


# -- trading catalogue ------------------------------------------------------------------------------------


def current_catalogue() -> CatalogueVersion | None:
    return db.session.scalar(
        select(CatalogueVersion).where(CatalogueVersion.status == CatalogueStatus.PUBLISHED.value)
    )


DEFAULT_ITEMS: list[tuple[str, str, Category, str | None]] = [
    ("GC-01", "依法必须招标的房屋建筑和市政工程", Category.ENGINEERING_CONSTRUCTION, "housing_construction"),
    ("GC-02", "依法必须招标的交通工程", Category.ENGINEERING_CONSTRUCTION, "transport"),
    ("GC-03", "依法必须招标的水利工程", Category.ENGINEERING_CONSTRUCTION, "water"),
    ("ZC-01", "政府采购货物和服务（公开招标）", Category.GOVERNMENT_PROCUREMENT, "finance_procurement"),
    ("TD-01", "国有建设用地使用权出让", Category.LAND_MINERAL, "land_resources"),
    ("TD-02", "矿业权出让", Category.LAND_MINERAL, "land_resources"),
    ("CQ-01", "企业国有产权转让", Category.STATE_PROPERTY, "state_assets"),
    ("QT-01", "其他纳入平台交易的公共资源", Category.OTHER, None),
]


def create_catalogue_version(*, actor: User, title: str, notes: str = "") -> CatalogueVersion:
    """Draft a new version, starting from the items of the version in force (or the defaults)."""
    title = (title or "").strip()
    if not title:
        raise DomainError(_("A title is required."), errors={"title": [_("Required.")]})
    number = (db.session.scalar(select(func.max(CatalogueVersion.number))) or 0) + 1
    version = CatalogueVersion(number=number, title=title, notes=notes or "", created_by=actor.id)
    db.session.add(version)
    base = current_catalogue()
    if base is not None:
        for item in base.items:
            version.items.append(
                CatalogueItem(
                    **{
                        c: getattr(item, c)
                        for c in CatalogueItem.__table__.columns.keys()  # noqa: SIM118 - ColumnCollection
                        if c not in {"id", "version_id"}
                    }
                )
            )
    else:
        for code, name, category, industry in DEFAULT_ITEMS:
            version.items.append(_default_item(code, name, category, industry))
    db.session.flush()
    _audit("projects:catalogue:draft", actor, version, {"number": number, "title": title})
    return version


def _default_item(code: str, name: str, category: Category, industry: str | None) -> CatalogueItem:
    r = rules.DEFAULT_RULES[category]
    return CatalogueItem(
        code=code,
        name=name,
        category=category.value,
        industry=industry,
        min_sale_days=r.min_sale_days,
        sale_day_unit=r.sale_day_unit.value,
        min_bid_days=r.min_bid_days,
        bid_day_unit=r.bid_day_unit.value,
        amendment_lead_days=r.amendment_lead_days,
        amendment_day_unit=r.amendment_day_unit.value,
        objection_lead_days=r.objection_lead_days,
        objection_day_unit=r.objection_day_unit.value,
        legal_basis=r.legal_basis,
    )


ITEM_FIELDS = (
    "name",
    "category",
    "industry",
    "min_sale_days",
    "sale_day_unit",
    "min_bid_days",
    "bid_day_unit",
    "amendment_lead_days",
    "amendment_day_unit",
    "objection_lead_days",
    "objection_day_unit",
    "legal_basis",
)


def save_catalogue_item(
    version: CatalogueVersion, *, actor: User, code: str, values: dict[str, Any]
) -> CatalogueItem:
    """Add or change an item of a draft version."""
    if version.status != CatalogueStatus.DRAFT:
        raise Conflict(_("Only a draft version can be changed; draft a new version."))
    code = (code or "").strip().upper()
    if not code:
        raise DomainError(_("A code is required."), errors={"code": [_("Required.")]})
    errors: dict[str, list[str]] = {}
    try:
        Category(values["category"])
    except (KeyError, ValueError):
        errors["category"] = [_("Unknown category.")]
    for unit_field in ("sale_day_unit", "bid_day_unit", "amendment_day_unit", "objection_day_unit"):
        if values.get(unit_field) not in {u.value for u in DayUnit}:
            errors[unit_field] = [_("Unknown day unit.")]
    for days_field in ("min_sale_days", "min_bid_days", "amendment_lead_days"):
        if not isinstance(values.get(days_field), int) or values[days_field] < 1:
            errors[days_field] = [_("At least one day.")]
    objection = values.get("objection_lead_days")
    if objection is not None and (not isinstance(objection, int) or objection < 1):
        errors["objection_lead_days"] = [_("At least one day, or empty.")]
    if errors:
        raise DomainError(_("The catalogue item is not valid."), errors=errors)
    item = next((i for i in version.items if i.code == code), None)
    if item is None:
        item = CatalogueItem(code=code)
        version.items.append(item)
    for name in ITEM_FIELDS:
        if name in values:
            setattr(item, name, values[name])
    db.session.flush()
    _audit(
        "projects:catalogue:item_save",
        actor,
        version,
        {"code": code, **{k: values.get(k) for k in ITEM_FIELDS if k in values}},
    )
    return item


def open_catalogue_comment(version: CatalogueVersion, *, actor: User, days: int) -> CatalogueVersion:
    """Open the draft for public comment (征求意见) for ``days`` calendar days (civil-law counting)."""
    if version.status != CatalogueStatus.DRAFT:
        raise Conflict(_("Only a draft can be opened for comment."))
    if days < 1:
        raise DomainError(
            _("The comment period lasts at least one day."), errors={"days": [_("At least 1.")]}
        )
    if not version.items:
        raise DomainError(_("The version has no items."))
    at = now()
    closes_at = period_end(at, days, unit="calendar", calendar=load_calendar())
    version.status = CatalogueStatus.COMMENT.value
    version.comment_opens_at = at
    version.comment_closes_at = closes_at
    db.session.flush()
    _audit(
        "projects:catalogue:open_comment",
        actor,
        version,
        {"days": days, "closes_at": version.comment_closes_at},
    )
    return version


def add_catalogue_comment(
    version: CatalogueVersion, *, actor: User | None, body: str, author_name: str = ""
) -> CatalogueComment:
    """A comment during the comment period; ``actor`` None is a member of the public (``author_name``)."""
    body = (body or "").strip()
    if not body:
        raise DomainError(_("The comment is empty."), errors={"body": [_("Required.")]})
    at = now()
    if (
        version.status != CatalogueStatus.COMMENT
        or version.comment_opens_at is None
        or version.comment_closes_at is None
        or not (version.comment_opens_at <= at < version.comment_closes_at)
    ):
        raise Conflict(_("This version is not open for comment."))
    name = actor.display_name if actor is not None else ((author_name or "").strip() or _("Anonymous"))
    comment = CatalogueComment(
        version_id=version.id, user_id=actor.id if actor else None, author_name=name[:100], body=body
    )
    db.session.add(comment)
    db.session.flush()
    _audit("projects:catalogue:comment", actor, version, {"comment_id": comment.id})
    return comment


def publish_catalogue_version(version: CatalogueVersion, *, actor: User) -> CatalogueVersion:
    """Publish a version whose comment period has ended; the version in force becomes history."""
    if version.status != CatalogueStatus.COMMENT:
        raise Conflict(_("Only a version that went through public comment can be published."))
    at = now()
    assert version.comment_closes_at is not None
    if at < version.comment_closes_at:
        raise Conflict(
            _(
                "The public comment period runs until %(end)s; publish after it ends.",
                end=version.comment_closes_at.astimezone(CST).strftime("%Y-%m-%d %H:%M"),
            )
        )
    previous = current_catalogue()
    if previous is not None:
        previous.status = CatalogueStatus.SUPERSEDED.value
        previous.superseded_at = at
        db.session.flush()  # the partial unique index allows one version in force
    version.status = CatalogueStatus.PUBLISHED.value
    version.published_at = at
    version.published_by = actor.id
    db.session.flush()
    _audit(
        "projects:catalogue:publish",
        actor,
        version,
        {"number": version.number, "supersedes": previous.number if previous else None},
    )
    return version


# -- project registration ---------------------------------------------------------------------------------


@dataclass
class ProjectInput:
    name: str
    catalogue_item_id: int
    funding_source: str
    approval_ref: str
    budget: Decimal
    regulator_org_id: int
    owner_org_id: int | None = None  # required when an agency registers
    agency_org_id: int | None = None  # an owner may name its agency
    region: str = ""


_CODE_PREFIX = {
    Category.ENGINEERING_CONSTRUCTION: "GC",
    Category.GOVERNMENT_PROCUREMENT: "ZC",
    Category.LAND_MINERAL: "TD",
    Category.STATE_PROPERTY: "CQ",
    Category.OTHER: "QT",
}


def register_project(data: ProjectInput, *, actor: User) -> Project:
    """Register a project (进场登记). A tenderer registers its own project (optionally naming its agency);
    an agency user registers for a named tenderer."""
    if actor.role != Role.TENDERER:
        raise DomainError(_("Only a tenderer or its agency registers projects."))
    errors: dict[str, list[str]] = {}
    own_kind = OrgKind(actor.organization.kind)
    if own_kind is OrgKind.AGENCY:
        owner = db.session.get(Organization, data.owner_org_id) if data.owner_org_id else None
        if owner is None or owner.kind != OrgKind.TENDERER or not owner.is_active:
            errors["owner_org_id"] = [_("Name the tenderer this agency acts for.")]
        agency_id: int | None = actor.org_id
    else:
        owner = actor.organization
        agency_id = data.agency_org_id
        if agency_id is not None:
            agency = db.session.get(Organization, agency_id)
            if agency is None or agency.kind != OrgKind.AGENCY:
                errors["agency_org_id"] = [_("Not a tendering agency.")]
    item = db.session.get(CatalogueItem, data.catalogue_item_id)
    in_force = current_catalogue()
    if item is None or in_force is None or item.version_id != in_force.id:
        errors["catalogue_item_id"] = [_("Choose an item of the trading catalogue in force.")]
    regulator = db.session.get(Organization, data.regulator_org_id)
    if regulator is None or regulator.kind != OrgKind.REGULATOR:
        errors["regulator_org_id"] = [_("Choose the supervising regulator.")]
    if not (data.name or "").strip():
        errors["name"] = [_("Required.")]
    if not (data.funding_source or "").strip():
        errors["funding_source"] = [_("Required.")]
    if not (data.approval_ref or "").strip():
        errors["approval_ref"] = [_("Required.")]
    if data.budget is None or data.budget < 0:
        errors["budget"] = [_("Must not be negative.")]
    if errors:
        raise DomainError(_("The registration is incomplete."), errors=errors)
    assert item is not None and owner is not None
    code = _next_project_code(item)
    project = Project(
        code=code,
        name=data.name.strip(),
        catalogue_item_id=item.id,
        owner_org_id=owner.id,
        agency_org_id=agency_id,
        regulator_org_id=data.regulator_org_id,
        funding_source=data.funding_source.strip(),
        approval_ref=data.approval_ref.strip(),
        budget=data.budget,
        region=(data.region or "").strip(),
        status=ProjectStatus.SUBMITTED.value,
        submitted_at=now(),
        created_by=actor.id,
    )
    db.session.add(project)
    db.session.flush()
    _audit(
        "projects:project:register",
        actor,
        project,
        {"code": code, "owner_org_id": owner.id, "agency_org_id": agency_id, "item": item.code},
    )
    return project


def _next_project_code(item: CatalogueItem) -> str:
    prefix = f"{_CODE_PREFIX[Category(item.category)]}{local_date(now()).year}"
    count = db.session.scalar(
        select(func.count()).select_from(Project).where(Project.code.like(f"{prefix}-%"))
    )
    return f"{prefix}-{(count or 0) + 1:04d}"


def review_project(project: Project, *, actor: User, accept: bool, reason: str = "") -> Project:
    """Center staff accept a registration, or return it with a reason."""
    if project.status != ProjectStatus.SUBMITTED:
        raise Conflict(_("This registration was already reviewed."))
    reason = (reason or "").strip()
    if not accept and not reason:
        raise DomainError(_("Say why the registration is returned."), errors={"reason": [_("Required.")]})
    project.status = (ProjectStatus.ACCEPTED if accept else ProjectStatus.RETURNED).value
    project.return_reason = None if accept else reason
    project.reviewed_at = now()
    project.reviewed_by = actor.id
    db.session.flush()
    _audit(
        "projects:project:accept" if accept else "projects:project:return",
        actor,
        project,
        {"reason": reason or None},
    )
    return project


def resubmit_project(project: Project, *, actor: User) -> Project:
    if project.status != ProjectStatus.RETURNED:
        raise Conflict(_("Only a returned registration can be resubmitted."))
    project.status = ProjectStatus.SUBMITTED.value
    project.return_reason = None
    project.reviewed_at = None
    project.reviewed_by = None
    project.submitted_at = now()
    db.session.flush()
    _audit("projects:project:resubmit", actor, project, {})
    return project


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


# -- sections ---------------------------------------------------------------------------------------------


@dataclass
class SectionTerms:
    """What the tenderer fills in for a section (form and API)."""

    name: str
    estimated_value: Decimal
    ceiling_price: Decimal | None
    bid_security: Decimal
    qualification: str = ""
    evaluation_method: str = EvaluationMethod.LOWEST_PRICE.value
    scoring_criteria: list[dict[str, Any]] = field(default_factory=list)
    panel_size: int = 5
    panel_pool_count: int = 5
    panel_specialties: dict[str, int] = field(default_factory=dict)
    opening_items: list[str] = field(default_factory=list)
    max_envelope_mb: int = 50
    custodian_k: int = 2
    custodian_ids: list[int] = field(default_factory=list)
    docs_available_from: dt.datetime | None = None
    docs_available_until: dt.datetime | None = None
    bid_deadline: dt.datetime | None = None
    online_only: bool = False
    room_id: int | None = None
    notice_text: str = ""


def _terms_errors(terms: SectionTerms) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not (terms.name or "").strip():
        errors["name"] = [_("Required.")]
    if terms.estimated_value is None or terms.estimated_value <= 0:
        errors["estimated_value"] = [_("Must be positive.")]
    if terms.ceiling_price is not None and terms.ceiling_price <= 0:
        errors["ceiling_price"] = [_("Must be positive.")]
    if terms.bid_security is None or terms.bid_security < 0:
        errors["bid_security"] = [_("Must not be negative.")]
    elif terms.estimated_value and terms.estimated_value > 0:
        check = rules.check_bid_security(terms.estimated_value, terms.bid_security)
        if not check.ok:
            errors["bid_security"] = [check.message]
    panel = rules.check_panel(terms.panel_size, terms.panel_pool_count, terms.panel_specialties)
    if not panel.ok:
        errors["panel_size"] = [panel.message]
    if terms.evaluation_method not in {m.value for m in EvaluationMethod}:
        errors["evaluation_method"] = [_("Unknown method.")]
    else:
        scoring = rules.check_scoring(terms.evaluation_method, terms.scoring_criteria)
        if not scoring.ok:
            errors["scoring_criteria"] = [scoring.message]
    unknown = set(terms.opening_items) - {i.value for i in OpeningItem}
    if unknown:
        errors["opening_items"] = [_("Unknown opening items.")]
    if terms.max_envelope_mb < 1 or terms.max_envelope_mb > 2048:
        errors["max_envelope_mb"] = [_("Between 1 and 2048 MB.")]
    if (
        terms.docs_available_from
        and terms.docs_available_until
        and terms.docs_available_until <= terms.docs_available_from
    ):
        errors["docs_available_until"] = [_("Must be after the start of the sale period.")]
    if terms.online_only and terms.room_id:
        errors["room_id"] = [_("An online-only opening books no room.")]
    return errors


def _apply_terms(section: Section, terms: SectionTerms) -> None:
    section.name = terms.name.strip()
    section.estimated_value = terms.estimated_value
    section.ceiling_price = terms.ceiling_price
    section.bid_security = terms.bid_security
    section.qualification = terms.qualification or ""
    section.evaluation_method = terms.evaluation_method
    section.scoring_criteria = (
        [{"name": str(c["name"]), "weight": str(c["weight"])} for c in terms.scoring_criteria]
        if terms.evaluation_method == EvaluationMethod.COMPREHENSIVE
        else []
    )
    section.panel_size = terms.panel_size
    section.panel_pool_count = terms.panel_pool_count
    section.panel_specialties = {str(k): int(v) for k, v in terms.panel_specialties.items()}
    items: list[str] = [
        i.value for i in OpeningItem if i.value in set(terms.opening_items) | {OpeningItem.PRICE.value}
    ]
    section.opening_items = items
    section.max_envelope_mb = terms.max_envelope_mb
    section.custodian_k = terms.custodian_k
    section.docs_available_from = terms.docs_available_from
    section.docs_available_until = terms.docs_available_until
    section.bid_deadline = terms.bid_deadline
    section.online_only = terms.online_only
    section.notice_text = terms.notice_text or ""


def _set_custodians(section: Section, user_ids: list[int]) -> None:
    wanted = list(dict.fromkeys(user_ids))
    section.custodians.clear()
    db.session.flush()  # the old rows must go before new ones reuse (section, position)
    for position, uid in enumerate(wanted, start=1):
        section.custodians.append(SectionCustodian(user_id=uid, position=position))


def create_section(project: Project, terms: SectionTerms, *, actor: User) -> Section:
    """Add a draft section to an accepted project."""
    if project.status != ProjectStatus.ACCEPTED:
        raise Conflict(_("Sections can be added once the center has accepted the registration."))
    errors = _terms_errors(terms)
    if errors:
        raise DomainError(_("The section is not valid."), errors=errors)
    count = db.session.scalar(
        select(func.count()).select_from(Section).where(Section.project_id == project.id)
    )
    section = Section(code=f"{project.code}-{(count or 0) + 1:02d}", created_by=actor.id)
    _apply_terms(section, terms)
    project.sections.append(section)
    db.session.flush()
    _set_custodians(section, terms.custodian_ids)
    _book_from_terms(section, terms)
    db.session.flush()
    _timeline(section, None, S.DRAFT.value, actor, "")
    _audit("projects:section:create", actor, section, {"code": section.code, "project_id": project.id})
    return section


def _book_from_terms(section: Section, terms: SectionTerms) -> None:
    room = None
    if terms.room_id and not terms.online_only:
        room = db.session.get(OpeningRoom, terms.room_id)
        if room is None or not room.is_active:
            raise DomainError(_("Unknown room."), errors={"room_id": [_("Unknown room.")]})
    book_room(section, room)


def update_section(section: Section, terms: SectionTerms, *, actor: User) -> Section:
    """Change a draft section (a published one changes only through amendments)."""
    if section.status != S.DRAFT:
        raise Conflict(_("A published section changes only through a clarification or amendment."))
    errors = _terms_errors(terms)
    if errors:
        raise DomainError(_("The section is not valid."), errors=errors)
    _apply_terms(section, terms)
    _set_custodians(section, terms.custodian_ids)
    _book_from_terms(section, terms)
    db.session.flush()
    _audit("projects:section:update", actor, section, {"code": section.code})
    return section


def custodian_side(section: Section, user: User) -> str | None:
    """Which side a custodian represents: ``center``, ``regulator`` (of the project's regulator org) or
    ``tenderer`` (owner or agency); None when the user may not hold a share of this section."""
    project = section.project
    if not user.is_active:
        return None
    if user.role == Role.CENTER_STAFF:
        return "center"
    if user.role == Role.REGULATOR and user.org_id == project.regulator_org_id:
        return "regulator"
    if user.role == Role.TENDERER and user.org_id in {project.owner_org_id, project.agency_org_id}:
        return "tenderer"
    return None


def check_custodians(section: Section) -> rules.RuleCheck:
    """k-of-n key custodians: k ≥ 2, n ≥ k, every custodian allowed for this section, and no side (center,
    regulator, tenderer) holding k shares — no party can open the bids alone."""
    k = section.custodian_k
    users = [c.user for c in section.custodians]
    n = len(users)
    problems = []
    if k < 2:
        problems.append(_("at least 2 shares must be needed"))
    if n < k:
        problems.append(_("there are fewer custodians than shares needed"))
    sides: dict[str, int] = {}
    for user in users:
        side = custodian_side(section, user)
        if side is None:
            problems.append(_("%(name)s may not hold a key share", name=user.display_name))
        else:
            sides[side] = sides.get(side, 0) + 1
    if any(count >= k for count in sides.values()):
        problems.append(_("one party would hold enough shares to open alone"))
    params = {"k": k, "n": n}
    if problems:
        return rules.RuleCheck(
            "custodians",
            False,
            _(
                "Key custodians (%(k)d of %(n)d) are not valid: %(problems)s.",
                problems="; ".join(problems),
                **params,
            ),
            params,
        )
    return rules.RuleCheck("custodians", True, _("Opening key: %(k)d of %(n)d custodians.", **params), params)


def rule_set(section: Section) -> CatalogueItem:
    return section.project.catalogue_item


def publication_checks(
    section: Section, *, at: dt.datetime | None = None, calendar: WorkCalendar | None = None
) -> list[rules.RuleCheck]:
    """Every rule publication needs, each with pass/fail and the dates (shown before submitting)."""
    at = at or now()
    calendar = calendar or load_calendar()
    item = rule_set(section)
    checks: list[rules.RuleCheck] = []
    start = section.docs_available_from
    if start is not None and start < at:
        start = at  # documents cannot be available before the announcement
    until, deadline = section.docs_available_until, section.bid_deadline
    if start is None or until is None or deadline is None:
        checks.append(
            rules.RuleCheck("dates", False, _("Set the document sale period and the bid deadline."))
        )
    else:
        checks.append(rules.check_sale_period(start, until, item, calendar))
        checks.append(rules.check_bid_period(start, deadline, item, calendar))
        if until > deadline:
            checks.append(
                rules.RuleCheck(
                    "sale_before_deadline",
                    False,
                    _("The sale period must end before the bid deadline (%(d)s).", d=rules.fmt_day(deadline)),
                )
            )
    if section.ceiling_price is None:
        checks.append(rules.RuleCheck("ceiling_price", False, _("Set the ceiling price (实施条例第27条).")))
    else:
        checks.append(
            rules.RuleCheck(
                "ceiling_price", True, _("Ceiling price %(p)s yuan.", p=f"{section.ceiling_price:,.2f}")
            )
        )
    checks.append(rules.check_bid_security(section.estimated_value, section.bid_security))
    checks.append(rules.check_panel(section.panel_size, section.panel_pool_count, section.panel_specialties))
    checks.append(rules.check_scoring(section.evaluation_method, section.scoring_criteria))
    checks.append(check_custodians(section))
    if section.online_only or section.room_id is not None:
        checks.append(
            rules.RuleCheck(
                "room", True, _("Online-only opening.") if section.online_only else _("Opening room booked.")
            )
        )
    else:
        checks.append(
            rules.RuleCheck("room", False, _("Book an opening room or choose an online-only opening."))
        )
    if not section.current_documents:
        checks.append(rules.RuleCheck("documents", False, _("Upload the tender documents.")))
    else:
        checks.append(
            rules.RuleCheck(
                "documents", True, _("%(n)d document(s) uploaded.", n=len(section.current_documents))
            )
        )
    if section.project.status != ProjectStatus.ACCEPTED:
        checks.append(rules.RuleCheck("project", False, _("The project registration is not accepted.")))
    return checks


@dataclass(frozen=True)
class PublishResult:
    section: Section
    created: bool  # False: the section was already published (a retried request)


def publish_section(section: Section, *, actor: User) -> PublishResult:
    """Publish the tender announcement of a draft section — one call, idempotent.

    1. lock the row (``SELECT … FOR UPDATE``; SQLite transactions already hold the write lock);
    2. already published → return it unchanged (``created=False``): a retried request never publishes twice;
    3. run :func:`publication_checks` — any failure refuses with every failed rule named;
    4. conditional UPDATE ``… WHERE status = 'draft'`` (the second of two racing calls finds no draft);
    5. freeze the documents (published_at), write the timeline row and the audit leaf;
    6. run :data:`PUBLISH_HOOKS` in the same transaction (opening-key generation, SPEC §3.1).
    """
    locked = db.session.scalar(
        select(Section)
        .where(Section.id == section.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if locked is None:
        raise NotFound(_("No such section."))
    section = locked
    if section.status != S.DRAFT:
        if section.published_at is not None:
            return PublishResult(section, created=False)
        raise Conflict(_("Only a draft can be published."))
    _ensure_not_suspended(section)
    checks = publication_checks(section)
    failed = [c for c in checks if not c.ok]
    if failed:
        raise DomainError(
            " ".join(c.message for c in failed),
            errors={c.code: [c.message] for c in failed},
            code="publication_refused",
        )
    at = now()
    result = db.session.execute(
        update(Section)
        .where(Section.id == section.id, Section.status == S.DRAFT.value, Section.suspended.is_(False))
        .values(
            status=S.PUBLISHED.value,
            published_at=at,
            published_by=actor.id,
            docs_available_from=max(section.docs_available_from or at, at),
            updated_at=at,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(section)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        if section.published_at is not None:
            return PublishResult(section, created=False)
        raise Conflict(_("The section changed meanwhile; reload and try again."), code="stale")
    documents = []
    for doc in pending_documents(section):
        doc.published_at = at
        documents.append({"name": doc.name, "version": doc.version, "sha256": doc.sha256})
    db.session.flush()
    _timeline(section, S.DRAFT.value, S.PUBLISHED.value, actor, "")
    _audit(
        "projects:section:publish",
        actor,
        section,
        {
            "code": section.code,
            "bid_deadline": section.bid_deadline,
            "docs_available_from": section.docs_available_from,
            "docs_available_until": section.docs_available_until,
            "ceiling_price": section.ceiling_price,
            "documents": documents,
            "custodians": [c.user_id for c in section.custodians],
            "custodian_k": section.custodian_k,
        },
    )
    for hook in PUBLISH_HOOKS:
        hook(section, actor)
    events.publish(db.session(), "sections", {"published": section.id})
    events.publish(db.session(), f"section:{section.id}", {"status": S.PUBLISHED.value})
    return PublishResult(section, created=True)


# -- documents --------------------------------------------------------------------------------------------

MAX_DOCUMENT_BYTES = 200 * 1024 * 1024
#: Content types a tender document keeps when served (ASVS 5.4.1/5.4.2); anything else the browser
#: claimed (HTML, SVG, scripts) is stored and served as opaque bytes. Downloads are always attachments.
DOCUMENT_TYPES = frozenset(
    {
        "application/pdf",
        "application/ofd",
        "application/zip",
        "application/x-zip-compressed",
        "application/msword",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.ms-excel",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "text/plain",
        "image/png",
        "image/jpeg",
    }
)
_SAFE_FILENAME = re.compile(r"[^\w.\-() \u4e00-\u9fff]+")


def document_filename(filename: str | None) -> str:
    """The last path component of a client-given name with anything unusual replaced (ASVS 5.3.2)."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return _SAFE_FILENAME.sub("_", base).strip(". ")[-200:] or "document"


def document_type(content_type: str | None) -> str:
    base = (content_type or "").split(";", 1)[0].strip().lower()
    return (content_type or "")[:100] if base in DOCUMENT_TYPES else "application/octet-stream"


def add_document(
    section: Section, *, actor: User, name: str, filename: str, content_type: str, stream: BinaryIO
) -> SectionDocument:
    """Store a new version of a tender document (hashed, SHA-256). Before publication it is part of the
    announcement; after publication it waits for the next amendment, which publishes it."""
    if SectionStatus(section.status) not in {S.DRAFT, S.PUBLISHED}:
        raise Conflict(_("Documents can change only before the bid deadline."))
    _ensure_not_suspended(section)
    name = ((name or "").strip() or _("Tender documents"))[:200]
    try:
        blob = storage.write_stream(stream, folder=f"sections/{section.id}", max_size=MAX_DOCUMENT_BYTES)
    except storage.BlobTooLarge:
        raise DomainError(_("The file is too large.")) from None
    # An unpublished version may still be replaced; a published one never changes (new version only).
    replaced = [d for d in section.documents if d.name == name and d.published_at is None]
    for old in replaced:
        section.documents.remove(old)
        db.session.delete(old)
    db.session.flush()
    version = (
        db.session.scalar(
            select(func.max(SectionDocument.version)).where(
                SectionDocument.section_id == section.id, SectionDocument.name == name
            )
        )
        or 0
    ) + 1
    doc = SectionDocument(
        name=name,
        version=version,
        filename=document_filename(filename),
        content_type=document_type(content_type),
        size=blob.size,
        sha256=blob.sha256,
        blob_path=blob.path,
        uploaded_by=actor.id,
        uploaded_at=now(),
    )
    section.documents.append(doc)
    db.session.flush()
    _audit(
        "projects:document:upload",
        actor,
        section,
        {
            "document_id": doc.id,
            "name": doc.name,
            "version": version,
            "sha256": blob.sha256,
            "size": blob.size,
        },
    )
    return doc


def pending_documents(section: Section) -> list[SectionDocument]:
    return [d for d in section.documents if d.published_at is None]


# -- amendments -------------------------------------------------------------------------------------------


def text_diff(before: str, after: str, *, label_before: str, label_after: str) -> str:
    return "".join(
        difflib.unified_diff(
            (before or "").splitlines(keepends=True),
            (after or "").splitlines(keepends=True),
            fromfile=label_before,
            tofile=label_after,
            lineterm="\n",
        )
    )


def publish_amendment(
    section: Section,
    *,
    actor: User,
    title: str,
    body: str,
    affects_bids: bool,
    notice_text: str | None = None,
) -> Amendment:
    """Publish a clarification or amendment (澄清/修改), numbered per section, with the diff of the
    announcement text and any pending document versions.

    If it affects bids and fewer than the item's lead days (15, 法 Art. 23) remain before the deadline, the
    deadline — which is the opening time — moves to the earliest legal date (same time of day, a working
    day) and the room booking moves with it. Every bidder that obtained the documents is notified.
    """
    locked = db.session.scalar(
        select(Section)
        .where(Section.id == section.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert locked is not None
    section = locked
    if section.status != S.PUBLISHED:
        raise Conflict(_("Clarifications are published while bidding is open."))
    _ensure_not_suspended(section)
    title, body = (title or "").strip(), (body or "").strip()
    if not title or not body:
        raise DomainError(_("Title and text are required."), errors={"body": [_("Required.")]})
    at = now()
    assert section.bid_deadline is not None
    if at >= section.bid_deadline:
        raise Conflict(_("The bid deadline has passed."))
    number = (
        db.session.scalar(select(func.max(Amendment.number)).where(Amendment.section_id == section.id)) or 0
    ) + 1
    before = section.notice_text or ""
    after = before if notice_text is None else notice_text
    amendment = Amendment(
        section_id=section.id,
        number=number,
        title=title,
        body=body,
        affects_bids=affects_bids,
        notice_text=after,
        diff=text_diff(before, after, label_before=f"v{number - 1}", label_after=f"v{number}"),
        published_at=at,
        published_by=actor.id,
    )
    db.session.add(amendment)
    db.session.flush()
    section.notice_text = after
    docs = pending_documents(section)
    for doc in docs:
        doc.published_at = at
        doc.amendment_id = amendment.id
    item = rule_set(section)
    calendar = load_calendar()
    old_deadline = section.bid_deadline
    if affects_bids and not rules.satisfies(
        at, old_deadline, item.amendment_lead_days, item.amendment_day_unit, calendar
    ):
        new_deadline = rules.earliest_deadline(
            at, item.amendment_lead_days, item.amendment_day_unit, calendar, keep_time_of=old_deadline
        )
        section.bid_deadline = new_deadline
        amendment.old_deadline = old_deadline
        amendment.new_deadline = new_deadline
        if section.room_id is not None:
            _rebook(section)
        db.session.flush()
        _audit(
            "projects:section:deadline_extend",
            actor,
            section,
            {
                "amendment": number,
                "old_deadline": old_deadline,
                "new_deadline": new_deadline,
                "rule_days": item.amendment_lead_days,
                "rule_unit": item.amendment_day_unit,
            },
        )
    db.session.flush()
    _audit(
        "projects:amendment:publish",
        actor,
        section,
        {
            "amendment_id": amendment.id,
            "number": number,
            "affects_bids": affects_bids,
            "documents": [{"name": d.name, "version": d.version, "sha256": d.sha256} for d in docs],
            "diff_sha_len": len(amendment.diff),
        },
    )
    _notify_obtainers(section, amendment)
    events.publish(db.session(), f"section:{section.id}", {"amendment": number})
    return amendment


def _notify_obtainers(section: Section, amendment: Amendment) -> None:
    obtainments = db.session.scalars(
        select(DocumentObtainment).where(DocumentObtainment.section_id == section.id)
    ).all()
    assert section.bid_deadline is not None
    deadline = section.bid_deadline.astimezone(CST).strftime("%Y-%m-%d %H:%M")
    for ob in obtainments:
        user = ob.user
        subject = _("Amendment %(n)d to %(code)s", n=amendment.number, code=section.code)
        body = _(
            "%(title)s\n\n%(body)s\n\nBid deadline and opening: %(deadline)s (China Standard Time).",
            title=amendment.title,
            body=amendment.body,
            deadline=deadline,
        )
        outbox.enqueue(
            channel="inbox",
            recipient=user.email or user.username,
            subject=subject,
            body=body,
            user_id=user.id,
        )
        if user.email:
            outbox.enqueue(channel="email", recipient=user.email, subject=subject, body=body, user_id=user.id)


# -- obtaining documents ----------------------------------------------------------------------------------


def obtain_documents(section: Section, *, actor: User) -> tuple[DocumentObtainment, bool]:
    """Register the bidder's company for the documents (获取招标文件) during the sale period; returns the
    registration and whether it is new (registering twice is harmless)."""
    if actor.role != Role.BIDDER:
        raise DomainError(_("Only bidders obtain tender documents."))
    existing = db.session.scalar(
        select(DocumentObtainment).where(
            DocumentObtainment.section_id == section.id, DocumentObtainment.bidder_org_id == actor.org_id
        )
    )
    if existing is not None:
        return existing, False
    if section.status != S.PUBLISHED:
        raise Conflict(_("The documents are not available."))
    _ensure_not_suspended(section)
    at = now()
    assert section.docs_available_from is not None and section.docs_available_until is not None
    if not (section.docs_available_from <= at <= section.docs_available_until):
        raise Conflict(
            _(
                "Documents are available from %(start)s to %(end)s.",
                start=section.docs_available_from.astimezone(CST).strftime("%Y-%m-%d %H:%M"),
                end=section.docs_available_until.astimezone(CST).strftime("%Y-%m-%d %H:%M"),
            )
        )
    row = DocumentObtainment(
        section_id=section.id, bidder_org_id=actor.org_id, user_id=actor.id, obtained_at=at
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:  # a colleague of the same company registered at the same moment
        found = db.session.scalar(
            select(DocumentObtainment).where(
                DocumentObtainment.section_id == section.id, DocumentObtainment.bidder_org_id == actor.org_id
            )
        )
        assert found is not None
        return found, False
    # Who obtained the documents is confidential (法 Art. 22), also from readers of the audit log: the leaf
    # names the registration row only, which no page outside the bidder's own receipt resolves to a section.
    _audit("projects:documents:obtain", actor, row, {})
    return row, True


def obtainment_leaf_sealed(leaf: Any) -> bool:
    """Audit sealer: who obtained the documents stays confidential in the audit log pages and exports
    (the leaf stays verifiable)."""
    return bool(leaf.action == "projects:documents:obtain")


def obtainment_of(section: Section, org_id: int) -> DocumentObtainment | None:
    return db.session.scalar(
        select(DocumentObtainment).where(
            DocumentObtainment.section_id == section.id, DocumentObtainment.bidder_org_id == org_id
        )
    )


def obtainment_count(section: Section) -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(DocumentObtainment)
            .where(DocumentObtainment.section_id == section.id)
        )
        or 0
    )


def record_download(doc: SectionDocument, *, actor: User) -> None:
    """Audit a download by the tenderer side, staff or a regulator. Bidders' downloads are not logged:
    they would tell readers of the audit log who obtained the documents (the registration is audited)."""
    if actor.role == Role.BIDDER:
        return
    _audit(
        "projects:document:download",
        actor,
        doc.section,
        {"document_id": doc.id, "version": doc.version, "sha256": doc.sha256},
    )


def visible_sections(statuses: Iterable[str] | None = None) -> list[Section]:
    stmt = select(Section).where(Section.status != S.DRAFT.value).order_by(Section.published_at.desc())
    if statuses:
        stmt = stmt.where(Section.status.in_(list(statuses)))
    return list(db.session.scalars(stmt))
