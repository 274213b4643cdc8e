"""Issue 19 — the rest of a listing's life: mineral rights listed under their own periods
(矿业权出让交易规则), the center terminating a listing (终止) with a reason, and a refused bid recorded
as an audit leaf like an accepted one."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.auctions import services
from app.auctions.models import AuctionListing
from app.core.clock import CST, clock
from app.core.db import db
from app.core.errors import DomainError
from app.core.models import AuditLeaf, OutboxMessage
from tests.auctions.conftest import LAND_END, LAND_START, World, bid
from tests.factories import csrf_token, login


def _leaves(action: str, listing_id: int) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(AuditLeaf).where(AuditLeaf.action == action, AuditLeaf.object_id == str(listing_id))
    ).all()
    return [json.loads(r.payload) if isinstance(r.payload, str) else r.payload for r in rows]


def test_mineral_rights_follow_their_own_working_day_periods(
    app: Flask, world: World, db_session: Any
) -> None:
    """The notice (T0) is Monday 2 March 2026: 20 working days after it end on 30 March, so a listing may
    start on 31 March; 10 working days from 1 April (Qingming 4–6 April off) end on 16 April."""
    start = dt.datetime(2026, 4, 1, 9, 0, tzinfo=CST)
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        with pytest.raises(DomainError) as notice:
            services.create_listing(world.listing_input("TD-02"), actor=world.transferor)  # starts 24 March
        assert "listing_starts_at" in notice.value.errors
        assert "自然资规〔2023〕1号" in " ".join(notice.value.errors["listing_starts_at"])
        assert "20 个工作日" in " ".join(notice.value.errors["listing_starts_at"])
        with pytest.raises(DomainError) as period:
            services.create_listing(
                world.listing_input(
                    "TD-02", listing_starts_at=start, listing_ends_at=dt.datetime(2026, 4, 15, 17, tzinfo=CST)
                ),
                actor=world.transferor,
            )
        assert list(period.value.errors) == ["listing_ends_at"]
        assert "10 个工作日" in " ".join(period.value.errors["listing_ends_at"])
        ok = services.create_listing(
            world.listing_input(
                "TD-02", listing_starts_at=start, listing_ends_at=dt.datetime(2026, 4, 17, 15, tzinfo=CST)
            ),
            actor=world.transferor,
        )
        assert ok.kind == "mineral_rights"
        # the same dates are enough for land (calendar days): TD-01 stays land
        assert services.create_listing(world.listing_input("TD-01"), actor=world.transferor).kind == "land"


def _bidding(client: FlaskClient, world: World) -> AuctionListing:
    listing = world.published()
    a, b, _c = world.bidders
    world.qualify(listing, a)
    world.qualify(listing, b)
    clock.freeze(LAND_START + dt.timedelta(hours=1))
    assert bid(client, listing, a, "10000000").status_code == 201
    return listing


def test_the_center_terminates_a_listing_with_a_reason(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    listing = _bidding(client, world)
    a, b, c = world.bidders
    page = f"/auctions/{listing.id}"

    # a bidder or the transferor cannot terminate
    for user in (a.user, world.transferor):
        other = app.test_client()
        login(other, user)
        token = csrf_token(other, page)
        resp = other.post(f"{page}/terminate", data={"termination_reason": "x", "csrf_token": token})
        assert resp.status_code in {403, 404}
    db.session.expire_all()
    assert db.session.get(AuctionListing, listing.id).status == "listing"

    staff = app.test_client()
    login(staff, world.staff)
    html = staff.get(page, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert 'id="terminate-form"' in html
    # without a reason: refused, nothing changes
    resp = staff.post(
        f"{page}/terminate", data={"termination_reason": "  ", "csrf_token": csrf_token(staff, page)}
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(AuctionListing, listing.id).status == "listing"
    assert _leaves("auctions:listing:terminate", listing.id) == []

    at = LAND_START + dt.timedelta(hours=2)
    clock.freeze(at)
    reason = "出让人书面申请：规划条件调整（自然资源和规划局函）"
    resp = staff.post(
        f"{page}/terminate", data={"termination_reason": reason, "csrf_token": csrf_token(staff, page)}
    )
    assert resp.status_code == 302
    db.session.expire_all()
    done = db.session.get(AuctionListing, listing.id)
    assert done.status == "terminated" and done.ended_at == at and done.termination_reason == reason
    assert done.terminated_by == world.staff.id
    assert done.reserve_price is None and done.winner_id is None  # the reserve stays sealed
    [leaf] = _leaves("auctions:listing:terminate", listing.id)
    assert leaf["reason"] == reason and leaf["from"] == "listing"
    told = {
        m.user_id
        for m in db.session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "inbox"))
        if done.title in m.subject
    }
    assert {a.user.id, b.user.id, world.transferor.id} <= told
    assert c.user.id not in told  # not registered

    # the page shows the reason; no terminate form any more, and a second attempt is refused
    html = staff.get(page, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert reason in html and 'id="terminate-form"' not in html and "已终止" in html
    # the reserve stays sealed, and no page says there was none
    visitor = app.test_client()
    pages = [
        html,
        visitor.get(f"/portal/auctions/{listing.id}", headers={"Accept-Language": "zh-CN"}),
        visitor.get(f"/portal/auctions/{listing.id}/result", headers={"Accept-Language": "zh-CN"}),
    ]
    for shown in [p if isinstance(p, str) else p.get_data(as_text=True) for p in pages]:
        assert "设有底价，未开启" in shown and "无底价" not in shown and "未设底价" not in shown
        assert "10,500,000" not in shown
    again = staff.post(
        f"{page}/terminate", data={"termination_reason": "再次", "csrf_token": csrf_token(staff, page)}
    )
    assert again.status_code == 404

    # a bid after it is refused with the instant of the termination and the server time
    clock.freeze(at + dt.timedelta(seconds=5))
    late = bid(client, listing, b, "10100000")
    body = late.get_json()
    assert late.status_code == 422 and body["code"] == "listing_terminated"
    assert body["errors"]["server_time"] == ["2026-03-24 11:00:05.000"]
    with pytest.raises(DomainError) as twice:
        services.terminate(listing.id, reason="x", actor=world.staff)
    assert twice.value.code == "not_terminable"


def test_refused_bids_are_audit_leaves(client: FlaskClient, world: World, db_session: Any) -> None:
    listing = _bidding(client, world)
    _a, b, c = world.bidders
    low = bid(client, listing, b, "10050000")  # below the current price plus the increment
    assert low.status_code == 422 and low.get_json()["code"] == "below_increment"
    stranger = bid(client, listing, c, "20000000")  # not registered
    assert stranger.status_code == 403
    refusals = _leaves("auctions:bid:refuse", listing.id)
    reg_b = next(r for r in listing.registrations if r.org_id == b.org.id)
    assert {(r["reason"], r["bidder_number"], Decimal(str(r["amount"]))) for r in refusals} == {
        ("below_increment", reg_b.bidder_number, Decimal("10050000")),
        ("not_registered", None, Decimal("20000000")),
    }
    # the refusals changed nothing: one accepted bid, the price unchanged
    db.session.expire_all()
    current = db.session.get(AuctionListing, listing.id)
    assert [x.seq for x in current.bids] == [1] and current.current_price == Decimal("10000000")


def test_deposits_are_applied_or_refunded_within_five_working_days(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    """令第39号 Art. 21: the winner's deposit counts toward the price, the others are returned within 5
    working days of the end. The listing ends Tuesday 7 April 2026 15:00: due 14 April 24:00 Beijing time."""
    listing = world.published()
    a, b, c = world.bidders
    world.qualify(listing, a)
    world.qualify(listing, b)
    reg_c = services.register(listing, actor=c.user)  # registered, never paid: nothing to refund
    db.session.commit()
    clock.freeze(LAND_START + dt.timedelta(hours=1))
    assert bid(client, listing, a, "10600000").status_code == 201  # above the reserve, alone

    # staff see the registrations to review on their workbench while the listing runs
    staff = app.test_client()
    login(staff, world.staff)
    home = staff.get("/workbench", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "审查竞买报名" in home and listing.title in home

    clock.freeze(LAND_END + dt.timedelta(minutes=1))
    page = f"/auctions/{listing.id}"
    html = staff.get(page, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)  # settles: sold
    db.session.expire_all()
    done = db.session.get(AuctionListing, listing.id)
    assert done.status == "sold"
    regs = {r.org_id: r for r in done.registrations}
    due = dt.datetime(2026, 4, 14, 16, 0, tzinfo=dt.UTC)  # 15 April 00:00 Beijing time
    assert regs[a.org.id].deposit_applied and regs[a.org.id].deposit_refund_due_at is None
    assert regs[b.org.id].deposit_refund_due_at == due and not regs[b.org.id].deposit_applied
    assert regs[c.org.id].deposit_refund_due_at is None and reg_c.id == regs[c.org.id].id
    assert "已抵作价款" in html and "2026-04-14" in html

    home = staff.get("/workbench", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "退还竞买保证金" in home

    # the winner's deposit is never refunded; a refund without its bank reference is refused
    with pytest.raises(DomainError) as applied:
        services.record_refund(regs[a.org.id], reference="X", actor=world.staff)
    assert applied.value.code == "refund_not_due"
    with pytest.raises(DomainError) as no_ref:
        services.record_refund(regs[b.org.id], reference=" ", actor=world.staff)
    assert no_ref.value.code == "deposit_reference_required"
    db.session.rollback()

    # recorded a day late through the page: done, audited, marked late
    clock.freeze(due + dt.timedelta(days=1))
    overdue = staff.get(page, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "逾期" in overdue
    resp = staff.post(
        f"/auctions/registrations/{regs[b.org.id].id}/refund",
        data={"deposit_refund_reference": "CCB-R-1", "csrf_token": csrf_token(staff, page)},
    )
    assert resp.status_code == 302
    db.session.expire_all()
    b_reg = db.session.get(type(regs[b.org.id]), regs[b.org.id].id)
    assert b_reg.deposit_refunded_at == due + dt.timedelta(days=1)
    assert b_reg.deposit_refund_reference == "CCB-R-1"
    [leaf] = [x for x in _registration_leaves("auctions:deposit:refund") if x["reference"] == "CCB-R-1"]
    assert leaf["late"] is True
    again = staff.post(
        f"/auctions/registrations/{b_reg.id}/refund",
        data={"deposit_refund_reference": "CCB-R-2", "csrf_token": csrf_token(staff, page)},
    )
    assert again.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(b_reg), b_reg.id).deposit_refund_reference == "CCB-R-1"
    # the bidder sees its own deposit's state on the result
    bidder = app.test_client()
    login(bidder, b.user)
    mine = bidder.get(page, headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert 'id="my-deposit"' in mine and "已于" in mine
    # nor can a bidder record a refund
    token = csrf_token(bidder, page)
    resp = bidder.post(
        f"/auctions/registrations/{b_reg.id}/refund",
        data={"deposit_refund_reference": "x", "csrf_token": token},
    )
    assert resp.status_code in {403, 404}


def _registration_leaves(action: str) -> list[dict[str, Any]]:
    rows = db.session.scalars(select(AuditLeaf).where(AuditLeaf.action == action)).all()
    return [json.loads(r.payload) for r in rows]
