"""What a bid costs behind the listing lock (issue 19's scale, issue 21's curves): a fixed number of
statements, whatever the length of the history — the highest bid is read by its sequence number, never the
whole history, and the bid row is written once, with its audit leaf. Statement counts, never timings."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from flask import Flask
from sqlalchemy import event

from app.auctions import services
from app.core.clock import clock
from app.core.db import db
from tests.auctions.conftest import LAND_START, World
from tests.experts.test_draw_statements import kind


@contextmanager
def full_statements() -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def _bid(listing_id: int, amount: Decimal, actor: Any) -> Counter[str]:
    with full_statements() as seen:
        services.place_bid(listing_id, amount, actor=actor)
    bid_reads = [s for s in seen if s.startswith("SELECT") and " FROM auction_bid" in s]
    # the only read of the history: the highest bid, by its sequence number
    assert len(bid_reads) == 1 and "auction_bid.seq = " in bid_reads[0], bid_reads
    assert not any(s.startswith("UPDATE auction_bid") for s in seen)  # written once
    # the audit log's subtree rows come and go with the leaf index: not the bid's own cost
    return Counter(kind(s) for s in seen if not s.startswith("INSERT INTO audit_node"))


def test_a_bid_costs_the_same_after_three_bids_and_after_forty(
    app: Flask, world: World, db_session: Any
) -> None:
    listing = world.published()
    a, b, _c = world.bidders
    world.qualify(listing, a)
    world.qualify(listing, b)
    clock.freeze(LAND_START + dt.timedelta(hours=1))
    price = listing.start_price
    bidders = [a.user, b.user]
    costs = {}
    for n in range(1, 42):
        if n in (4, 41):
            costs[n] = _bid(listing.id, price, bidders[n % 2])
        else:
            services.place_bid(listing.id, price, actor=bidders[n % 2])
        price += listing.increment
        db.session.expire_all()
    assert costs[4] == costs[41], (costs[4], costs[41])
    assert listing.last_seq == 41 and listing.current_price == price - listing.increment
