"""Creating and publishing a listing, its sealed reserve price and the one state transition function."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask_babel import gettext as _
from sqlalchemy import select

from app.accounts.models import User
from app.core import audit
from app.core.calendar import load_calendar
from app.core.clock import now
from app.core.crypto import DataKeyError, derived_keys
from app.core.db import db
from app.core.errors import Conflict, DomainError, Forbidden, NotFound
from app.core.permissions import Role
from app.projects.enums import Category
from app.projects.models import CatalogueItem

from ..enums import TRANSITIONS, ListingKind, ListingStatus
from ..models import AuctionListing
from ..rules import period_errors
from . import live

RESERVE_PURPOSE = "auction-reserve"
DEFAULT_COUNTDOWN = 240  # seconds (4 minutes), set per listing
#: How far from the server time a listing's moments may lie. Land is supplied under an annual plan
#: (年度供地计划) and a listing runs weeks, so a moment years away is a typing slip (year 0001 or 9999):
#: refused in words before it is counted on a calendar that has no such years, or stored as an instant
#: past the UTC range.
MOMENTS_WINDOW = dt.timedelta(days=2 * 366)

KIND_OF_CATEGORY = {
    Category.LAND_MINERAL: ListingKind.LAND,
    Category.STATE_PROPERTY: ListingKind.STATE_PROPERTY,
}
#: Catalogue items of a category whose listings follow other rules than the category's.
KIND_OF_ITEM = {"TD-02": ListingKind.MINERAL_RIGHTS}  # 矿业权出让


def kind_of(item: CatalogueItem) -> ListingKind | None:
    """How an item is listed: mineral rights by their own rules, other land items as land, state property
    as state property; ``None``: not sold by listing."""
    return KIND_OF_ITEM.get(item.code) or KIND_OF_CATEGORY.get(item.category_enum)


# The audit action of each state a listing enters (literal codes: the label test reads them).
STATE_ACTIONS = {
    ListingStatus.ANNOUNCED: "auctions:listing:announce",
    ListingStatus.LISTING: "auctions:listing:open",
    ListingStatus.TIMED_BIDDING: "auctions:listing:timed",
    ListingStatus.SOLD: "auctions:listing:sold",
    ListingStatus.UNSOLD: "auctions:listing:unsold",
    ListingStatus.TERMINATED: "auctions:listing:terminate",
}


# -- the sealed reserve price ------------------------------------------------------------------------------


def seal_reserve(amount: Decimal, ref: str) -> bytes:
    """AES-256-GCM under the data key's ``auction-reserve`` derivation; the listing reference is the
    associated data, so a sealed reserve cannot be moved to another listing."""
    nonce = os.urandom(12)
    key = derived_keys(RESERVE_PURPOSE)[0]
    text = str(amount.quantize(Decimal("0.01")))
    return nonce + AESGCM(key).encrypt(nonce, text.encode(), ref.encode())


def open_reserve(sealed: bytes, ref: str) -> Decimal:
    nonce, body = sealed[:12], sealed[12:]
    for key in derived_keys(RESERVE_PURPOSE):  # the current data key, then the retired ones
        try:
            return Decimal(AESGCM(key).decrypt(nonce, body, ref.encode()).decode())
        except InvalidTag:
            continue
    raise DataKeyError(f"{RESERVE_PURPOSE}: not decryptable under DATA_KEY or DATA_KEYS_RETIRED")


# -- state ------------------------------------------------------------------------------------------------


def transition(
    listing: AuctionListing,
    to: ListingStatus,
    *,
    actor: User | None,
    payload: dict[str, Any] | None = None,
) -> None:
    """Move ``listing`` to ``to`` if the table allows it, with its audit leaf."""
    current = listing.status_enum
    if to not in TRANSITIONS[current]:
        raise Conflict(_("The listing cannot move from this state to that one."), code="illegal_transition")
    listing.status = to.value
    action = STATE_ACTIONS[to]
    audit.record(
        action,
        actor=actor,
        object_type="auction_listing",
        object_id=listing.id,
        payload={"from": current.value, "to": to.value, **(payload or {})},
    )
    live.publish(listing, live.status_event(listing, to, payload or {}))


# -- creating and publishing ----------------------------------------------------------------------------


@dataclass
class ListingInput:
    catalogue_item_id: int
    title: str
    notice_at: dt.datetime
    listing_starts_at: dt.datetime
    listing_ends_at: dt.datetime
    start_price: Decimal
    increment: Decimal
    deposit: Decimal
    reserve_price: Decimal | None = None
    countdown_seconds: int = DEFAULT_COUNTDOWN
    description: str = ""


def _moments(data: Any) -> dict[str, dt.datetime]:
    return {
        "notice_at": data.notice_at,
        "listing_starts_at": data.listing_starts_at,
        "listing_ends_at": data.listing_ends_at,
    }


def _check(data: ListingInput, kind: ListingKind) -> None:
    errors: dict[str, list[str]] = {}
    if not data.title.strip():
        errors["title"] = [_("Required.")]
    for name in ("start_price", "increment"):
        if getattr(data, name) <= 0:
            errors[name] = [_("Must be more than zero.")]
    if data.deposit < 0:
        errors["deposit"] = [_("Must not be negative.")]
    if data.reserve_price is not None and data.reserve_price <= 0:
        errors["reserve_price"] = [_("Must be more than zero.")]
    if not 30 <= data.countdown_seconds <= 3600:
        errors["countdown_seconds"] = [_("Between 30 seconds and one hour.")]
    at = now()
    far = {
        name: [_("Enter a date within two years of today.")]
        for name, moment in _moments(data).items()
        if not at - MOMENTS_WINDOW <= moment <= at + MOMENTS_WINDOW
    }
    if far:
        errors.update(far)
    elif not data.notice_at <= data.listing_starts_at < data.listing_ends_at:
        errors["listing_ends_at"] = [
            _("The notice comes first, then the start, then the end of the listing.")
        ]
    else:
        errors.update(period_errors(kind, _moments(data), load_calendar()))
    if errors:
        raise DomainError(_("The listing cannot be saved."), errors=errors, code="listing_invalid")


def create_listing(data: ListingInput, *, actor: User) -> AuctionListing:
    """A draft listing of a land or state property catalogue item by the transferor, with the reserve
    sealed at once (only the ciphertext is stored; the audit leaf says whether there is one, not its
    value)."""
    if actor.role != Role.TENDERER:
        raise Forbidden(_("Only a transferor lists an item."))
    item = db.session.get(CatalogueItem, data.catalogue_item_id)
    if item is None:
        raise NotFound(_("No such catalogue item."))
    kind = kind_of(item)
    if kind is None:
        raise DomainError(
            _("Only land, mineral rights and state property items are sold by listing."),
            errors={"catalogue_item_id": [_("Choose a land, mineral rights or state property item.")]},
            code="not_a_listing_item",
        )
    _check(data, kind)
    ref = uuid.uuid4().hex
    listing = AuctionListing(
        ref=ref,
        catalogue_item_id=item.id,
        kind=kind.value,
        title=data.title.strip(),
        description=data.description.strip(),
        owner_org_id=actor.org_id,
        created_by=actor.id,
        notice_at=data.notice_at,
        listing_starts_at=data.listing_starts_at,
        listing_ends_at=data.listing_ends_at,
        start_price=data.start_price,
        increment=data.increment,
        deposit=data.deposit,
        countdown_seconds=data.countdown_seconds,
        reserve_enc=None if data.reserve_price is None else seal_reserve(data.reserve_price, ref),
        status=ListingStatus.DRAFT.value,
    )
    db.session.add(listing)
    db.session.flush()  # the audit leaf names the listing by id
    audit.record(
        "auctions:listing:create",
        actor=actor,
        object_type="auction_listing",
        object_id=listing.id,
        payload={
            "kind": kind.value,
            "catalogue_item": item.code,
            "title": listing.title,
            "notice_at": listing.notice_at,
            "listing_starts_at": listing.listing_starts_at,
            "listing_ends_at": listing.listing_ends_at,
            "start_price": listing.start_price,
            "increment": listing.increment,
            "deposit": listing.deposit,
            "countdown_seconds": listing.countdown_seconds,
            "has_reserve": listing.reserve_enc is not None,
        },
    )
    return listing


def publish_listing(listing: AuctionListing, *, actor: User) -> AuctionListing:
    """Publish the notice now: the notice instant becomes the server time, and the periods are checked
    again from it (a draft left lying may have become too short)."""
    if listing.status_enum is not ListingStatus.DRAFT:
        raise Conflict(_("This listing is already published."), code="already_published")
    # the notice is public from now on, whatever instant the draft planned (an earlier publication only
    # lengthens the periods; a later one is checked below)
    listing.notice_at = now()
    moments = _moments(listing)
    if not listing.notice_at <= listing.listing_starts_at:
        errors = {"listing_starts_at": [_("The listing would start before its notice.")]}
    else:
        errors = period_errors(listing.kind_enum, moments, load_calendar())
    if errors:
        raise DomainError(_("The listing periods are too short."), errors=errors, code="periods_too_short")
    transition(listing, ListingStatus.ANNOUNCED, actor=actor, payload={"notice_at": listing.notice_at})
    return listing


def listings_visible(user: User) -> list[AuctionListing]:
    """The listings a user sees in the list: the transferor its own, every other role the published ones."""
    stmt = select(AuctionListing).order_by(AuctionListing.listing_ends_at.desc(), AuctionListing.id.desc())
    if user.role == Role.TENDERER:
        stmt = stmt.where(AuctionListing.owner_org_id == user.org_id)
    else:
        stmt = stmt.where(AuctionListing.status != ListingStatus.DRAFT.value)
    return list(db.session.scalars(stmt.limit(200)))
