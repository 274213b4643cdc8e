"""Bids racing at the last second, as real concurrent transactions through the API: a database of its own
for this module (committed data and audit leaves cannot roll back), SQLite or PostgreSQL as configured.

* Two bidders send the same next bid in the last second of the countdown: exactly one is accepted and
  restarts the countdown from its own server time; the other is refused as below the increment (the price
  moved before its turn behind the listing lock).
* Several bidders bid at once on a running clock: the accepted bids' sequence numbers are their commit order —
  gapless, prices rising by at least the increment, server times non-decreasing — and the countdown ends
  exactly ``countdown_seconds`` after the last commit."""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask

from app.auctions.models import AuctionListing
from app.core.clock import clock
from app.core.db import db
from tests.auctions.conftest import LAND_END, LAND_START, World, bid, build_world, state
from tests.conftest import isolated_app


@pytest.fixture(scope="module")
def race_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    with isolated_app(tmp_path_factory.mktemp("auction-race"), "_auction") as application:
        yield application


def _timed_listing(race_app: Flask, bidders: int) -> tuple[World, int]:
    """A listing with two quotes in the listing period and ``bidders`` qualified bidders, committed."""
    client = race_app.test_client()
    with race_app.app_context():
        world = build_world(bidders=bidders)
        listing = world.published(reserve_price=Decimal("10000000"))
        for bidder in world.bidders:
            world.qualify(listing, bidder)
        listing_id = listing.id
        db.session.remove()
    # each request in its own app context (a pushed one would share ``g``, the signed-in user, across them)
    clock.freeze(LAND_START + dt.timedelta(days=1))
    first = bid(client, listing_id, world.bidders[0], "10000000")
    second = bid(client, listing_id, world.bidders[1], "10100000")
    assert (first.status_code, second.status_code) == (201, 201), (first.get_json(), second.get_json())
    return world, listing_id


def _race(race_app: Flask, listing_id: int, offers: list[tuple[Any, str]]) -> list[Any]:
    """Send every offer from its own thread at once; the answers in offer order."""
    barrier = threading.Barrier(len(offers))
    answers: list[Any] = [None] * len(offers)

    def send(i: int, bidder: Any, amount: str) -> None:
        client = race_app.test_client()
        barrier.wait()
        answers[i] = bid(client, listing_id, bidder, amount)

    threads = [threading.Thread(target=send, args=(i, b, a)) for i, (b, a) in enumerate(offers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return answers


def test_two_bids_in_the_last_second_exactly_one_restarts_the_countdown(race_app: Flask) -> None:
    world, listing_id = _timed_listing(race_app, bidders=3)
    a, _b, c = world.bidders  # b holds the current price; a and c race to beat it
    last_second = LAND_END + dt.timedelta(seconds=239)  # the countdown from the listing end: 240 s
    clock.freeze(last_second)
    answers = _race(race_app, listing_id, [(a, "10200000"), (c, "10200000")])
    codes = sorted(r.status_code for r in answers)
    assert codes == [201, 422], [r.get_json() for r in answers]
    won = next(r for r in answers if r.status_code == 201).get_json()
    lost = next(r for r in answers if r.status_code == 422).get_json()
    assert lost["code"] == "below_increment" and "10,300,000.00" in lost["message"]
    assert won["seq"] == 3 and won["phase"] == "timed"
    assert (
        won["countdown_ends_at"] == (last_second + dt.timedelta(seconds=240)).astimezone(dt.UTC).isoformat()
    )
    with race_app.app_context():
        listing = db.session.get(AuctionListing, listing_id)
        assert listing is not None and listing.status == "timed_bidding"
        assert listing.countdown_ends_at == last_second + dt.timedelta(seconds=240)
        assert [x.seq for x in listing.bids] == [1, 2, 3] and listing.current_price == Decimal("10200000")
        db.session.remove()


def test_concurrent_bids_are_numbered_in_commit_order_and_the_countdown_follows_the_last(
    race_app: Flask,
) -> None:
    world, listing_id = _timed_listing(race_app, bidders=8)
    # a running clock, 30 s into the timed auction: each bid reads its own instant behind the lock
    clock.reset()
    clock.set_offset(LAND_END + dt.timedelta(seconds=30) - dt.datetime.now(dt.UTC))
    offers = [(bidder, str(10_200_000 + 100_000 * i)) for i, bidder in enumerate(world.bidders[2:])]
    answers = _race(race_app, listing_id, offers)
    assert all(r.status_code in (201, 422) for r in answers), [r.get_json() for r in answers]
    accepted = sorted((r.get_json() for r in answers if r.status_code == 201), key=lambda x: x["seq"])
    assert accepted, "at least the first bid behind the lock is valid"
    clock.reset()
    with race_app.app_context():
        listing = db.session.get(AuctionListing, listing_id)
        assert listing is not None
        bids = listing.bids
        assert [x.seq for x in bids] == list(range(1, len(bids) + 1))  # gapless
        assert len(bids) == 2 + len(accepted)
        timed = [x for x in bids if x.phase == "timed"]
        assert all(
            later.amount >= earlier.amount + listing.increment for earlier, later in itertools.pairwise(bids)
        )
        assert all(later.placed_at >= earlier.placed_at for earlier, later in itertools.pairwise(timed))
        assert all(x.countdown_ends_at == x.placed_at + dt.timedelta(seconds=240) for x in timed)
        assert listing.countdown_ends_at == timed[-1].placed_at + dt.timedelta(seconds=240)
        assert listing.current_price == timed[-1].amount
        # every acknowledged bid is in the table under the number it was told
        assert {(x["seq"], x["amount"]) for x in accepted} == {(x.seq, f"{x.amount:.2f}") for x in timed}
        db.session.remove()
    with race_app.app_context():
        seen = state(race_app.test_client(), listing_id, world.bidders[0])
        assert seen["bids"] == 2 + len(accepted)
        db.session.remove()
