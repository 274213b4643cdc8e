"""The demo city's listings (issue 19): a land listing whose timed auction runs when the demo starts and
ends when its countdown runs out, and a state property transfer sold to the only bidder meeting the
reserve — all through the real services, visible on the public portal."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from app import demo
from app.accounts.models import Organization
from app.auctions import services
from app.auctions.demo import LAND_COUNTDOWN
from app.auctions.models import AuctionListing
from app.core.clock import clock
from app.core.models import AuditLeaf
from tests.projects.conftest import T0


def test_the_demo_city_has_a_live_timed_auction_and_a_sold_transfer(
    app: Flask, db_session: Any, tmp_path: Path
) -> None:
    saved = {k: app.config[k] for k in ("INSTANCE_PATH", "BLOB_DIR")}
    app.config["INSTANCE_PATH"] = str(tmp_path / "instance")
    app.config["BLOB_DIR"] = str(tmp_path / "blobs")
    try:
        clock.freeze(T0)
        with app.test_request_context():
            demo.seed()
        seeded = clock.now()
        assert db_session.scalar(select(func.max(AuditLeaf.created_at))) <= seeded
        land, prop = db_session.scalars(select(AuctionListing).order_by(AuctionListing.id)).all()
        # (a) the timed auction runs: two bidders quoted in the listing, the countdown is ahead
        assert land.kind == "land" and land.status == "timed_bidding"
        assert len({b.registration_id for b in land.bids}) == 2 and len(land.bids) == 4
        assert land.countdown_ends_at == land.listing_ends_at + dt.timedelta(seconds=LAND_COUNTDOWN)
        assert land.countdown_ends_at > seeded
        visitor = app.test_client()
        live = visitor.get(f"/portal/auctions/{land.id}").get_data(as_text=True)
        assert "限时竞价中" in live and 'id="countdown"' in live
        names = db_session.scalars(select(Organization.name).where(Organization.kind == "bidder")).all()
        assert not any(name in live for name in names)
        # (b) sold to the only qualified bidder, above the opened reserve
        assert prop.kind == "state_property" and prop.status == "sold"
        assert prop.winner is not None and prop.reserve_price is not None
        assert prop.current_price is not None and prop.current_price >= prop.reserve_price
        assert [r.status for r in prop.registrations if r.id != prop.winner_id] == ["rejected"]
        winner = db_session.get(Organization, prop.winner.org_id)
        result = visitor.get(f"/portal/auctions/{prop.id}/result").get_data(as_text=True)
        assert "成交公示" in result and winner.name in result
        # someone trying the demo sees the auction end when the countdown runs out
        clock.freeze(land.countdown_ends_at + dt.timedelta(seconds=1))
        ended = services.settle(land.id)
        assert ended.status == "sold" and ended.ended_at == land.countdown_ends_at
        assert visitor.get(f"/portal/auctions/{land.id}/result").status_code == 200
    finally:
        app.config.update(saved)
