"""The demo city (``flask demo seed``) shows the lawful endings of issue 15: a tender with only two
bidders that was counted at its opening and never opened."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from app import demo
from app.bidding.models import OpeningCeremony, OpeningRecordEntry, SealedEnvelope
from app.bidding.security.models import BidSecurity, Reconciliation
from app.complaints.models import CaseEvent
from app.core import audit
from app.core.clock import clock
from app.core.models import AuditCheckpoint, AuditLeaf
from app.experts.models import ExpertLeave, ExpertStatusChange
from app.projects.models import Section
from tests.projects.conftest import T0


def test_the_demo_city_has_a_section_failed_for_too_few_bidders(
    app: Flask, db_session: Any, tmp_path: Path
) -> None:
    saved = {k: app.config[k] for k in ("INSTANCE_PATH", "BLOB_DIR")}
    app.config["INSTANCE_PATH"] = str(tmp_path / "instance")
    app.config["BLOB_DIR"] = str(tmp_path / "blobs")
    try:
        clock.freeze(T0)  # the demo dates everything from business time: a fixed instant
        with app.test_request_context():
            demo.seed()
        newest = db_session.scalar(select(func.max(AuditCheckpoint.tree_size)))
        assert newest == audit.tree_size()  # the demo's log ends signed: a witness can pin it at once
        ceremony = db_session.scalar(select(OpeningCeremony).where(OpeningCeremony.status == "not_opened"))
        assert ceremony is not None and ceremony.bidder_count == 2
        section = db_session.get(Section, ceremony.section_id)
        assert section.status == "failed" and "招标投标法第28条" in (section.failed_reason or "")
        envelopes = db_session.scalars(select(SealedEnvelope).where(SealedEnvelope.section_id == section.id))
        assert all(e.decrypt_status is None and e.signature for e in envelopes)
        entries = select(OpeningRecordEntry).where(OpeningRecordEntry.ceremony_id == ceremony.id)
        assert db_session.scalars(entries).all() == []  # nothing of this tender was opened
        page = app.test_client().get(f"/bidding/sections/{section.id}/record").get_data(as_text=True)
        assert 'id="bidder-count">2<' in page
        # every other demo tender still publishes under every rule
        assert db_session.scalars(select(Section).where(Section.status == "published")).all()
        # the story ends now: nothing the demo recorded is dated after the moment it was seeded
        assert db_session.scalar(select(func.max(AuditLeaf.created_at))) <= clock.now()
        assert db_session.scalar(select(func.max(CaseEvent.at))) <= clock.now()
        # bid security: the failed tender's bidders are refunded (one done, with interest), the open tender
        # holds a paid security, a guarantee and a payment booked from the statement; the ledger balances
        failed = db_session.scalars(select(BidSecurity).where(BidSecurity.section_id == section.id)).all()
        assert sorted(s.status for s in failed) == ["refund_due", "refunded"]
        assert any(s.interest_fen > 0 for s in failed)
        statuses = db_session.scalars(select(BidSecurity.status).where(BidSecurity.section_id != section.id))
        assert sorted(statuses) == ["secured", "secured", "secured"]
        run = db_session.scalar(select(Reconciliation))
        assert run is not None and run.booked_from_statement == 1 and run.balanced
        # what the demo wrote where people read it (an expert's history and leave) is Chinese, like the UI
        written = [
            *db_session.scalars(select(ExpertStatusChange.reason)),
            *db_session.scalars(select(ExpertLeave.note)),
        ]
        assert written and not [text for text in written if re.search(r"[A-Za-z]", text)]
    finally:
        app.config.update(saved)
