"""The auctions services, split by capability: listing (create, publish, the reserve, transitions), bidding
(registration, review, bids) and result (settlement and what people see)."""

from .bidding import confirm_deposit, place_bid, register, review
from .listing import ListingInput, create_listing, listings_visible, publish_listing
from .result import record_refund, settle, settle_all, terminate

__all__ = [
    "ListingInput",
    "confirm_deposit",
    "create_listing",
    "listings_visible",
    "place_bid",
    "publish_listing",
    "record_refund",
    "register",
    "review",
    "settle",
    "settle_all",
    "terminate",
]
