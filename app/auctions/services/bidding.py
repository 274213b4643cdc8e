"""Registration of bidders (竞买报名), the recorded deposit, the qualification review, and bids.

A bid is its own unit of work: lock the listing row, read the server clock, settle what the clock has
passed, check, write the bid and its audit leaf, commit. The lock orders bids, so ``seq`` is the commit
order and every countdown restarts from the instant its bid was decided inside the transaction."""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import User
from app.core import audit
from app.core.clock import now
from app.core.db import db
from app.core.errors import Conflict, DomainError, Forbidden

from ..enums import ENDED, REGISTRATION_TRANSITIONS, BidPhase, ListingStatus, RegistrationStatus
from ..models import AuctionBid, AuctionListing, AuctionRegistration
from . import live
from .result import lock_listing, next_minimum, server_time, settle_due, top_bid

OPEN_FOR_REGISTRATION = frozenset({ListingStatus.ANNOUNCED, ListingStatus.LISTING})


# -- registration and review -------------------------------------------------------------------------------


def _new_number(listing: AuctionListing) -> int:
    """A random four-digit bidder number not yet used on this listing: it says nothing of the order of
    registration."""
    taken = set(
        db.session.scalars(
            select(AuctionRegistration.bidder_number).where(AuctionRegistration.listing_id == listing.id)
        )
    )
    while True:
        number = 1000 + secrets.randbelow(9000)
        if number not in taken:
            return number


def register(listing: AuctionListing, *, actor: User) -> AuctionRegistration:
    """A bidder organization registers (once) while the listing is announced or open, before it ends."""
    if listing.status_enum not in OPEN_FOR_REGISTRATION or now() >= listing.listing_ends_at:
        raise Conflict(_("Registration for this listing is closed."), code="registration_closed")
    existing = db.session.scalars(
        select(AuctionRegistration).where(
            AuctionRegistration.listing_id == listing.id, AuctionRegistration.org_id == actor.org_id
        )
    ).one_or_none()
    if existing is not None:
        raise Conflict(_("Your organization has already registered."), code="already_registered")
    reg = AuctionRegistration(
        listing_id=listing.id,
        org_id=actor.org_id,
        user_id=actor.id,
        bidder_number=_new_number(listing),
        status=RegistrationStatus.APPLIED.value,
    )
    db.session.add(reg)
    db.session.flush()  # the audit leaf names the registration by id
    audit.record(
        "auctions:registration:apply",
        actor=actor,
        object_type="auction_registration",
        object_id=reg.id,
        payload={"listing_id": listing.id, "bidder_number": reg.bidder_number},
    )
    return reg


def _reviewable(reg: AuctionRegistration) -> None:
    if reg.listing.status_enum in ENDED:
        raise Conflict(_("The listing has ended."), code="listing_ended")


def confirm_deposit(
    reg: AuctionRegistration, *, amount: Decimal, reference: str, actor: User
) -> AuctionRegistration:
    """Staff record the deposit that reached the account (保证金到账确认): at least the listing's deposit."""
    _reviewable(reg)
    if reg.deposit_confirmed_at is not None:
        raise Conflict(_("The deposit is already confirmed."), code="deposit_confirmed")
    if amount < reg.listing.deposit:
        raise DomainError(
            _("The deposit received is less than the listing requires."),
            errors={"deposit_amount": [_("At least %(amount)s.", amount=f"{reg.listing.deposit:,.2f}")]},
            code="deposit_short",
        )
    if not reference.strip():
        raise DomainError(
            _("The bank reference is required."),
            errors={"deposit_reference": [_("Required.")]},
            code="deposit_reference_required",
        )
    reg.deposit_amount = amount
    reg.deposit_reference = reference.strip()
    reg.deposit_confirmed_at = now()
    reg.deposit_confirmed_by = actor.id
    audit.record(
        "auctions:deposit:confirm",
        actor=actor,
        object_type="auction_registration",
        object_id=reg.id,
        payload={"listing_id": reg.listing_id, "amount": amount, "reference": reg.deposit_reference},
    )
    return reg


def review(reg: AuctionRegistration, *, accept: bool, note: str, actor: User) -> AuctionRegistration:
    """Staff decide the qualification (资格审查): qualifying needs the confirmed deposit, rejecting a
    reason."""
    _reviewable(reg)
    to = RegistrationStatus.QUALIFIED if accept else RegistrationStatus.REJECTED
    if to not in REGISTRATION_TRANSITIONS[reg.status_enum]:
        raise Conflict(_("This registration has already been reviewed."), code="already_reviewed")
    listing = reg.listing
    if accept and (listing.status_enum is ListingStatus.TIMED_BIDDING or now() >= listing.listing_ends_at):
        # Registration closes with the listing period, and the timed auction (现场竞价, 令第39号 Art. 19) is
        # among the bidders who held a qualification when it ended: none is let in afterwards.
        raise Conflict(
            _("The listing period has ended: no bidder can be qualified any more."),
            code="qualification_closed",
        )
    if accept and reg.deposit_confirmed_at is None:
        raise DomainError(
            _("Confirm the deposit before qualifying the bidder."),
            errors={"deposit_amount": [_("Not confirmed yet.")]},
            code="deposit_missing",
        )
    if not accept and not note.strip():
        raise DomainError(
            _("Give the reason for the rejection."),
            errors={"review_note": [_("Required.")]},
            code="reason_required",
        )
    reg.status = to.value
    reg.reviewed_at = now()
    reg.reviewed_by = actor.id
    reg.review_note = note.strip()
    audit.record(
        "auctions:registration:qualify" if accept else "auctions:registration:reject",
        actor=actor,
        object_type="auction_registration",
        object_id=reg.id,
        payload={"listing_id": reg.listing_id, "bidder_number": reg.bidder_number, "note": reg.review_note},
    )
    return reg


# -- bids ------------------------------------------------------------------------------------------------


def _refuse(message: str, code: str, *, at: dt.datetime, field: str = "amount") -> DomainError:
    """A refusal that states the server time it was decided at (Beijing time, milliseconds)."""
    return DomainError(message, errors={field: [message], "server_time": [server_time(at)]}, code=code)


def place_bid(listing_id: int, amount: Decimal, *, actor: User) -> AuctionBid:
    """Record a bid or refuse it; commits either way what the clock settled (a countdown that ran out stays
    ended for everyone, even when the late bid itself is refused)."""
    listing = lock_listing(listing_id)
    at = now()  # after the lock: the clock of the commit order
    settle_due(listing, at=at, actor=None)
    try:
        bid = _accept(listing, amount, at=at, actor=actor)
    except DomainError as err:
        _record_refusal(listing, amount, err, at=at, actor=actor)
        db.session.commit()  # keep the settlement and the refusal's leaf; the refused bid is no bid
        raise
    db.session.commit()
    return bid


def _record_refusal(
    listing: AuctionListing, amount: Decimal, err: DomainError, *, at: dt.datetime, actor: User
) -> None:
    """A refused bid is an audit leaf too (the bidder's number, the amount, why, the server time): a bidder
    told "too late" can prove when the server decided, and the office sees every attempt."""
    reg = db.session.scalars(
        select(AuctionRegistration).where(
            AuctionRegistration.listing_id == listing.id, AuctionRegistration.org_id == actor.org_id
        )
    ).one_or_none()
    audit.record(
        "auctions:bid:refuse",
        actor=actor,
        object_type="auction_listing",
        object_id=listing.id,
        payload={
            "bidder_number": reg and reg.bidder_number,
            "amount": amount,
            "reason": err.code,
            "at": at,
        },
    )


def _accept(listing: AuctionListing, amount: Decimal, *, at: dt.datetime, actor: User) -> AuctionBid:
    reg = db.session.scalars(
        select(AuctionRegistration).where(
            AuctionRegistration.listing_id == listing.id, AuctionRegistration.org_id == actor.org_id
        )
    ).one_or_none()
    if reg is None:
        raise Forbidden(_("Your organization has not registered for this listing."), code="not_registered")
    if reg.status_enum is not RegistrationStatus.QUALIFIED:
        raise Forbidden(_("Your registration has not been qualified."), code="not_qualified")
    status = listing.status_enum
    if status is ListingStatus.ANNOUNCED:
        raise _refuse(
            _("The listing has not started yet (server time %(time)s).", time=server_time(at)),
            "not_started",
            at=at,
        )
    if status is ListingStatus.TERMINATED:
        raise _refuse(
            _(
                "The listing was terminated at %(end)s; your bid reached the server at %(time)s "
                "(Beijing time).",
                end=server_time(listing.ended_at or at),
                time=server_time(at),
            ),
            "listing_terminated",
            at=at,
        )
    if status in ENDED:
        ended = listing.ended_at or at
        raise _refuse(
            _(
                "Bidding ended at %(end)s; your bid reached the server at %(time)s (Beijing time).",
                end=server_time(ended),
                time=server_time(at),
            ),
            "bidding_closed",
            at=at,
        )
    top = top_bid(listing)
    if top is not None and top.registration_id == reg.id:
        raise _refuse(_("Your bid is already the highest."), "already_highest", at=at)
    minimum = next_minimum(listing)
    if amount < minimum:
        raise _refuse(
            _(
                "The bid must be at least %(minimum)s yuan (the current price plus the increment).",
                minimum=f"{minimum:,.2f}",
            ),
            "below_increment",
            at=at,
        )
    timed = status is ListingStatus.TIMED_BIDDING
    countdown = at + dt.timedelta(seconds=listing.countdown_seconds) if timed else None
    listing.last_seq += 1
    listing.current_price = amount
    if countdown is not None:
        listing.countdown_ends_at = countdown
    phase = (BidPhase.TIMED if timed else BidPhase.LISTING).value
    leaf = audit.record(  # first: the bid row is written once, with its leaf
        "auctions:bid:place",
        actor=actor,
        object_type="auction_listing",
        object_id=listing.id,
        payload={
            "seq": listing.last_seq,
            "bidder_number": reg.bidder_number,
            "amount": amount,
            "phase": phase,
            "placed_at": at,
            "countdown_ends_at": countdown,
        },
    )
    bid = AuctionBid(  # by ids: appending to listing.bids would load the whole history behind the lock
        listing_id=listing.id,
        registration_id=reg.id,
        seq=listing.last_seq,
        amount=amount,
        phase=phase,
        placed_at=at,
        countdown_ends_at=countdown,
        leaf_idx=leaf.idx,
    )
    db.session.add(bid)
    live.publish(listing, live.bid_event(listing, bid, reg.bidder_number))
    return bid
