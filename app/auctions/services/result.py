"""The end of a listing: the periods the server clock has passed are settled in order, the reserve is opened
and the result decided (国土资源部令第39号 Art. 19; docs/rules.md, "Auctions").

Settlement is lazy and exact: whoever touches a listing (a bid, a bidder's page, staff, ``flask auctions
settle``) first settles what the clock has passed, with the instants the rules fix (the listing end, the end
of the countdown), never the instant it happened to run."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import distinct, func, select

from app.accounts.models import Organization, User
from app.core import audit, outbox
from app.core.calendar import load_calendar, period_end
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.core.permissions import Role

from ..enums import TERMINABLE, ListingStatus, UnsoldReason
from ..models import AuctionBid, AuctionListing, AuctionRegistration
from .listing import open_reserve, transition
from .live import next_minimum as next_minimum  # the bids and the schemas read them here
from .live import server_time as server_time


def lock_listing(listing_id: int) -> AuctionListing:
    """The listing row, locked until the transaction ends (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite
    transactions start with ``BEGIN IMMEDIATE``, the database write lock). Every bid and settlement of a
    listing runs behind this lock, so their order is the commit order and the clock read after it is the
    order's clock."""
    listing = db.session.scalars(
        select(AuctionListing)
        .where(AuctionListing.id == listing_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if listing is None:
        raise NotFound(_("No such listing."))
    db.session.expire(listing, ["bids", "registrations"])  # collections read before the lock may be stale
    return listing


def top_bid(listing: AuctionListing) -> AuctionBid | None:
    """The current highest bid: the one with the listing's last sequence number (one indexed row, whatever
    the length of the history — a bid's transaction never loads the whole history behind the lock)."""
    if not listing.last_seq:
        return None
    return db.session.scalars(
        select(AuctionBid).where(AuctionBid.listing_id == listing.id, AuctionBid.seq == listing.last_seq)
    ).one()


def _competitors(listing: AuctionListing) -> int:
    return (
        db.session.scalar(
            select(func.count(distinct(AuctionBid.registration_id))).where(
                AuctionBid.listing_id == listing.id
            )
        )
        or 0
    )


def settle_due(listing: AuctionListing, *, at: dt.datetime, actor: User | None = None) -> bool:
    """Apply every state change the clock has reached by ``at`` (the listing locked by the caller).
    Returns whether anything changed."""
    changed = False
    if listing.status_enum is ListingStatus.ANNOUNCED and at >= listing.listing_starts_at:
        transition(listing, ListingStatus.LISTING, actor=actor, payload={"at": listing.listing_starts_at})
        changed = True
    if listing.status_enum is ListingStatus.LISTING and at >= listing.listing_ends_at:
        competitors = _competitors(listing)
        if competitors >= 2:
            # Art. 19: bidders still competing at the end of the listing → 现场竞价, here online and timed.
            listing.countdown_ends_at = listing.listing_ends_at + dt.timedelta(
                seconds=listing.countdown_seconds
            )
            transition(
                listing,
                ListingStatus.TIMED_BIDDING,
                actor=actor,
                payload={
                    "at": listing.listing_ends_at,
                    "competitors": competitors,
                    "price": listing.current_price,
                    "countdown_ends_at": listing.countdown_ends_at,
                },
            )
        else:
            _finish(listing, ended_at=listing.listing_ends_at, actor=actor)
        changed = True
    if (
        listing.status_enum is ListingStatus.TIMED_BIDDING
        and listing.countdown_ends_at is not None
        and at >= listing.countdown_ends_at
    ):
        _finish(listing, ended_at=listing.countdown_ends_at, actor=actor)
        changed = True
    return changed


#: 令第39号 Art. 21: the other bidders' deposits are returned within 5 working days of the end, without
#: interest; the winner's counts toward the price (抵作土地出让价款). Applied to every kind of listing.
DEPOSIT_REFUND_WORKING_DAYS = 5


def _deposits_settle(listing: AuctionListing, *, ended_at: dt.datetime, winner_id: int | None) -> None:
    """At the end: the winner's deposit is applied to the price, every other deposit received falls due for
    refund 5 working days after the end instant."""
    due = period_end(ended_at, DEPOSIT_REFUND_WORKING_DAYS, unit="working", calendar=load_calendar())
    for reg in listing.registrations:
        if reg.deposit_confirmed_at is None:
            continue
        if reg.id == winner_id:
            reg.deposit_applied = True
        else:
            reg.deposit_refund_due_at = due


def record_refund(reg: AuctionRegistration, *, reference: str, actor: User) -> AuctionRegistration:
    """Center staff record the refund transfer of a deposit that fell due (with the bank reference); late
    refunds are recorded too, and say they were late."""
    if actor.role != Role.CENTER_STAFF:
        raise NotFound(_("No such listing."))
    if reg.deposit_refund_due_at is None:
        raise Conflict(_("No refund of this deposit is due."), code="refund_not_due")
    if reg.deposit_refunded_at is not None:
        raise Conflict(_("This deposit is already refunded."), code="refunded")
    if not reference.strip():
        raise DomainError(
            _("The bank reference is required."),
            errors={"deposit_refund_reference": [_("Required.")]},
            code="deposit_reference_required",
        )
    at = now()
    reg.deposit_refunded_at = at
    reg.deposit_refunded_by = actor.id
    reg.deposit_refund_reference = reference.strip()[:64]
    audit.record(
        "auctions:deposit:refund",
        actor=actor,
        object_type="auction_registration",
        object_id=reg.id,
        payload={
            "listing_id": reg.listing_id,
            "amount": reg.deposit_amount,
            "reference": reg.deposit_refund_reference,
            "due": reg.deposit_refund_due_at,
            "late": at > reg.deposit_refund_due_at,
        },
    )
    return reg


def _finish(listing: AuctionListing, *, ended_at: dt.datetime, actor: User | None) -> None:
    """Open the reserve and decide: no bid → 流拍; the highest bid below the reserve → 流拍 with that reason;
    otherwise the highest bidder wins (one bidder meeting the reserve included, Art. 19 (一))."""
    reserve: Decimal | None = None
    if listing.reserve_enc is not None:
        reserve = open_reserve(listing.reserve_enc, listing.ref)
        listing.reserve_price = reserve
    audit.record(
        "auctions:reserve:open",
        actor=actor,
        object_type="auction_listing",
        object_id=listing.id,
        payload={"reserve_price": reserve, "at": ended_at},
    )
    top = top_bid(listing)
    reason: UnsoldReason | None = None
    if top is None:
        reason = UnsoldReason.NO_BIDS
    elif reserve is not None and top.amount < reserve:
        reason = UnsoldReason.RESERVE_NOT_MET
    _deposits_settle(
        listing,
        ended_at=ended_at,
        winner_id=None if reason is not None or top is None else top.registration_id,
    )
    if reason is not None or top is None:
        with db.session.no_autoflush:  # the CHECKs tie the state to these columns: set together, then flush
            listing.ended_at = ended_at
            listing.unsold_reason = reason and reason.value
            transition(
                listing,
                ListingStatus.UNSOLD,
                actor=actor,
                payload={"at": ended_at, "reason": listing.unsold_reason, "highest": top and top.amount},
            )
        return
    winner = top.registration
    org = db.session.get(Organization, winner.org_id)
    with db.session.no_autoflush:
        listing.ended_at = ended_at
        listing.winner_id = winner.id
        transition(
            listing,
            ListingStatus.SOLD,
            actor=actor,
            payload={
                "at": ended_at,
                "price": top.amount,
                "bid_seq": top.seq,
                "bidder_number": winner.bidder_number,
                "winner_org_id": winner.org_id,
                "winner_name": org.name if org else None,
            },
        )


def terminate(listing_id: int, *, reason: str, actor: User) -> AuctionListing:
    """The center stops a published listing before its end (终止: on the transferor's written request, a
    regulator's decision or a court order), with the reason. Behind the listing lock, after settling what
    the clock has passed: a listing that has already ended cannot be terminated. The reserve stays sealed;
    every registered bidder and the transferor are told (their deposits are returned as after any
    listing that did not sell). Commits."""
    if actor.role != Role.CENTER_STAFF:
        raise NotFound(_("No such listing."))
    text = reason.strip()
    if not text:
        raise DomainError(
            _("Give the reason for the termination."),
            errors={"termination_reason": [_("Required.")]},
            code="reason_required",
        )
    listing = lock_listing(listing_id)
    at = now()
    settle_due(listing, at=at, actor=None)
    if listing.status_enum not in TERMINABLE:
        db.session.commit()  # keep what the clock settled
        raise Conflict(
            _("Only a published listing that has not ended can be terminated."), code="not_terminable"
        )
    with db.session.no_autoflush:  # the CHECKs tie the state to these columns: set together, then flush
        listing.ended_at = at
        listing.termination_reason = text[:500]
        listing.terminated_by = actor.id
        _deposits_settle(listing, ended_at=at, winner_id=None)
        transition(listing, ListingStatus.TERMINATED, actor=actor, payload={"at": at, "reason": text[:500]})
    subject = _("Listing terminated: %(title)s", title=listing.title)
    body = _(
        "The trading center terminated the listing “%(title)s” at %(time)s (Beijing time). Reason: "
        "%(reason)s. No bid made in it stands; deposits received are returned within 5 working days.",
        title=listing.title,
        time=server_time(at),
        reason=text[:500],
    )
    org_ids = {r.org_id for r in listing.registrations} | {listing.owner_org_id}
    users = db.session.scalars(select(User).where(User.org_id.in_(org_ids), User.is_active.is_(True)))
    for user in users:
        if user.role in {Role.BIDDER, Role.TENDERER}:
            outbox.enqueue(
                channel="inbox", recipient=str(user.id), subject=subject, body=body, user_id=user.id
            )
    db.session.commit()  # the transition told the live pages
    return listing


def is_due(listing: AuctionListing, at: dt.datetime) -> bool:
    """Whether the clock has passed an instant that changes the listing's state."""
    status = listing.status_enum
    if status is ListingStatus.ANNOUNCED:
        return at >= listing.listing_starts_at
    if status is ListingStatus.LISTING:
        return at >= listing.listing_ends_at
    if status is ListingStatus.TIMED_BIDDING:
        return listing.countdown_ends_at is not None and at >= listing.countdown_ends_at
    return False


def settle(listing_id: int, *, actor: User | None = None) -> AuctionListing:
    """Settle what is due and commit (a unit of work: pages, the API and the CLI call it before showing a
    listing). Watchers poll: the row lock is taken only when something is due, never on a plain read."""
    listing = db.session.get(AuctionListing, listing_id)
    if listing is None:
        raise NotFound(_("No such listing."))
    if not is_due(listing, now()):
        return listing
    listing = lock_listing(listing_id)
    settle_due(listing, at=now(), actor=actor)
    db.session.commit()
    return listing


def settle_all(*, actor: User | None = None) -> int:
    """Settle every listing that is not over (the CLI sweep). Returns how many changed."""
    ids = db.session.scalars(
        select(AuctionListing.id).where(
            AuctionListing.status.in_(
                [
                    ListingStatus.ANNOUNCED.value,
                    ListingStatus.LISTING.value,
                    ListingStatus.TIMED_BIDDING.value,
                ]
            )
        )
    ).all()
    db.session.rollback()  # release the read before taking each listing's lock in its own transaction
    changed = 0
    for listing_id in ids:
        listing = lock_listing(listing_id)
        if settle_due(listing, at=now(), actor=actor):
            changed += 1
        db.session.commit()
    return changed


# -- what people see ----------------------------------------------------------------------------------------


def ranks(listing: AuctionListing) -> dict[int, int]:
    """registration id → rank of its best bid (1 = the current price)."""
    best: dict[int, Decimal] = {}
    for bid in listing.bids:
        best[bid.registration_id] = max(bid.amount, best.get(bid.registration_id, bid.amount))
    ordered = sorted(best.items(), key=lambda kv: kv[1], reverse=True)
    return {reg_id: i + 1 for i, (reg_id, _amount) in enumerate(ordered)}


def history(listing: AuctionListing) -> list[dict[str, Any]]:
    """Every accepted bid in commit order, under the bidders' numbers (never their names)."""
    return [
        {
            "seq": b.seq,
            "bidder_number": b.registration.bidder_number,
            "amount": b.amount,
            "phase": b.phase,
            "placed_at": b.placed_at,
            "countdown_ends_at": b.countdown_ends_at,
            "leaf_idx": b.leaf_idx,
        }
        for b in listing.bids
    ]


def winner_identity(listing: AuctionListing) -> dict[str, Any] | None:
    """The winner's number and name: only once the listing is sold (identities stay hidden until the end)."""
    if listing.status_enum is not ListingStatus.SOLD or listing.winner is None:
        return None
    org = db.session.get(Organization, listing.winner.org_id)
    return {"bidder_number": listing.winner.bidder_number, "name": org.name if org else ""}


def own_registration(listing: AuctionListing, user: User) -> AuctionRegistration | None:
    return db.session.scalars(
        select(AuctionRegistration).where(
            AuctionRegistration.listing_id == listing.id, AuctionRegistration.org_id == user.org_id
        )
    ).one_or_none()


def own_bids(listing: AuctionListing, registration: AuctionRegistration | None) -> list[AuctionBid]:
    if registration is None:
        return []
    return [b for b in listing.bids if b.registration_id == registration.id]
