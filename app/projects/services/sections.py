"""The section state machine (:func:`transition`), section terms, custodians, and re-tendering."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, select, update

from app.accounts.enums import OrgKind
from app.accounts.models import Organization, User
from app.core import events, outbox
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.core.permissions import Role

from .. import rules
from ..enums import (
    EvaluationMethod,
    OpeningItem,
    Procedure,
    ProjectStatus,
    SectionStatus,
)
from ..models import (
    OpeningRoom,
    Project,
    Section,
    SectionCustodian,
    SectionDocument,
)
from ._common import S, _audit, _ensure_not_suspended, _timeline
from .rooms import _release_room, book_room

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
    if target is S.FAILED:
        _offer_retender(section, reason)
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
    procedure: str = Procedure.OPEN.value
    procedure_approval_ref: str = ""
    invited_org_ids: list[int] = field(default_factory=list)
    prequalification: bool = False
    bid_validity_days: int | None = rules.BID_VALIDITY_DEFAULT_DAYS
    sme_deduction_rate: Decimal | None = None
    sme_works: bool = False
    performance_security_pct: Decimal | None = None


def _terms_errors(terms: SectionTerms, category: str | None = None) -> dict[str, list[str]]:
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
        check = rules.check_bid_security(terms.estimated_value, terms.bid_security, category)
        if not check.ok:
            errors["bid_security"] = [check.message]
    if terms.bid_validity_days is None:
        errors["bid_validity_days"] = [_("Required.")]
    elif terms.bid_validity_days <= 0 or terms.bid_validity_days > 1000:
        errors["bid_validity_days"] = [_("Between 1 and 1000 days.")]
    sme = rules.check_sme_deduction(terms.sme_deduction_rate, category, terms.sme_works)
    if not sme.ok:
        errors["sme_deduction_rate"] = [sme.message]
    performance = rules.check_performance_security(terms.performance_security_pct, category)
    if not performance.ok:
        errors["performance_security_pct"] = [performance.message]
    panel = rules.check_panel(terms.panel_size, terms.panel_pool_count, terms.panel_specialties)
    if not panel.ok:
        errors["panel_size"] = [panel.message]
    if terms.evaluation_method not in {m.value for m in EvaluationMethod}:
        errors["evaluation_method"] = [_("Unknown method.")]
    else:
        scoring = rules.check_scoring(terms.evaluation_method, terms.scoring_criteria)
        if not scoring.ok:
            errors["scoring_criteria"] = [scoring.message]
    if terms.procedure not in {p.value for p in Procedure}:
        errors["procedure"] = [_("Unknown procedure.")]
    if len(terms.procedure_approval_ref or "") > 200:
        errors["procedure_approval_ref"] = [_("At most %(n)d characters.", n=200)]
    if terms.invited_org_ids:
        bidders = set(
            db.session.scalars(
                select(Organization.id).where(
                    Organization.id.in_(terms.invited_org_ids), Organization.kind == OrgKind.BIDDER.value
                )
            )
        )
        if bidders != set(terms.invited_org_ids):
            errors["invited_org_ids"] = [_("Invite bidder organizations registered on the platform.")]
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
    section.bid_validity_days = terms.bid_validity_days or rules.BID_VALIDITY_DEFAULT_DAYS
    section.sme_deduction_rate = terms.sme_deduction_rate
    section.sme_works = bool(terms.sme_works)
    section.performance_security_pct = terms.performance_security_pct
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
    section.procedure = terms.procedure
    section.procedure_approval_ref = (terms.procedure_approval_ref or "").strip()
    section.invited_org_ids = (
        sorted(set(terms.invited_org_ids)) if terms.procedure == Procedure.INVITED.value else []
    )
    section.prequalification = bool(terms.prequalification)


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
    errors = _terms_errors(terms, project.catalogue_item.category)
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
    errors = _terms_errors(terms, section.project.catalogue_item.category)
    if section.prequalification and not terms.prequalification:
        from ..prequal.services import current_round

        if current_round(section) is not None:  # its rounds would stop gating who takes part
            errors["prequalification"] = [
                _("A prequalification round has been opened: the section keeps its prequalification.")
            ]
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


def rule_set(section: Section) -> rules.RuleSet:
    """The statutory clock of the section: its catalogue item's periods, never below the floors."""
    item = section.project.catalogue_item
    return rules.procedure_rule_set(
        rules.effective_rules(item), section.procedure or Procedure.OPEN, item.category
    )


def visible_sections(statuses: Iterable[str] | None = None) -> list[Section]:
    stmt = select(Section).where(Section.status != S.DRAFT.value).order_by(Section.published_at.desc())
    if statuses:
        stmt = stmt.where(Section.status.in_(list(statuses)))
    return list(db.session.scalars(stmt))


# -- re-tendering (重新招标) -----------------------------------------------------------------------------

#: Terms a re-tender carries over from the failed section; dates, room and opening key are set anew.
RETENDER_FIELDS = (
    "estimated_value",
    "ceiling_price",
    "bid_security",
    "bid_validity_days",
    "sme_deduction_rate",
    "sme_works",
    "performance_security_pct",
    "qualification",
    "evaluation_method",
    "scoring_criteria",
    "panel_size",
    "panel_pool_count",
    "panel_specialties",
    "opening_items",
    "max_envelope_mb",
    "custodian_k",
    "notice_text",
)


def successor_of(section: Section) -> Section | None:
    """The re-tender of a failed section, if one was started."""
    return db.session.scalar(select(Section).where(Section.retender_of_id == section.id))


def can_retender(section: Section) -> bool:
    return section.status == S.FAILED and successor_of(section) is None


def _offer_retender(section: Section, reason: str) -> None:
    """A failed trade must be tendered again (招标投标法 Art. 28, 42; 实施条例 Art. 44): the tenderer and its
    agency are told why and that the section page offers the re-tender."""
    project = section.project
    orgs = [o for o in (project.owner_org_id, project.agency_org_id) if o is not None]
    subject = _("%(code)s failed: re-tender offered", code=section.code)
    body = _(
        "%(name)s failed: %(reason)s\n\nThe law requires the tender to be held again (招标投标法第28条、"
        "第42条). Start the re-tender from the section page: a new section of the same project, linked to "
        "this one, with its terms and documents, and new dates.",
        name=section.name,
        reason=reason,
    )
    users = db.session.scalars(
        select(User).where(User.org_id.in_(orgs), User.role == Role.TENDERER.value, User.is_active.is_(True))
    )
    for user in users:
        outbox.enqueue(channel="inbox", recipient=str(user.id), subject=subject, body=body, user_id=user.id)
        if user.email:
            outbox.enqueue(channel="email", recipient=user.email, subject=subject, body=body, user_id=user.id)


def retender_section(failed: Section, *, actor: User) -> Section:
    """Re-tender (重新招标) a failed section: a new draft section of the same project, linked to the failed
    one (``retender_of_id``), with its terms, custodians and current tender documents. The failed section
    keeps its whole history (bids, count or opening record, evaluation) and shows its successor. Dates and
    the opening room are not carried over: the tenderer sets them and publishes like any draft, under every
    publication rule. At most one re-tender per failed section (a unique constraint)."""
    project = failed.project
    if actor.role != Role.TENDERER or actor.org_id not in {project.owner_org_id, project.agency_org_id}:
        raise NotFound(_("No such section."))
    if failed.status != S.FAILED:
        raise Conflict(_("Only a failed section is tendered again."), code="not_failed")
    existing = successor_of(failed)
    if existing is not None:
        raise Conflict(
            _("This section is already being tendered again as %(code)s.", code=existing.code),
            code="retender_exists",
        )
    count = db.session.scalar(
        select(func.count()).select_from(Section).where(Section.project_id == project.id)
    )
    name = failed.name if "重新招标" in failed.name else f"{failed.name}（重新招标）"
    section = Section(
        code=f"{project.code}-{(count or 0) + 1:02d}",
        name=name[:200],
        created_by=actor.id,
        retender_of_id=failed.id,
        online_only=True,
        **{f: getattr(failed, f) for f in RETENDER_FIELDS},
    )
    project.sections.append(section)
    db.session.flush()
    _set_custodians(section, [c.user_id for c in failed.custodians])
    for doc in failed.current_documents:
        section.documents.append(
            SectionDocument(
                name=doc.name,
                version=1,
                filename=doc.filename,
                content_type=doc.content_type,
                size=doc.size,
                sha256=doc.sha256,
                blob_path=doc.blob_path,  # blobs are immutable: the same bytes, a new unpublished version
                uploaded_by=actor.id,
                uploaded_at=now(),
            )
        )
    db.session.flush()
    _timeline(section, None, S.DRAFT.value, actor, _("Re-tender of %(code)s", code=failed.code))
    _timeline(failed, failed.status, "retendered", actor, _("Re-tendered as %(code)s", code=section.code))
    _audit(
        "projects:section:retender",
        actor,
        section,
        {"code": section.code, "retender_of": failed.id, "failed_reason": failed.failed_reason},
    )
    return section
