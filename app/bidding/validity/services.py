"""Bid validity (投标有效期) and its extensions — 招标投标法实施条例 Arts. 25, 26.

* The section states its bid validity in days, counted from the bid deadline: :func:`original_end`. The bid
  security is valid as long (Art. 26).
* Before the validity in force lapses, the tenderer (or its agency) may ask every bidder to extend it to a
  later end (:func:`request_extension`). Each bidder with a receipted envelope answers once
  (:func:`answer`): accepting keeps its bid — unchanged, the bids are sealed since the deadline — valid
  until the new end; refusing withdraws the bid from the evaluation and its security is refunded at once,
  with interest (Art. 25: 拒绝延长的，其投标失效，但有权收回投标保证金). A bidder that has not accepted an
  extension by the time the previous end passes is out as well.
* Evaluation and award do not proceed while the validity in force has lapsed without an extension
  (:func:`lapse_refusal`, checked by app/evaluation/services.py); the ``bid_validity_lapsing`` alert warns the
  tenderer before it lapses (app/supervision/alerts.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import Organization, User
from app.core import audit, outbox
from app.core.clock import CST, now
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.core.permissions import Role
from app.projects.enums import SectionStatus
from app.projects.models import Section
from app.projects.permissions import acts_for

from .models import ValidityAnswer, ValidityExtension

#: While a section's bids are held (after the deadline, before the contract ends the tender).
HELD_STATES = frozenset(
    {
        SectionStatus.BIDDING_CLOSED,
        SectionStatus.OPENING,
        SectionStatus.OPENED,
        SectionStatus.EVALUATING,
        SectionStatus.PUBLICITY,
        SectionStatus.AWARDED,
    }
)
MAX_REASON = 2000


def _fmt(at: dt.datetime) -> str:
    return at.astimezone(CST).strftime("%Y-%m-%d %H:%M")


def original_end(section: Section) -> dt.datetime | None:
    """The end of the bid validity stated in the tender documents: the deadline + the days (Art. 25)."""
    if section.bid_deadline is None:
        return None
    return section.bid_deadline + dt.timedelta(days=section.bid_validity_days)


def extensions_of(section: Section) -> list[ValidityExtension]:
    return list(
        db.session.scalars(
            select(ValidityExtension)
            .where(ValidityExtension.section_id == section.id)
            .order_by(ValidityExtension.id)
        )
    )


def current_end(section: Section) -> dt.datetime | None:
    """The validity end in force: the latest extension's, else the original."""
    exts = extensions_of(section)
    return exts[-1].new_end_at if exts else original_end(section)


def bidders(section: Section) -> dict[int, str]:
    """Organizations with a receipted (active) envelope in this section: id → name."""
    from ..enums import EnvelopeStatus
    from ..models import SealedEnvelope

    rows = db.session.execute(
        select(Organization.id, Organization.name)
        .join(SealedEnvelope, SealedEnvelope.org_id == Organization.id)
        .where(
            SealedEnvelope.section_id == section.id,
            SealedEnvelope.status == EnvelopeStatus.ACTIVE.value,
        )
        .distinct()
        .order_by(Organization.id)
    )
    return {org_id: name for org_id, name in rows}


def _answer_of(ext: ValidityExtension, org_id: int) -> ValidityAnswer | None:
    return next((a for a in ext.answers if a.org_id == org_id), None)


def valid_until(section: Section, org_id: int, at: dt.datetime | None = None) -> dt.datetime | None:
    """Until when the bid of ``org_id`` is valid; None once it is out (refused, or did not accept an
    extension before the previous end passed)."""
    at = at or now()
    end = original_end(section)
    for ext in extensions_of(section):
        ans = _answer_of(ext, org_id)
        if ans is not None and ans.accepted:
            end = ext.new_end_at
        elif ans is not None or at > ext.previous_end_at:
            return None
    return end


def dropped_orgs(section: Section, at: dt.datetime | None = None) -> set[int]:
    """Bidders whose bid is out of the evaluation because of the validity (refused or not accepted)."""
    exts = extensions_of(section)
    if not exts:
        return set()
    return {org_id for org_id in bidders(section) if valid_until(section, org_id, at) is None}


def lapse_refusal(section: Section, at: dt.datetime | None = None) -> str | None:
    """Why evaluation or award may not proceed: the bid validity in force has lapsed without extension."""
    end = current_end(section)
    at = at or now()
    if end is None or at <= end:
        return None
    return _(
        "The bid validity lapsed on %(end)s without an extension: no evaluation or award proceeds on a "
        "lapsed bid. Extend the validity before it lapses (招标投标法实施条例第25条).",
        end=_fmt(end),
    )


def bid_refusal(section: Section, org_id: int, at: dt.datetime | None = None) -> str | None:
    """Why this bidder's bid may not be awarded because of its validity."""
    general = lapse_refusal(section, at)
    if general:
        return general
    if valid_until(section, org_id, at) is None:
        return _(
            "This bid is no longer valid: its bidder did not extend the bid validity "
            "(招标投标法实施条例第25条)."
        )
    return None


@dataclass(frozen=True)
class ExtensionInput:
    new_end_at: dt.datetime | None
    reason: str


def request_extension(section: Section, data: ExtensionInput, *, actor: User) -> ValidityExtension:
    """The tenderer asks every bidder to extend the bid validity, before it lapses."""
    if not acts_for(actor, section.project):
        raise NotFound(_("Not found."))
    if SectionStatus(section.status) not in HELD_STATES:
        raise Conflict(
            _(
                "The bid validity is extended while the bids are held: after the deadline, before the "
                "contract."
            ),
            code="not_held",
        )
    end = current_end(section)
    at = now()
    assert end is not None  # a held section has a deadline
    if at > end:
        raise Conflict(
            _(
                "The bid validity lapsed on %(end)s: an extension must be requested before it lapses "
                "(招标投标法实施条例第25条).",
                end=_fmt(end),
            ),
            code="validity_lapsed",
        )
    errors: dict[str, list[str]] = {}
    if data.new_end_at is None:
        errors["new_end_at"] = [_("Required.")]
    elif data.new_end_at <= end:
        errors["new_end_at"] = [
            _("Must be after the current end of the bid validity (%(end)s).", end=_fmt(end))
        ]
    reason = (data.reason or "").strip()
    if not reason:
        errors["reason"] = [_("Required.")]
    elif len(reason) > MAX_REASON:
        errors["reason"] = [_("At most %(n)d characters.", n=MAX_REASON)]
    if errors:
        raise DomainError(_("The extension request is incomplete."), errors=errors)
    assert data.new_end_at is not None
    ext = ValidityExtension(
        section_id=section.id,
        previous_end_at=end,
        new_end_at=data.new_end_at,
        reason=reason,
        requested_at=at,
        requested_by=actor.id,
    )
    db.session.add(ext)
    db.session.flush()  # the extension id goes into its audit leaf
    audit.record(
        "bidding:validity:extension_request",
        actor=actor,
        object_type="bid_validity_extension",
        object_id=ext.id,
        payload={
            "section_id": section.id,
            "previous_end_at": end,
            "new_end_at": data.new_end_at,
            "reason": reason,
        },
    )
    out = dropped_orgs(section, at)
    subject = _("%(code)s: extend the bid validity?", code=section.code)
    body = _(
        "The tenderer asks you to keep your bid valid until %(end)s (%(reason)s). Accept or refuse before "
        "%(previous)s; refusing withdraws your bid and your bid security is refunded "
        "(招标投标法实施条例第25条).",
        end=_fmt(data.new_end_at),
        reason=reason,
        previous=_fmt(end),
    )
    for org_id in set(bidders(section)) - out:
        users = db.session.scalars(
            select(User).where(
                User.org_id == org_id, User.role == Role.BIDDER.value, User.is_active.is_(True)
            )
        )
        for user in users:
            outbox.enqueue(
                channel="inbox", recipient=str(user.id), subject=subject, body=body, user_id=user.id
            )
    return ext


def answer(ext: ValidityExtension, *, actor: User, accept: bool) -> ValidityAnswer:
    """A bidder accepts (its bid stays, unchanged, until the new end) or refuses (its bid is withdrawn from
    the evaluation and its bid security refunded)."""
    section = db.session.get(Section, ext.section_id)
    assert section is not None
    if actor.role != Role.BIDDER or actor.org_id not in bidders(section):
        raise NotFound(_("Not found."))
    latest = extensions_of(section)[-1]
    if latest.id != ext.id:
        raise Conflict(_("A later extension replaces this one: answer that."), code="superseded")
    if _answer_of(ext, actor.org_id) is not None:
        raise Conflict(_("Your organization has already answered this request."), code="answered")
    at = now()
    if valid_until(section, actor.org_id, at) is None or at > ext.previous_end_at:
        raise Conflict(
            _(
                "Your bid is no longer valid: the answer had to arrive before %(end)s "
                "(招标投标法实施条例第25条).",
                end=_fmt(ext.previous_end_at),
            ),
            code="validity_lapsed",
        )
    if accept:
        from ..security import services as security

        ends = security.guarantee_covers(section, actor.org_id, ext.new_end_at)
        if ends is not None:
            raise Conflict(
                _(
                    "Your electronic guarantee ends on %(ends)s: the bid security must last as long as the "
                    "bid (招标投标法实施条例第26条). Lodge the issuer's extension of the guarantee to "
                    "%(until)s or later on the bid security page, then accept.",
                    ends=ends.isoformat(),
                    until=_fmt(ext.new_end_at)[:10],
                ),
                code="guarantee_too_short",
            )
    ans = ValidityAnswer(
        extension=ext, org_id=actor.org_id, accepted=accept, answered_at=at, answered_by=actor.id
    )
    db.session.add(ans)
    db.session.flush()  # the answer id goes into its audit leaf
    audit.record(
        "bidding:validity:accept" if accept else "bidding:validity:refuse",
        actor=actor,
        object_type="bid_validity_extension",
        object_id=ext.id,
        payload={"section_id": section.id, "org_id": actor.org_id, "new_end_at": ext.new_end_at},
    )
    if not accept:
        from ..security import services as security

        security.refund_withdrawn_bid(
            section,
            actor.org_id,
            actor=actor,
            reason=_("The bidder refused to extend the bid validity (招标投标法实施条例第25条)."),
        )
    return ans


@dataclass(frozen=True)
class BidderStanding:
    org_id: int
    name: str
    answer: ValidityAnswer | None  # to the latest extension
    valid_until: dt.datetime | None


def standings(section: Section, at: dt.datetime | None = None) -> list[BidderStanding]:
    """Every bidder's answer to the latest extension and how long its bid is valid (tenderer's view)."""
    exts = extensions_of(section)
    latest = exts[-1] if exts else None
    return [
        BidderStanding(
            org_id,
            name,
            _answer_of(latest, org_id) if latest is not None else None,
            valid_until(section, org_id, at),
        )
        for org_id, name in bidders(section).items()
    ]


def lapsing_sections(
    within: dt.timedelta, at: dt.datetime | None = None, *, org_id: int | None = None
) -> list[Section]:
    """Held sections (of the tenderer or agency ``org_id``) whose validity in force ends within ``within``
    (or has ended): for the workbench."""
    from app.projects.models import Project

    at = at or now()
    stmt = select(Section).where(Section.status.in_([s.value for s in HELD_STATES]))
    if org_id is not None:
        stmt = stmt.join(Project).where((Project.owner_org_id == org_id) | (Project.agency_org_id == org_id))
    held = db.session.scalars(stmt.order_by(Section.id))
    out = []
    for section in held:
        end = current_end(section)
        if end is not None and end - within <= at:
            out.append(section)
    return out
