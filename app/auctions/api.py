"""JSON API of listings and auctions: a listing's live state for the caller, registration and bids.

A bid answered 201 is committed (the answer carries its sequence number and audit leaf); a refused bid
answers the one error shape with ``errors.server_time``, the Beijing time the server decided at."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Response, abort, jsonify
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields
from sqlalchemy import select

from app.accounts.models import User
from app.core.db import db
from app.core.idempotency import idempotent
from app.core.permissions import Permission, require
from app.extensions import DECIMAL_STRING

from . import permissions, services
from .enums import ENDED
from .models import AuctionBid, AuctionListing
from .schemas import state_of
from .services.public import bid_inclusion
from .services.result import own_registration

MAX_AMOUNT = Decimal("1e13")  # Numeric(16, 2)

blp = Blueprint("auctions_api", __name__, url_prefix="/api/v1/auctions", description="Listings and auctions")


class BidIn(Schema):
    class Meta:
        unknown = RAISE

    amount = fields.Decimal(
        required=True,
        as_string=True,
        places=2,
        validate=lambda value: Decimal("0.01") <= value < MAX_AMOUNT,
        metadata={
            **DECIMAL_STRING,
            "description": "yuan, two decimals; at least the next minimum of the state",
        },
    )


def _me() -> User:
    user: User = current_user.user
    return user


def _visible(listing_id: int) -> AuctionListing:
    listing = db.session.get(AuctionListing, listing_id)
    if listing is None or not permissions.can_view(_me(), listing):
        abort(404)
    return listing


@blp.route("/listings/<int:listing_id>")
@blp.response(200)
@require(Permission.AUCTION_VIEW)
def state(listing_id: int) -> Response:
    """The listing as the caller may see it now: status, current price, the next minimum bid, the
    countdown and the server time; for a registered bidder its number, rank and bids with their audit
    leaves; after the end the reserve, the full history under bidder numbers and the winner's name."""
    listing = services.settle(_visible(listing_id).id)
    return jsonify(state_of(listing, _me()))


@blp.route("/listings/<int:listing_id>/registrations", methods=["POST"])
@idempotent
@blp.response(201)
@require(Permission.AUCTION_BID)
def register(listing_id: int) -> Response:
    """Register the caller's organization (the deposit and the qualification review follow by staff)."""
    listing = _visible(listing_id)
    if not permissions.can_register(_me(), listing):
        abort(404)
    reg = services.register(listing, actor=_me())
    db.session.commit()
    resp = jsonify({"id": reg.id, "bidder_number": reg.bidder_number, "status": reg.status})
    resp.status_code = 201
    return resp


@blp.route("/listings/<int:listing_id>/bids", methods=["POST"])
@idempotent
@blp.arguments(BidIn)
@blp.response(201)
@require(Permission.AUCTION_BID)
def bid(body: dict[str, Any], listing_id: int) -> Response:
    """Bid: at least the start price, then the current price plus the increment; refused when the caller is
    not a qualified registrant, before the start, or after the end (with the server time)."""
    listing = _visible(listing_id)
    placed = services.place_bid(listing.id, body["amount"], actor=_me())
    resp = jsonify(
        {
            "seq": placed.seq,
            "amount": f"{placed.amount:.2f}",
            "phase": placed.phase,
            "placed_at": placed.placed_at.isoformat(),
            "countdown_ends_at": placed.countdown_ends_at and placed.countdown_ends_at.isoformat(),
            "leaf_idx": placed.leaf_idx,
        }
    )
    resp.status_code = 201
    return resp


class InclusionOut(Schema):
    seq = fields.Int()
    index = fields.Int()
    tree_size = fields.Int()
    leaf_hash = fields.Str()
    root_hash = fields.Str()
    proof = fields.List(fields.Str())


@blp.route("/listings/<int:listing_id>/bids/<int:seq>/proof")
@blp.response(200, InclusionOut)
@require(Permission.AUCTION_VIEW)
def bid_proof(listing_id: int, seq: int) -> dict[str, Any]:
    """RFC 6962 inclusion proof of a bid's audit leaf in the current log (base64 hashes): for the bidder's own
    bids, and for every bid once the listing has ended. Check it against a signed checkpoint of that size
    (``/api/v1/audit/checkpoints``)."""
    listing = _visible(listing_id)
    placed = db.session.scalars(
        select(AuctionBid).where(AuctionBid.listing_id == listing.id, AuctionBid.seq == seq)
    ).one_or_none()
    if placed is None:
        abort(404)
    mine = own_registration(listing, _me())
    if listing.status_enum not in ENDED and (mine is None or placed.registration_id != mine.id):
        abort(404)
    return bid_inclusion(placed)
