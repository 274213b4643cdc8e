"""Issue 19 — listings and timed auctions through the real interfaces: the statutory periods, registration
with the deposit and the qualification review, quotes by the increment, the timed auction and its countdown,
the sealed reserve, the result, pseudonyms until the end, and every bid an audit leaf."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.auctions import services
from app.auctions.models import AuctionListing
from app.core import merkle
from app.core.clock import CST, clock
from app.core.db import db
from app.core.errors import DomainError
from app.core.models import AuditLeaf
from tests.auctions.conftest import LAND_END, LAND_START, T0, World, bid, state
from tests.factories import csrf_token, login


def _flashes(resp: Any) -> str:
    return " ".join(re.findall(r'class="flash[^"]*"[^>]*>([^<]+)', resp.get_data(as_text=True)))


def _page_client(app: Flask, user: Any) -> FlaskClient:
    client = app.test_client()
    login(client, user)
    return client


# -- 1. periods --------------------------------------------------------------------------------------------


def test_periods_too_short_are_refused_with_the_article(app: Flask, world: World, db_session: Any) -> None:
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        with pytest.raises(DomainError) as notice:
            services.create_listing(
                world.listing_input(listing_starts_at=T0 + dt.timedelta(days=10)), actor=world.transferor
            )
        assert notice.value.code == "listing_invalid" and "listing_starts_at" in notice.value.errors
        assert "国土资源部令第39号第十一条" in " ".join(notice.value.errors["listing_starts_at"])
        with pytest.raises(DomainError) as listing:
            services.create_listing(
                world.listing_input(listing_ends_at=LAND_START + dt.timedelta(days=5)), actor=world.transferor
            )
        assert "国土资源部令第39号第十八条" in " ".join(listing.value.errors["listing_ends_at"])
        # state property: the disclosure of at least 20 working days (32号令 Art. 13); 2–20 March is 14
        with pytest.raises(DomainError) as disclosure:
            services.create_listing(
                world.listing_input(
                    "CQ-01",
                    listing_starts_at=T0,
                    listing_ends_at=dt.datetime(2026, 3, 20, 15, tzinfo=CST),
                ),
                actor=world.transferor,
            )
        assert "第32号" in " ".join(disclosure.value.errors["listing_ends_at"])
        ok = services.create_listing(
            world.listing_input("CQ-01", listing_starts_at=T0, listing_ends_at=LAND_END),
            actor=world.transferor,
        )
        assert ok.kind == "state_property"
        # a works item is not sold by listing
        with pytest.raises(DomainError) as works:
            services.create_listing(world.listing_input("GC-01"), actor=world.transferor)
        assert works.value.code == "not_a_listing_item"
        # a draft published late: the notice moves to the publication instant and the 20 days are short
        draft = services.create_listing(world.listing_input(), actor=world.transferor)
        clock.freeze(T0 + dt.timedelta(days=5))
        with pytest.raises(DomainError) as late:
            services.publish_listing(draft, actor=world.transferor)
        assert late.value.code == "periods_too_short"
        db.session.rollback()
        # a draft published before its planned notice instant: the notice says when it really went public
        clock.freeze(T0)
        early = services.create_listing(
            world.listing_input(notice_at=T0 + dt.timedelta(hours=12)), actor=world.transferor
        )
        clock.freeze(T0 + dt.timedelta(hours=1))
        services.publish_listing(early, actor=world.transferor)
        assert early.notice_at == T0 + dt.timedelta(hours=1)
        db.session.rollback()


def test_the_transferor_page_refuses_a_short_listing(app: Flask, world: World, db_session: Any) -> None:
    client = _page_client(app, world.transferor)
    form = {
        "catalogue_item_id": str(world.item_id("TD-01")),
        "title": "某地块",
        "notice_at": "2026-03-02T09:00",
        "listing_starts_at": "2026-03-10T09:00",
        "listing_ends_at": "2026-04-07T15:00",
        "start_price": "10,000,000",
        "increment": "100000",
        "deposit": "2000000",
        "reserve_price": "10500000",
        "countdown_seconds": "240",
    }
    resp = client.post(
        "/auctions/new",
        data={**form, "csrf_token": csrf_token(client, "/auctions/new")},
        headers={"Accept-Language": "zh-CN"},
    )
    assert resp.status_code == 422
    assert "国土资源部令第39号第十一条" in _flashes(resp)
    # the form's own hint cites the same articles (Art. 10 is the secret reserve, Art. 19 the end)
    assert "国土资源部令第39号第十一条、第十八条" in resp.get_data(as_text=True)
    assert db.session.scalar(select(AuctionListing.id)) is None
    form["listing_starts_at"] = "2026-03-24T09:00"
    resp = client.post("/auctions/new", data={**form, "csrf_token": csrf_token(client, "/auctions/new")})
    assert resp.status_code == 302
    listing = db.session.scalars(select(AuctionListing)).one()
    assert listing.start_price == Decimal("10000000") and listing.countdown_seconds == 240
    # the reserve is sealed: not in the row, not in the audit leaf
    assert listing.reserve_price is None and listing.reserve_enc and b"10500000" not in listing.reserve_enc
    leaf = db.session.scalars(select(AuditLeaf).where(AuditLeaf.action == "auctions:listing:create")).one()
    assert "10500000" not in leaf.payload and json.loads(leaf.payload)["has_reserve"] is True


@pytest.mark.parametrize(
    ("field", "typed"),
    [
        ("notice_at", "0001-01-01T09:00"),
        ("listing_ends_at", "9999-12-31T23:59"),
        ("listing_starts_at", "2031-03-24T09:00"),
    ],
)
def test_a_date_years_away_is_refused_in_words_and_kept(
    app: Flask, world: World, db_session: Any, field: str, typed: str
) -> None:
    client = _page_client(app, world.transferor)
    form = {
        "catalogue_item_id": str(world.item_id("TD-01")),
        "title": "某地块",
        "notice_at": "2026-03-02T09:00",
        "listing_starts_at": "2026-03-24T09:00",
        "listing_ends_at": "2026-04-07T15:00",
        "start_price": "10000000",
        "increment": "100000",
        "deposit": "2000000",
        field: typed,
    }
    resp = client.post(
        "/auctions/new",
        data={**form, "csrf_token": csrf_token(client, "/auctions/new")},
        headers={"Accept-Language": "zh-CN"},
    )
    assert resp.status_code == 422
    assert "请输入距今两年以内的日期" in _flashes(resp)
    assert f'value="{typed}"' in resp.get_data(as_text=True)
    assert db.session.scalar(select(AuctionListing.id)) is None


# -- 2. registration ---------------------------------------------------------------------------------------


def test_unregistered_and_unqualified_bidders_cannot_bid(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    listing = world.published()
    clock.freeze(LAND_START + dt.timedelta(hours=1))
    a, b = world.bidders[:2]
    resp = bid(client, listing, a, "10000000")
    assert resp.status_code == 403 and resp.get_json()["code"] == "not_registered"

    resp = client.post(f"/api/v1/auctions/listings/{listing.id}/registrations", headers=a.headers())
    assert resp.status_code == 201
    number = resp.get_json()["bidder_number"]
    assert 1000 <= number <= 9999
    again = client.post(f"/api/v1/auctions/listings/{listing.id}/registrations", headers=a.headers())
    assert again.status_code == 409
    resp = bid(client, listing, a, "10000000")
    assert resp.status_code == 403 and resp.get_json()["code"] == "not_qualified"

    reg = listing.registrations[0]
    with pytest.raises(DomainError) as no_deposit:
        services.review(reg, accept=True, note="", actor=world.staff)
    assert no_deposit.value.code == "deposit_missing"
    with pytest.raises(DomainError) as short:
        services.confirm_deposit(reg, amount=Decimal("100"), reference="X1", actor=world.staff)
    assert short.value.code == "deposit_short"
    db.session.rollback()

    # staff confirm the deposit and qualify through their page
    staff = _page_client(app, world.staff)
    page = f"/auctions/{listing.id}"
    html = staff.get(page).get_data(as_text=True)
    assert a.org.name in html  # the reviewing staff see who registered
    # a mistyped amount is refused in words, the page keeping what was typed
    typo = staff.post(
        f"/auctions/registrations/{reg.id}/deposit",
        data={
            "deposit_amount": "两百万",
            "deposit_reference": "CCB-0001",
            "csrf_token": csrf_token(staff, page),
        },
        headers={"Accept-Language": "zh-CN"},
    )
    assert typo.status_code == 422 and "请输入金额。" in _flashes(typo)
    assert 'value="两百万"' in typo.get_data(as_text=True) and 'value="CCB-0001"' in typo.get_data(
        as_text=True
    )
    staff.post(
        f"/auctions/registrations/{reg.id}/deposit",
        data={
            "deposit_amount": "2,000,000",
            "deposit_reference": "CCB-0001",
            "csrf_token": csrf_token(staff, page),
        },
    )
    staff.post(
        f"/auctions/registrations/{reg.id}/review",
        data={"decision": "qualify", "review_note": "", "csrf_token": csrf_token(staff, page)},
    )
    db.session.refresh(reg)
    assert reg.status == "qualified" and reg.deposit_reference == "CCB-0001"
    assert bid(client, listing, a, "10000000").status_code == 201
    # a rejected bidder stays out
    world_b = services.register(listing, actor=b.user)
    services.review(world_b, accept=False, note="资质不符", actor=world.staff)
    db.session.commit()
    resp = bid(client, listing, b, "10100000")
    assert resp.status_code == 403 and resp.get_json()["code"] == "not_qualified"


# -- 3. quotes and the increment ---------------------------------------------------------------------------


def test_quotes_rise_by_the_increment(client: FlaskClient, world: World, db_session: Any) -> None:
    listing = world.published()
    a, b, _c = world.bidders
    world.qualify(listing, a)
    world.qualify(listing, b)
    early = bid(client, listing, a, "10000000")
    assert early.status_code == 422 and early.get_json()["code"] == "not_started"
    assert early.get_json()["errors"]["server_time"] == ["2026-03-02 09:00:00.000"]

    clock.freeze(LAND_START + dt.timedelta(hours=1))
    low = bid(client, listing, a, "9999999")
    assert low.status_code == 422 and low.get_json()["code"] == "below_increment"
    first = bid(client, listing, a, "10000000")
    assert (
        first.status_code == 201 and first.get_json()["seq"] == 1 and first.get_json()["phase"] == "listing"
    )
    short = bid(client, listing, b, "10050000")  # less than the increment above the current price
    assert short.status_code == 422 and short.get_json()["code"] == "below_increment"
    assert "10,100,000.00" in short.get_json()["message"]
    assert bid(client, listing, b, "10100000").get_json()["seq"] == 2
    own = bid(client, listing, b, "10300000")
    assert own.status_code == 422 and own.get_json()["code"] == "already_highest"
    s = state(client, listing, a)
    assert (
        s["status"] == "listing"
        and s["current_price"] == "10100000.00"
        and s["next_minimum"] == "10200000.00"
    )
    assert s["me"]["rank"] == 2 and [x["seq"] for x in s["me"]["bids"]] == [1]


def test_a_refused_bid_on_the_page_says_it_once_in_the_bidders_words(
    app: Flask, world: World, db_session: Any
) -> None:
    """A bid typed on the listing page and refused reads as one message about the bid (with the server time
    it was decided at), never as a "contract amount" (合同金额) repeating the same sentence."""
    listing = world.published()
    a = world.bidders[0]
    world.qualify(listing, a)
    clock.freeze(LAND_START + dt.timedelta(hours=1))
    page = _page_client(app, a.user)
    seen = []
    for amount in ("9999999", "一千万"):
        resp = page.post(
            f"/auctions/{listing.id}/bid",
            data={"amount": amount, "csrf_token": csrf_token(page, f"/auctions/{listing.id}")},
            follow_redirects=True,
        )
        assert resp.status_code == 422
        assert f'name="amount" inputmode="decimal" required value="{amount}"' in resp.get_data(as_text=True)
        seen.append(_flashes(resp))
    low, garbled = seen
    assert "出价不得低于 10,000,000.00 元" in low and "服务器时间（北京时间）: 2026-03-24 10:00:00.000" in low
    assert low.count("出价不得低于") == 1
    assert garbled.count("请输入金额。") == 1
    assert "合同" not in low + garbled


# -- 4. the timed auction ----------------------------------------------------------------------------------


def _two_in_the_listing(client: FlaskClient, world: World) -> AuctionListing:
    listing = world.published(reserve_price=Decimal("10100000"))
    a, b, _c = world.bidders
    world.qualify(listing, a)
    world.qualify(listing, b)
    clock.freeze(LAND_START + dt.timedelta(days=1))
    assert bid(client, listing, a, "10000000").status_code == 201
    assert bid(client, listing, b, "10100000").status_code == 201
    return listing


def test_the_timed_auction_restarts_the_countdown_and_refuses_late_bids_with_the_time(
    client: FlaskClient, world: World, db_session: Any
) -> None:
    listing = _two_in_the_listing(client, world)
    a, b, _c = world.bidders
    t1 = LAND_END + dt.timedelta(seconds=30)
    clock.freeze(t1)
    s = state(client, listing, a)
    assert s["status"] == "timed_bidding" and s["seconds_left"] == 210.0  # 240 s from the listing end
    first = bid(client, listing, a, "10200000").get_json()
    assert (
        first["phase"] == "timed"
        and first["countdown_ends_at"] == (t1 + dt.timedelta(seconds=240)).astimezone(dt.UTC).isoformat()
    )
    t2 = t1 + dt.timedelta(seconds=239, microseconds=999000)  # the last millisecond of that countdown
    clock.freeze(t2)
    second = bid(client, listing, b, "10300000").get_json()
    assert (
        second["seq"] == 4
        and second["countdown_ends_at"] == (t2 + dt.timedelta(seconds=240)).astimezone(dt.UTC).isoformat()
    )
    assert state(client, listing, a)["seconds_left"] == 240.0

    late_at = t2 + dt.timedelta(seconds=240, milliseconds=1)
    clock.freeze(late_at)
    late = bid(client, listing, a, "10400000")
    body = late.get_json()
    assert late.status_code == 422 and body["code"] == "bidding_closed"
    assert body["errors"]["server_time"] == ["2026-04-07 15:08:30.000"]  # Beijing time, to the millisecond
    assert "2026-04-07 15:08:29.999" in body["message"] and "2026-04-07 15:08:30.000" in body["message"]
    db.session.expire_all()
    done = db.session.get(AuctionListing, listing.id)
    assert done.status == "sold" and done.ended_at == t2 + dt.timedelta(seconds=240)
    assert done.current_price == Decimal("10300000") and done.winner is not None
    assert done.winner.org_id == b.org.id and [x.seq for x in done.bids] == [1, 2, 3, 4]


# -- 5. the end --------------------------------------------------------------------------------------------


def test_no_bidder_is_qualified_once_the_listing_period_has_ended(
    client: FlaskClient, world: World, db_session: Any
) -> None:
    """A registration filed during the listing but still unreviewed at its end does not join the timed
    auction: qualifying it is refused; rejecting it stays possible (its deposit is refunded at the end)."""
    listing = _two_in_the_listing(client, world)
    clock.freeze(LAND_END - dt.timedelta(hours=1))
    late = services.register(listing, actor=world.bidders[2].user)
    services.confirm_deposit(late, amount=listing.deposit, reference="BANK-LATE", actor=world.staff)
    db.session.commit()
    clock.freeze(LAND_END + dt.timedelta(seconds=30))
    services.settle(listing.id)
    assert listing.status == "timed_bidding"
    with pytest.raises(DomainError) as closed:
        services.review(late, accept=True, note="", actor=world.staff)
    assert closed.value.code == "qualification_closed"
    assert bid(client, listing, world.bidders[2], "10300000").get_json()["code"] == "not_qualified"
    services.review(late, accept=False, note="挂牌截止时未取得竞买资格", actor=world.staff)
    assert late.status == "rejected"


def test_reserve_not_met_fails_the_listing_with_the_reason(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    listing = world.published(reserve_price=Decimal("10500000"))
    a = world.bidders[0]
    world.qualify(listing, a)
    clock.freeze(LAND_START + dt.timedelta(days=1))
    assert bid(client, listing, a, "10200000").status_code == 201
    hidden = state(client, listing, a)
    assert "reserve_price" not in hidden and hidden["status"] == "listing"
    clock.freeze(LAND_END + dt.timedelta(minutes=1))
    s = state(client, listing, a)  # one bidder: no timed auction; the reserve decides
    assert s["status"] == "unsold" and s["unsold_reason"] == "reserve_not_met"
    assert s["reserve_price"] == "10500000.00" and s["winner"] is None
    assert s["ended_at"] == LAND_END.astimezone(dt.UTC).isoformat()
    page = _page_client(app, a.user).get(f"/auctions/{listing.id}")
    html = page.get_data(as_text=True)
    assert (
        page.status_code == 200 and "流拍" in html and "最高报价低于底价" in html and "10,500,000.00" in html
    )
    opened = db.session.scalars(select(AuditLeaf).where(AuditLeaf.action == "auctions:reserve:open")).one()
    assert json.loads(opened.payload)["reserve_price"] == "10500000.00"


def test_one_bidder_meeting_the_reserve_wins_and_none_is_unsold(
    client: FlaskClient, world: World, db_session: Any
) -> None:
    sold = world.published()
    empty = world.published(title="无人报价地块")
    a = world.bidders[0]
    world.qualify(sold, a)
    clock.freeze(LAND_START + dt.timedelta(days=1))
    assert bid(client, sold, a, "10500000").status_code == 201
    clock.freeze(LAND_END + dt.timedelta(seconds=1))
    s = state(client, sold, a)
    assert s["status"] == "sold" and s["winner"] == {
        "bidder_number": s["me"]["bidder_number"],
        "name": a.org.name,
    }
    e = state(client, empty, a)
    assert e["status"] == "unsold" and e["unsold_reason"] == "no_bids"


# -- 6. pseudonyms and the audit log -----------------------------------------------------------------------


def test_bidders_are_numbers_until_the_end_and_each_bid_is_an_audit_leaf(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    listing = _two_in_the_listing(client, world)
    a, b, c = world.bidders
    watcher = state(client, listing, c)  # registered nowhere: sees the history under numbers
    text = json.dumps(watcher, ensure_ascii=False)
    assert a.org.name not in text and b.org.name not in text and watcher["me"] is None
    assert {h["bidder_number"] for h in watcher["history"]} == {
        r.bidder_number for r in listing.registrations
    }
    page = _page_client(app, a.user).get(f"/auctions/{listing.id}", headers={"Accept-Language": "zh-CN"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "密封" in html
    assert b.org.name not in html, html[html.index(b.org.name) - 300 : html.index(b.org.name) + 100]
    transferor = _page_client(app, world.transferor).get(f"/auctions/{listing.id}").get_data(as_text=True)
    assert a.org.name not in transferor and b.org.name not in transferor

    for mine in state(client, listing, a)["me"]["bids"]:
        leaf = db.session.scalars(select(AuditLeaf).where(AuditLeaf.idx == mine["leaf_idx"])).one()
        payload = json.loads(leaf.payload)
        assert leaf.action == "auctions:bid:place" and payload["seq"] == mine["seq"]
        assert payload["amount"] == mine["amount"]
    # the bidder proves its bid's leaf is in the log; another bidder cannot ask for it before the end
    mine = state(client, listing, a)["me"]["bids"][0]
    resp = client.get(f"/api/v1/auctions/listings/{listing.id}/bids/{mine['seq']}/proof", headers=a.headers())
    proof = resp.get_json()
    assert resp.status_code == 200 and proof["index"] == mine["leaf_idx"]
    assert merkle.verify_inclusion(
        base64.b64decode(proof["leaf_hash"]),
        proof["index"],
        proof["tree_size"],
        [base64.b64decode(p) for p in proof["proof"]],
        base64.b64decode(proof["root_hash"]),
    )
    other = client.get(
        f"/api/v1/auctions/listings/{listing.id}/bids/{mine['seq']}/proof", headers=b.headers()
    )
    assert other.status_code == 404
    clock.freeze(LAND_END + dt.timedelta(hours=1))  # nobody bid in the timed auction
    end = state(client, listing, c)
    assert end["status"] == "sold" and end["winner"]["name"] == b.org.name
    text = json.dumps(end, ensure_ascii=False)
    assert a.org.name not in text  # only the winner is named
    actions = db.session.scalars(
        select(AuditLeaf.action).where(
            AuditLeaf.object_type == "auction_listing", AuditLeaf.object_id == str(listing.id)
        )
    ).all()
    assert actions == [
        "auctions:listing:create",
        "auctions:listing:announce",
        "auctions:listing:open",
        "auctions:bid:place",
        "auctions:bid:place",
        "auctions:listing:timed",
        "auctions:reserve:open",
        "auctions:listing:sold",
    ]
