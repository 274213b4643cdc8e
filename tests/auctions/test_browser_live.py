"""The timed auction is live in the browser (headless Chromium, live server): bidder A keeps the listing page
open while bidder B bids through the API; A's page shows the new price, B's number in the history, A's rank
falling to 2 and the countdown restarted from B's bid — without a reload, and in Chinese only."""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.client
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest

from app.auctions import services
from app.core.clock import clock
from app.core.db import db
from tests.auctions.conftest import LAND_END, LAND_START, build_world
from tests.factories import PASSWORD
from tests.live import ARTIFACTS, live_app, serving
from tests.system import CHROMIUM, CHROMIUM_ARGS
from tests.test_browser_crawl import VISIBLE_TEXT, _problems

pytestmark = pytest.mark.browser

T1 = LAND_END + dt.timedelta(seconds=30)  # the timed bidding runs (two bidders at the listing's end)


@dataclass(frozen=True)
class Auction:
    url: str
    listing_id: int
    title: str
    data: str  # what the test entered (user data a page may show as is)
    a_username: str
    a_number: int
    b_token: str
    b_number: int


@pytest.fixture(scope="module")
def auction(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Auction]:
    app = live_app(tmp_path_factory, "auction-live", AUCTION_SSE_SECONDS=60)
    with app.test_request_context():
        world = build_world(bidders=2)
        listing = world.published(reserve_price=Decimal("10100000"))
        a, b = world.bidders
        reg_a, reg_b = world.qualify(listing, a), world.qualify(listing, b)
        clock.freeze(LAND_START + dt.timedelta(days=1))
        services.place_bid(listing.id, Decimal("10000000"), actor=a.user)
        services.place_bid(listing.id, Decimal("10100000"), actor=b.user)
        clock.freeze(T1)  # the listing ended with two bidders: the timed bidding, where A leads
        services.place_bid(listing.id, Decimal("10200000"), actor=a.user)
        found = Auction(
            "",
            listing.id,
            listing.title,
            f"{listing.title} {a.user.display_name}",
            a.user.username,
            reg_a.bidder_number,
            b.token,
            reg_b.bidder_number,
        )
        db.session.remove()
    try:
        with serving(app, "auction-live") as url:
            yield dataclasses.replace(found, url=url)
    finally:
        clock.reset()


def _bid_through_the_api(auction: Auction, amount: str) -> dict[str, str]:
    host, port = auction.url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        conn.request(
            "POST",
            f"/api/v1/auctions/listings/{auction.listing_id}/bids",
            body=json.dumps({"amount": amount}),
            headers={"Authorization": f"Bearer {auction.b_token}", "Content-Type": "application/json"},
        )
        resp = conn.getresponse()
        body: dict[str, str] = json.loads(resp.read())
        assert resp.status == 201, body
        return body
    finally:
        conn.close()


def test_a_bidder_sees_another_bid_its_rank_and_the_restarted_countdown_live(auction: Auction) -> None:
    from playwright.sync_api import expect, sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(locale="zh-CN").new_page()
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{auction.url}/auth/login")
            page.fill("input[name=username]", auction.a_username)
            page.fill("input[name=password]", PASSWORD)
            page.click("#login-submit")
            page.wait_for_load_state()
            page.goto(f"{auction.url}/auctions/{auction.listing_id}")
            page.locator("#live.streaming").wait_for(timeout=30_000)  # the stream said hello
            live = page.locator("#live")
            expect(page.locator("#live-status")).to_have_text(live.get_attribute("data-label-live") or "-")
            expect(page.locator("#current-price")).to_have_text("10,200,000.00")
            expect(page.locator("#my-rank")).to_have_text("1")
            expect(page.locator("#my-standing")).to_have_text(live.get_attribute("data-label-leading") or "-")
            before = page.locator("#countdown").get_attribute("data-ends")
            assert before == (T1 + dt.timedelta(seconds=240)).astimezone(dt.UTC).isoformat()
            navigations = "performance.getEntriesByType('navigation').length"
            loads = page.evaluate(navigations)

            clock.freeze(T1 + dt.timedelta(seconds=20))
            placed = _bid_through_the_api(auction, "10300000")

            expect(page.locator("#current-price")).to_have_text("10,300,000.00", timeout=30_000)
            expect(page.locator("#next-minimum")).to_have_text("10,400,000.00")
            last = page.locator("#history-rows tr").last
            expect(last.locator("td").nth(0)).to_have_text(str(placed["seq"]))
            expect(last.locator("td").nth(1)).to_have_text(str(auction.b_number))
            expect(last.locator("td").nth(2)).to_have_text("10,300,000.00")
            expect(last.locator("td").nth(4)).to_have_text("15:00:50")  # the bid's server time, Beijing
            expect(page.locator("#my-rank")).to_have_text("2")
            expect(page.locator("#my-standing")).to_have_text(live.get_attribute("data-label-outbid") or "-")
            countdown = page.locator("#countdown")
            expect(countdown).to_have_attribute("data-ends", placed["countdown_ends_at"])
            assert (
                placed["countdown_ends_at"] == (T1 + dt.timedelta(seconds=260)).astimezone(dt.UTC).isoformat()
            )
            expect(countdown).to_have_text(
                re.compile(r"^\d+:\d\d " + re.escape(live.get_attribute("data-label-left") or "-"))
            )
            assert page.evaluate(navigations) == loads  # no reload happened

            # The page in Chinese shows no English word, code or raw UTC time (the crawl's rules).
            texts = page.evaluate(VISIBLE_TEXT)
            problems = _problems(texts, "zh", auction.data)
            assert not problems, problems
            shots = ARTIFACTS / "auction-live"
            shots.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shots / "outbid.png"), full_page=True)
        finally:
            browser.close()
    assert not errors, errors
