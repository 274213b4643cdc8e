"""Routing and supervision, the seed's 转办、交办、督办 with 首问负责 and AB角 (通政发〔2014〕20号).

* **首问负责** — whoever in the handling department first receives a case (:func:`receive`, or any first
  action) owns it until it is formally forwarded; nobody else in the department may act on it meanwhile.
* **转办** — :func:`forward` hands the case to the competent department (within 3 working days of receipt);
  the chain of :class:`~app.complaints.models.CaseTransfer` rows is the case's transfer history.
* **交办** — :func:`assign` names a primary (A角) and a backup (B角) handler and a due date.
* **督办** — :func:`supervise` sends a supervision notice by hand; :func:`tick` (``flask cases tick``) marks
  overdue cases, sends supervision notices, escalates to the department head, and alerts the backup when
  the primary is on leave or the case nears its due date untouched. Every notice is recorded once
  (:class:`~app.complaints.models.CaseNotice`), so running the tick twice sends nothing twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.accounts.models import Organization, User
from app.core import audit
from app.core.calendar import WorkCalendar, local_date, period_end
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, Forbidden
from app.core.permissions import OrgKind, Role

from . import clocks
from .enums import CLOCKLESS_STATES, CaseKind, CaseStatus, NoticeKind, TransferKind
from .models import Case, CaseNotice, CaseTransfer, DepartmentHead, HandlerAbsence
from .permissions import can_coordinate, can_supervise, is_absent
from .services import (
    _event,
    case_calendar,
    fmt,
    hand_over,
    management_office,
    notify,
    org_users,
    touch,
    transition,
)

S = CaseStatus
HANDLING_KINDS = {OrgKind.MANAGEMENT_OFFICE.value, OrgKind.REGULATOR.value}


def receive(case: Case, *, actor: User) -> Case:
    """首问: the first person of the handling department to take the case owns it."""
    if not can_coordinate(actor, case):
        if case.owner_id is not None and case.handling_org_id == actor.org_id:
            owner = case.owner.display_name if case.owner else "?"
            raise Conflict(
                _("%(name)s received this case first and is responsible for it.", name=owner),
                code="first_responsible",
            )
        raise Forbidden(_("Only the handling department receives this case."))
    if case.owner_id == actor.id:
        return case
    at = now()
    case.owner_id = actor.id
    db.session.add(
        CaseTransfer(
            case=case,
            kind=TransferKind.RECEIVED.value,
            to_org_id=case.handling_org_id,
            to_user_id=actor.id,
            actor_id=actor.id,
            at=at,
        )
    )
    touch(case, at)
    _event(case, "received", actor, internal=True)
    audit.record(
        "complaints:case:receive",
        actor=actor,
        object_type="complaint_case",
        object_id=case.id,
        payload={"org_id": case.handling_org_id},
    )
    return case


def forward(case: Case, *, actor: User, to_org: Organization, note: str = "") -> Case:
    """转办 to the competent department; the owner's responsibility ends here and the new department's
    3-working-day clock starts."""
    office_complaint = (
        case.kind == CaseKind.COMPLAINT
        and case.handling_org is not None
        and case.handling_org.kind == OrgKind.MANAGEMENT_OFFICE.value
        and case.status in {S.SUBMITTED.value, S.TRANSFERRED.value}
    )
    if case.kind != CaseKind.REPORT and not office_complaint:
        raise Conflict(_("Complaints are transferred by the regulator; only reports are forwarded."))
    receive(case, actor=actor)
    kinds = {OrgKind.REGULATOR.value} if office_complaint else HANDLING_KINDS
    if to_org.kind not in kinds or to_org.id == case.handling_org_id:
        raise DomainError(_("Forward to another department."), errors={"to_org": [_("Choose a department.")]})
    hand_over(case, to_org, kind=TransferKind.FORWARDED, actor=actor, note=note)
    target = S.TRANSFERRED if office_complaint else S.FORWARDED
    transition(case, target, actor=actor, reason=note or to_org.name)
    notify(
        org_users(to_org.id, {Role.REGULATOR, Role.MANAGER}),
        _("Case %(number)s forwarded to you", number=case.number),
        _("Assign a handler by %(due)s.", due=fmt(case.due_at)),
    )
    return case


def assign(
    case: Case, *, actor: User, primary: User, backup: User, due_at: dt.datetime | None = None, note: str = ""
) -> Case:
    """交办 to a primary (A角) and a backup (B角) handler of the department, with a due date."""
    receive(case, actor=actor)
    errors: dict[str, list[str]] = {}
    if primary.org_id != case.handling_org_id or primary.role not in {
        Role.MANAGER.value,
        Role.REGULATOR.value,
    }:
        errors["primary"] = [_("The primary handler works in the handling department.")]
    if backup.org_id != case.handling_org_id or backup.role not in {Role.MANAGER.value, Role.REGULATOR.value}:
        errors["backup"] = [_("The backup handler works in the handling department.")]
    if primary.id == backup.id:
        errors["backup"] = [_("The backup is someone other than the primary handler.")]
    if due_at is not None and due_at <= now():
        errors["due_at"] = [_("The due date is in the future.")]
    if errors:
        raise DomainError(_("The assignment is incomplete."), errors=errors)
    at = now()
    case.primary_handler_id = primary.id
    case.backup_handler_id = backup.id
    case.backup_may_act = False
    case.assigned_at = at
    if case.kind == CaseKind.REPORT:
        calendar = case_calendar()
        new_due = due_at or clocks.handling_due(at, calendar)
        if case.status != S.ASSIGNED:
            transition(case, S.ASSIGNED, actor=actor, reason=note or primary.display_name)
        case.due_at = new_due
        case.overdue_at = None
    elif due_at is not None and case.due_at is not None and due_at < case.due_at:
        case.due_at = due_at  # an internal due date may be earlier than the statutory one, never later
    db.session.add(
        CaseTransfer(
            case=case,
            kind=TransferKind.ASSIGNED.value,
            from_org_id=case.handling_org_id,
            to_org_id=case.handling_org_id,
            to_user_id=primary.id,
            backup_user_id=backup.id,
            actor_id=actor.id,
            due_at=case.due_at,
            note=note,
            at=at,
        )
    )
    touch(case, at)
    _event(
        case, "assigned", actor, internal=True, note=f"A: {primary.display_name} / B: {backup.display_name}"
    )
    audit.record(
        "complaints:case:assign",
        actor=actor,
        object_type="complaint_case",
        object_id=case.id,
        payload={"primary": primary.id, "backup": backup.id, "due_at": case.due_at},
    )
    notify(
        [primary],
        _("Case %(number)s assigned to you", number=case.number),
        _("Due %(due)s.", due=fmt(case.due_at)),
    )
    notify(
        [backup],
        _("You are the backup for case %(number)s", number=case.number),
        _("Due %(due)s.", due=fmt(case.due_at)),
    )
    return case


def record_absence(
    user: User, first_day: dt.date, last_day: dt.date, *, actor: User, note: str = ""
) -> HandlerAbsence:
    """A handler's leave; the department records it (same organization)."""
    if actor.org_id != user.org_id:
        raise Forbidden(_("Leave is recorded within your own department."))
    if last_day < first_day:
        raise DomainError(
            _("The leave ends before it starts."), errors={"last_day": [_("After the first day.")]}
        )
    row = HandlerAbsence(
        user_id=user.id,
        first_day=first_day,
        last_day=last_day,
        note=note[:200],
        created_by=actor.id,
        created_at=now(),
    )
    db.session.add(row)
    db.session.flush()
    audit.record(
        "complaints:absence:record",
        actor=actor,
        object_type="user_account",
        object_id=user.id,
        payload={"first_day": first_day, "last_day": last_day},
    )
    return row


def set_department_head(org: Organization, user: User, *, actor: User | None) -> DepartmentHead:
    if user.org_id != org.id:
        raise DomainError(_("The head works in the department."))
    row = db.session.get(DepartmentHead, org.id)
    if row is None:
        row = DepartmentHead(org_id=org.id, user_id=user.id)
        db.session.add(row)
    row.user_id = user.id
    db.session.flush()
    audit.record(
        "complaints:department:head",
        actor=actor,
        object_type="organization",
        object_id=org.id,
        payload={"user_id": user.id},
    )
    return row


def department_head(org_id: int | None) -> list[User]:
    if org_id is None:
        return []
    row = db.session.get(DepartmentHead, org_id)
    if row is not None:
        user = db.session.get(User, row.user_id)
        return [user] if user is not None else []
    return org_users(org_id, {Role.REGULATOR, Role.MANAGER, Role.TENDERER})[:1]


def _responsible(case: Case) -> list[User]:
    """Who a clock notice goes to: the handlers, else the owner, else the handling department."""
    people = [u for u in (case.primary_handler, case.backup_handler) if u is not None]
    if people:
        return people
    if case.owner is not None:
        return [case.owner]
    roles = {Role.TENDERER} if case.kind == CaseKind.OBJECTION else {Role.REGULATOR, Role.MANAGER}
    return org_users(case.handling_org_id, roles)


def _supervisors() -> list[User]:
    office = management_office()
    return org_users(office.id, {Role.MANAGER}) if office else []


def _send_once(
    case: Case,
    kind: NoticeKind,
    key: str,
    users: list[User],
    subject: str,
    body: str,
    *,
    actor: User | None = None,
    event: str | None = None,
) -> bool:
    """Record the notice under its unique key and send it; False when it was sent before. The case history
    shows it as ``event`` (by default ``notice:<kind>``), with who sent it when a person did."""
    exists = db.session.scalar(
        select(CaseNotice.id).where(
            CaseNotice.case_id == case.id, CaseNotice.kind == kind.value, CaseNotice.key == key
        )
    )
    if exists is not None:
        return False
    try:
        with db.session.begin_nested():  # a concurrent tick inserting the same key loses here, not the batch
            db.session.add(CaseNotice(case_id=case.id, kind=kind.value, key=key, sent_at=now()))
    except IntegrityError:
        return False
    notify(users, subject, body)
    _event(case, event or f"notice:{kind.value}", actor, note=body, internal=True)
    return True


def supervise(case: Case, *, actor: User, note: str) -> bool:
    """督办 by hand: a supervision notice to the handlers (and the department head)."""
    if not can_supervise(actor, case):
        raise Forbidden(_("Only the management office or the handling department supervises this case."))
    note = (note or "").strip()
    if not note:
        raise DomainError(_("Say what is expected."), errors={"note": [_("Required.")]})
    key = f"manual:{now().isoformat()}"
    subject = _("Supervision notice (督办) for case %(number)s", number=case.number)
    sent = _send_once(
        case,
        NoticeKind.OVERDUE,
        key,
        _responsible(case) + department_head(case.handling_org_id),
        subject,
        note,
        actor=actor,
        event="supervised",
    )
    audit.record(
        "complaints:case:supervise",
        actor=actor,
        object_type="complaint_case",
        object_id=case.id,
        payload={"note": note},
    )
    return sent


@dataclass
class TickResult:
    overdue: list[str] = field(default_factory=list)
    notices: int = 0


def _open_cases() -> list[Case]:
    closed = [s.value for s in CLOCKLESS_STATES]
    return list(db.session.scalars(select(Case).where(Case.status.not_in(closed)).order_by(Case.id)))


def tick(at: dt.datetime | None = None, calendar: WorkCalendar | None = None) -> TickResult:
    """Mark overdue cases and send the supervision notices, escalations and AB角 alerts that are due.
    Idempotent: each notice is keyed (case, kind, what it is about) and sent once."""
    at = at or now()
    calendar = calendar or case_calendar()
    result = TickResult()
    today = local_date(at)
    for case in _open_cases():
        number = case.number or str(case.id)
        due = case.due_at
        if due is not None and at >= due:
            if case.overdue_at is None:
                case.overdue_at = at
                result.overdue.append(number)
                audit.record(
                    "complaints:case:overdue",
                    actor=None,
                    object_type="complaint_case",
                    object_id=case.id,
                    payload={"due_at": due},
                )
            subject = _("Case %(number)s is overdue (督办)", number=number)
            body = _("The period ended %(due)s. Act now; the management office is supervising.", due=fmt(due))
            if _send_once(
                case, NoticeKind.OVERDUE, due.isoformat(), _responsible(case) + _supervisors(), subject, body
            ):
                result.notices += 1
            # still overdue a working day later: escalate to the department head
            if at >= period_end(due - dt.timedelta(microseconds=1), 1, unit="working", calendar=calendar):
                head = department_head(case.handling_org_id)
                if case.kind == CaseKind.OBJECTION and case.section is not None:
                    head = head + org_users(case.section.project.regulator_org_id, {Role.REGULATOR})
                if _send_once(
                    case,
                    NoticeKind.ESCALATED,
                    due.isoformat(),
                    head,
                    _("Escalation: case %(number)s is overdue", number=number),
                    body,
                ):
                    result.notices += 1
        if case.primary_handler_id is not None and case.backup_handler is not None:
            untouched = case.last_activity_at is None or (
                case.assigned_at is not None and case.last_activity_at <= case.assigned_at
            )
            if due is not None and untouched and at >= clocks.backup_alert_from(due, calendar):
                case.backup_may_act = True
                if _send_once(
                    case,
                    NoticeKind.DUE_SOON_BACKUP,
                    due.isoformat(),
                    [case.backup_handler],
                    _("Backup (B角): case %(number)s is due soon", number=number),
                    _("The primary handler has not acted; due %(due)s. You may act.", due=fmt(due)),
                ):
                    result.notices += 1
            if is_absent(case.primary_handler_id, today):
                case.backup_may_act = True
                if _send_once(
                    case,
                    NoticeKind.ABSENT_BACKUP,
                    f"{case.primary_handler_id}:{today.isoformat()}",
                    [case.backup_handler],
                    _("Backup (B角): the primary handler of case %(number)s is on leave", number=number),
                    _("You act on the case while the primary handler is away."),
                ):
                    result.notices += 1
        last = case.last_activity_at or case.filed_at
        stalled = last is not None and at >= clocks.stalled_since(last, calendar)
        if (
            stalled
            and last is not None
            and _send_once(
                case,
                NoticeKind.STALLED,
                last.isoformat(),
                _responsible(case) + _supervisors(),
                _("Case %(number)s is stalled (督办)", number=number),
                _("Nothing has happened since %(at)s.", at=fmt(last)),
            )
        ):
            result.notices += 1
    db.session.flush()
    return result


def departments() -> list[Organization]:
    """Departments a case can be forwarded to: the management office and the regulators."""
    return list(
        db.session.scalars(
            select(Organization)
            .where(Organization.kind.in_(sorted(HANDLING_KINDS)), Organization.is_active.is_(True))
            .order_by(Organization.kind, Organization.name)
        )
    )


def department_staff(org_id: int | None) -> list[User]:
    return org_users(org_id, {Role.REGULATOR, Role.MANAGER})
