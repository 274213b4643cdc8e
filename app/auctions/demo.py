"""Demo city listings (``flask demo seed``), run through the real services at fixed instants relative to the
seed's clock (the business clock is frozen at each instant in turn and released after; nothing is dated
after the seed):

(a) a land use right listing (catalogue TD-01) by the demo tenderer (the transferor), whose 20-day listing
    period ends at the very moment of the seed with two qualified bidders (bidder1, bidder2) having quoted:
    the demo starts with its timed auction (限时竞价) running. The countdown is set to the longest the
    rules allow (one hour), so someone trying the demo right after ``make run`` can sign in as bidder1 or
    bidder2, bid, watch the countdown restart, and see the auction end — by waiting, or at once with
    ``flask demo clock 1h`` (the demo clock only moves forward, in whole minutes, so a shorter countdown
    would be hard to catch). Whoever opens the demo later finds it ended, sold at the last quote, with the
    timed phase in its audit history; the portal shows the result announcement either way.
(b) a state property transfer (catalogue CQ-01) whose listing period ended five days before the seed: one
    bidder (bidder4) qualified and quoted above the sealed reserve, another (bidder5) was rejected at the
    review for a deposit that never arrived, so it is sold to the only bidder meeting the reserve
    (国土资源部令第39号 Art. 19 (一) applies alike: one bidder meeting the reserve wins).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from app.accounts.models import User
from app.core.clock import clock, now
from app.core.db import db
from app.projects.services.catalogue import current_catalogue

from . import services
from .models import AuctionListing, AuctionRegistration

LAND_COUNTDOWN = 3600  # seconds: the longest the rules allow (see the module docstring)


def _item_id(code: str) -> int:
    catalogue = current_catalogue()
    assert catalogue is not None, "the projects demo publishes the catalogue first"
    return next(i.id for i in catalogue.items if i.code == code)


def _qualify(
    listing: AuctionListing, bidder: User, staff: User, *, applied: dt.datetime, reviewed: dt.datetime
) -> AuctionRegistration:
    with clock.frozen_at(applied):
        reg = services.register(listing, actor=bidder)
    with clock.frozen_at(reviewed):
        services.confirm_deposit(reg, amount=listing.deposit, reference=f"32060011{reg.id:08d}", actor=staff)
        services.review(reg, accept=True, note="", actor=staff)
    db.session.commit()
    return reg


def _bid(listing: AuctionListing, bidder: User, amount: str, at: dt.datetime) -> None:
    with clock.frozen_at(at):
        services.place_bid(listing.id, Decimal(amount), actor=bidder)  # commits


def seed_listings(users: dict[str, User]) -> list[AuctionListing]:
    """The two demo listings (see the module docstring); commits as the bid service does."""
    base = now().replace(second=0, microsecond=0)  # the seed's instant, to the minute
    day = dt.timedelta(days=1)
    transferor, staff = users["tenderer"], users["staff"]

    # (a) land: notice 50 days ago, listing from 20 days ago to now, two bidders quoting
    with clock.frozen_at(base - 50 * day):
        land = services.create_listing(
            services.ListingInput(
                catalogue_item_id=_item_id("TD-01"),
                title="崇川区观音山街道二号地块国有建设用地使用权",
                description=(
                    "出让面积约三万二千平方米，用途为住宅用地，出让年限七十年；"
                    "挂牌期满有两个及以上竞买人报价的，转入网上限时竞价。"
                ),
                notice_at=base - 50 * day,
                listing_starts_at=base - 20 * day,
                listing_ends_at=base,
                start_price=Decimal("128000000"),
                increment=Decimal("500000"),
                deposit=Decimal("25600000"),
                reserve_price=Decimal("129000000"),
                countdown_seconds=LAND_COUNTDOWN,
            ),
            actor=transferor,
        )
        services.publish_listing(land, actor=transferor)
        db.session.commit()
    for username in ("bidder1", "bidder2"):
        _qualify(land, users[username], staff, applied=base - 45 * day, reviewed=base - 25 * day)
    _bid(land, users["bidder1"], "128000000", base - 19 * day)
    _bid(land, users["bidder2"], "128500000", base - 10 * day)
    _bid(land, users["bidder1"], "129000000", base - 3 * day)
    _bid(land, users["bidder2"], "129500000", base - day)
    land = services.settle(land.id)  # the listing period is over: the timed auction starts

    # (b) state property: one qualified bidder quoting above the reserve, one rejected
    with clock.frozen_at(base - 60 * day):
        prop = services.create_listing(
            services.ListingInput(
                catalogue_item_id=_item_id("CQ-01"),
                title="南通市交通产业集团所持南通港通物流有限公司百分之五十一股权",
                description="转让标的为标的企业百分之五十一股权，受让方须承接标的企业现有职工。",
                notice_at=base - 60 * day,
                listing_starts_at=base - 60 * day,
                listing_ends_at=base - 5 * day,
                start_price=Decimal("56000000"),
                increment=Decimal("200000"),
                deposit=Decimal("5600000"),
                reserve_price=Decimal("56500000"),
            ),
            actor=transferor,
        )
        services.publish_listing(prop, actor=transferor)
        db.session.commit()
    _qualify(prop, users["bidder4"], staff, applied=base - 50 * day, reviewed=base - 40 * day)
    with clock.frozen_at(base - 48 * day):
        late = services.register(prop, actor=users["bidder5"])
    with clock.frozen_at(base - 40 * day):
        services.review(late, accept=False, note="竞买保证金未在报名截止前到账", actor=staff)
    db.session.commit()
    _bid(prop, users["bidder4"], "56800000", base - 30 * day)
    prop = services.settle(prop.id)  # one bidder meeting the reserve: sold at the end of the listing
    return [land, prop]
