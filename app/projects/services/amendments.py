"""Clarifications and amendments (澄清/修改) and the deadline extension they may force."""

from __future__ import annotations

import difflib

from flask_babel import gettext as _
from sqlalchemy import func, select

from app.accounts.models import User
from app.core import events
from app.core.calendar import load_calendar
from app.core.clock import CST, now
from app.core.db import db
from app.core.errors import Conflict, DomainError

from .. import rules
from ..models import (
    Amendment,
    Section,
)
from ._common import S, _audit, _ensure_not_suspended
from .documents import notify_obtainers, pending_documents
from .rooms import _rebook
from .sections import rule_set

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
    assert section.bid_deadline is not None
    deadline = section.bid_deadline.astimezone(CST).strftime("%Y-%m-%d %H:%M")
    notify_obtainers(
        section,
        _("Amendment %(n)d to %(code)s", n=amendment.number, code=section.code),
        _(
            "%(title)s\n\n%(body)s\n\nBid deadline and opening: %(deadline)s (China Standard Time).",
            title=amendment.title,
            body=amendment.body,
            deadline=deadline,
        ),
    )
