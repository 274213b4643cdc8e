"""The contract's publication and its signed PDFs through the JSON API, with the page's rules: the
tenderer's side publishes (another party 404, other roles 403, a token limited to another section 403);
the parties who read the contract page download the contract and its amendments with their SHA-256."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import User
from app.accounts.services import create_api_token
from app.contracts import services as contracts
from app.core.clock import CST, clock
from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.evaluation import procurement
from app.projects.models import Section
from tests.evaluation.conftest import close_report, open_trade, score_lowest, sign_in_all
from tests.factories import make_org, make_user
from tests.projects.conftest import World, procurement_world

PDF = b"%PDF-1.7\n% signed contract\n" + b"0" * 2000
BASE = "/api/v1/contracts/sections"


def bearer(user: User, *sections: int) -> dict[str, str]:
    raw = create_api_token(user, "test", sections=[str(s) for s in sections] or None).raw
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def test_the_contract_is_published_and_its_pdfs_downloaded_through_the_api(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    gp = procurement_world(world)
    trade = open_trade(app, client, gp, ["1180000", "1150000", "1120000"])
    users = sign_in_all(trade)
    score_lowest(trade, users)
    ev = close_report(trade, users)
    clock.freeze(dt.datetime(2026, 3, 24, 9, 30, tzinfo=CST))
    with app.test_request_context():
        procurement.announce_result(ev, actor=world.agent, rank=1)
    section = trade.section
    other = Section(
        project_id=world.project.id, code="S-OTHER", name="其他标段", status="draft",
        estimated_value=Decimal("1000000"), created_by=world.agent.id,
    )  # fmt: skip
    db.session.add(other)
    db.session.commit()
    api = app.test_client()
    agent = bearer(world.agent)
    publish = f"{BASE}/{section.id}/publish"
    assert api.post(publish, headers=agent).status_code == 404  # nothing uploaded yet

    clock.freeze(dt.datetime(2026, 3, 27, 10, tzinfo=CST))
    upload = (
        f"{BASE}/{section.id}?title=医疗设备采购合同&amount=1120000&filename=合同.pdf&signed_on=2026-03-27"
    )
    pdf = {"Content-Type": "application/pdf"}
    assert api.post(f"{BASE}/{section.id}?amount=1", data=PDF, headers=agent | pdf).status_code == 422
    not_pdf = api.post(upload, data=b"MZ not a pdf", headers=agent | pdf)
    assert not_pdf.status_code == 422 and "document" in not_pdf.json["errors"]
    assert api.post(upload, data=PDF, headers=bearer(trade.tender.bidders[0].user) | pdf).status_code == 403
    assert (
        api.post(
            upload, data=PDF, headers=bearer(make_user(Role.TENDERER, make_org(OrgKind.TENDERER))) | pdf
        ).status_code
        == 404
    )
    assert api.post(upload, data=PDF, headers=bearer(world.agent, other.id) | pdf).status_code == 403
    uploaded = api.post(upload, data=PDF, headers=agent | pdf | {"Idempotency-Key": "contract-upload-1"})
    assert uploaded.status_code == 201, uploaded.json
    assert uploaded.json["status"] == "signed" and uploaded.json["amount"] == "1120000.00"
    replay = api.post(upload, data=PDF, headers=agent | pdf | {"Idempotency-Key": "contract-upload-1"})
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    other_title = upload.replace("医疗设备采购合同", "另一份合同")
    reused = api.post(other_title, data=PDF, headers=agent | pdf | {"Idempotency-Key": "contract-upload-1"})
    assert reused.status_code == 422 and reused.json["code"] == "idempotency_key_reused"
    assert api.post(upload, data=PDF, headers=agent | pdf).status_code == 409  # changes are amendments
    contract = contracts.contract_for(section)
    assert contract is not None and contract.sha256 == uploaded.json["sha256"]
    assert ev.contract_signed_at == contract.signed_at
    assert api.post(publish, headers=bearer(trade.tender.bidders[0].user)).status_code == 403
    assert api.post(publish, headers=bearer(world.staff)).status_code == 403
    foreign = make_user(Role.TENDERER, make_org(OrgKind.TENDERER))
    assert api.post(publish, headers=bearer(foreign)).status_code == 404
    assert api.post(publish, headers=bearer(world.agent, other.id)).status_code == 403
    published = api.post(publish, headers=bearer(world.agent, section.id))
    assert published.status_code == 200, published.json
    assert published.json["status"] == "published" and published.json["published_late"] is False
    again = api.post(publish, headers=agent)
    assert again.status_code == 409 and contract.status == "published"

    doc = api.get(f"{BASE}/{section.id}/document", headers=bearer(world.staff))
    assert doc.status_code == 200 and doc.data == PDF and doc.headers["X-Content-SHA256"] == contract.sha256
    doc.close()
    assert (
        api.get(f"{BASE}/{section.id}/document", headers=bearer(trade.tender.bidders[0].user)).status_code
        == 403
    )
    assert api.get(f"{BASE}/{section.id}/document", headers=bearer(foreign)).status_code == 404
    assert api.get(f"{BASE}/{section.id}/document", headers=bearer(world.staff, other.id)).status_code == 403

    amend = f"{BASE}/{section.id}/amendments?summary=追加同类设备两台&filename=补充合同.pdf"
    too_much = api.post(f"{amend}&amount_after=1240000", data=PDF, headers=agent | pdf)
    assert too_much.status_code == 422 and not contract.amendments  # over +10 % (政府采购法第49条)
    assert (
        api.post(f"{amend}&amount_after=1230000", data=PDF, headers=bearer(foreign) | pdf).status_code == 404
    )
    amended = api.post(
        f"{amend}&amount_after=1230000", data=PDF, headers=agent | pdf | {"Idempotency-Key": "amend-1"}
    )
    assert amended.status_code == 201, amended.json
    assert [a["number"] for a in amended.json["amendments"]] == [1]
    amendment = api.get(f"{BASE}/{section.id}/amendments/1/document", headers=bearer(world.agent, section.id))
    assert amendment.status_code == 200 and amendment.data == PDF
    amendment.close()
    assert api.get(f"{BASE}/{section.id}/amendments/2/document", headers=agent).status_code == 404
    assert api.get(f"{BASE}/{section.id}/amendments/1/document", headers=bearer(foreign)).status_code == 404
    assert (
        api.get(
            f"{BASE}/{section.id}/amendments/1/document", headers=bearer(world.agent, other.id)
        ).status_code
        == 403
    )
