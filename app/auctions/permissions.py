"""Object-level checks of the auctions domain (one rule for pages and API). A draft is the transferor's
alone; bidders stay pseudonymous to everyone but the staff reviewing registrations until the end."""

from __future__ import annotations

from app.accounts.models import User
from app.core.permissions import Role

from .enums import TERMINABLE, ListingStatus
from .models import AuctionListing, AuctionRegistration


def is_owner(user: User, listing: AuctionListing) -> bool:
    return user.role == Role.TENDERER and user.org_id == listing.owner_org_id


def can_view(user: User, listing: AuctionListing) -> bool:
    """The transferor always; everyone else with the view permission once the notice is published."""
    if is_owner(user, listing):
        return True
    if user.role == Role.TENDERER:
        return False
    return listing.status_enum is not ListingStatus.DRAFT


def can_watch(user: User, listing: AuctionListing) -> bool:
    """The live stream: whoever may see the listing once it is published (a draft has nothing to watch)."""
    return listing.status_enum is not ListingStatus.DRAFT and can_view(user, listing)


def can_manage(user: User, listing: AuctionListing) -> bool:
    """Publish: the transferor's own draft."""
    return is_owner(user, listing) and listing.status_enum is ListingStatus.DRAFT


def can_register(user: User, listing: AuctionListing) -> bool:
    return user.role == Role.BIDDER and listing.status_enum is not ListingStatus.DRAFT


def can_review(user: User, registration: AuctionRegistration) -> bool:
    """Deposit confirmation and qualification review: center staff (they see who registered)."""
    return user.role == Role.CENTER_STAFF and registration.listing.status_enum is not ListingStatus.DRAFT


def sees_registrants(user: User, listing: AuctionListing) -> bool:
    """Who registered, by name: the reviewing staff and the regulator; never the transferor or another
    bidder before the end (the result names the winner only)."""
    return user.role in {Role.CENTER_STAFF, Role.REGULATOR} and listing.status_enum is not ListingStatus.DRAFT


def can_terminate(user: User, listing: AuctionListing) -> bool:
    """终止: the center staff running the listing, while it is published and not ended."""
    return user.role == Role.CENTER_STAFF and listing.status_enum in TERMINABLE
