"""Issue 19 — the public side of listings: the portal's list of published listings, the listing notice (the
reserve only as "set or not" until the end, nobody's name or number), and after the end the result
announcement with the opened reserve, the history in commit order and each bid's public inclusion proof."""

from __future__ import annotations

import base64
import datetime as dt
import re
from html.parser import HTMLParser
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.auctions import services
from app.auctions.models import AuctionListing, AuctionRegistration
from app.core import audit, merkle
from app.core.clock import clock
from tests.auctions.conftest import LAND_END, LAND_START, World, bid

WORD = re.compile(r"[A-Za-z][A-Za-z-]*[A-Za-z]|[A-Za-z]")
ALLOWED = {"Atom", "JSON", "SHA"}  # product and format names, as the browser crawl allows them


class _MainText(HTMLParser):
    """The visible text of <main>, without code blocks (hashes are shown as code)."""

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0
        self.skip = 0
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "main":
            self.depth += 1
        elif tag in {"code", "script", "style"}:
            self.skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "main":
            self.depth -= 1
        elif tag in {"code", "script", "style"}:
            self.skip -= 1

    def handle_data(self, data: str) -> None:
        if self.depth and not self.skip and data.strip():
            self.text.append(data.strip())


def _latin(html: str, data: list[str]) -> list[str]:
    """Latin words of the page's main text, apart from what people entered (the factories' names)."""
    parser = _MainText()
    parser.feed(html)
    text = " ".join(parser.text)
    for value in data:
        text = text.replace(value, " ")
    return [w for w in WORD.findall(text) if w not in ALLOWED]


def _anon(app: Flask, locale: str | None = None) -> FlaskClient:
    client = app.test_client()
    if locale:
        with client.session_transaction() as sess:
            sess["locale"] = locale
    return client


def _names(world: World) -> list[str]:
    return [b.org.name for b in world.bidders] + [b.user.display_name for b in world.bidders]


def _two_qualified(world: World) -> tuple[AuctionListing, AuctionRegistration, AuctionRegistration]:
    """A published land listing with bidders 0 and 1 qualified, the clock an hour into the listing."""
    listing = world.published()
    reg_a = world.qualify(listing, world.bidders[0])
    reg_b = world.qualify(listing, world.bidders[1])
    clock.freeze(LAND_START + dt.timedelta(hours=1))
    return listing, reg_a, reg_b


def test_anonymous_sees_published_listings_but_not_drafts(app: Flask, world: World, db_session: Any) -> None:
    listing = world.published()
    draft = services.create_listing(world.listing_input(title="未发布的地块"), actor=world.transferor)
    db_session.commit()
    visitor = _anon(app)
    page = visitor.get("/portal/auctions").get_data(as_text=True)
    assert listing.title in page and "未发布的地块" not in page
    assert "已发布公告" in page  # the status in words
    assert visitor.get(f"/portal/auctions/{draft.id}").status_code == 404
    assert visitor.get(f"/portal/auctions/{draft.id}/result").status_code == 404
    notice = visitor.get(f"/portal/auctions/{listing.id}")
    assert notice.status_code == 200
    text = notice.get_data(as_text=True)
    assert "设有底价" in text and "10,500,000.00" not in text  # the reserve: only that there is one
    assert "10,000,000.00" in text and "2,000,000.00" in text  # start price, deposit
    assert f"/auctions/{listing.id}" in text  # how to register: sign in, then the listing's page
    # before the end there is no result announcement
    assert visitor.get(f"/portal/auctions/{listing.id}/result").status_code == 404
    # the portal's navigation and home link the list
    assert "/portal/auctions" in visitor.get("/portal/").get_data(as_text=True)
    no_reserve = world.published(title="无底价地块", reserve_price=None)
    assert "无底价" in visitor.get(f"/portal/auctions/{no_reserve.id}").get_data(as_text=True)


def test_nobody_is_named_before_the_end_and_the_price_is_live(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    listing, reg_a, reg_b = _two_qualified(world)
    a, b, _c = world.bidders
    visitor = _anon(app)
    before = visitor.get(f"/portal/auctions/{listing.id}").get_data(as_text=True)
    assert 'id="bid-count">0<' in before
    assert bid(client, listing, a, "10000000").status_code == 201
    # the page is not served from the cache: the new price shows at once
    after = visitor.get(f"/portal/auctions/{listing.id}").get_data(as_text=True)
    assert "10,000,000.00" in after and 'id="bid-count">1<' in after and "10,100,000.00" in after
    assert bid(client, listing, b, "10200000").status_code == 201
    for url in ("/portal/auctions", f"/portal/auctions/{listing.id}"):
        for locale in (None, "en"):
            page = _anon(app, locale).get(url).get_data(as_text=True)
            assert not any(name in page for name in _names(world)), url
            assert str(reg_a.bidder_number) not in page and str(reg_b.bidder_number) not in page, url
    # the timed auction: the countdown end shows, the proofs stay closed
    clock.freeze(LAND_END + dt.timedelta(seconds=1))
    timed = visitor.get(f"/portal/auctions/{listing.id}").get_data(as_text=True)
    assert "限时竞价中" in timed and 'id="countdown"' in timed
    assert visitor.get(f"/portal/auctions/{listing.id}/bids/1/proof").status_code == 404
    assert visitor.get(f"/portal/auctions/{listing.id}/bids/1/proof.json").status_code == 404


def test_the_result_announcement_shows_the_history_and_the_proofs(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    listing, reg_a, reg_b = _two_qualified(world)
    a, b, _c = world.bidders
    bid(client, listing, a, "10000000")
    bid(client, listing, b, "10100000")
    clock.freeze(LAND_END + dt.timedelta(seconds=30))
    assert bid(client, listing, a, "10600000").status_code == 201  # the timed auction
    clock.freeze(LAND_END + dt.timedelta(hours=1))  # the countdown has run out
    visitor = _anon(app)
    notice = visitor.get(f"/portal/auctions/{listing.id}").get_data(as_text=True)
    assert "10,500,000.00" in notice and f"/portal/auctions/{listing.id}/result" in notice
    assert visitor.get(f"/portal/auctions/{listing.id}").get_data(as_text=True) == notice  # cached, final
    resp = visitor.get(f"/portal/auctions/{listing.id}/result")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert "成交公示" in page and a.org.name in page and b.org.name not in page  # the winner only
    assert "10,600,000.00" in page and "10,500,000.00" in page  # final price, opened reserve
    rows = re.findall(r"<tr>\s*<td>(\d+)</td><td>(\d+)</td><td>([\d,.]+)</td>", page)
    assert rows == [
        ("1", str(reg_a.bidder_number), "10,000,000.00"),
        ("2", str(reg_b.bidder_number), "10,100,000.00"),
        ("3", str(reg_a.bidder_number), "10,600,000.00"),
    ]
    links = re.findall(r'href="(/portal/auctions/\d+/bids/\d+/proof)"', page)
    assert len(links) == 3
    for seq, link in enumerate(links, start=1):
        assert visitor.get(link).status_code == 200
        proof = visitor.get(link + ".json").get_json()
        placed = listing.bids[seq - 1]
        assert proof["index"] == placed.leaf_idx and f">{placed.leaf_idx}<" in page
        assert merkle.verify_inclusion(
            base64.b64decode(proof["leaf_hash"]),
            proof["index"],
            proof["tree_size"],
            [base64.b64decode(p) for p in proof["proof"]],
            audit.root_hash(proof["tree_size"]),
        )
    assert visitor.get(f"/portal/auctions/{listing.id}/bids/9/proof").status_code == 404
    # the English page too
    english = _anon(app, "en").get(f"/portal/auctions/{listing.id}/result").get_data(as_text=True)
    assert "Sale announcement" in english and a.org.name in english


def test_a_listing_not_sold_announces_it(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    listing = world.published()
    a = world.bidders[0]
    world.qualify(listing, a)
    clock.freeze(LAND_START + dt.timedelta(hours=1))
    bid(client, listing, a, "10000000")  # below the reserve of 10,500,000
    clock.freeze(LAND_END + dt.timedelta(minutes=1))
    page = _anon(app).get(f"/portal/auctions/{listing.id}/result").get_data(as_text=True)
    assert "流拍公告" in page and a.org.name not in page and "10,500,000.00" in page


def test_zh_pages_have_no_latin_words(app: Flask, client: FlaskClient, world: World, db_session: Any) -> None:
    listing, _reg_a, _reg_b = _two_qualified(world)
    a, b, _c = world.bidders
    bid(client, listing, a, "10000000")
    bid(client, listing, b, "10600000")
    visitor = _anon(app)
    data = [world.transferor.organization.name, *_names(world)]
    urls = ["/portal/auctions", f"/portal/auctions/{listing.id}"]
    for url in urls:
        assert _latin(visitor.get(url).get_data(as_text=True), data) == [], url
    clock.freeze(LAND_END + dt.timedelta(hours=1))
    urls += [f"/portal/auctions/{listing.id}/result", f"/portal/auctions/{listing.id}/bids/1/proof"]
    for url in urls:
        resp = visitor.get(url)
        assert resp.status_code == 200, url
        assert _latin(resp.get_data(as_text=True), data) == [], url
