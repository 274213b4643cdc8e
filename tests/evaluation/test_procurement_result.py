"""Issue 15, item 5 — government procurement follows its own law (政府采购法; 实施条例 Arts. 43, 53–54;
财政部令第87号 Arts. 68–69; 第94号 Art. 21).

Before this change a government procurement section ran the works candidate publicity, and a
supplier's challenge (质疑) filed after the award was refused ("只有进行中的交易可以暂停") because
filing tried to suspend an awarded section. Now the purchaser publishes the result announcement
(中标/成交结果公告) — the award itself — and suppliers challenge it within 7 working days after its
1-working-day period; a pending challenge or complaint blocks the contract; the complaint's acceptance
review has 5 working days."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.complaints import services as complaints
from app.complaints.models import Case
from app.core.clock import CST, clock
from app.core.db import db
from tests.complaints.conftest import CONTENT
from tests.evaluation.conftest import close_report, open_trade, score_lowest, sign_in_all
from tests.factories import csrf_token, signed_in
from tests.projects.conftest import World, procurement_world


def cst(y: int, m: int, d: int, h: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=CST)


def _flashes(resp: Any) -> str:
    return " ".join(re.findall(r'class="flash[^"]*"[^>]*>([^<]+)', resp.get_data(as_text=True)))


def _file(client: FlaskClient, kind: str, **fields: str) -> Any:
    path = f"/complaints/new/{kind}"
    data = {**CONTENT, "action": "submit", "csrf_token": csrf_token(client, path), **fields}
    return client.post(path, data=data)


def test_procurement_announces_the_result_and_suppliers_challenge_it_after_the_award(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    gp = procurement_world(world)
    trade = open_trade(app, client, gp, ["1180000", "1150000", "1120000"])
    users = sign_in_all(trade)
    score_lowest(trade, users)
    ev = close_report(trade, users)
    assert ev.notice_kind == "result_announcement"
    section_id = trade.section.id

    purchaser = signed_in(app, world.agent)
    manage = f"/evaluation/manage/{section_id}"
    page = purchaser.get(manage).get_data(as_text=True)
    assert 'id="announce-result"' in page and 'id="publish-candidates"' not in page
    # the works candidate publicity is refused with the rule
    resp = purchaser.post(
        f"{manage}/publish", data={"csrf_token": csrf_token(purchaser, manage)}, follow_redirects=True
    )
    assert "87号" in _flashes(resp) and ev.status == "reported"

    clock.freeze(cst(2026, 3, 24, 9, 30))
    resp = purchaser.post(
        f"{manage}/announce", data={"csrf_token": csrf_token(purchaser, manage), "rank": "1"}
    )
    assert resp.status_code == 302
    db.session.refresh(ev)
    assert ev.status == "awarded" and trade.section.status == "awarded"
    assert ev.publicity_ends_at == cst(2026, 3, 26)  # 1 working day (87号令 Art. 69)
    assert ev.winner_org_id == trade.tender.bidders[2].org.id
    public = app.test_client().get(f"/evaluation/public/{section_id}").get_data(as_text=True)
    assert 'id="result-announcement"' in public

    # a losing supplier challenges the result after the award: accepted, and the trade is not "suspended"
    clock.freeze(cst(2026, 3, 26, 10))
    loser = trade.tender.bidders[0].user
    bc = signed_in(app, loser)
    resp = _file(bc, "objection", section_id=str(section_id), matter="results", subject="对成交结果的质疑")
    assert resp.status_code == 302, _flashes(resp) or resp.get_data(as_text=True)[:2000]
    challenge = db.session.scalar(select(Case).where(Case.filer_id == loser.id, Case.kind == "objection"))
    assert challenge is not None and challenge.status == "submitted" and challenge.number.startswith("ZY-")
    assert not trade.section.suspended and trade.section.status == "awarded"

    # the contract waits while the challenge is pending (采购条例 Art. 54)
    resp = purchaser.post(
        f"{manage}/contract", data={"csrf_token": csrf_token(purchaser, manage)}, follow_redirects=True
    )
    assert "第54条" in _flashes(resp) and ev.contract_signed_at is None

    # answered; the supplier complains to the finance department, which reviews within 5 working days
    path = f"/complaints/cases/{challenge.id}"
    purchaser.post(
        f"{path}/answer-objection", data={"csrf_token": csrf_token(purchaser, path), "answer": "质疑不成立。"}
    )
    db.session.refresh(challenge)
    assert challenge.status == "answered"
    resp = _file(
        bc,
        "complaint",
        section_id=str(section_id),
        matter="results",
        knew_at="2026-03-26T10:00",
        prior_objection_id=str(challenge.id),
        subject="对成交结果的投诉",
    )
    complaint = db.session.scalar(select(Case).where(Case.filer_id == loser.id, Case.kind == "complaint"))
    assert complaint is not None and complaint.status == "submitted", _flashes(resp)
    assert complaint.handling_org_id == gp.regulator_org.id
    assert complaint.due_at == cst(2026, 4, 3)  # 5 working days (94号令 Art. 21), not the works' 3
    resp = purchaser.post(
        f"{manage}/contract", data={"csrf_token": csrf_token(purchaser, manage)}, follow_redirects=True
    )
    assert "第54条" in _flashes(resp) and ev.contract_signed_at is None
    with app.test_request_context():
        complaints.refuse_complaint(complaint, actor=gp.regulator, reason="投诉事项超出质疑范围。")
    purchaser.post(f"{manage}/contract", data={"csrf_token": csrf_token(purchaser, manage)})
    db.session.refresh(ev)
    assert ev.contract_signed_at is not None

    # the challenge window closes 7 working days after the announcement period: 2026-04-04 00:00
    other = trade.tender.bidders[1].user
    oc = signed_in(app, other)
    clock.freeze(cst(2026, 4, 3, 23, 0))
    late_ok = _file(oc, "objection", section_id=str(section_id), matter="results", subject="质疑一")
    assert late_ok.status_code == 302
    clock.freeze(cst(2026, 4, 4, 0, 1))
    too_late = _file(oc, "objection", section_id=str(section_id), matter="results", subject="质疑二")
    assert too_late.status_code == 422 and "第52条" in too_late.get_data(as_text=True)
