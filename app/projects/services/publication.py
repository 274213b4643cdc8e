"""Publication of a tender announcement: the rule checks and the one idempotent publish."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select, update

from app.accounts.models import User
from app.core import events
from app.core.calendar import WorkCalendar, load_calendar
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound

from .. import rules
from ..enums import (
    ProjectStatus,
)
from ..models import (
    Section,
)
from ._common import S, _audit, _ensure_not_suspended, _timeline
from .documents import pending_documents
from .sections import check_custodians, rule_set

#: Run by :func:`publish_section` in the publishing transaction, once, by the request that publishes.
#: A hook raising aborts the publication (the whole transaction rolls back).
#: Signature: ``hook(section, actor)``. Read through the package (``services.PUBLISH_HOOKS``), which tests
#: may replace.
PUBLISH_HOOKS: list[Callable[[Section, User], None]] = []


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
    checks.append(
        rules.check_procedure(
            section.procedure,
            section.project.catalogue_item.category,
            approval_ref=section.procedure_approval_ref,
            invited=len(section.invited_org_ids or []),
        )
    )
    if section.prequalification:
        from ..prequal.services import tender_check

        checks.append(tender_check(section))
    checks.append(
        rules.check_bid_security(
            section.estimated_value, section.bid_security, section.project.catalogue_item.category
        )
    )
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
    from app.contracts.intentions import intention_check  # government procurement: 财库〔2020〕10号

    intention = intention_check(section, at, calendar)
    if intention is not None:
        checks.append(intention)
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
    from app.projects import services as package  # tests may replace the package's hook list

    for hook in package.PUBLISH_HOOKS:
        hook(section, actor)
    events.publish(db.session(), "sections", {"published": section.id})
    events.publish(db.session(), f"section:{section.id}", {"status": S.PUBLISHED.value})
    return PublishResult(section, created=True)
