"""The live channel of a listing (``auction:<listing id>``): what an accepted bid and a change of state tell
every watcher, and the Server-Sent Events stream that carries it (``app.core.streams``).

An event says only what the listing page shows to everyone: the sequence number, the price, the bidder's
number (a pseudonym), the phase, the server time of the bid, the countdown's end and the state. No
organization or user name travels before the end; the end event carries the result, whose winner's name is
public from then on. The stream formats every event through one allow-list, so a payload that grew a field
by mistake still cannot leak it."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from flask import Response, current_app

from app.core import events, streams
from app.core.clock import now, to_local
from app.core.db import db

from ..enums import ENDED, ListingStatus
from ..models import AuctionBid, AuctionListing

#: The fields each kind of event may carry to a watcher (``winner`` only once the listing has ended).
FIELDS: dict[str, tuple[str, ...]] = {
    "hello": ("kind", "server_time"),
    "bid": (
        "kind",
        "seq",
        "price",
        "bidder_number",
        "phase",
        "placed_at",
        "server_time",
        "countdown_ends_at",
        "next_minimum",
        "status",
        "leaf_idx",
    ),
    "status": (
        "kind",
        "status",
        "at",
        "price",
        "next_minimum",
        "countdown_ends_at",
        "ended_at",
        "unsold_reason",
        "winner",
    ),
}
ENDED_VALUES = frozenset(s.value for s in ENDED)


def channel(listing_id: int) -> str:
    return f"auction:{listing_id}"


def server_time(at: dt.datetime) -> str:
    """An instant as the pages state it: Beijing time to the millisecond."""
    return to_local(at).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def next_minimum(listing: AuctionListing) -> Decimal:
    """The lowest acceptable next bid: the start price, then the current price plus the increment."""
    if listing.current_price is None:
        return listing.start_price
    return listing.current_price + listing.increment


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def _money(value: Decimal | None) -> str | None:
    return None if value is None else f"{value:.2f}"


def bid_event(listing: AuctionListing, bid: AuctionBid, bidder_number: int) -> dict[str, Any]:
    """What watchers learn of an accepted bid."""
    return {
        "kind": "bid",
        "seq": bid.seq,
        "price": _money(bid.amount),
        "bidder_number": bidder_number,
        "phase": bid.phase,
        "placed_at": _iso(bid.placed_at),
        "server_time": server_time(bid.placed_at),
        "countdown_ends_at": _iso(bid.countdown_ends_at),
        "next_minimum": _money(next_minimum(listing)),
        "status": listing.status,
        "leaf_idx": bid.leaf_idx,
    }


def status_event(listing: AuctionListing, to: ListingStatus, payload: dict[str, Any]) -> dict[str, Any]:
    """What watchers learn of a change of state: the timed bidding started (with its countdown), or the end
    (sold with the winner's number, name and price, or unsold with the reason). ``payload`` is the audit
    payload of the transition (``at``; at a sale ``bidder_number`` and ``winner_name``)."""
    ended = to in ENDED
    at = payload.get("at")
    data: dict[str, Any] = {
        "kind": "status",
        "status": to.value,
        "at": _iso(at) if isinstance(at, dt.datetime) else None,
        "price": _money(listing.current_price),
        "next_minimum": None if ended else _money(next_minimum(listing)),
        "countdown_ends_at": None if ended else _iso(listing.countdown_ends_at),
    }
    if ended:
        data["ended_at"] = _iso(listing.ended_at)
        data["unsold_reason"] = listing.unsold_reason
        if to is ListingStatus.SOLD:
            data["winner"] = {
                "bidder_number": payload.get("bidder_number"),
                "name": payload.get("winner_name") or "",
            }
    return data


def publish(listing: AuctionListing, data: dict[str, Any]) -> None:
    """Queue ``data`` on the listing's channel; it goes out when the transaction commits."""
    events.publish(db.session(), channel(listing.id), data)


def visible(data: dict[str, Any]) -> dict[str, Any] | None:
    """The part of an event a watcher may read, or None for an event of no known kind."""
    allowed = FIELDS.get(str(data.get("kind")))
    if allowed is None:
        return None
    shown = {k: data[k] for k in allowed if k in data}
    if shown.get("kind") != "status" or shown.get("status") not in ENDED_VALUES:
        shown.pop("winner", None)  # a name only once the listing has ended
    return shown


def message(data: dict[str, Any]) -> str | None:
    shown = visible(data)
    if shown is None:
        return None
    return f"data: {json.dumps(shown, ensure_ascii=False, separators=(',', ':'))}\n\n"


def format_event(ev: events.Event) -> str | None:
    return message(ev.data)


def hello() -> str:
    """The stream's opening: the reconnect delay and the server's clock (the page's countdown offset)."""
    return "retry: 3000\n\n" + (message({"kind": "hello", "server_time": _iso(now())}) or "")


def stream(listing_id: int) -> Response:
    """The listing's live stream, served by the stream service (a :class:`~app.core.streams.Plan`) or on one
    of the worker's stream slots; the caller has checked that the viewer may see the listing."""
    seconds = float(current_app.config.get("AUCTION_SSE_SECONDS", 300))
    keepalive = min(15.0, seconds)
    name = channel(listing_id)

    def plan(_lease: streams.Lease) -> streams.Plan:
        return streams.Plan(
            channels=(name,), prelude=hello(), format=format_event, seconds=seconds, keepalive=keepalive
        )

    def body() -> Iterator[str]:
        started = time.monotonic()
        yield hello()
        for ev in events.bus().subscribe([name], timeout=keepalive):
            text = ": keep-alive\n\n" if ev is None else format_event(ev)
            if text:
                yield text
            if time.monotonic() - started > seconds:
                return

    return streams.respond(seconds=seconds, plan=plan, body=body)
