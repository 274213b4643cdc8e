"""No record readable by anyone but the bidder tells who bid before the opening (SPEC §3.3): not the audit log
(sign-ins, token use, keys, envelopes), not the live stream, not the alerts."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.core import audit, audit_sealing
from app.core.models import AuditLeaf
from tests.bidding.conftest import Tender, upload
from tests.factories import login


def test_the_audit_log_never_shows_which_bidder_acted(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    bidder = tender.bidders[0]
    login(client, bidder.user)  # a sign-in right before the upload
    assert upload(app.test_client(), tender, bidder, tender.summary()).status_code == 201
    leaves = db_session.scalars(select(AuditLeaf).order_by(AuditLeaf.idx)).all()
    assert not [leaf for leaf in leaves if leaf.action == "auth:token:use"]
    mine = [leaf for leaf in leaves if leaf.actor_id == bidder.user.id or leaf.org_id == bidder.org.id]
    assert mine, "the bidder's acts are in the log"
    for leaf in mine:
        view = audit_sealing.view_of(leaf)
        assert view.actor_id is None and view.org_id is None and view.payload is None
        live = audit.live_event(leaf, {})
        assert str(bidder.user.id) != str(live.get("object_id")) and "bidder" not in str(live.get("role", ""))
    regulator = app.test_client()
    login(regulator, tender.world.regulator)
    page = regulator.get("/audit/").get_data(as_text=True)
    assert "（投标人）" not in page and "(投标人)" not in page
    assert bidder.org.name not in page and bidder.user.username not in page
