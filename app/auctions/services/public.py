"""What the public portal shows of listings (anonymous): published listings only, never a draft; before the
end nothing about who registered or bid (no bidder numbers either, only the price and the count of bids);
after the end the result announcement with the opened reserve, the history under bidder numbers and each
bid's audit leaf with its inclusion proof (docs/rules.md, "Auctions")."""

from __future__ import annotations

import base64
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from app.core import audit
from app.core.clock import now
from app.core.db import db
from app.core.errors import NotFound
from app.core.models import AuditLeaf

from ..enums import ENDED, ListingStatus
from ..models import AuctionBid, AuctionListing
from .result import is_due, settle

PAGE_SIZE = 50


def _settled(listing: AuctionListing) -> AuctionListing:
    """The listing with what the clock has passed applied (a state the rules fix, whoever looks first)."""
    return settle(listing.id) if is_due(listing, now()) else listing


def public_listings(limit: int = PAGE_SIZE) -> list[AuctionListing]:
    """Published listings (挂牌公告), live ones first by their end, then the ended ones newest first."""
    stmt = (
        select(AuctionListing)
        .where(AuctionListing.status != ListingStatus.DRAFT.value)
        .order_by(AuctionListing.listing_ends_at.desc(), AuctionListing.id.desc())
        .limit(limit)
    )
    listings = [_settled(listing) for listing in db.session.scalars(stmt).all()]
    return sorted(listings, key=lambda item: item.status_enum in ENDED)  # stable: live ones first


def public_listing(listing_id: int) -> AuctionListing:
    listing = db.session.get(AuctionListing, listing_id)
    if listing is None or listing.status_enum is ListingStatus.DRAFT:
        raise NotFound(_("No such listing."))
    return _settled(listing)


def ended_listing(listing_id: int) -> AuctionListing:
    """A listing whose result is announced (sold or not sold); 404 before the end."""
    listing = public_listing(listing_id)
    if listing.status_enum not in ENDED:
        raise NotFound(_("No such listing."))
    return listing


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def bid_inclusion(placed: AuctionBid) -> dict[str, Any]:
    """RFC 6962 inclusion proof of a bid's audit leaf in the current log (base64 hashes), as the auctions
    API answers it to a bidder for its own bids."""
    size = audit.tree_size()
    leaf = db.session.get(AuditLeaf, placed.leaf_idx)
    if leaf is None:
        raise NotFound(_("No such listing."))
    return {
        "seq": placed.seq,
        "index": placed.leaf_idx,
        "tree_size": size,
        "leaf_hash": _b64(leaf.leaf_hash),
        "root_hash": _b64(audit.root_hash(size)),
        "proof": [_b64(p) for p in audit.inclusion_proof(placed.leaf_idx, size)],
    }


def ended_bid(listing_id: int, seq: int) -> tuple[AuctionListing, AuctionBid]:
    """A bid of an ended listing (every bid is public once the listing has ended)."""
    listing = ended_listing(listing_id)
    placed = db.session.scalars(
        select(AuctionBid).where(AuctionBid.listing_id == listing.id, AuctionBid.seq == seq)
    ).one_or_none()
    if placed is None:
        raise NotFound(_("No such bid."))
    return listing, placed
