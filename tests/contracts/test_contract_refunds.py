"""Bid security refunds at the contract (招标投标法实施条例 Art. 57): recording the signed contract starts and
pays every refund — to the winner and to the other bidders — with bank interest; a refund the bank does not
carry out stays due (queued) and is alerted once its 5th day has passed."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.bidding.security.models import BidSecurity
from app.core.clock import clock
from app.core.db import db
from app.core.models import AuditLeaf
from app.evaluation import procurement
from app.supervision import alerts
from tests.bidding.conftest import Tender
from tests.bidding.test_security_ledger import REQUIRED, _issue, _pay, _staff
from tests.contracts.test_contracts import PDF, _flashes, _post, cst
from tests.evaluation.conftest import close_report, open_trade, score_lowest, sign_in_all
from tests.factories import signed_in
from tests.projects.conftest import World, procurement_world


def _awarded_with_securities(app: Flask, client: FlaskClient, world: World) -> tuple[Any, list[int]]:
    gp = procurement_world(world)
    paid: list[int] = []

    def pay(tender: Tender) -> None:
        for bidder in tender.bidders:
            mine = _issue(client, tender, bidder)
            assert _pay(client, mine["account_no"], REQUIRED)[0].status_code == 200
            paid.append(mine["id"])

    trade = open_trade(app, client, gp, ["1180000", "1150000", "1120000"], before_deadline=pay)
    users = sign_in_all(trade)
    score_lowest(trade, users)
    ev = close_report(trade, users)
    clock.freeze(cst(2026, 3, 24, 9, 30))
    with app.test_request_context():
        procurement.announce_result(ev, actor=world.agent, rank=1)
    db.session.commit()
    return trade, paid


def _upload(app: Flask, world: World, section_id: int) -> str:
    page = f"/contracts/sections/{section_id}"
    purchaser = signed_in(app, world.agent)
    resp = _post(
        purchaser, page, f"{page}/upload", title="医疗设备采购合同", amount="1120000",
        signed_on="2026-03-27", document=(io.BytesIO(PDF), "合同.pdf"),
    )  # fmt: skip
    return _flashes(resp)


def test_signing_the_contract_refunds_every_security_with_interest(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade, paid = _awarded_with_securities(app, client, world)
    for sid in paid:
        assert db_session.get(BidSecurity, sid).status == "secured"
    clock.freeze(cst(2026, 3, 27, 10))
    assert "已上传" in _upload(app, world, trade.section.id)
    for sid in paid:
        sec = db_session.get(BidSecurity, sid)
        db_session.refresh(sec)
        assert sec.status == "refunded", sec.status
        assert sec.interest_fen > 0 and sec.held_fen == 0  # principal and the bank's interest went back
        assert sec.refund_reason
    leaves = db_session.scalars(select(AuditLeaf).where(AuditLeaf.action == "bidding:security:refund")).all()
    assert len(leaves) == 3 and {leaf.actor_id for leaf in leaves} == {world.agent.id}
    with app.test_request_context():
        assert not [a for a in alerts.run_alert_rules(trade.section) if a.rule == "security_refund_overdue"]


def test_a_refund_the_bank_cannot_carry_out_is_queued_and_alerted_after_day_5(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade, paid = _awarded_with_securities(app, client, world)
    section = trade.section
    clock.freeze(cst(2026, 3, 27, 10))
    previous = app.config.get("BANK_ADAPTER", "simulated")
    app.config["BANK_ADAPTER"] = "offline-bank"  # no adapter installed: the bank cannot be asked now
    try:
        assert "已上传" in _upload(app, world, section.id)
    finally:
        app.config["BANK_ADAPTER"] = previous
    secs = [db_session.get(BidSecurity, sid) for sid in paid]
    for sec in secs:
        db_session.refresh(sec)
        assert sec.status == "refund_due" and sec.refund_due_at is not None
    # GP: the others 5 working days from the award, the winner 5 working days from the contract
    # (政府采购法实施条例第33条; 招标投标法实施条例第57条)
    first_due = min(sec.refund_due_at for sec in secs)
    due = max(sec.refund_due_at for sec in secs)
    assert first_due < due

    clock.freeze(first_due - dt.timedelta(minutes=60))
    with app.test_request_context():
        assert not [a for a in alerts.run_alert_rules(section) if a.rule == "security_refund_overdue"]
    clock.freeze(due + dt.timedelta(minutes=1))
    with app.test_request_context():
        raised = [a for a in alerts.run_alert_rules(section) if a.rule == "security_refund_overdue"]
    assert len(raised) == 3 and {a.legal_basis for a in raised} == {"条例 Art. 57"}

    # staff pay the queued refunds once the bank answers again
    _browser, auth = _staff(app, trade.tender)
    for sec in secs:
        resp = client.post(f"/api/v1/bidding/security/securities/{sec.id}/refund", headers=auth)
        assert resp.status_code == 200 and resp.get_json()["status"] == "refunded"
    with app.test_request_context():
        assert not [a for a in alerts.run_alert_rules(section) if a.rule == "security_refund_overdue"]
