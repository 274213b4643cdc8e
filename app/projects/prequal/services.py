"""Prequalification (资格预审) of a works section: the round's notice and documents, the applications, the
review and the notice of results; the tender then admits only the qualified applicants
(:func:`app.projects.services.may_take_part`).

* A section created with ``prequalification`` runs one or more rounds; each is prepared as a draft, then
  published once its periods pass :func:`app.projects.rules.check_prequal_periods` (条例 Art. 16, 17).
* A bidder organization applies with one file (SHA-256 kept) until the deadline; a second upload before it
  replaces the first. Who applied is confidential until the deadline (the pages and API show each
  applicant its own application only; the audit leaf of an application is sealed).
* After the deadline the tenderer's side records each applicant's result (qualified, or not with the reason)
  and notifies every applicant (资格预审结果通知书, Art. 19) through the outbox. With at least 3 qualified the
  round passes and the tender may be published; with fewer it fails and a new round must run first.
* Who reviews: the platform records the results as the tenderer (or its agency) enters them; for projects
  under state control the review is made by a committee formed under the evaluation rules (Art. 18) whose
  conclusions the tenderer's side records — see docs/rules.md.
"""

from __future__ import annotations

import datetime as dt
from typing import IO, Any

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.accounts.models import Organization, User
from app.core import audit, outbox, storage
from app.core.calendar import load_calendar
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, Forbidden
from app.core.permissions import Role
from app.core.templating import fmt_dt

from .. import rules
from ..enums import Procedure, SectionStatus
from ..models import Section
from ..permissions import acts_for
from ..services.documents import MAX_DOCUMENT_BYTES, document_filename
from .enums import TRANSITION_ACTIONS, TRANSITIONS, PrequalResult, PrequalStatus
from .models import PrequalApplication, Prequalification
from .permissions import applications_closed, can_see_applicants

APPLY_ACTION = "projects:prequal:apply"
MAX_NOTICE = 50000
MAX_REASON = 2000
P = PrequalStatus


class ApplicationsClosed(Conflict):
    code = "applications_closed"


def _audit(
    action: str, actor: User | None, obj: Prequalification | PrequalApplication, payload: dict[str, Any]
) -> None:
    audit.record(action, actor=actor, object_type=obj.__tablename__, object_id=obj.id, payload=payload)


def transition(
    pq: Prequalification, to: PrequalStatus, *, actor: User, payload: dict[str, Any] | None = None
) -> None:
    """The one way a round changes state: refuses a move the table does not list, writes the audit leaf."""
    if to not in TRANSITIONS[PrequalStatus(pq.status)]:
        raise Conflict(_("This step is not possible in the prequalification's present state."))
    at = now()
    if to is P.PUBLISHED:
        pq.published_at = at
    else:
        pq.notified_at = at
    old, pq.status = pq.status, to.value
    db.session.flush()  # the leaf names the committed state
    _audit(TRANSITION_ACTIONS[to], actor, pq, {"from": old, "to": to.value, **(payload or {})})


# -- reading ---------------------------------------------------------------------------------------------


def rounds_of(section: Section) -> list[Prequalification]:
    return list(
        db.session.scalars(
            select(Prequalification)
            .where(Prequalification.section_id == section.id)
            .order_by(Prequalification.round)
        )
    )


def current_round(section: Section) -> Prequalification | None:
    return db.session.scalar(
        select(Prequalification)
        .where(Prequalification.section_id == section.id)
        .order_by(Prequalification.round.desc())
        .limit(1)
    )


def taking_applications(section: Section) -> Prequalification | None:
    """The section's published prequalification round (资格预审公告 out, results not yet notified), if any:
    the prequalification documents are public and may be objected to; the section, a draft meanwhile, can
    be suspended."""
    pq = current_round(section)
    return pq if pq is not None and pq.status == P.PUBLISHED else None


def _ensure_not_suspended(pq: Prequalification) -> None:
    """While an objection to the prequalification documents waits for its answer (条例 Art. 22), or a
    regulator has suspended the trade, nothing in the round moves: no application, review or result."""
    if pq.section.suspended:
        raise Conflict(_("The section is suspended; every step waits until it is resumed."), code="suspended")


def give_back_application_time(
    section: Section, paused_from: dt.datetime, paused: dt.timedelta, *, actor: User
) -> None:
    """A suspension that began while applications were taken moves the application deadline by at least the
    time suspended (same local time of day, a working day), and the end of the document sale by the same
    amount if it was still running, so that neither the sale (≥ 5 日, 条例 Art. 16) nor the time to apply
    (≥ 5 日 after the sale, 条例 Art. 17) is eaten; the applicants are told."""
    from ..services.suspension import later_by_at_least

    pq = taking_applications(section)
    if pq is None or pq.application_deadline is None or paused_from >= pq.application_deadline:
        return
    old = pq.application_deadline
    pq.application_deadline = later_by_at_least(old, paused, workday=True)
    moved = pq.application_deadline - old
    if pq.docs_available_until is not None and paused_from < pq.docs_available_until:
        pq.docs_available_until += moved
    db.session.flush()
    _audit(
        "projects:prequal:deadline_extend",
        actor,
        pq,
        {
            "cause": "suspension",
            "old_deadline": old.isoformat(),
            "new_deadline": pq.application_deadline.isoformat(),
        },
    )
    body = _(
        "The prequalification of %(section)s was suspended: applications are now taken until %(deadline)s "
        "(Beijing time).",
        section=section.code,
        deadline=fmt_dt(pq.application_deadline),
    )
    for application in pq.applications:
        for user in _applicant_users(application.applicant_org_id):
            outbox.enqueue(
                channel="inbox",
                recipient=str(user.id),
                subject=_("%(section)s: new application deadline", section=section.code),
                body=body,
                user_id=user.id,
            )


def passed_round(section: Section) -> Prequalification | None:
    return db.session.scalar(
        select(Prequalification).where(
            Prequalification.section_id == section.id, Prequalification.status == P.PASSED.value
        )
    )


def is_qualified(section: Section, org_id: int) -> bool:
    """Whether ``org_id`` passed the section's prequalification (the round that passed)."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(PrequalApplication)
            .join(Prequalification)
            .where(
                Prequalification.section_id == section.id,
                Prequalification.status == P.PASSED.value,
                PrequalApplication.applicant_org_id == org_id,
                PrequalApplication.result == PrequalResult.QUALIFIED.value,
            )
        )
        or 0
    ) > 0


def own_application(pq: Prequalification, org_id: int | None) -> PrequalApplication | None:
    if org_id is None:
        return None
    return db.session.scalar(
        select(PrequalApplication).where(
            PrequalApplication.prequalification_id == pq.id, PrequalApplication.applicant_org_id == org_id
        )
    )


def applications_for(pq: Prequalification, *, viewer: User) -> list[PrequalApplication]:
    """The applications ``viewer`` may read: a bidder its own; others all of them once the deadline passed,
    none before it (who applied is secret until then)."""
    if viewer.role == Role.BIDDER:
        own = own_application(pq, viewer.org_id)
        return [own] if own is not None else []
    if not can_see_applicants(viewer, pq):
        return []
    return list(pq.applications)


def visible_rounds(viewer: User) -> list[Prequalification]:
    """The rounds listed on the prequalification page for ``viewer``."""
    stmt = select(Prequalification).order_by(Prequalification.id.desc())
    if viewer.role in {Role.BIDDER, Role.MANAGER, Role.REGULATOR}:
        stmt = stmt.where(Prequalification.status != P.DRAFT.value)
    rows = list(db.session.scalars(stmt.limit(500)))
    if viewer.role == Role.TENDERER:
        rows = [r for r in rows if acts_for(viewer, r.section.project)]
    elif viewer.role == Role.REGULATOR:
        rows = [r for r in rows if r.section.project.regulator_org_id == viewer.org_id]
    return rows


def public_rounds(limit: int = 200) -> list[Prequalification]:
    """Published rounds with their notices, newest first, for the public portal (资格预审公告 is public, as
    any tender notice; who applied or qualified is never shown there)."""
    stmt = (
        select(Prequalification)
        .where(Prequalification.status != P.DRAFT.value)
        .order_by(Prequalification.published_at.desc(), Prequalification.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(stmt))


def sale_start(pq: Prequalification, at: dt.datetime | None = None) -> dt.datetime | None:
    """When the documents can be obtained: a draft's sale cannot start before its publication (``at``, now),
    so a start already past counts from then (条例 Art. 16 is about the time they are actually on sale)."""
    if pq.docs_available_from is None or pq.status != P.DRAFT:
        return pq.docs_available_from
    return max(pq.docs_available_from, at or now())


def period_checks(pq: Prequalification, *, at: dt.datetime | None = None) -> list[rules.RuleCheck]:
    start = sale_start(pq, at)
    if start is None or pq.docs_available_until is None or pq.application_deadline is None:
        return []
    return rules.check_prequal_periods(
        start, pq.docs_available_until, pq.application_deadline, load_calendar()
    )


# -- the tenderer's side: prepare and publish ------------------------------------------------------------


def _ensure_manager(pq_or_section: Prequalification | Section, actor: User) -> None:
    section = pq_or_section.section if isinstance(pq_or_section, Prequalification) else pq_or_section
    if not acts_for(actor, section.project):
        raise Forbidden(_("Only the tenderer or its agency manages the prequalification."))


def start_round(section: Section, *, actor: User) -> Prequalification:
    """Open a new round (the first, or the next after a failed one) as a draft."""
    _ensure_manager(section, actor)
    if not section.prequalification:
        raise Conflict(_("This section is tendered without prequalification."))
    if section.status != SectionStatus.DRAFT:
        raise Conflict(_("The prequalification comes before the tender is published."))
    latest = current_round(section)
    if latest is not None and latest.status != P.FAILED:
        raise Conflict(_("A prequalification round of this section is already under way or passed."))
    pq = Prequalification(
        section_id=section.id,
        round=(latest.round + 1) if latest is not None else 1,
        status=P.DRAFT.value,
        notice_text="",
        created_by=actor.id,
        created_at=now(),
    )
    try:
        with db.session.begin_nested():
            db.session.add(pq)
    except IntegrityError:
        raise Conflict(_("Another round was being opened at the same moment.")) from None
    _audit("projects:prequal:create", actor, pq, {"section_id": section.id, "round": pq.round})
    return pq


def update_round(
    pq: Prequalification,
    *,
    actor: User,
    notice_text: str,
    docs_available_from: dt.datetime | None,
    docs_available_until: dt.datetime | None,
    application_deadline: dt.datetime | None,
) -> Prequalification:
    _ensure_manager(pq, actor)
    if pq.status != P.DRAFT:
        raise Conflict(_("A published prequalification does not change."))
    text = (notice_text or "").strip()
    if len(text) > MAX_NOTICE:
        raise DomainError(
            _("At most %(n)d characters.", n=MAX_NOTICE), errors={"notice_text": [_("Too long.")]}
        )
    pq.notice_text = text
    pq.docs_available_from = docs_available_from
    pq.docs_available_until = docs_available_until
    pq.application_deadline = application_deadline
    db.session.flush()
    _audit(
        "projects:prequal:update",
        actor,
        pq,
        {
            "docs_available_from": docs_available_from.isoformat() if docs_available_from else None,
            "docs_available_until": docs_available_until.isoformat() if docs_available_until else None,
            "application_deadline": application_deadline.isoformat() if application_deadline else None,
        },
    )
    return pq


def upload_document(pq: Prequalification, *, actor: User, filename: str, stream: IO[bytes] | None) -> None:
    """The prequalification documents (资格预审文件): one file, replaced freely while the round is a draft."""
    _ensure_manager(pq, actor)
    if pq.status != P.DRAFT:
        raise Conflict(_("A published prequalification does not change."))
    if stream is None:
        raise DomainError(_("Choose the file."), errors={"prequal_document": [_("Required.")]})
    try:
        blob = storage.write_stream(stream, folder=f"prequal/{pq.id}", max_size=MAX_DOCUMENT_BYTES)
    except storage.BlobTooLarge:
        raise DomainError(_("The file is too large.")) from None
    if blob.size == 0:
        raise DomainError(_("The file is empty."), errors={"prequal_document": [_("Required.")]})
    pq.document_filename = document_filename(filename)
    pq.document_blob_path, pq.document_sha256, pq.document_size = blob.path, blob.sha256, blob.size
    db.session.flush()
    _audit("projects:prequal:document", actor, pq, {"sha256": blob.sha256, "size": blob.size})


def publish_round(pq: Prequalification, *, actor: User) -> Prequalification:
    """Publish the notice and the documents; refused, naming every failed rule, when something is missing or
    a period is shorter than the law allows."""
    _ensure_manager(pq, actor)
    if pq.status != P.DRAFT:
        raise Conflict(_("This prequalification is already published."))
    at = now()
    errors: dict[str, list[str]] = {}
    if not pq.notice_text:
        errors["notice_text"] = [_("Write the prequalification notice.")]
    if pq.document_blob_path is None:
        errors["prequal_document"] = [_("Upload the prequalification documents.")]
    if pq.docs_available_from is None or pq.docs_available_until is None or pq.application_deadline is None:
        errors["prequal_sale_period"] = [_("Set the sale period and the application deadline.")]
    else:
        if pq.docs_available_until <= at:
            errors["docs_available_until"] = [_("The sale period must not have ended.")]
        for check in period_checks(pq, at=at):
            if not check.ok:
                errors[check.code] = [check.message]
    if errors:
        first = next(iter(errors.values()))[0]
        raise DomainError(first, errors=errors)
    pq.docs_available_from = sale_start(pq, at)  # the sale starts at the publication at the earliest
    transition(pq, P.PUBLISHED, actor=actor, payload={"round": pq.round})
    return pq


# -- bidders: apply --------------------------------------------------------------------------------------


def apply(
    pq: Prequalification, *, actor: User, filename: str, stream: IO[bytes] | None
) -> PrequalApplication:
    """A bidder organization submits (or, before the deadline, replaces) its application file."""
    if actor.role != Role.BIDDER or actor.org_id is None:
        raise Forbidden(_("Only a bidder organization applies for prequalification."))
    if pq.status != P.PUBLISHED:
        raise Conflict(_("This prequalification is not taking applications."))
    _ensure_not_suspended(pq)
    assert pq.application_deadline is not None and pq.docs_available_from is not None
    at = now()
    if at < pq.docs_available_from:
        raise Conflict(
            _(
                "Applications open with the sale of the documents on %(at)s.",
                at=fmt_dt(pq.docs_available_from),
            )
        )
    if applications_closed(pq, at):
        raise ApplicationsClosed(
            _(
                "Applications closed at %(deadline)s (Beijing time); yours arrived at %(at)s and was not "
                "accepted.",
                deadline=fmt_dt(pq.application_deadline, "%Y-%m-%d %H:%M:%S"),
                at=fmt_dt(at, "%Y-%m-%d %H:%M:%S"),
            )
        )
    if stream is None:
        raise DomainError(_("Choose the file."), errors={"application_file": [_("Required.")]})
    try:
        blob = storage.write_stream(
            stream, folder=f"prequal/{pq.id}/applications", max_size=MAX_DOCUMENT_BYTES
        )
    except storage.BlobTooLarge:
        raise DomainError(_("The file is too large.")) from None
    if blob.size == 0:
        raise DomainError(_("The file is empty."), errors={"application_file": [_("Required.")]})
    row = own_application(pq, actor.org_id)
    if row is None:
        row = PrequalApplication(
            prequalification_id=pq.id,
            applicant_org_id=actor.org_id,
            result=PrequalResult.PENDING.value,
            reason="",
        )
        pq.applications.append(row)
    row.applicant_user_id = actor.id
    row.filename = document_filename(filename)
    row.blob_path, row.sha256, row.size = blob.path, blob.sha256, blob.size
    row.submitted_at = at
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError:  # the same organization's two uploads at once
        raise Conflict(
            _("Another upload of your organization arrived at the same moment; send again.")
        ) from None
    # who applied stays out of the payload; the leaf's actor is sealed on the audit pages
    # (application_leaf_sealed)
    _audit(APPLY_ACTION, actor, row, {"sha256": blob.sha256, "size": blob.size})
    return row


def application_leaf_sealed(leaf: object) -> bool:
    """Audit sealer: the audit pages, exports and live stream never show who applied."""
    return bool(getattr(leaf, "action", None) == APPLY_ACTION)


# -- review and results ----------------------------------------------------------------------------------


def review(app: PrequalApplication, *, actor: User, qualified: bool, reason: str) -> PrequalApplication:
    """Record one applicant's result after the deadline (again, until the results are notified)."""
    pq = app.prequalification
    _ensure_manager(pq, actor)
    if pq.status != P.PUBLISHED:
        raise Conflict(_("The results of this prequalification are already notified."))
    _ensure_not_suspended(pq)
    if not applications_closed(pq):
        raise Conflict(
            _(
                "Applications are reviewed after the deadline (%(deadline)s, Beijing time).",
                deadline=fmt_dt(pq.application_deadline),
            ),
            code="before_deadline",
        )
    text = (reason or "").strip()
    if not qualified and not text:
        raise DomainError(
            _("Say why the applicant is not qualified (the notice tells it)."),
            errors={"reason": [_("Required.")]},
        )
    if len(text) > MAX_REASON:
        raise DomainError(_("At most %(n)d characters.", n=MAX_REASON), errors={"reason": [_("Too long.")]})
    app.result = (PrequalResult.QUALIFIED if qualified else PrequalResult.NOT_QUALIFIED).value
    app.reason = text
    app.reviewed_at = now()
    app.reviewed_by = actor.id
    db.session.flush()
    _audit("projects:prequal:review", actor, app, {"result": app.result, "round": pq.round})
    return app


def _applicant_users(org_id: int) -> list[User]:
    return list(
        db.session.scalars(
            select(User).where(
                User.org_id == org_id, User.role == Role.BIDDER.value, User.is_active.is_(True)
            )
        )
    )


def notify_results(pq: Prequalification, *, actor: User) -> Prequalification:
    """Send every applicant its 资格预审结果通知书 and close the round: passed with at least 3 qualified,
    failed (to be redone before any tender, 条例 Art. 19) with fewer."""
    _ensure_manager(pq, actor)
    if pq.status != P.PUBLISHED:
        raise Conflict(_("The results of this prequalification are already notified."))
    _ensure_not_suspended(pq)
    if not applications_closed(pq):
        raise Conflict(
            _(
                "Applications are reviewed after the deadline (%(deadline)s, Beijing time).",
                deadline=fmt_dt(pq.application_deadline),
            ),
            code="before_deadline",
        )
    pending = [a for a in pq.applications if a.result == PrequalResult.PENDING]
    if pending:
        raise Conflict(
            _("Review every application first: %(n)d not reviewed.", n=len(pending)), code="not_reviewed"
        )
    section = pq.section
    qualified = [a for a in pq.applications if a.result == PrequalResult.QUALIFIED]
    for a in pq.applications:
        if a.result == PrequalResult.QUALIFIED:
            body = _(
                "Your organization passed the prequalification of %(code)s %(name)s (round %(round)d). "
                "The tender documents will be available to the qualified applicants when the tender is "
                "published.",
                code=section.code,
                name=section.name,
                round=pq.round,
            )
        else:
            body = _(
                "Your organization did not pass the prequalification of %(code)s %(name)s (round %(round)d). "
                "Reason: %(reason)s",
                code=section.code,
                name=section.name,
                round=pq.round,
                reason=a.reason,
            )
        for user in _applicant_users(a.applicant_org_id):
            outbox.enqueue(
                channel="inbox",
                recipient=user.email or user.username,
                subject=_("Prequalification result notice: %(code)s", code=section.code),
                body=body,
                user_id=user.id,
            )
    pq.qualified_count = len(qualified)
    basis = rules.PREQUALIFICATION.qualified_basis
    passed = len(qualified) >= rules.PREQUALIFICATION.min_qualified
    transition(
        pq,
        P.PASSED if passed else P.FAILED,
        actor=actor,
        payload={
            "round": pq.round,
            "qualified": len(qualified),
            "applicants": len(pq.applications),
            "basis": basis,
        },
    )
    return pq


def organization_name(org_id: int) -> str:
    org = db.session.get(Organization, org_id)
    return org.name if org is not None else "—"


# -- the tender ------------------------------------------------------------------------------------------


def tender_check(section: Section) -> rules.RuleCheck:
    """Publication check of a section with prequalification: a round passed (at least 3 qualified) and the
    procedure is open tendering."""
    basis = rules.PREQUALIFICATION.qualified_basis
    if section.procedure != Procedure.OPEN.value:
        return rules.RuleCheck(
            "prequalification",
            False,
            _(
                "Prequalification is run here for open tendering; choose open tendering (%(basis)s).",
                basis="招标投标法实施条例第15条",
            ),
        )
    passed = passed_round(section)
    if passed is None:
        latest = current_round(section)
        if latest is not None and latest.status == P.FAILED:
            msg = _(
                "Only %(n)d applicants qualified in round %(round)d, fewer than %(min)d: the "
                "prequalification must be redone before the tender (%(basis)s).",
                n=latest.qualified_count or 0,
                round=latest.round,
                min=rules.PREQUALIFICATION.min_qualified,
                basis=basis,
            )
        else:
            msg = _(
                "The prequalification has not ended with at least %(min)d qualified applicants (%(basis)s).",
                min=rules.PREQUALIFICATION.min_qualified,
                basis=basis,
            )
        return rules.RuleCheck("prequalification", False, msg)
    return rules.RuleCheck(
        "prequalification",
        True,
        _(
            "Prequalification passed: %(n)d applicants qualified; only they obtain the documents and bid "
            "(%(basis)s).",
            n=passed.qualified_count or 0,
            basis=basis,
        ),
    )
