"""Issue 18 item 4 — contracts and closure: the signed contract uploaded (PDF) and, for government
procurement, published within 2 working days of signing (政府采购法实施条例 Art. 50), a late publication shown
and alerted; amendments recorded (≤ +10 %, 政府采购法 Art. 49); the section's archive complete with the
contract and the cases, listed part by part with hashes and a retention-until date."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.contracts import services as contracts
from app.contracts.models import Contract
from app.core.clock import CST, clock
from app.core.db import db
from app.core.errors import DomainError, NotFound
from app.core.models import AuditLeaf
from app.core.permissions import OrgKind, Role
from app.evaluation import archive, procurement
from app.evaluation.verify import verify_archive
from app.supervision import alerts
from app.supervision.models import SupervisionAlert
from tests.evaluation.conftest import (
    award_after_publicity,
    close_report,
    open_trade,
    publish,
    score_lowest,
    sign_in_all,
)
from tests.factories import csrf_token, make_org, make_user, signed_in
from tests.projects.conftest import World, procurement_world

PDF = b"%PDF-1.7\n% signed contract\n" + b"0" * 2000


def cst(y: int, m: int, d: int, h: int = 0, minute: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=CST)


def _flashes(resp: Any) -> str:
    return " ".join(re.findall(r'class="flash[^"]*"[^>]*>([^<]+)', resp.get_data(as_text=True)))


def _post(client: FlaskClient, page: str, path: str, **data: Any) -> Any:
    return client.post(
        path,
        data={"csrf_token": csrf_token(client, page), **data},
        content_type="multipart/form-data",
        follow_redirects=True,
    )


def _gp_awarded(app: Flask, client: FlaskClient, world: World) -> tuple[World, Any]:
    gp = procurement_world(world)
    trade = open_trade(app, client, gp, ["1180000", "1150000", "1120000"])
    users = sign_in_all(trade)
    score_lowest(trade, users)
    ev = close_report(trade, users)
    clock.freeze(cst(2026, 3, 24, 9, 30))
    with app.test_request_context():
        procurement.announce_result(ev, actor=world.agent, rank=1)
    db.session.commit()
    return gp, trade


def _works_awarded(app: Flask, client: FlaskClient, world: World) -> Any:
    """A works trade awarded to the lowest bid (9,600,000) after the candidates' publicity."""
    trade = open_trade(app, client, world, ["9800000", "9700000", "9600000"])
    users = sign_in_all(trade)
    score_lowest(trade, users)
    close_report(trade, users)
    with app.test_request_context():
        publish(trade)
    award_after_publicity(trade)
    return trade


def test_a_procurement_contract_is_uploaded_published_late_alerted_amended_and_archived(
    app: Flask, client: FlaskClient, world: World, db_session: Any, tmp_path: Path
) -> None:
    gp, trade = _gp_awarded(app, client, world)
    section = trade.section
    ev = trade.evaluation()
    page = f"/contracts/sections/{section.id}"
    purchaser = signed_in(app, world.agent)
    html = purchaser.get(page).get_data(as_text=True)
    assert 'id="upload-contract"' in html and "2个工作日内公告" in html

    # bad input: not a PDF, no amount, a signing date before the award
    clock.freeze(cst(2026, 3, 27, 10))  # a Friday
    resp = _post(
        purchaser, page, f"{page}/upload", title="医疗设备采购合同", amount="1120000",
        document=(io.BytesIO(b"MZ not a pdf"), "contract.pdf"),
    )  # fmt: skip
    assert "PDF" in _flashes(resp) and contracts.contract_for(section) is None
    resp = _post(
        purchaser, page, f"{page}/upload", title="医疗设备采购合同", amount="-5",
        document=(io.BytesIO(PDF), "contract.pdf"),
    )  # fmt: skip
    assert "金额" in _flashes(resp) and contracts.contract_for(section) is None
    resp = _post(
        purchaser, page, f"{page}/upload", title="医疗设备采购合同", amount="1120000", signed_on="2026-03-01",
        document=(io.BytesIO(PDF), "contract.pdf"),
    )  # fmt: skip
    assert contracts.contract_for(section) is None and ev.contract_signed_at is None
    # a bidder and another regulator see nothing of it
    outsider = signed_in(app, make_user(Role.BIDDER))
    assert outsider.get(page).status_code in (403, 404)
    other = signed_in(app, make_user(Role.REGULATOR, make_org(OrgKind.REGULATOR, industry="water")))
    assert other.get(page).status_code == 404

    resp = _post(
        purchaser, page, f"{page}/upload", title="医疗设备采购合同", amount="1,120,000",
        signed_on="2026-03-27", document=(io.BytesIO(PDF), "签订合同.pdf"),
    )  # fmt: skip
    assert "已上传" in _flashes(resp), _flashes(resp)
    contract = contracts.contract_for(section)
    assert contract is not None and contract.status == "signed" and contract.amount == Decimal("1120000")
    section.performance_security_pct = Decimal("5")  # as if the documents asked for a 5 % 履约保证金
    db.session.commit()
    shown = re.search(r'id="performance-security">([^<]+)<', purchaser.get(page).get_data(as_text=True))
    assert shown is not None and shown.group(1) == "56,000.00 元 · 合同金额的 5%，由中标人提交"
    db.session.refresh(ev)
    assert ev.contract_signed_at == contract.signed_at  # the signing is recorded on the evaluation too
    # Fri 27 March: Mon 30, Tue 31 → published by the end of Tuesday (政府采购法实施条例第50条)
    assert contract.publish_due_at == cst(2026, 4, 1)
    assert contracts.publication_state(contract) == "due"
    leaf = db.session.scalar(
        select(AuditLeaf).where(
            AuditLeaf.action == "contracts:contract:upload", AuditLeaf.object_id == str(contract.id)
        )
    )
    assert leaf is not None
    # a second upload is refused: changes are amendments
    resp = _post(
        purchaser, page, f"{page}/upload", title="x", amount="1", document=(io.BytesIO(PDF), "again.pdf")
    )
    assert "合同变更" in _flashes(resp)

    # not published by the end of the 2nd working day: the state and the supervision alert say so
    clock.freeze(cst(2026, 4, 1, 9))
    with app.test_request_context():
        raised = [a for a in alerts.run_alert_rules(section) if a.rule == "contract_publication"]
    assert [a.evidence["state"] for a in raised] == ["overdue"]
    html = purchaser.get(page).get_data(as_text=True)
    assert "未按时公告" in html
    regulator = signed_in(app, gp.regulator)
    assert "未按时公告" in regulator.get("/contracts/").get_data(as_text=True)

    resp = _post(purchaser, page, f"{page}/publish")
    assert "逾期" in _flashes(resp)
    db.session.refresh(contract)
    assert contract.status == "published" and contract.published_late
    with app.test_request_context():
        raised = [a for a in alerts.run_alert_rules(section) if a.rule == "contract_publication"]
    assert [(a.rule, a.evidence["state"]) for a in raised] == [("contract_publication", "late")]
    assert _post(purchaser, page, f"{page}/publish").status_code == 200  # twice: refused, nothing changes
    published = db.session.scalars(
        select(AuditLeaf.payload).where(AuditLeaf.action == "contracts:contract:publish")
    ).all()
    assert len(published) == 1 and '"late":true' in published[0].replace(" ", "")

    # the public portal and the API show it, marked late; the PDF downloads with its hash
    anonymous = app.test_client()
    listing = anonymous.get("/portal/contracts").get_data(as_text=True)
    assert "医疗设备采购合同" in listing and "逾期公告" in listing
    doc = anonymous.get(f"/portal/contracts/{contract.id}/document")
    assert doc.status_code == 200 and doc.data == PDF and doc.headers["X-Content-SHA256"] == contract.sha256
    doc.close()
    body = anonymous.get("/api/v1/public/contracts").get_json()
    assert (
        body[0]["id"] == contract.id
        and body[0]["published_late"] is True
        and body[0]["amount"] == "1120000.00"
    )

    # amendments: more than +10 % is refused for government procurement; within it, recorded
    clock.freeze(cst(2026, 4, 10, 10))
    resp = _post(
        purchaser, page, f"{page}/amendments", summary="追加同类设备", amount_after="1240000",
        document=(io.BytesIO(PDF), "补充合同.pdf"),
    )  # fmt: skip
    assert "第49条" in _flashes(resp) and not contract.amendments
    resp = _post(
        purchaser, page, f"{page}/amendments", summary="", amount_after="1200000",
        document=(io.BytesIO(PDF), "补充合同.pdf"),
    )  # fmt: skip
    assert "变更内容" in _flashes(resp)
    resp = _post(
        purchaser, page, f"{page}/amendments", summary="追加同类设备两台", amount_after="1230000",
        document=(io.BytesIO(PDF), "补充合同.pdf"),
    )  # fmt: skip
    db.session.refresh(contract)
    assert [a.number for a in contract.amendments] == [1]
    assert contracts.current_amount(contract) == Decimal("1230000")
    assert "追加同类设备两台" in anonymous.get("/portal/contracts").get_data(as_text=True)
    api = signed_in(app, world.staff).get(f"/api/v1/contracts/sections/{section.id}").get_json()
    assert api["publication"] == "late" and api["amendments"][0]["amount_after"] == "1230000.00"

    # the archive holds the contract, its amendment and the cases, each part with its hash
    clock.freeze(cst(2026, 4, 20, 10))
    with app.test_request_context():
        archive.archive(ev, actor=world.staff)
    db.session.commit()
    html = (
        signed_in(app, gp.regulator).get(f"/contracts/sections/{section.id}/archive").get_data(as_text=True)
    )
    assert "签订的合同: 齐全" in html and "缺失" not in html, html
    assert "2041-04-20" in html  # kept 15 years (政府采购法第42条)
    assert contract.sha256 in html or "contract/contract.json" in html
    data = signed_in(app, world.staff).get(f"/api/v1/contracts/sections/{section.id}/archive").get_json()
    assert data["complete"] is True
    names = {f["name"] for f in data["files"]}
    assert {"contract/contract.json", "cases.json"} <= names
    assert any(n.startswith("contract/amendment-1-") for n in names)
    bundle = tmp_path / "archive.zip"
    bundle.write_bytes((Path(app.config["BLOB_DIR"]) / (ev.archive_path or "")).read_bytes())
    assert verify_archive(str(bundle)).ok


def test_a_works_contract_needs_no_publication_and_its_archive_shows_a_missing_contract(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = _works_awarded(app, client, world)
    ev = trade.evaluation()
    section = trade.section
    # archived without a contract: the listing says the contract part is missing
    with app.test_request_context():
        ev.contract_signed_at = ev.awarded_at
        archive.archive(ev, actor=world.staff)
    db.session.commit()
    html = signed_in(app, world.staff).get(f"/contracts/sections/{section.id}/archive").get_data(as_text=True)
    assert "签订的合同: 缺失" in html and "开标记录: 齐全" in html
    assert (
        signed_in(app, world.tenderer)
        .get(f"/api/v1/contracts/sections/{section.id}/archive")
        .get_json()["complete"]
        is False
    )
    # an archived section takes no new contract
    page = f"/contracts/sections/{section.id}"
    agent = signed_in(app, world.agent)
    resp = _post(
        agent, page, f"{page}/upload", title="施工合同", amount="9600000", document=(io.BytesIO(PDF), "c.pdf")
    )
    assert contracts.contract_for(section) is None and "定标" in _flashes(resp)


def test_a_works_contract_is_not_alerted_for_publication(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = _works_awarded(app, client, world)
    with app.test_request_context():
        contract = contracts.upload_contract(
            trade.section, actor=world.agent, stream=io.BytesIO(PDF), filename="施工合同.pdf",
            amount="9600000", title="施工合同",
        )  # fmt: skip
        assert contract.publish_due_at is None and contracts.publication_state(contract) == "not_required"
        clock.advance(dt.timedelta(days=20))
        assert not [f for f in alerts.findings(trade.section) if f.rule == "contract_publication"]
        # works amendments are not capped at 10 %
        amendment = contracts.record_amendment(
            contract, actor=world.agent, summary="增加附属工程", amount_after="12000000",
            stream=io.BytesIO(PDF), filename="变更.pdf",
        )  # fmt: skip
        assert amendment.number == 1
        # only the tenderer's side may amend
        with pytest.raises(NotFound):
            contracts.record_amendment(
                contract,
                actor=world.staff,
                summary="x",
                amount_after="1",
                stream=io.BytesIO(PDF),
                filename="x.pdf",
            )
    assert (
        db.session.scalar(select(Contract.id).where(Contract.section_id == trade.section.id)) == contract.id
    )
    assert (
        db.session.scalar(select(SupervisionAlert.id).where(SupervisionAlert.rule == "contract_publication"))
        is None
    )


def test_the_contract_price_is_the_winning_bid_price(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    """招标投标法 Art. 46: the contract follows the tender documents and the winning bid; a price other than
    the winning bid (9,600,000) departs from its substance and is refused, naming the price and the article,
    with nothing recorded (no contract, no signing, no refund clock)."""
    trade = _works_awarded(app, client, world)
    page = f"/contracts/sections/{trade.section.id}"
    resp = _post(
        signed_in(app, world.agent), page, f"{page}/upload", title="施工合同", amount="9500000",
        document=(io.BytesIO(PDF), "c.pdf"),
    )  # fmt: skip
    assert "合同价款应为中标价 9,600,000.00 元" in _flashes(resp) and "招标投标法第46条" in _flashes(resp)
    with app.test_request_context():
        with pytest.raises(DomainError) as err:
            contracts.upload_contract(
                trade.section, actor=world.agent, stream=io.BytesIO(PDF), filename="施工合同.pdf",
                amount="9500000", title="施工合同",
            )  # fmt: skip
        assert err.value.code == "amount_not_bid" and "amount" in err.value.errors
        assert "9,600,000.00" in err.value.message and "第46条" in err.value.message
        assert contracts.contract_for(trade.section) is None
        assert trade.evaluation().contract_signed_at is None
        contract = contracts.upload_contract(
            trade.section, actor=world.agent, stream=io.BytesIO(PDF), filename="施工合同.pdf",
            amount="9600000", title="施工合同",
        )  # fmt: skip
        assert contract.amount == Decimal("9600000")
