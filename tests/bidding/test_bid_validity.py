"""Issue 18 item 3 — bid validity (投标有效期, 招标投标法实施条例 Arts. 25, 26): the section states it
(positive days, on the public page); the tenderer asks for an extension before it lapses; every bidder with a
receipted envelope answers through the page or the API; a refusing bidder's bid leaves the evaluation and its
bid security is refunded; evaluation and award are refused on a lapsed validity; the tenderer is warned."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts import services as accounts
from app.accounts.models import User
from app.bidding.security.models import BidSecurity
from app.bidding.validity import services as validity
from app.core.clock import clock
from app.core.errors import Conflict, DomainError
from app.core.models import AuditLeaf
from app.core.permissions import OrgKind, Role
from app.evaluation import services as evaluation
from app.supervision import alerts
from app.supervision.models import SupervisionAlert
from app.workbench.tasks import tasks_for
from tests.bidding.conftest import DEADLINE, Tender, make_bidder
from tests.bidding.test_security_ledger import REQUIRED, _issue, _pay
from tests.evaluation.conftest import Trade, open_trade
from tests.factories import csrf_token, login, make_org, make_user
from tests.projects.conftest import World, draft_section

API = "/api/v1/bidding/validity"


def _bearer(user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.create_api_token(user, 'validity').raw}"}


def _browser(app: Flask, user: User) -> FlaskClient:
    browser = app.test_client()
    login(browser, user)
    return browser


def _flashes(resp: Any) -> str:
    return " ".join(re.findall(r'class="flash[^"]*"[^>]*>([^<]+)', resp.get_data(as_text=True)))


def _pay_two(client: FlaskClient) -> Any:
    """Bidders 0 and 1 pay their bid security before the deadline; bidder 2 pays none."""
    paid: dict[int, int] = {}

    def pay(tender: Tender) -> None:
        for bidder in tender.bidders[:2]:
            mine = _issue(client, tender, bidder)
            resp, _body, _headers = _pay(client, mine["account_no"], REQUIRED)
            assert resp.status_code == 200
            paid[bidder.org.id] = mine["id"]

    return pay, paid


def test_the_bid_validity_is_required_positive_and_public(
    app: Flask, client: FlaskClient, world: World
) -> None:
    with app.test_request_context():
        for bad in (0, -5, None):
            with pytest.raises(DomainError) as err:
                draft_section(world, bid_validity_days=bad)
            assert "bid_validity_days" in (err.value.errors or {})
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"], bid_validity_days=60)
    section = trade.section
    assert section.bid_validity_days == 60
    page = client.get(f"/portal/sections/{section.id}").get_data(as_text=True)
    assert "投标有效期" in page and "自投标截止之日起60日" in page
    assert validity.original_end(section) == DEADLINE + dt.timedelta(days=60)


def test_an_extension_is_answered_by_each_bidder_and_a_refusal_refunds_the_security(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    pay, paid = _pay_two(client)
    trade: Trade = open_trade(
        app, client, world, ["9500000", "9400000", "9300000"], bid_validity_days=30, before_deadline=pay
    )
    section = trade.section
    first, second, third = trade.tender.bidders
    original = DEADLINE + dt.timedelta(days=30)
    agent = _bearer(world.agent)
    url = f"{API}/sections/{section.id}/extensions"

    # bad input: an end not after the current one, no reason
    early = {"new_end_at": (original - dt.timedelta(days=1)).isoformat(), "reason": "评标延期"}
    resp = client.post(url, json=early, headers=agent)
    assert resp.status_code == 422 and "new_end_at" in resp.get_json()["errors"]
    resp = client.post(
        url, json={"new_end_at": (original + dt.timedelta(days=30)).isoformat()}, headers=agent
    )
    assert resp.status_code == 422
    # a bidder may not ask
    resp = client.post(url, json=early, headers=first.headers())
    assert resp.status_code == 403

    new_end = original + dt.timedelta(days=30)
    resp = client.post(
        url,
        json={"new_end_at": new_end.isoformat(), "reason": "投诉处理期间暂停评标"},
        headers={**agent, "Idempotency-Key": "validity-ext-0001-abcdef"},
    )
    assert resp.status_code == 201, resp.get_json()
    ext = resp.get_json()
    assert ext["answers"] == [] and dt.datetime.fromisoformat(ext["previous_end_at"]) == original

    # answers by anyone without a bid in the section are refused
    outsider = make_bidder()
    assert client.post(f"{API}/extensions/{ext['id']}/answer", json={"accept": True},
                       headers=outsider.headers()).status_code == 404  # fmt: skip
    assert client.post(f"{API}/extensions/{ext['id']}/answer", json={"accept": True},
                       headers=agent).status_code == 403  # fmt: skip

    # the first bidder accepts on its page
    page = _browser(app, first.user)
    mine = f"/bidding/validity/sections/{section.id}/mine"
    html = page.get(mine).get_data(as_text=True)
    assert "延长投标有效期的请求" in html and "不得修改" in html
    resp = page.post(
        f"/bidding/validity/extensions/{ext['id']}/answer",
        data={"answer": "accept", "csrf_token": csrf_token(page, mine)},
        follow_redirects=True,
    )
    assert "您已同意" in _flashes(resp)
    again = page.post(
        f"/bidding/validity/extensions/{ext['id']}/answer",
        data={"answer": "refuse", "csrf_token": csrf_token(page, mine)},
        follow_redirects=True,
    )
    assert "已答复" in _flashes(again)

    # the second refuses through the API: out of the evaluation, its security back with interest
    resp = client.post(
        f"{API}/extensions/{ext['id']}/answer", json={"accept": False}, headers=second.headers()
    )
    assert resp.status_code == 200
    assert [a["accepted"] for a in resp.get_json()["answers"]] == [False]  # a bidder sees its own answer
    sec = db_session.get(BidSecurity, paid[second.org.id])
    assert sec.status == "refunded" and sec.refunded_at is not None
    assert db_session.get(BidSecurity, paid[first.org.id]).status == "secured"
    with app.test_request_context():
        assert {b.org_id for b in evaluation.bids_of(section)} == {first.org.id, third.org.id}

    # the tenderer sees every answer
    body = client.get(f"{API}/sections/{section.id}", headers=agent).get_json()
    assert dt.datetime.fromisoformat(body["current_end_at"]) == new_end and not body["lapsed"]
    assert {a["org_id"]: a["accepted"] for a in body["extensions"][0]["answers"]} == {
        first.org.id: True,
        second.org.id: False,
    }
    html = _browser(app, world.agent).get(f"/bidding/validity/sections/{section.id}").get_data(as_text=True)
    assert "已退出评审" in html and "尚未答复" in html

    # the third never answers: once the previous end passes its bid is out too, and too late to answer
    clock.freeze(original + dt.timedelta(minutes=1))
    resp = client.post(f"{API}/extensions/{ext['id']}/answer", json={"accept": True}, headers=third.headers())
    assert resp.status_code == 409 and "第25条" in resp.get_json()["message"]
    with app.test_request_context():
        assert [b.org_id for b in evaluation.bids_of(section)] == [first.org.id]
        assert validity.lapse_refusal(section) is None

    actions = set(
        db_session.scalars(select(AuditLeaf.action).where(AuditLeaf.object_type == "bid_validity_extension"))
    )
    assert actions == {
        "bidding:validity:extension_request",
        "bidding:validity:accept",
        "bidding:validity:refuse",
    }


def test_the_tenderer_is_warned_and_nothing_proceeds_after_the_validity_lapses(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"], bid_validity_days=10)
    section = trade.section
    end = DEADLINE + dt.timedelta(days=10)

    # a week before: the workbench and the alert warn the tenderer side
    clock.freeze(end - dt.timedelta(days=3))
    with app.test_request_context():
        tasks = [t for t in tasks_for(world.agent) if t.kind == "validity"]
        assert tasks and tasks[0].due == end
        raised = [a for a in alerts.run_alert_rules(section) if a.rule == "bid_validity_lapsing"]
    assert len(raised) == 1 and raised[0].legal_basis == "条例 Art. 25"
    assert raised[0].evidence["state"] == "due_soon"

    # lapsed: no extension any more, no evaluation
    clock.freeze(end + dt.timedelta(hours=1))
    agent = _bearer(world.agent)
    resp = client.post(
        f"{API}/sections/{section.id}/extensions",
        json={"new_end_at": (end + dt.timedelta(days=30)).isoformat(), "reason": "延期"},
        headers=agent,
    )
    assert resp.status_code == 409 and resp.get_json()["code"] == "validity_lapsed"
    assert "第25条" in resp.get_json()["message"]
    html = _browser(app, world.agent).get(f"/bidding/validity/sections/{section.id}").get_data(as_text=True)
    assert 'id="validity-lapsed"' in html and 'id="extension-form"' not in html
    with app.test_request_context(), pytest.raises(Conflict) as err:
        evaluation.start(section, actor=world.staff)
    assert err.value.code == "bid_validity_lapsed" and "第25条" in err.value.message
    with app.test_request_context():
        again = [a for a in alerts.run_alert_rules(section) if a.rule == "bid_validity_lapsing"]
    assert len(again) == 1 and again[0].evidence["state"] == "overdue"  # the lapse is a new finding
    assert db_session.scalar(select(SupervisionAlert.id).where(SupervisionAlert.id == again[0].id))


def test_the_validity_pages_belong_to_their_parties(app: Flask, client: FlaskClient, world: World) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    section = trade.section
    outsider = make_bidder()
    assert (
        _browser(app, outsider.user).get(f"/bidding/validity/sections/{section.id}/mine").status_code == 404
    )
    assert (
        _browser(app, trade.tender.bidders[0].user)
        .get(f"/bidding/validity/sections/{section.id}")
        .status_code
        == 403
    )
    other_tenderer = make_user(Role.TENDERER, make_org(OrgKind.TENDERER, name="另一招标人"))
    page = _browser(app, other_tenderer).get(f"/bidding/validity/sections/{section.id}")
    assert page.status_code == 404
    resp = client.get(f"{API}/sections/{section.id}", headers=outsider.headers())
    assert resp.status_code == 404


def test_a_guarantee_must_last_as_long_as_the_extended_bid(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    """实施条例 Art. 26: the bid security lasts as long as the bid. A bidder secured by an electronic
    guarantee that ends before the extended validity cannot accept until it lodges its issuer's extension
    of that same guarantee (allowed after the deadline, only as an extension); another guarantee cannot
    replace it."""
    from tests.bidding.test_security_ledger import _guarantee

    lodged: dict[str, Any] = {}

    def lodge(tender: Tender) -> None:
        bidder = tender.bidders[0]
        lodged.update(tender=tender, bidder=bidder)
        until = (DEADLINE + dt.timedelta(days=31)).date().isoformat()
        resp = client.post(
            f"/api/v1/bidding/security/sections/{tender.section.id}/guarantee",
            json=_guarantee(tender, bidder, valid_until=until),
            headers=bidder.headers(),
        )
        assert resp.status_code in (200, 201), resp.get_json()

    trade: Trade = open_trade(
        app, client, world, ["9500000", "9400000", "9300000"], bid_validity_days=30, before_deadline=lodge
    )
    bidder, tender = lodged["bidder"], lodged["tender"]
    new_end = DEADLINE + dt.timedelta(days=60)
    resp = client.post(
        f"{API}/sections/{trade.section.id}/extensions",
        json={"new_end_at": new_end.isoformat(), "reason": "投诉处理期间暂停评标"},
        headers=_bearer(world.agent),
    )
    assert resp.status_code == 201, resp.get_json()
    answer = f"{API}/extensions/{resp.get_json()['id']}/answer"

    refused = client.post(answer, json={"accept": True}, headers=bidder.headers())
    assert refused.status_code == 409 and refused.get_json()["code"] == "guarantee_too_short"
    assert "第26条" in refused.get_json()["message"]

    guarantee_url = f"/api/v1/bidding/security/sections/{trade.section.id}/guarantee"
    later = (new_end + dt.timedelta(days=1)).date().isoformat()
    other = client.post(
        guarantee_url,
        json=_guarantee(tender, bidder, number="OTHER-0001", valid_until=later),
        headers=bidder.headers(),
    )
    assert other.status_code == 409, other.get_json()
    extended = client.post(
        guarantee_url, json=_guarantee(tender, bidder, valid_until=later), headers=bidder.headers()
    )
    assert extended.status_code in (200, 201), extended.get_json()
    sec = db_session.scalar(select(BidSecurity).where(BidSecurity.org_id == bidder.org.id))
    assert sec.guarantee_valid_until.isoformat() == later and sec.status == "secured"

    accepted = client.post(answer, json={"accept": True}, headers=bidder.headers())
    assert accepted.status_code == 200, accepted.get_json()
    assert "bidding:security:guarantee_extend" in set(db_session.scalars(select(AuditLeaf.action)))
