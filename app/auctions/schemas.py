"""What each audience may see of a listing, as JSON (the API) and as the context of the pages.

Before the end every bidder appears by its number only; the caller's own registration, rank and bids (with
their audit leaf indexes, to check inclusion) are added for the caller alone. After the end the reserve
price, the full history under numbers and the winner's name are public to every viewer of the listing."""

from __future__ import annotations

from typing import Any

from app.accounts.models import User
from app.core.clock import now
from app.core.labels import label

from .enums import ENDED
from .models import AuctionListing
from .services.result import (
    history,
    next_minimum,
    own_bids,
    own_registration,
    ranks,
    server_time,
    winner_identity,
)


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _money(value: Any) -> str | None:
    return None if value is None else f"{value:.2f}"


def state_of(listing: AuctionListing, viewer: User) -> dict[str, Any]:
    at = now()
    ended = listing.status_enum in ENDED
    reg = own_registration(listing, viewer)
    rank = ranks(listing).get(reg.id) if reg is not None else None
    seconds_left = None
    if listing.countdown_ends_at is not None and not ended:
        seconds_left = max(0.0, (listing.countdown_ends_at - at).total_seconds())
    body: dict[str, Any] = {
        "id": listing.id,
        "ref": listing.ref,
        "title": listing.title,
        "kind": listing.kind,
        "kind_label": label("listing_kind", listing.kind),
        "status": listing.status,
        "status_label": label("listing_status", listing.status),
        "notice_at": _iso(listing.notice_at),
        "listing_starts_at": _iso(listing.listing_starts_at),
        "listing_ends_at": _iso(listing.listing_ends_at),
        "start_price": _money(listing.start_price),
        "increment": _money(listing.increment),
        "deposit": _money(listing.deposit),
        "countdown_seconds": listing.countdown_seconds,
        "current_price": _money(listing.current_price),
        "next_minimum": None if ended else _money(next_minimum(listing)),
        "countdown_ends_at": _iso(listing.countdown_ends_at),
        "seconds_left": seconds_left,
        "server_time": at.isoformat(),
        "server_time_beijing": server_time(at),
        "bids": len(listing.bids),
        "history": [
            {
                **h,
                "amount": _money(h["amount"]),
                "placed_at": _iso(h["placed_at"]),
                "countdown_ends_at": _iso(h["countdown_ends_at"]),
                "phase_label": label("bid_phase", h["phase"]),
            }
            for h in history(listing)
        ],
        "me": None,
    }
    if reg is not None:
        body["me"] = {
            "bidder_number": reg.bidder_number,
            "registration_status": reg.status,
            "registration_status_label": label("registration_status", reg.status),
            "rank": rank,
            "deposit_applied": reg.deposit_applied,
            "deposit_refund_due_at": _iso(reg.deposit_refund_due_at),
            "deposit_refunded_at": _iso(reg.deposit_refunded_at),
            "bids": [
                {
                    "seq": b.seq,
                    "amount": _money(b.amount),
                    "placed_at": _iso(b.placed_at),
                    "leaf_idx": b.leaf_idx,
                }
                for b in own_bids(listing, reg)
            ],
        }
    if ended:
        body["ended_at"] = _iso(listing.ended_at)
        body["reserve_price"] = _money(listing.reserve_price)
        body["unsold_reason"] = listing.unsold_reason
        body["unsold_reason_label"] = label("unsold_reason", listing.unsold_reason)
        body["winner"] = winner_identity(listing)
        body["termination_reason"] = listing.termination_reason
    return body
