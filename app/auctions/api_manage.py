"""JSON API of the people who run a listing: the transferor creates and publishes it, the center staff
confirm deposits, review registrations and terminate; every role that may read listings lists them.

Same services, same object-level checks and the same refusals as the pages (``permissions``)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from flask import Response, abort, jsonify
from flask_login import current_user
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from app.accounts.models import Organization, User
from app.core.db import db
from app.core.idempotency import idempotent
from app.core.labels import label
from app.core.permissions import Permission, require
from app.core.web import MAX_ROW_ID
from app.extensions import DECIMAL_STRING

from . import permissions, services
from .api import MAX_AMOUNT, _visible, blp
from .models import AuctionListing, AuctionRegistration
from .services.listing import DEFAULT_COUNTDOWN


def _me() -> User:
    user: User = current_user.user
    return user


def _amount(*, required: bool = True, minimum: str = "0.01") -> fields.Decimal:
    optional: dict[str, Any] = {} if required else {"load_default": None, "allow_none": True}
    return fields.Decimal(
        required=required,
        **optional,
        as_string=True,
        places=2,
        validate=lambda value: value is None or Decimal(minimum) <= value < MAX_AMOUNT,
        metadata={**DECIMAL_STRING, "description": "yuan, two decimals"},
    )


class AuctionListingIn(Schema):
    class Meta:
        unknown = RAISE

    catalogue_item_id = fields.Int(required=True, validate=validate.Range(min=1, max=MAX_ROW_ID))
    title = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    description = fields.Str(load_default="", validate=validate.Length(max=5000))
    notice_at = fields.AwareDateTime(required=True, metadata={"description": "with offset"})
    listing_starts_at = fields.AwareDateTime(required=True)
    listing_ends_at = fields.AwareDateTime(required=True)
    start_price = _amount()
    increment = _amount()
    deposit = _amount(minimum="0")
    reserve_price = _amount(required=False)
    countdown_seconds = fields.Int(load_default=DEFAULT_COUNTDOWN, validate=validate.Range(min=30, max=3600))


class AuctionDepositIn(Schema):
    class Meta:
        unknown = RAISE

    amount = _amount()
    reference = fields.Str(required=True, validate=validate.Length(min=1, max=64))


class RegistrationReviewIn(Schema):
    class Meta:
        unknown = RAISE

    decision = fields.Str(required=True, validate=validate.OneOf(["qualify", "reject"]))
    note = fields.Str(load_default="", validate=validate.Length(max=500))


class DepositRefundIn(Schema):
    class Meta:
        unknown = RAISE

    reference = fields.Str(required=True, validate=validate.Length(min=1, max=64))


class ListingTerminationIn(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.Str(required=True, validate=validate.Length(min=1, max=500))


def _summary(listing: AuctionListing) -> dict[str, Any]:
    return {
        "id": listing.id,
        "ref": listing.ref,
        "title": listing.title,
        "kind": listing.kind,
        "kind_label": label("listing_kind", listing.kind),
        "status": listing.status,
        "status_label": label("listing_status", listing.status),
        "notice_at": listing.notice_at.isoformat(),
        "listing_starts_at": listing.listing_starts_at.isoformat(),
        "listing_ends_at": listing.listing_ends_at.isoformat(),
        "current_price": None if listing.current_price is None else f"{listing.current_price:.2f}",
    }


def _registration_json(reg: AuctionRegistration) -> dict[str, Any]:
    return {
        "id": reg.id,
        "listing_id": reg.listing_id,
        "bidder_number": reg.bidder_number,
        "status": reg.status,
        "status_label": label("registration_status", reg.status),
        "deposit_amount": None if reg.deposit_amount is None else f"{reg.deposit_amount:.2f}",
        "deposit_reference": reg.deposit_reference,
        "review_note": reg.review_note,
        "deposit_applied": reg.deposit_applied,
        "deposit_refund_due_at": reg.deposit_refund_due_at and reg.deposit_refund_due_at.isoformat(),
        "deposit_refunded_at": reg.deposit_refunded_at and reg.deposit_refunded_at.isoformat(),
        "deposit_refund_reference": reg.deposit_refund_reference,
    }


def _created(body: dict[str, Any]) -> Response:
    resp = jsonify(body)
    resp.status_code = 201
    return resp


def _registration(registration_id: int) -> AuctionRegistration:
    reg = db.session.get(AuctionRegistration, registration_id)
    if reg is None or not permissions.can_review(_me(), reg):
        abort(404)
    return reg


def _registration_act(registration_id: int, act: Callable[[AuctionRegistration], object]) -> Response:
    """A center staff act on a registration they may review: the act, its commit, the registration as now."""
    reg = _registration(registration_id)
    act(reg)
    db.session.commit()
    return _created(_registration_json(reg))


@blp.route("/listings")
@blp.response(200)
@require(Permission.AUCTION_VIEW)
def listings() -> Response:
    """The listings the caller sees: a transferor its own (drafts included), everyone else the published ones;
    newest end first, at most 200."""
    return jsonify([_summary(x) for x in services.listings_visible(_me())])


@blp.route("/listings", methods=["POST"])
@idempotent
@blp.arguments(AuctionListingIn)
@blp.response(201)
@require(Permission.AUCTION_MANAGE)
def create(body: dict[str, Any]) -> Response:
    """The transferor drafts a listing of a land, mineral rights or state property item; the reserve price
    is sealed at once and never returned. Periods shorter than the rules allow are refused with the article
    (422, ``listing_invalid``)."""
    listing = services.create_listing(services.ListingInput(**body), actor=_me())
    db.session.commit()
    return _created(_summary(listing))


@blp.route("/listings/<int:listing_id>/publication", methods=["POST"])
@idempotent
@blp.response(201)
@require(Permission.AUCTION_MANAGE)
def publish(listing_id: int) -> Response:
    """Publish the transferor's draft now (the notice instant becomes the server time; the periods are checked
    again from it)."""
    listing = _visible(listing_id)
    if not permissions.can_manage(_me(), listing):
        abort(404)
    services.publish_listing(listing, actor=_me())
    db.session.commit()
    return _created(_summary(listing))


@blp.route("/registrations/<int:registration_id>/deposit", methods=["POST"])
@idempotent
@blp.arguments(AuctionDepositIn)
@blp.response(201)
@require(Permission.AUCTION_REVIEW)
def deposit(body: dict[str, Any], registration_id: int) -> Response:
    """Center staff record the deposit that reached the account (at least the listing's, with the bank
    reference)."""
    return _registration_act(
        registration_id,
        lambda reg: services.confirm_deposit(
            reg, amount=body["amount"], reference=body["reference"], actor=_me()
        ),
    )


@blp.route("/registrations/<int:registration_id>/review", methods=["POST"])
@idempotent
@blp.arguments(RegistrationReviewIn)
@blp.response(201)
@require(Permission.AUCTION_REVIEW)
def review(body: dict[str, Any], registration_id: int) -> Response:
    """Center staff qualify (the deposit confirmed) or reject (with the reason) a registration."""
    return _registration_act(
        registration_id,
        lambda reg: services.review(
            reg, accept=body["decision"] == "qualify", note=body["note"], actor=_me()
        ),
    )


@blp.route("/registrations/<int:registration_id>/refund", methods=["POST"])
@idempotent
@blp.arguments(DepositRefundIn)
@blp.response(201)
@require(Permission.AUCTION_REVIEW)
def refund(body: dict[str, Any], registration_id: int) -> Response:
    """Center staff record the refund of a deposit that fell due at the end (5 working days, 令第39号
    Art. 21), with the bank reference; the winner's deposit is applied to the price and never refunded."""
    return _registration_act(
        registration_id, lambda reg: services.record_refund(reg, reference=body["reference"], actor=_me())
    )


@blp.route("/listings/<int:listing_id>/registrations")
@blp.response(200)
@require(Permission.AUCTION_VIEW)
def registrations(listing_id: int) -> Response:
    """Who registered, with the organization's name: the reviewing center staff and the regulator only (the
    transferor and the other bidders see numbers, and only in the history)."""
    listing = _visible(listing_id)
    if not permissions.sees_registrants(_me(), listing):
        abort(404)
    orgs = {
        o.id: o.name
        for o in db.session.scalars(
            select(Organization).where(Organization.id.in_([r.org_id for r in listing.registrations]))
        )
    }
    return jsonify([{**_registration_json(r), "org_name": orgs.get(r.org_id)} for r in listing.registrations])


@blp.route("/listings/<int:listing_id>/termination", methods=["POST"])
@idempotent
@blp.arguments(ListingTerminationIn)
@blp.response(201)
@require(Permission.AUCTION_REVIEW)
def terminate(body: dict[str, Any], listing_id: int) -> Response:
    """Center staff terminate a published listing that has not ended (终止), with the reason; the bidders and
    the transferor are told, the reserve stays sealed."""
    listing = _visible(listing_id)
    if not permissions.can_terminate(_me(), listing):
        abort(404)
    done = services.terminate(listing.id, reason=body["reason"], actor=_me())
    return _created({**_summary(done), "termination_reason": done.termination_reason})
