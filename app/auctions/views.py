"""Pages of listings and auctions: the list, a new listing (transferor), a listing's page (bidders register
and bid, staff confirm deposits and review, everyone reads the result), each a thin handler over services."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app.accounts.models import Organization, User
from app.core.clock import now, parse_local
from app.core.db import db
from app.core.errors import DomainError
from app.core.labels import flash_refusal, label
from app.core.permissions import Permission, Role, require
from app.projects.services.catalogue import current_catalogue

from . import permissions, services
from .enums import ENDED, BidPhase, ListingStatus
from .models import AuctionListing, AuctionRegistration
from .schemas import state_of
from .services import live
from .services.listing import DEFAULT_COUNTDOWN, kind_of
from .services.result import own_registration

bp = Blueprint("auctions", __name__, url_prefix="/auctions")


def _user() -> User:
    user: User = current_user.user
    return user


def _visible(listing_id: int) -> AuctionListing:
    listing = db.session.get(AuctionListing, listing_id)
    if listing is None or not permissions.can_view(_user(), listing):
        abort(404)
    return listing


def _registration(registration_id: int) -> AuctionRegistration:
    reg = db.session.get(AuctionRegistration, registration_id)
    if reg is None or not permissions.can_review(_user(), reg):
        abort(404)
    return reg


def _money(field: str, *, required: bool = True) -> Decimal | None:
    raw = request.form.get(field, "").replace(",", "").strip()
    if not raw and not required:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise DomainError(_("Enter an amount."), errors={field: [_("Enter an amount.")]}) from None
    if not value.is_finite() or abs(value) >= Decimal("1e13"):
        raise DomainError(_("Enter an amount."), errors={field: [_("Enter an amount.")]})
    return value.quantize(Decimal("0.01"))


def _moment(field: str) -> dt.datetime:
    """A ``datetime-local`` field, read as Beijing time."""
    value = parse_local(request.form.get(field))
    if value is None:
        raise DomainError(_("Enter a date and time."), errors={field: [_("Enter a date and time.")]})
    return value


def _listing_items() -> list[tuple[int, str]]:
    catalogue = current_catalogue()
    if catalogue is None:
        return []
    return [(i.id, f"{i.code} {i.name}") for i in catalogue.items if kind_of(i) is not None]


@bp.route("/")
@require(Permission.AUCTION_VIEW)
def index() -> str:
    return render_template("auctions/index.html", listings=services.listings_visible(_user()))


@bp.route("/new", methods=["GET", "POST"])
@require(Permission.AUCTION_MANAGE)
def new() -> ResponseReturnValue:
    items = _listing_items()
    if request.method == "POST":
        try:
            countdown = request.form.get("countdown_seconds", "").strip() or str(DEFAULT_COUNTDOWN)
            if not countdown.isdigit():
                raise DomainError(
                    _("Enter a number of seconds."), errors={"countdown_seconds": [_("Invalid.")]}
                )
            item_id = request.form.get("catalogue_item_id", "")
            if not item_id.isdigit() or int(item_id) not in {i for i, _name in items}:
                raise DomainError(_("Choose an item."), errors={"catalogue_item_id": [_("Required.")]})
            data = services.ListingInput(
                catalogue_item_id=int(item_id),
                title=request.form.get("title", "")[:200],
                description=request.form.get("description", "")[:4000],
                notice_at=_moment("notice_at"),
                listing_starts_at=_moment("listing_starts_at"),
                listing_ends_at=_moment("listing_ends_at"),
                start_price=_money("start_price") or Decimal(0),
                increment=_money("increment") or Decimal(0),
                deposit=_money("deposit") or Decimal(0),
                reserve_price=_money("reserve_price", required=False),
                countdown_seconds=int(countdown[:6]),
            )
            listing = services.create_listing(data, actor=_user())
            db.session.commit()
        except DomainError as err:
            db.session.rollback()
            flash_refusal(err)
            return render_template("auctions/new.html", items=items, form=request.form), 422
        flash(_("The listing is saved as a draft."), "success")
        return redirect(url_for(".listing", listing_id=listing.id))
    return render_template("auctions/new.html", items=items, form={})


@bp.route("/<int:listing_id>")
@require(Permission.AUCTION_VIEW)
def listing(listing_id: int) -> str:
    return _listing_page(listing_id)


def _listing_page(listing_id: int, *, typed: dict[str, str] | None = None) -> str:
    """The listing's page; ``typed``: what a refused form held (``amount``, or ``deposit_amount:<id>`` and
    ``deposit_reference:<id>``), shown again as typed next to the refusal."""
    user = _user()
    current = services.settle(_visible(listing_id).id)
    sees = permissions.sees_registrants(user, current)
    names: dict[int, str] = {}
    if sees:
        ids = [r.org_id for r in current.registrations]
        rows = db.session.execute(select(Organization.id, Organization.name).where(Organization.id.in_(ids)))
        names = {org_id: name for org_id, name in rows}
    return render_template(
        "auctions/listing.html",
        listing=current,
        state=state_of(current, user),
        ended=current.status_enum in ENDED,
        can_manage=permissions.can_manage(user, current),
        can_register=permissions.can_register(user, current),
        sees_registrants=sees,
        names=names,
        reviewer=user.role == Role.CENTER_STAFF,
        can_terminate=permissions.can_terminate(user, current),
        my_registration=own_registration(current, user),
        server_now=now(),
        status_labels={s.value: label("listing_status", s.value) for s in ListingStatus},
        phase_labels={p.value: label("bid_phase", p.value) for p in BidPhase},
        typed=typed or {},
    )


@bp.route("/<int:listing_id>/events")
@require(Permission.AUCTION_VIEW)
def events(listing_id: int) -> Response:
    """SSE stream of the listing's channel (services/live.py): bids under bidder numbers, the countdown and
    the changes of state, for whoever may see the published listing."""
    listing = db.session.get(AuctionListing, listing_id)
    if listing is None or not permissions.can_watch(_user(), listing):
        abort(404)
    db.session.commit()  # a long-lived stream must not hold a transaction or a connection
    return live.stream(listing_id)


@bp.post("/<int:listing_id>/publish")
@require(Permission.AUCTION_MANAGE)
def publish(listing_id: int) -> ResponseReturnValue:
    listing = _visible(listing_id)
    if not permissions.can_manage(_user(), listing):
        abort(404)
    try:
        services.publish_listing(listing, actor=_user())
        db.session.commit()
        flash(_("The listing notice is published."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".listing", listing_id=listing.id))


@bp.post("/<int:listing_id>/register")
@require(Permission.AUCTION_BID)
def register(listing_id: int) -> ResponseReturnValue:
    listing = _visible(listing_id)
    if not permissions.can_register(_user(), listing):
        abort(404)
    try:
        reg = services.register(listing, actor=_user())
        db.session.commit()
        flash(_("Registered as bidder no. %(number)s.", number=reg.bidder_number), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".listing", listing_id=listing.id))


@bp.post("/<int:listing_id>/bid")
@require(Permission.AUCTION_BID)
def bid(listing_id: int) -> ResponseReturnValue:
    listing = _visible(listing_id)
    try:
        amount = _money("amount") or Decimal(0)
        placed = services.place_bid(listing.id, amount, actor=_user())
        flash(_("Your bid no. %(seq)s is recorded.", seq=placed.seq), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
        # the page again with the amount as typed: the bidder corrects it rather than retyping it
        return _listing_page(listing.id, typed={"amount": request.form.get("amount", "")[:40]}), 422
    return redirect(url_for(".listing", listing_id=listing.id))


@bp.post("/<int:listing_id>/terminate")
@require(Permission.AUCTION_REVIEW)
def terminate(listing_id: int) -> ResponseReturnValue:
    listing = _visible(listing_id)
    if not permissions.can_terminate(_user(), listing):
        abort(404)
    try:
        services.terminate(listing.id, reason=request.form.get("termination_reason", "")[:500], actor=_user())
        flash(_("The listing is terminated; the bidders and the transferor are told."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".listing", listing_id=listing.id))


@bp.post("/registrations/<int:registration_id>/deposit")
@require(Permission.AUCTION_REVIEW)
def deposit(registration_id: int) -> ResponseReturnValue:
    reg = _registration(registration_id)
    try:
        services.confirm_deposit(
            reg,
            amount=_money("deposit_amount") or Decimal(0),
            reference=request.form.get("deposit_reference", "")[:64],
            actor=_user(),
        )
        db.session.commit()
        flash(_("The deposit is confirmed."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
        typed = {
            f"{name}:{reg.id}": request.form.get(name, "")[:64]
            for name in ("deposit_amount", "deposit_reference")
        }
        return _listing_page(reg.listing_id, typed=typed), 422
    return redirect(url_for(".listing", listing_id=reg.listing_id))


@bp.post("/registrations/<int:registration_id>/refund")
@require(Permission.AUCTION_REVIEW)
def refund(registration_id: int) -> ResponseReturnValue:
    reg = _registration(registration_id)
    try:
        services.record_refund(
            reg, reference=request.form.get("deposit_refund_reference", "")[:64], actor=_user()
        )
        db.session.commit()
        flash(_("The refund of the deposit is recorded."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".listing", listing_id=reg.listing_id))


@bp.post("/registrations/<int:registration_id>/review")
@require(Permission.AUCTION_REVIEW)
def review(registration_id: int) -> ResponseReturnValue:
    reg = _registration(registration_id)
    try:
        services.review(
            reg,
            accept=request.form.get("decision") == "qualify",
            note=request.form.get("review_note", "")[:500],
            actor=_user(),
        )
        db.session.commit()
        flash(_("The review is recorded."), "success")
    except DomainError as err:
        db.session.rollback()
        flash_refusal(err)
    return redirect(url_for(".listing", listing_id=reg.listing_id))
