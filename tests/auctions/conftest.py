"""Fixtures of the auctions tests: a published catalogue, a transferor, center staff and bidders with API
tokens, and a land listing published at a fixed instant (Monday 2 March 2026, 09:00 Beijing time)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient

from app.accounts import services as accounts
from app.accounts.models import Organization, User
from app.auctions import services
from app.auctions.models import AuctionListing, AuctionRegistration
from app.core.clock import CST, clock
from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.projects.models import CatalogueVersion
from app.projects.seeding import publish_catalogue_at
from tests.factories import make_org, make_user

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=CST)
LAND_START = dt.datetime(2026, 3, 24, 9, 0, tzinfo=CST)  # the 20 days after the notice have run (Art. 11)
LAND_END = dt.datetime(2026, 4, 7, 15, 0, tzinfo=CST)  # more than 10 days of listing (Art. 18)


@dataclass
class Bidder:
    org: Organization
    user: User
    token: str

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}


@dataclass
class World:
    catalogue: CatalogueVersion
    staff: User
    transferor: User
    regulator: User
    bidders: list[Bidder] = field(default_factory=list)

    def item_id(self, code: str) -> int:
        return next(i.id for i in self.catalogue.items if i.code == code)

    def listing_input(self, code: str = "TD-01", **overrides: Any) -> services.ListingInput:
        values: dict[str, Any] = {
            "catalogue_item_id": self.item_id(code),
            "title": "通州区某地块国有建设用地使用权",
            "notice_at": T0,
            "listing_starts_at": LAND_START,
            "listing_ends_at": LAND_END,
            "start_price": Decimal("10000000"),
            "increment": Decimal("100000"),
            "deposit": Decimal("2000000"),
            "reserve_price": Decimal("10500000"),
        }
        values.update(overrides)
        return services.ListingInput(**values)

    def published(self, code: str = "TD-01", **overrides: Any) -> AuctionListing:
        clock.freeze(T0)
        listing = services.create_listing(self.listing_input(code, **overrides), actor=self.transferor)
        services.publish_listing(listing, actor=self.transferor)
        db.session.commit()
        return listing

    def qualify(self, listing: AuctionListing, bidder: Bidder) -> AuctionRegistration:
        reg = services.register(listing, actor=bidder.user)
        services.confirm_deposit(reg, amount=listing.deposit, reference=f"BANK-{reg.id}", actor=self.staff)
        services.review(reg, accept=True, note="", actor=self.staff)
        db.session.commit()
        return reg


def make_bidder() -> Bidder:
    org = make_org(OrgKind.BIDDER)
    user = make_user(Role.BIDDER, org)
    return Bidder(org, user, accounts.create_api_token(user, "auction").raw)


def build_world(bidders: int = 3) -> World:
    """Everything through the real services, at fixed instants (needs an app context)."""
    clock.freeze(T0 - dt.timedelta(days=30))
    manager = make_user(Role.MANAGER)
    catalogue = publish_catalogue_at(manager, T0 - dt.timedelta(days=1))
    center = make_org(OrgKind.TRADING_CENTER)
    world = World(
        catalogue=catalogue,
        staff=make_user(Role.CENTER_STAFF, center),
        transferor=make_user(Role.TENDERER, make_org(OrgKind.TENDERER)),
        regulator=make_user(Role.REGULATOR, make_org(OrgKind.REGULATOR)),
        bidders=[make_bidder() for _ in range(bidders)],
    )
    db.session.commit()
    clock.freeze(T0)
    return world


@pytest.fixture
def world(db_session: Any) -> World:
    return build_world()


def bid(client: FlaskClient, listing: AuctionListing | int, bidder: Bidder, amount: str) -> Any:
    listing_id = listing if isinstance(listing, int) else listing.id
    return client.post(
        f"/api/v1/auctions/listings/{listing_id}/bids", json={"amount": amount}, headers=bidder.headers()
    )


def state(client: FlaskClient, listing: AuctionListing | int, bidder: Bidder) -> dict[str, Any]:
    listing_id = listing if isinstance(listing, int) else listing.id
    resp = client.get(f"/api/v1/auctions/listings/{listing_id}", headers=bidder.headers())
    assert resp.status_code == 200, resp.get_data(as_text=True)
    body: dict[str, Any] = resp.get_json()
    return body
