"""Issue 19 — the live listing: the SSE stream of ``auction:<listing id>`` (who may watch, what an event
says), the events an accepted bid and a change of state publish (numbers, never names, before the end; the
result at the end), and the late bid on the HTML form refused with the server's exact time."""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.auctions.models import AuctionListing
from app.auctions.services import live
from app.core import events
from app.core.clock import clock
from app.core.db import db
from tests.auctions.conftest import LAND_END, LAND_START, World, bid
from tests.auctions.test_auctions import _two_in_the_listing
from tests.factories import csrf_token, login


def _page_client(app: Flask, user: Any) -> FlaskClient:
    client = app.test_client()
    login(client, user)
    return client


def _data(text: str) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in text.splitlines() if line.startswith("data: ")]


@pytest.fixture
def short_streams(app: Flask) -> Any:
    """A stream that ends by itself after a second (five minutes in production)."""
    before = app.config.get("AUCTION_SSE_SECONDS")
    app.config["AUCTION_SSE_SECONDS"] = 1
    yield
    app.config["AUCTION_SSE_SECONDS"] = before


@pytest.fixture(autouse=True)
def in_process(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process bus and stream caps, even where the environment names a Redis: the tests read the bus
    and the caps of this process."""
    monkeypatch.setitem(app.config, "REDIS_URL", None)


def _names(world: World) -> list[str]:
    """Every organization and user name of the bidders (what must not travel before the end)."""
    out: list[str] = []
    for b in world.bidders:
        out += [b.org.name, b.user.username, b.user.display_name]
    return out


def test_only_viewers_of_the_published_listing_may_watch(
    app: Flask, world: World, db_session: Any, short_streams: Any
) -> None:
    clock.freeze(LAND_START - dt.timedelta(days=30))
    from app.auctions import services

    draft = services.create_listing(world.listing_input(), actor=world.transferor)
    db.session.commit()
    published = world.published()
    owner = _page_client(app, world.transferor)
    # A draft has nothing to watch: 404 even for its transferor (who may open its page).
    assert owner.get(f"/auctions/{draft.id}").status_code == 200
    assert owner.get(f"/auctions/{draft.id}/events").status_code == 404
    assert _page_client(app, world.bidders[0].user).get(f"/auctions/{draft.id}/events").status_code == 404
    assert owner.get("/auctions/999999/events").status_code == 404

    for user in (world.transferor, world.staff, world.regulator, world.bidders[0].user):
        resp = _page_client(app, user).get(f"/auctions/{published.id}/events")
        assert resp.status_code == 200 and resp.mimetype == "text/event-stream", user.role
        hello = _data(resp.get_data(as_text=True))[0]
        assert hello == {"kind": "hello", "server_time": clock.now().isoformat()}

    # Another transferor sees neither the page nor the stream; nobody anonymous gets a stream.
    from app.core.permissions import OrgKind, Role
    from tests.factories import make_org, make_user

    stranger = make_user(Role.TENDERER, make_org(OrgKind.TENDERER))
    db.session.commit()
    assert _page_client(app, stranger).get(f"/auctions/{published.id}/events").status_code == 404
    anonymous = app.test_client().get(f"/auctions/{published.id}/events")
    assert anonymous.status_code in (302, 401) and anonymous.mimetype != "text/event-stream"


def _listen(channel: str) -> Any:
    """A subscription of the in-process bus (the tests' bus), registered before anything is published."""
    bus = events.bus()
    assert isinstance(bus, events.InProcessBus)
    sub = bus.subscribe([channel], timeout=0.01)
    assert next(sub) is None  # registered
    return sub


def _received(sub: Any) -> list[dict[str, Any]]:
    out = []
    for ev in sub:
        if ev is None:
            return out
        out.append(ev.data)
    return out


def test_events_name_bidders_by_number_until_the_end_and_the_result_after(
    client: FlaskClient, world: World, db_session: Any
) -> None:
    listing = world.published(reserve_price=Decimal("10100000"))
    a, b, _c = world.bidders
    reg_a, reg_b = world.qualify(listing, a), world.qualify(listing, b)
    sub = _listen(live.channel(listing.id))

    clock.freeze(LAND_START + dt.timedelta(days=1))
    assert bid(client, listing, a, "10000000").status_code == 201
    assert bid(client, listing, b, "10100000").status_code == 201
    t1 = LAND_END + dt.timedelta(seconds=30)
    clock.freeze(t1)
    placed = bid(client, listing, a, "10200000").get_json()
    seen = _received(sub)

    opened, first, second, timed, third = seen
    assert opened == {
        "kind": "status", "status": "listing", "at": LAND_START.astimezone(dt.UTC).isoformat(),
        "price": None, "next_minimum": "10000000.00", "countdown_ends_at": None,
    }  # fmt: skip
    assert first["kind"] == "bid" and first["bidder_number"] == reg_a.bidder_number
    assert (second["seq"], second["price"], second["bidder_number"], second["phase"]) == (
        2, "10100000.00", reg_b.bidder_number, "listing",
    )  # fmt: skip
    assert second["next_minimum"] == "10200000.00" and second["countdown_ends_at"] is None
    # The timed bidding starts at the listing's end (two still bidding), with its countdown.
    assert timed["status"] == "timed_bidding" and timed["price"] == "10100000.00"
    assert timed["countdown_ends_at"] == (LAND_END + dt.timedelta(seconds=240)).astimezone(dt.UTC).isoformat()
    assert third == {
        "kind": "bid", "seq": 3, "price": "10200000.00", "bidder_number": reg_a.bidder_number,
        "phase": "timed", "placed_at": t1.astimezone(dt.UTC).isoformat(),
        "server_time": "2026-04-07 15:00:30.000", "countdown_ends_at": placed["countdown_ends_at"],
        "next_minimum": "10300000.00", "status": "timed_bidding", "leaf_idx": placed["leaf_idx"],
    }  # fmt: skip
    streamed = "".join(live.message(e) or "" for e in seen)
    for name in _names(world):
        assert name not in streamed

    # The countdown runs out: the end event carries the result, the winner's name public from now on.
    clock.freeze(t1 + dt.timedelta(seconds=240))
    assert client.get(f"/api/v1/auctions/listings/{listing.id}", headers=b.headers()).status_code == 200
    (sold,) = _received(sub)
    assert sold["status"] == "sold" and sold["price"] == "10200000.00"
    assert sold["ended_at"] == (t1 + dt.timedelta(seconds=240)).astimezone(dt.UTC).isoformat()
    assert sold["winner"] == {"bidder_number": reg_a.bidder_number, "name": a.org.name}
    assert a.org.name in (live.message(sold) or "")


def test_the_stream_shows_only_the_allowed_fields(app: Flask, world: World, db_session: Any) -> None:
    """Whatever a payload carries, the stream sends the allow-listed fields, and a winner only at the end."""
    listing = world.published()
    channel = live.channel(listing.id)
    leaky = {"kind": "bid", "seq": 9, "price": "1.00", "bidder_number": 1234, "org_name": "某公司"}
    early_winner = {"kind": "status", "status": "timed_bidding", "winner": {"name": "某公司"}}
    bus = events.bus()
    assert isinstance(bus, events.InProcessBus)

    def publish_when_subscribed() -> None:
        while not bus._subscribers.get(channel):  # the stream has subscribed
            threading.Event().wait(0.01)
        for data in (leaky, {"kind": "unknown", "name": "某公司"}, early_winner):
            bus.publish(events.Event(channel, data))

    publisher = threading.Thread(target=publish_when_subscribed, daemon=True)
    publisher.start()
    resp = _page_client(app, world.regulator).get(f"/auctions/{listing.id}/events", buffered=False)
    body = ""
    try:
        for chunk in resp.response:  # read until the hello and the two events that may be shown
            body += chunk.decode() if isinstance(chunk, bytes) else chunk
            if len(_data(body)) == 3:
                break
    finally:
        resp.close()
    publisher.join(timeout=10)
    assert "某公司" not in body and "org_name" not in body
    assert _data(body)[1:] == [
        {"kind": "bid", "seq": 9, "price": "1.00", "bidder_number": 1234},
        {"kind": "status", "status": "timed_bidding"},
    ]


def test_a_late_bid_on_the_page_shows_the_server_time(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    listing = _two_in_the_listing(client, world)
    a = world.bidders[0]
    page = _page_client(app, a.user)
    token = csrf_token(page, f"/auctions/{listing.id}")
    late = LAND_END + dt.timedelta(seconds=240, milliseconds=7)  # the countdown from the listing end ran out
    clock.freeze(late)
    resp = page.post(
        f"/auctions/{listing.id}/bid",
        data={"amount": "10200000", "csrf_token": token},
        headers={"Accept-Language": "zh-CN"},
        follow_redirects=True,
    )
    text = re.sub(r"\s+", " ", resp.get_data(as_text=True))
    assert "2026-04-07 15:04:00.007" in text  # the server's time of the refusal, Beijing, to the millisecond
    assert "2026-04-07 15:04:00.000" in text  # and the instant the bidding ended
    assert db.session.get(AuctionListing, listing.id).status == "sold"


def test_the_stream_service_serves_the_auction_stream_as_a_plan(
    app: Flask, world: World, db_session: Any
) -> None:
    """Behind nginx the stream service runs the same view for the handshake: the path is one of its stream
    paths, and the plan's channel is one it subscribes to (else the handshake fails)."""
    from app.core import stream_service, streams

    listing = world.published()
    assert stream_service.PATHS.match(f"/auctions/{listing.id}/events")
    client = _page_client(app, world.bidders[0].user)
    store = streams.leases()
    assert isinstance(store, streams.LocalLeases)
    before = set(store._by_id)
    resp = client.get(f"/auctions/{listing.id}/events", environ_overrides={streams.SERVICE_KEY: True})
    for lease_id in set(store._by_id) - before:  # the service releases it when the stream ends
        store.release(streams.Lease(lease_id, "", store))
    assert resp.status_code == 200 and resp.mimetype == "text/event-stream"
    assert _data(resp.get_data(as_text=True)) == [{"kind": "hello", "server_time": clock.now().isoformat()}]
    assert store._by_id.keys() == before


def test_a_terminated_listing_tells_its_watchers_once(
    client: FlaskClient, world: World, db_session: Any
) -> None:
    from app.auctions.services.result import terminate

    listing = world.published()
    world.qualify(listing, world.bidders[0])
    sub = _listen(live.channel(listing.id))
    at = LAND_START + dt.timedelta(days=2)
    clock.freeze(at)
    terminate(listing.id, reason="法院裁定中止", actor=world.staff)
    opened, stopped = _received(sub)
    assert opened["status"] == "listing"
    assert stopped == {
        "kind": "status", "status": "terminated", "at": at.astimezone(dt.UTC).isoformat(), "price": None,
        "next_minimum": None, "countdown_ends_at": None, "ended_at": at.astimezone(dt.UTC).isoformat(),
        "unsold_reason": None,
    }  # fmt: skip
