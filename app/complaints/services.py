"""Business rules of objections, complaints and reports: filing with its windows and required content, the
state machine, decisions and remedies, threads and evidence.

Every function takes the acting ``User`` explicitly (None only for an anonymous reporter or the system),
flushes but never commits, and audits each state change in the same transaction. Routing (首问负责, 转办,
交办, AB角) and the tick live in :mod:`app.complaints.routing`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import IO, Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from app.accounts.models import Organization, User
from app.core import audit, events, outbox, storage
from app.core.calendar import Unit, WorkCalendar, load_calendar, local_date
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, Forbidden
from app.core.permissions import OrgKind, Role

from . import clocks, sections
from .enums import (
    CLOCKLESS_STATES,
    OBJECTION_FIRST,
    TRANSITIONS,
    Audience,
    CaseKind,
    CaseStatus,
    Matter,
    PauseReason,
    Regime,
    Remedy,
    TransferKind,
)
from .models import (
    Case,
    CaseAttachment,
    CaseEvent,
    CaseMessage,
    CasePause,
    CaseTransfer,
    Complaint,
    CreditRecord,
    Objection,
    Report,
)

S = CaseStatus

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
#: Accepted evidence types, checked by their first bytes (the client's content type is not trusted).
ATTACHMENT_TYPES: dict[str, tuple[bytes, ...]] = {
    "application/pdf": (b"%PDF-",),
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "application/ofd": (b"PK\x03\x04",),  # OFD (GB/T 33190) is a zip container
}
GROUNDLESS_LIMIT = 3
GROUNDLESS_WINDOW = dt.timedelta(days=365)
_PREFIX = {
    (CaseKind.OBJECTION, Regime.CONSTRUCTION): "YY",
    (CaseKind.OBJECTION, Regime.PROCUREMENT): "ZY",
    (CaseKind.COMPLAINT, Regime.CONSTRUCTION): "TS",
    (CaseKind.COMPLAINT, Regime.PROCUREMENT): "TS",
    (CaseKind.REPORT, Regime.CONSTRUCTION): "JB",
}


# -- helpers -----------------------------------------------------------------------------------------------


def _aid(actor: User | None) -> int | None:
    return actor.id if actor is not None else None


def _event(
    case: Case,
    action: str,
    actor: User | None,
    *,
    note: str = "",
    internal: bool = False,
    from_status: str | None = None,
    to_status: str | None = None,
) -> None:
    db.session.add(
        CaseEvent(
            case=case,
            action=action,
            from_status=from_status,
            to_status=to_status,
            note=note,
            internal=internal,
            actor_id=_aid(actor),
            at=now(),
        )
    )


def _audit(action: str, case: Case, actor: User | None, payload: dict[str, Any]) -> None:
    # Reports: never put the reporter's identity in the (regulator-readable) audit payload, and nothing of a
    # member of the public acting without an account (an anonymous report, a message through the tracking
    # code) is linkable to its sender: no source address either.
    audit.record(
        action,
        actor=actor,
        object_type="complaint_case",
        object_id=case.id,
        payload=payload,
        keep_source=actor is not None,
    )


def touch(case: Case, at: dt.datetime | None = None) -> None:
    case.last_activity_at = at or now()


def notify(users: list[User], subject: str, body: str) -> None:
    """One inbox message per user (and an e-mail when the user has an address), after commit."""
    seen: set[int] = set()
    for user in users:
        if user.id in seen or not user.is_active:
            continue
        seen.add(user.id)
        outbox.enqueue(channel="inbox", recipient=user.username, subject=subject, body=body, user_id=user.id)
        if user.email:
            outbox.enqueue(channel="email", recipient=user.email, subject=subject, body=body, user_id=user.id)


def org_users(org_id: int | None, roles: set[Role] | None = None) -> list[User]:
    if org_id is None:
        return []
    stmt = select(User).where(User.org_id == org_id, User.is_active.is_(True)).order_by(User.id)
    if roles:
        stmt = stmt.where(User.role.in_([r.value for r in roles]))
    return list(db.session.scalars(stmt))


def management_office() -> Organization | None:
    return db.session.scalar(
        select(Organization)
        .where(Organization.kind == OrgKind.MANAGEMENT_OFFICE.value, Organization.is_active.is_(True))
        .order_by(Organization.id)
    )


def fmt(instant: dt.datetime | None) -> str:
    if instant is None:
        return "—"
    from app.core.clock import to_local

    return to_local(instant).strftime("%Y-%m-%d %H:%M")


def case_calendar() -> WorkCalendar:
    return load_calendar()


def regime_of(section: Any) -> Regime:
    """Government procurement catalogue items use the 质疑/投诉 variant."""
    category = section.project.catalogue_item.category
    return Regime.PROCUREMENT if category == "government_procurement" else Regime.CONSTRUCTION


def recompute_due(case: Case, calendar: WorkCalendar | None = None) -> None:
    """The running clock of the case's current state (None: no clock, or paused)."""
    calendar = calendar or case_calendar()
    status = S(case.status)
    due: dt.datetime | None = None
    if status in CLOCKLESS_STATES:
        due = None
    elif case.kind == CaseKind.OBJECTION and status is S.SUBMITTED:
        if case.matter != Matter.OPENING and case.filed_at is not None:
            due = clocks.objection_answer_due(case.filed_at, calendar, regime=case.regime_enum)
    elif case.kind == CaseKind.COMPLAINT and status in {S.SUBMITTED, S.TRANSFERRED}:
        due = clocks.accept_due(case.received_at or case.filed_at or now(), calendar, regime=case.regime_enum)
    elif case.kind == CaseKind.COMPLAINT and status in {S.ACCEPTED, S.INVESTIGATING}:
        assert case.accepted_at is not None
        intervals = [clocks.Interval(p.started_at, p.ended_at) for p in case.pauses]
        due = clocks.decision_due(case.accepted_at, calendar, intervals)
    elif case.kind == CaseKind.REPORT and status in {S.SUBMITTED, S.FORWARDED}:
        due = clocks.forward_due(case.received_at or case.filed_at or now(), calendar)
    elif case.kind == CaseKind.REPORT and status is S.ASSIGNED:
        due = case.due_at  # set by the assignment (交办 with a due date)
    if due != case.due_at or due is None:
        case.due_at = due
        if due is None or due > now():
            case.overdue_at = None


# -- the state machine -------------------------------------------------------------------------------------


def transition(case: Case, to: CaseStatus | str, *, actor: User | None, reason: str = "") -> Case:
    """Move ``case`` to ``to`` if :data:`TRANSITIONS` allows it for its kind; write the history row and the
    audit leaf (``complaints:case:transition``) and recompute the running clock."""
    target = S(to)
    current = S(case.status)
    allowed = TRANSITIONS[case.kind_enum].get(current, frozenset())
    if target not in allowed:
        raise Conflict(
            _("A case cannot go from %(from)s to %(to)s.", **{"from": current.value, "to": target.value}),
            code="illegal_transition",
        )
    at = now()
    case.status = target.value
    if target is S.CLOSED:
        case.closed_at = at
    if target is S.PUBLISHED:
        case.published_at = at
    touch(case, at)
    recompute_due(case)
    _event(case, "transition", actor, note=reason, from_status=current.value, to_status=target.value)
    _audit(
        "complaints:case:transition",
        case,
        actor,
        {"from": current.value, "to": target.value, "reason": reason, "kind": case.kind},
    )
    events.publish(db.session(), f"case:{case.id}", {"status": target.value})
    return case


def _number(case: Case) -> str:
    db.session.flush()  # the id numbers the case
    prefix = _PREFIX.get((case.kind_enum, case.regime_enum), "JB")
    return f"{prefix}-{local_date(case.filed_at or now()).year}-{case.id:05d}"


# -- drafts and filing -------------------------------------------------------------------------------------

CONTENT_FIELDS = (
    "subject",
    "complainant_name",
    "complainant_address",
    "complainant_contact",
    "respondent_name",
    "respondent_address",
    "respondent_contact",
    "facts",
    "claims",
    "evidence",
    "other_regulator",
)


@dataclass
class CaseInput:
    """What a party types into the objection or complaint form (all optional in a draft)."""

    section_id: int | None = None
    matter: str = Matter.OTHER.value
    knew_at: dt.datetime | None = None
    prior_objection_id: int | None = None
    by_agent: bool = False
    cross_department: bool = False
    content: dict[str, str] = field(default_factory=dict)


def save_draft(kind: CaseKind, data: CaseInput, *, actor: User, case: Case | None = None) -> Case:
    """Create or update a draft: nothing the filer typed is lost, whatever is wrong with it."""
    if actor.role != Role.BIDDER:
        raise Forbidden(_("Only bidders and interested parties file objections and complaints."))
    if case is None:
        cls = Objection if kind is CaseKind.OBJECTION else Complaint
        case = cls(status=S.DRAFT.value, filer_id=actor.id, filer_org_id=actor.org_id, created_at=now())
        db.session.add(case)
    elif case.status != S.DRAFT or case.filer_org_id != actor.org_id:
        raise Conflict(_("Only your own drafts can be edited."))
    section = None
    if data.section_id is not None:
        from app.projects.models import Section

        section = db.session.get(Section, data.section_id)
        if section is None or not sections.is_public(section):
            raise DomainError(
                _("No such tender section."), errors={"section_id": [_("No such tender section.")]}
            )
    case.section_id = section.id if section else None
    if section is not None:
        case.regime = regime_of(section).value
        case.respondent_org_id = section.project.agency_org_id or section.project.owner_org_id
    case.matter = (
        Matter(data.matter).value if data.matter in {m.value for m in Matter} else Matter.OTHER.value
    )
    case.knew_at = data.knew_at
    if data.prior_objection_id is not None:
        prior = db.session.get(Case, data.prior_objection_id)
        if prior is None or prior.kind != CaseKind.OBJECTION or prior.filer_org_id != actor.org_id:
            raise DomainError(
                _("No such objection of yours."), errors={"prior_objection_id": [_("Not found.")]}
            )
    case.prior_objection_id = data.prior_objection_id
    case.by_agent = bool(data.by_agent)
    case.cross_department = bool(data.cross_department)
    for name in CONTENT_FIELDS:
        if name in data.content:
            setattr(case, name, (data.content[name] or "").strip()[:20000])
    db.session.flush()  # the draft's id goes back to the form
    return case


def _missing(case: Case, names: tuple[str, ...]) -> dict[str, list[str]]:
    return {n: [_("Required.")] for n in names if not (getattr(case, n) or "").strip()}


def _file(case: Case, *, actor: User | None, at: dt.datetime) -> None:
    case.filed_at = at
    case.received_at = at
    touch(case, at)


def _challenge_of_an_opening_not_held(section: Any, regime: Regime) -> bool:
    """A supplier's written challenge (质疑) about an opening that never took place (fewer than 3 bidders):
    there was no ceremony to raise it at, and 政府采购法 Art. 55 still wants a challenge before a complaint,
    so it is filed in writing on the normal 7-working-day clock."""
    if regime is not Regime.PROCUREMENT:
        return False
    from .opening import objection_was_possible  # opening.py imports this module

    return not objection_was_possible(section)


def submit_objection(case: Case, *, actor: User) -> Case:
    """File an objection (异议) or, for government procurement, a challenge (质疑), after its checks:
    documents — at least 10 days before the bid deadline; results — inside candidate publicity; opening —
    only on the spot (:mod:`app.complaints.opening`); procurement — within 7 working days of knowing, for the
    result within 7 working days after the result announcement ends (采购条例 Art. 53)."""
    if case.kind != CaseKind.OBJECTION or case.status != S.DRAFT:
        raise Conflict(_("Only a draft objection can be filed."))
    at = now()
    calendar = case_calendar()
    errors = _missing(case, ("subject", "facts", "claims"))
    if case.section is None:
        errors["section_id"] = [_("Choose the tender section.")]
        raise DomainError(_("The objection is incomplete."), errors=errors)
    section = case.section
    matter = case.matter_enum
    regime = regime_of(section)
    if matter is Matter.OPENING and not _challenge_of_an_opening_not_held(section, regime):
        raise DomainError(
            _("Objections to the opening are raised on the spot during the opening ceremony (条例第44条)."),
            errors={"matter": [_("Raise it in the opening ceremony.")]},
        )
    if matter is Matter.OTHER and regime is Regime.CONSTRUCTION:
        errors["matter"] = [_("An objection is about the documents, the opening or the results.")]
    if errors:
        raise DomainError(_("The objection is incomplete."), errors=errors)
    if regime is Regime.PROCUREMENT and matter is Matter.RESULTS:
        announced = sections.publicity_window(section)
        if announced is None:
            raise DomainError(
                _(
                    "The result is challenged once the result announcement is published "
                    "(政府采购法实施条例第53条)."
                ),
                errors={"matter": [_("No result announcement yet.")]},
                code="out_of_time",
            )
        window = clocks.result_challenge_window(announced[0], announced[1], calendar)
        if not window.contains(at):
            raise DomainError(
                _(
                    "A challenge to the result is filed within 7 working days after the result announcement "
                    "period ends (政府采购法第52条, 实施条例第53条): the window closed at %(end)s.",
                    end=fmt(window.closes),
                ),
                errors={"matter": [_("Window: until %(end)s.", end=fmt(window.closes))]},
                code="out_of_time",
            )
        case.knew_at = case.knew_at or at
    elif regime is Regime.PROCUREMENT:
        if case.knew_at is None:
            raise DomainError(_("Say when you knew."), errors={"knew_at": [_("Required.")]})
        window = clocks.challenge_window(case.knew_at, calendar)
        if not window.contains(at):
            raise DomainError(
                _(
                    "A challenge is filed within 7 working days of knowing: the window closed at %(end)s.",
                    end=fmt(window.closes),
                ),
                errors={"knew_at": [_("Window: until %(end)s.", end=fmt(window.closes))]},
                code="out_of_time",
            )
    elif matter is Matter.PREQUAL:
        from app.projects.prequal.services import taking_applications

        pq = taking_applications(section)
        if pq is None or pq.application_deadline is None:
            msg = _("This section's prequalification is not taking applications.")
            raise DomainError(msg, errors={"matter": [msg]}, code="out_of_time")
        window = clocks.document_objection_window(
            pq.application_deadline, calendar, lead_days=clocks.PREQUAL_OBJECTION_LEAD_DAYS
        )
        if not window.contains(at):
            raise DomainError(
                _(
                    "Objections to the prequalification documents are raised at least %(days)d days before "
                    "the application deadline (%(deadline)s): the window closed at %(end)s (条例第22条).",
                    days=clocks.PREQUAL_OBJECTION_LEAD_DAYS,
                    deadline=fmt(pq.application_deadline),
                    end=fmt(window.closes),
                ),
                errors={"matter": [_("Window: until %(end)s.", end=fmt(window.closes))]},
                code="out_of_time",
            )
    elif section.status == "draft":
        msg = _("Only the prequalification documents of this section are published so far.")
        raise DomainError(msg, errors={"matter": [msg]})
    elif matter is Matter.DOCUMENTS:
        if section.bid_deadline is None:
            raise DomainError(_("This section has no bid deadline."))
        # the section's statutory clock (projects' ``rule_set``): 条例 Art. 22 fixes 10 日 whatever an item
        # stored before the floors were enforced says (``rules.effective_rules``)
        from app.projects.services import rule_set

        clock_rules = rule_set(section)
        lead = clock_rules.objection_lead_days or clocks.DOCUMENT_OBJECTION_LEAD_DAYS
        unit: Unit = "working" if clock_rules.objection_day_unit == "working" else "calendar"
        window = clocks.document_objection_window(section.bid_deadline, calendar, lead_days=lead, unit=unit)
        if not window.contains(at):
            raise DomainError(
                _(
                    "Objections to the tender documents are raised at least %(days)d days before the bid "
                    "deadline (%(deadline)s): the window closed at %(end)s (条例第22条).",
                    days=lead,
                    deadline=fmt(section.bid_deadline),
                    end=fmt(window.closes),
                ),
                errors={"matter": [_("Window: until %(end)s.", end=fmt(window.closes))]},
                code="out_of_time",
            )
    elif matter is Matter.RESULTS and not sections.in_publicity(section, at):
        window_pair = sections.publicity_window(section)
        shown = f"{fmt(window_pair[0])} – {fmt(window_pair[1])}" if window_pair else _("not open")
        raise DomainError(
            _(
                "Objections to the results are raised only during the candidate publicity (%(window)s, "
                "条例第54条).",
                window=shown,
            ),
            errors={"matter": [_("Publicity: %(window)s.", window=shown)]},
            code="out_of_time",
        )
    _file(case, actor=actor, at=at)
    case.regime = regime.value
    case.handling_org_id = case.respondent_org_id
    transition(case, S.SUBMITTED, actor=actor, reason="filed")
    case.number = _number(case)
    if matter in {Matter.DOCUMENTS, Matter.PREQUAL, Matter.RESULTS} and not sections.is_concluded(section):
        # 条例 22/54: the procedure is suspended until the answer; 采购条例 54 likewise for challenges.
        article = sections.HOLD_ARTICLES.get(case.matter, "政府采购法实施条例第54条")
        sections.suspend_for(
            case,
            actor=actor,
            reason=(
                _("Challenge %(number)s pending (%(article)s)", number=case.number, article=article)
                if regime is Regime.PROCUREMENT
                else _("Objection %(number)s pending (%(article)s)", number=case.number, article=article)
            ),
        )
    elif regime is Regime.PROCUREMENT:
        # the result is announced (the award made): nothing is left to suspend but the contract, which
        # waits for the answer (采购条例 Art. 54; app.evaluation.procurement.contract_blockers)
        _event(
            case,
            "contract_blocked",
            actor,
            note=_("The contract is not signed while this challenge is pending."),
        )
    # Government procurement calls it a challenge (质疑), and so do its notices.
    if regime is Regime.PROCUREMENT:
        subject = _("Challenge %(number)s", number=case.number)
        body = _(
            "A challenge to %(section)s must be answered by %(due)s.",
            section=section.code,
            due=fmt(case.due_at),
        )
    else:
        subject = _("Objection %(number)s", number=case.number)
        body = _(
            "An objection to %(section)s must be answered by %(due)s.",
            section=section.code,
            due=fmt(case.due_at),
        )
    notify(org_users(case.respondent_org_id, {Role.TENDERER}), subject, body)
    return case


def answer_objection(case: Case, *, actor: User, answer: str, changes_documents: bool = False) -> Case:
    """The tenderer answers; the section resumes if this objection suspended it — the bid deadline moves by
    at least the time suspended (projects' ``resume_section``). An answer that changes the tender documents
    (``changes_documents``) is published as an amendment affecting bids, so the 15-day rule of 招标投标法
    Art. 23 applies from the answer and every bidder that obtained the documents is told. Objections at the
    opening are answered on the spot and recorded in the opening record."""
    from .permissions import can_answer_objection

    if case.matter == Matter.OPENING:  # answered on the spot and recorded in the opening record
        from .opening import answer as answer_at_opening

        return answer_at_opening(case, actor=actor, text=answer)
    answer = (answer or "").strip()
    if not can_answer_objection(actor, case):
        raise Forbidden(_("Only the tenderer of this section answers its objections."))
    if not answer:
        raise DomainError(_("Write the answer."), errors={"answer": [_("Required.")]})
    case.answer = answer
    case.answered_at = now()
    transition(case, S.ANSWERED, actor=actor, reason="answered")
    answered = (
        _("Challenge %(number)s answered", number=case.number)
        if case.regime == Regime.PROCUREMENT.value
        else _("Objection %(number)s answered", number=case.number)
    )
    sections.release_for(case, actor=actor, note=answered)
    section = case.section
    if changes_documents and case.matter == Matter.DOCUMENTS and section is not None:
        from app.projects import services as projects

        if section.status == "published" and not section.suspended:
            projects.publish_amendment(
                section,
                actor=actor,
                title=_("Answer to objection %(number)s", number=case.number),
                body=answer,
                affects_bids=True,
            )
        # else: still held by another case — the documents change with the tenderer's next amendment,
        # which applies the same 15-day rule.
    if case.filer is not None:
        notify([case.filer], answered, answer)
    return case


def fingerprint(section_id: int | None, matter: str, filer_org_id: int | None) -> str:
    """Same section, matter and complainant: "the same facts" for the no-refile-after-withdrawal rule."""
    return hashlib.sha256(f"{section_id}|{matter}|{filer_org_id}".encode()).hexdigest()


COMPLAINT_REQUIRED = (
    "complainant_name",
    "complainant_address",
    "complainant_contact",
    "respondent_name",
    "respondent_address",
    "respondent_contact",
    "facts",
    "claims",
    "evidence",
)


def complaint_window_for(case: Case, calendar: WorkCalendar) -> clocks.Window | None:
    if case.knew_at is None or case.section is None:
        return None
    regime = regime_of(case.section)
    prior = case.prior_objection
    if regime is Regime.PROCUREMENT:
        if prior is None or prior.filed_at is None:
            return None
        reply_due = clocks.objection_answer_due(prior.filed_at, calendar, regime=regime)
        return clocks.complaint_window(case.knew_at, calendar, regime=regime, reply_due=reply_due)
    wait = 0
    if prior is not None and prior.filed_at is not None:
        waited_until = prior.answered_at or clocks.objection_answer_due(
            prior.filed_at, calendar, regime=regime
        )
        wait = clocks.objection_wait_days(prior.filed_at, waited_until)
    return clocks.complaint_window(case.knew_at, calendar, regime=regime, objection_wait=wait)


def submit_complaint(case: Case, *, actor: User) -> Case:
    """File a complaint (投诉) with the regulator of the section's industry, after the admissibility checks
    (11号令 Arts. 7, 9, 10, 12; 条例 60; 94号令 Arts. 18, 19)."""
    if case.kind != CaseKind.COMPLAINT or case.status != S.DRAFT:
        raise Conflict(_("Only a draft complaint can be filed."))
    at = now()
    calendar = case_calendar()
    errors = _missing(case, COMPLAINT_REQUIRED)
    if case.section is None:
        errors["section_id"] = [_("Choose the tender section.")]
    if case.knew_at is None:
        errors["knew_at"] = [_("Required.")]
    if case.by_agent and case.power_of_attorney_id is None:
        errors["power_of_attorney"] = [
            _("A complaint filed by an agent needs the power of attorney (授权委托书).")
        ]
    if errors:
        raise DomainError(_("The complaint is incomplete: every field below is required."), errors=errors)
    section = case.section
    regime = regime_of(section)
    matter = case.matter_enum
    needs_objection = regime is Regime.PROCUREMENT or matter in OBJECTION_FIRST
    if regime is not Regime.PROCUREMENT and matter is Matter.OPENING:
        from .opening import objection_was_possible  # opening.py imports this module

        # 条例 Art. 60 asks for the objection first only where the opening let bidders object (Art. 44).
        needs_objection = objection_was_possible(section)
    prior = case.prior_objection
    if needs_objection:
        valid_prior = (
            prior is not None
            and prior.kind == CaseKind.OBJECTION
            and prior.section_id == case.section_id
            and prior.filer_org_id == case.filer_org_id
            and prior.status != S.DRAFT
            and (regime is Regime.PROCUREMENT or prior.matter == case.matter)
        )
        if not valid_prior:
            reason = (
                _(
                    "A government procurement complaint is admissible only after a challenge (质疑) to the "
                    "purchaser (政府采购法第55条)."
                )
                if regime is Regime.PROCUREMENT
                else _(
                    "A complaint about the documents, the opening or the results is admissible only after an "
                    "objection to the tenderer on the same matter (条例第60条)."
                )
            )
            raise DomainError(reason, errors={"prior_objection_id": [reason]}, code="objection_first")
        assert prior is not None
        answer_due = clocks.objection_answer_due(prior.filed_at or at, calendar, regime=regime)
        if prior.status == S.SUBMITTED and at < answer_due:
            reason = _(
                "The objection %(number)s is still waiting for its answer (due %(due)s).",
                number=prior.number,
                due=fmt(answer_due),
            )
            raise DomainError(reason, errors={"prior_objection_id": [reason]}, code="objection_pending")
    window = complaint_window_for(case, calendar)
    assert window is not None
    if not window.contains(at):
        shown = f"{fmt(window.opens)} – {fmt(window.closes)}"
        raise DomainError(
            _("The complaint is out of time: it could be filed %(window)s.", window=shown),
            errors={"knew_at": [_("Window: %(window)s.", window=shown)]},
            code="out_of_time",
        )
    fp = fingerprint(case.section_id, case.matter, case.filer_org_id)
    withdrawn = db.session.scalar(
        select(Case.number).where(
            Case.fingerprint == fp,
            Case.kind == CaseKind.COMPLAINT.value,
            Case.status.in_(["withdrawn", "closed"]),
            Case.id != case.id,
            Case.decided_at.is_(None),
            Case.filed_at.is_not(None),
        )
    )
    if withdrawn is not None:
        reason = _(
            "The same facts were complained about in %(number)s and withdrawn; they cannot be "
            "complained about again.",
            number=withdrawn,
        )
        raise DomainError(reason, errors={"matter": [reason]}, code="refiled_after_withdrawal")
    case.fingerprint = fp
    case.regime = regime.value
    # a complaint concerning several departments goes to the management office, which forwards it (转办)
    case.handling_org_id = (
        _office_id() if case.cross_department else None
    ) or section.project.regulator_org_id
    _file(case, actor=actor, at=at)
    transition(case, S.SUBMITTED, actor=actor, reason="filed")
    case.number = _number(case)
    notify(
        org_users(case.handling_org_id, {Role.REGULATOR, Role.MANAGER}),
        _("Complaint %(number)s received", number=case.number),
        _("Accept, refuse or transfer by %(due)s.", due=fmt(case.due_at)),
    )
    return case


def _office_id() -> int | None:
    office = management_office()
    return office.id if office else None


# -- complaint handling (regulator) --------------------------------------------------------------------------


def _require_actor(case: Case, actor: User) -> None:
    from .permissions import can_act

    if not can_act(actor, case):
        raise Forbidden(_("Only the handler of this case (or its backup, when allowed) may do this."))
    if case.owner_id is None:
        # 首问负责: acting on a case nobody received yet receives it
        case.owner_id = actor.id
        db.session.add(
            CaseTransfer(
                case=case,
                kind=TransferKind.RECEIVED.value,
                to_org_id=case.handling_org_id,
                to_user_id=actor.id,
                actor_id=actor.id,
                at=now(),
            )
        )


def _require_decider(case: Case, actor: User) -> None:
    if actor.role != Role.REGULATOR or case.kind != CaseKind.COMPLAINT:
        raise Forbidden(_("Only the regulator handling the complaint decides it."))
    _require_actor(case, actor)


def accept_complaint(case: Case, *, actor: User) -> Case:
    _require_decider(case, actor)
    case.accepted_at = now()
    transition(case, S.ACCEPTED, actor=actor, reason="accepted")
    if case.filer is not None:
        notify(
            [case.filer],
            _("Complaint %(number)s accepted", number=case.number),
            _("Decision due by %(due)s.", due=fmt(case.due_at)),
        )
    _tell_respondent(case, actor=actor)
    return case


def explanation_due(case: Case) -> dt.datetime | None:
    """When the respondent of an accepted government procurement complaint owes its written explanation
    (财政部令第94号: 5 工作日 from the copy, sent at the acceptance); None for other cases."""
    procurement = case.kind == CaseKind.COMPLAINT and case.regime_enum is Regime.PROCUREMENT
    if not procurement or case.accepted_at is None:
        return None
    return clocks.respondent_explanation_due(case.accepted_at, case_calendar())


def _tell_respondent(case: Case, *, actor: User) -> None:
    """The respondent — the tenderer (purchaser) and its agency — is sent the accepted complaint: it reads
    the complaint on the case page and answers in the case thread. Government procurement gives it 5 工作日
    to explain in writing with its evidence (财政部令第94号)."""
    section = case.section
    if section is None:
        return
    project = section.project
    users = [
        user
        for org_id in dict.fromkeys((project.owner_org_id, project.agency_org_id))
        for user in org_users(org_id, {Role.TENDERER})
    ]
    due = explanation_due(case)
    if due is not None:
        body = _(
            "Complaint %(number)s about %(section)s has been accepted by %(department)s. Read it on the case "
            "page and give your written explanation with its evidence in the case thread by %(due)s "
            "(财政部令第94号).",
            number=case.number,
            section=section.code,
            department=case.handling_org.name if case.handling_org else "",
            due=fmt(due),
        )
    else:
        body = _(
            "Complaint %(number)s about %(section)s has been accepted by %(department)s. Read it on the case "
            "page; your explanation and evidence go in the case thread.",
            number=case.number,
            section=section.code,
            department=case.handling_org.name if case.handling_org else "",
        )
    notify(users, _("Complaint %(number)s about your tender", number=case.number), body)
    note = _("Written explanation due %(due)s", due=fmt(due)) if due is not None else ""
    _event(case, "respondent_notified", actor, note=note)


def refuse_complaint(case: Case, *, actor: User, reason: str) -> Case:
    """不予受理, with the reason (11号令 Art. 12); not published."""
    _require_decider(case, actor)
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give the reason."), errors={"reason": [_("Required.")]})
    case.decision = reason
    transition(case, S.NOT_ACCEPTED, actor=actor, reason=reason)
    if case.filer is not None:
        notify([case.filer], _("Complaint %(number)s not accepted", number=case.number), reason)
    return case


def hand_over(case: Case, to_org: Organization, *, kind: TransferKind, actor: User, note: str) -> None:
    """Move the case to another department: the transfer is recorded in the chain, and the receiving
    department owns it afresh (首问负责 restarts there; no handlers yet; its clock starts on receipt)."""
    at = now()
    db.session.add(
        CaseTransfer(
            case=case,
            kind=kind.value,
            from_org_id=case.handling_org_id,
            to_org_id=to_org.id,
            actor_id=actor.id,
            note=note,
            at=at,
        )
    )
    case.handling_org_id = to_org.id
    case.owner_id = None
    case.primary_handler_id = case.backup_handler_id = None
    case.backup_may_act = False
    case.received_at = at


def transfer_complaint(case: Case, *, actor: User, to_org: Organization, note: str = "") -> Case:
    """移送 to the competent regulator; its admission clock starts on receipt."""
    _require_decider(case, actor)
    if to_org.kind != OrgKind.REGULATOR.value or to_org.id == case.handling_org_id:
        raise DomainError(
            _("Transfer to another regulator."), errors={"to_org": [_("Choose another regulator.")]}
        )
    hand_over(case, to_org, kind=TransferKind.TRANSFERRED, actor=actor, note=note)
    transition(case, S.TRANSFERRED, actor=actor, reason=note or to_org.name)
    notify(
        org_users(to_org.id, {Role.REGULATOR}),
        _("Complaint %(number)s transferred to you", number=case.number),
        _("Accept or refuse by %(due)s.", due=fmt(case.due_at)),
    )
    return case


def start_investigation(case: Case, *, actor: User, suspend: bool, note: str = "") -> Case:
    """调查; the regulator may order the procedure suspended (条例 Art. 62)."""
    _require_decider(case, actor)
    transition(case, S.INVESTIGATING, actor=actor, reason=note)
    if suspend:
        sections.suspend_for(
            case, actor=actor, reason=_("Complaint %(number)s under investigation", number=case.number)
        )
    return case


def pause_reasons(case: Case) -> tuple[PauseReason, ...]:
    """What may stop the decision clock of ``case``: testing, appraisal and expert review (条例 Art. 61); for
    government procurement also the complainant fixing defects (补正, 采购条例 Art. 58)."""
    if case.regime_enum is Regime.PROCUREMENT:
        return tuple(PauseReason)
    return tuple(r for r in PauseReason if r is not PauseReason.DEFECT_FIX)


def pause_clock(case: Case, *, actor: User, reason: PauseReason | str, note: str = "") -> CasePause:
    """Expert review, testing, appraisal or fixing defects: the decision clock stops."""
    _require_decider(case, actor)
    if case.status not in {S.ACCEPTED, S.INVESTIGATING}:
        raise Conflict(_("Only the decision clock of an accepted complaint can be paused."))
    if case.is_paused:
        raise Conflict(_("The clock is already paused."))
    if PauseReason(reason) not in pause_reasons(case):
        # 条例 Art. 61 excludes testing, appraisal and expert review only; 补正 is excluded for government
        # procurement alone (采购条例 Art. 58)
        msg = _(
            "The time taken to fix defects (补正) counts towards the 30 working days of a works complaint: "
            "only testing, appraisal and expert review stop the clock (招标投标法实施条例第61条)."
        )
        raise DomainError(msg, errors={"reason": [msg]}, code="pause_not_excluded")
    pause = CasePause(
        case=case, reason=PauseReason(reason).value, note=note, started_at=now(), started_by=actor.id
    )
    db.session.add(pause)
    db.session.flush()  # the partial unique index refuses a second open pause here
    touch(case)
    recompute_due(case)
    _event(case, "clock_paused", actor, note=f"{pause.reason} {note}".strip())
    _audit("complaints:case:pause", case, actor, {"reason": pause.reason, "note": note})
    return pause


def resume_clock(case: Case, *, actor: User) -> CasePause:
    _require_decider(case, actor)
    pause = next((p for p in case.pauses if p.ended_at is None), None)
    if pause is None:
        raise Conflict(_("The clock is not paused."))
    pause.ended_at = now()
    touch(case)
    recompute_due(case)
    _event(case, "clock_resumed", actor, note=_("Decision due %(due)s", due=fmt(case.due_at)))
    _audit("complaints:case:resume_clock", case, actor, {"pause_id": pause.id, "due_at": case.due_at})
    return pause


def establish_violation(case: Case, *, actor: User, note: str) -> Case:
    """Record that a clear violation is established: from now on withdrawal is refused."""
    _require_decider(case, actor)
    if case.status not in {S.ACCEPTED, S.INVESTIGATING}:
        raise Conflict(_("Findings are recorded during the investigation."))
    case.violation_established = True
    touch(case)
    _event(case, "violation_established", actor, note=note, internal=True)
    _audit("complaints:case:violation", case, actor, {"note": note})
    return case


@dataclass(frozen=True)
class DecisionInput:
    upheld: bool
    decision: str
    remedy: Remedy | None = None
    groundless: bool = False


def decide_complaint(case: Case, data: DecisionInput, *, actor: User) -> Case:
    """驳回 or uphold within the decision clock; an upheld decision carries a remedy that acts on the
    section through its state machine; a groundless rejection counts towards the abuse rule."""
    _require_decider(case, actor)
    text = (data.decision or "").strip()
    errors: dict[str, list[str]] = {}
    if not text:
        errors["decision"] = [_("Required.")]
    if data.upheld and data.remedy is None:
        errors["remedy"] = [_("An upheld complaint orders a remedy.")]
    if errors:
        raise DomainError(_("The decision is incomplete."), errors=errors)
    if case.is_paused:
        raise Conflict(_("Resume the clock before deciding."))
    at = now()
    case.decision = text
    case.decided_at = at
    case.groundless = (not data.upheld) and data.groundless
    if data.upheld:
        assert data.remedy is not None
        case.remedy = data.remedy.value
        case.violation_established = True
    transition(case, S.UPHELD if data.upheld else S.REJECTED, actor=actor, reason=text[:200])
    audit.checkpoint_soon("case decision")  # signed when the decision commits, with its remedy
    sections.release_for(case, actor=actor, note=_("Complaint %(number)s decided", number=case.number))
    if data.upheld and data.remedy is not None:
        moved = sections.apply_remedy(case, data.remedy, actor=actor)
        note = moved or _("no change of the section's state")
        _event(case, "remedy", actor, note=f"{data.remedy.value}: {note}")
        _audit("complaints:case:remedy", case, actor, {"remedy": data.remedy.value, "section_status": moved})
    if case.groundless:
        flag_groundless(case, actor=actor)
    if case.filer is not None:
        notify([case.filer], _("Complaint %(number)s decided", number=case.number), text)
    return case


def flag_groundless(case: Case, *, actor: User | None) -> CreditRecord | None:
    """Three or more groundless complaints by one organization within 12 months → a credit record flagged
    to the regulator (94号令 Art. 37)."""
    if case.filer_org_id is None:
        return None
    since = now() - GROUNDLESS_WINDOW
    ids = list(
        db.session.scalars(
            select(Case.id)
            .where(
                Case.kind == CaseKind.COMPLAINT.value,
                Case.filer_org_id == case.filer_org_id,
                Case.groundless.is_(True),
                Case.decided_at >= since,
            )
            .order_by(Case.id)
        )
    )
    if len(ids) < GROUNDLESS_LIMIT:
        return None
    db.session.flush()
    record = CreditRecord(
        org_id=case.filer_org_id,
        regulator_org_id=case.handling_org_id,
        reason=_("%(n)d groundless complaints within 12 months", n=len(ids)),
        case_ids=",".join(str(i) for i in ids),
        last_case_id=case.id,
        created_at=now(),
    )
    db.session.add(record)
    db.session.flush()  # the unique (org, last case) keeps one flag per triggering decision
    audit.record(
        "complaints:credit:flag",
        actor=actor,
        object_type="organization",
        object_id=case.filer_org_id,
        payload={"case_ids": ids},
    )
    notify(org_users(case.handling_org_id, {Role.REGULATOR}), _("Credit record flagged"), record.reason)
    return record


def withdraw(case: Case, *, actor: User, reason: str) -> Case:
    """Withdrawal in writing with reasons, before the decision; refused once a violation is established."""
    from .permissions import is_filer

    if not is_filer(actor, case):
        raise Forbidden(_("Only the filer withdraws a case."))
    reason = (reason or "").strip()
    if not reason:
        raise DomainError(_("Give the reason for withdrawing."), errors={"reason": [_("Required.")]})
    if case.violation_established:
        raise Conflict(
            _("A violation is already established: the complaint cannot be withdrawn."),
            code="violation_established",
        )
    if case.kind == CaseKind.COMPLAINT and case.fingerprint is None:
        case.fingerprint = fingerprint(case.section_id, case.matter, case.filer_org_id)
    transition(case, S.WITHDRAWN, actor=actor, reason=reason)
    sections.release_for(case, actor=actor, note=_("Case %(number)s withdrawn", number=case.number))
    return case


def publish_decision(case: Case, *, actor: User) -> Case:
    _require_decider(case, actor)
    transition(case, S.PUBLISHED, actor=actor, reason="published")
    return case


def close_case(case: Case, *, actor: User) -> Case:
    from .permissions import can_act

    if not can_act(actor, case):
        raise Forbidden(_("Only the handler of this case closes it."))
    transition(case, S.CLOSED, actor=actor, reason="closed")
    return case


# -- reports -------------------------------------------------------------------------------------------------


def tracking_hash(code: str) -> str:
    return hashlib.sha256(code.strip().encode()).hexdigest()


@dataclass(frozen=True)
class ReportInput:
    subject: str
    facts: str
    section_id: int | None = None
    anonymous: bool = True
    reporter_name: str = ""
    reporter_contact: str = ""


def file_report(data: ReportInput, *, actor: User | None = None) -> tuple[Report, str]:
    """A report (举报) by anyone, anonymous allowed. Returns the case and its tracking code, which is shown
    once and stored only as a hash."""
    errors: dict[str, list[str]] = {}
    if not data.subject.strip():
        errors["subject"] = [_("Required.")]
    if not data.facts.strip():
        errors["facts"] = [_("Required.")]
    if not data.anonymous and not data.reporter_name.strip():
        errors["reporter_name"] = [_("Give your name, or report anonymously.")]
    if data.section_id is not None:
        from app.projects.models import Section

        section = db.session.get(Section, data.section_id)
        if section is None or section.status == "draft":
            errors["section_id"] = [_("No such tender section.")]
    if errors:
        raise DomainError(_("The report is incomplete."), errors=errors)
    office = management_office()
    if office is None:
        raise Conflict(_("No management office is set up to receive reports."))
    code = secrets.token_urlsafe(18)  # 144 bits
    at = now()
    report = Report(
        status=S.DRAFT.value,
        regime=Regime.CONSTRUCTION.value,
        subject=data.subject.strip()[:200],
        facts=data.facts.strip(),
        section_id=data.section_id,
        anonymous=data.anonymous,
        reporter_name="" if data.anonymous else data.reporter_name.strip()[:100],
        reporter_contact="" if data.anonymous else data.reporter_contact.strip()[:100],
        filer_id=None if data.anonymous or actor is None else actor.id,
        filer_org_id=None,
        tracking_hash=tracking_hash(code),
        handling_org_id=office.id,
        created_at=at,
    )
    db.session.add(report)
    report.status = S.SUBMITTED.value
    _file(report, actor=actor, at=at)
    report.number = _number(report)
    recompute_due(report)
    _event(report, "transition", None, note="filed", from_status=None, to_status=S.SUBMITTED.value)
    _audit("complaints:report:file", report, None, {"anonymous": data.anonymous})
    notify(
        org_users(office.id, {Role.MANAGER}),
        _("Report %(number)s received", number=report.number),
        _("Forward or assign by %(due)s.", due=fmt(report.due_at)),
    )
    return report, code


def find_report(code: str) -> Report | None:
    code = (code or "").strip()
    if not code or len(code) > 64:
        return None
    return db.session.scalar(select(Report).where(Report.tracking_hash == tracking_hash(code)))


def answer_report(case: Case, *, actor: User, answer: str) -> Case:
    """The handler's reply; the reporter reads it with the tracking code."""
    _require_actor(case, actor)
    if case.kind != CaseKind.REPORT:
        raise Conflict(_("Not a report."))
    answer = (answer or "").strip()
    if not answer:
        raise DomainError(_("Write the answer."), errors={"answer": [_("Required.")]})
    case.answer = answer
    case.answered_at = now()
    transition(case, S.ANSWERED, actor=actor, reason="answered")
    if case.filer is not None:
        notify([case.filer], _("Report %(number)s answered", number=case.number), answer)
    return case


# -- thread and evidence -------------------------------------------------------------------------------------


def post_message(
    case: Case,
    *,
    actor: User | None,
    body: str,
    audience: Audience | str = Audience.PARTIES,
    side: str | None = None,
) -> CaseMessage:
    """A message in the thread. ``actor`` None: the reporter through the tracking code."""
    from .permissions import side_of

    body = (body or "").strip()
    if not body:
        raise DomainError(_("Write a message."), errors={"body": [_("Required.")]})
    if case.status == S.DRAFT:
        raise Conflict(_("File the case before writing in its thread."))
    if actor is None:
        side, audience = "filer", Audience.FILER
    else:
        side = side_of(actor, case)
        if side is None:
            raise Forbidden(_("Only the parties and the handlers write in this thread."))
    audience = Audience(audience)
    if side != "handler" and audience is Audience.INTERNAL:
        audience = Audience.PARTIES
    if (side == "filer" and audience is Audience.RESPONDENT) or (
        side == "respondent" and audience is Audience.FILER
    ):
        audience = Audience.PARTIES
    if case.kind == CaseKind.REPORT and audience is Audience.PARTIES:
        audience = Audience.FILER  # a report has no respondent party
    msg = CaseMessage(
        case=case,
        author_id=_aid(actor),
        author_side=side,
        audience=audience.value,
        body=body[:10000],
        at=now(),
    )
    db.session.add(msg)
    if side == "handler":
        touch(case)
    db.session.flush()
    audit.record(
        "complaints:case:message",
        actor=actor,
        object_type="complaint_case",
        object_id=case.id,
        payload={
            "message_id": msg.id,
            "audience": audience.value,
            "sha256": hashlib.sha256(msg.body.encode()).hexdigest(),
        },
    )
    return msg


_SAFE_NAME = re.compile(r"[^\w.\-() \u4e00-\u9fff]+")


def add_attachment(
    case: Case, *, actor: User, stream: IO[bytes], filename: str, audience: Audience | str = Audience.PARTIES
) -> CaseAttachment:
    """Evidence: at most 10 MB, PDF/PNG/JPEG/OFD by content, stored durably with its SHA-256."""
    from .permissions import side_of

    side = side_of(actor, case)
    if side is None:
        raise Forbidden(_("Only the parties and the handlers add evidence."))
    head = stream.read(8)
    content_type = next(
        (t for t, sigs in ATTACHMENT_TYPES.items() if any(head.startswith(s) for s in sigs)), None
    )
    if content_type is None:
        raise DomainError(
            _("Attach PDF, PNG, JPEG or OFD files."), errors={"file": [_("Unsupported file type.")]}
        )

    def chunks() -> Any:
        yield head
        while chunk := stream.read(storage.CHUNK):
            yield chunk

    try:
        blob = storage.write_stream(chunks(), folder=f"cases/{case.id}", max_size=MAX_ATTACHMENT_BYTES)
    except storage.BlobTooLarge:
        raise DomainError(
            _("Attachments are limited to 10 MB."), errors={"file": [_("Too large.")]}
        ) from None
    name = _SAFE_NAME.sub("_", filename or "evidence")[:200] or "evidence"
    aud = Audience(audience)
    if side != "handler" and aud is Audience.INTERNAL:
        aud = Audience.PARTIES
    att = CaseAttachment(
        case=case,
        uploaded_by=actor.id,
        audience=aud.value,
        filename=name,
        content_type=content_type,
        size=blob.size,
        sha256=blob.sha256,
        blob_path=blob.path,
        at=now(),
    )
    db.session.add(att)
    db.session.flush()
    audit.record(
        "complaints:case:attachment",
        actor=actor,
        object_type="complaint_case",
        object_id=case.id,
        payload={"attachment_id": att.id, "sha256": blob.sha256, "size": blob.size},
    )
    return att


def set_power_of_attorney(case: Case, attachment: CaseAttachment) -> None:
    case.power_of_attorney_id = attachment.id


# -- public decisions ---------------------------------------------------------------------------------------

_PERSONAL = [
    (re.compile(r"(?<!\d)\d{17}[\dXx](?![\dXx])"), _l("[ID number]")),  # resident ID number
    (re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)"), _l("[mobile number]")),  # mobile number
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), _l("[e-mail address]")),
]


def redact(text: str) -> str:
    """Protected personal data out of a published decision: ID numbers, phone numbers, e-mail addresses
    (each replaced by its name in the reader's language)."""
    for pattern, repl in _PERSONAL:
        text = pattern.sub(str(repl).replace("\\", "\\\\"), text)
    return text


def published_decisions(limit: int = 100) -> list[Case]:
    return list(
        db.session.scalars(
            select(Case)
            .where(Case.kind == CaseKind.COMPLAINT.value, Case.published_at.is_not(None))
            .order_by(Case.published_at.desc())
            .limit(limit)
        )
    )


def groundless_count(org_id: int) -> int:
    return int(
        db.session.scalar(
            select(func.count())
            .select_from(Case)
            .where(Case.filer_org_id == org_id, Case.groundless.is_(True))
        )
        or 0
    )
