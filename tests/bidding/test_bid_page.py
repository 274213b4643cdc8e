"""The bidder's section page without a browser: the receipts panel fragment, the documents notice, and a
withdrawal that needs its confirmation (and writes its audit leaves)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from app.bidding.models import SealedEnvelope
from app.core.models import AuditLeaf
from app.projects import services as projects
from tests.bidding.conftest import Tender, upload
from tests.factories import csrf_token, login


def test_panel_notice_and_confirmed_withdrawal(
    app: Flask, client: Any, tender: Tender, db_session: Any
) -> None:
    bidder = tender.bidders[0]
    sid = tender.section.id
    upload(client, tender, bidder, tender.summary("9000000"))
    login(client, bidder.user)

    page = client.get(f"/bidding/sections/{sid}").get_data(as_text=True)
    assert 'id="not-obtained"' in page and "还剩" in page
    panel = client.get(f"/bidding/sections/{sid}/envelopes").get_data(as_text=True)
    assert 'data-state="submitted"' in panel and "开标一览表" in panel and "summary" not in panel
    with app.test_request_context():
        projects.obtain_documents(tender.section, actor=bidder.user)
    assert 'id="not-obtained"' not in client.get(f"/bidding/sections/{sid}").get_data(as_text=True)

    confirm_page = client.get(f"/bidding/sections/{sid}/withdraw").get_data(as_text=True)
    assert "撤回的后果" in confirm_page and 'name="confirm"' in confirm_page
    token = csrf_token(client, f"/bidding/sections/{sid}/withdraw")
    resp = client.post(f"/bidding/sections/{sid}/withdraw", data={"csrf_token": token})
    assert resp.status_code == 302 and resp.location.endswith("/withdraw")  # not confirmed: nothing done
    assert db_session.scalars(select(SealedEnvelope.status)).all() == ["active"]

    resp = client.post(f"/bidding/sections/{sid}/withdraw", data={"csrf_token": token, "confirm": "yes"})
    assert resp.status_code == 302
    assert db_session.scalars(select(SealedEnvelope.status)).all() == ["withdrawn"]
    assert db_session.scalar(select(AuditLeaf).where(AuditLeaf.action == "bidding:envelope:withdraw"))
    panel = client.get(f"/bidding/sections/{sid}/envelopes").get_data(as_text=True)
    assert 'data-state="empty"' in panel and "已撤回" in panel and "withdraw-link" not in panel
