"""Issue 15 item 1: with fewer than 3 bidders nothing is opened (招标投标法 Art. 28, 实施条例 Art. 44).

Before the fix, two receipted bids were decrypted at the opening, both prices published in the record, and
only then was the section marked failed. Now the count of bidders with a receipted envelope is taken
before any share is accepted: the ceremony records it, the section fails unopened, nothing is decrypted
and the tenderer is offered re-tendering (a new section linked to the failed one)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts import services as accounts
from app.bidding.models import OpeningCeremony, OpeningRecordEntry, SealedEnvelope, SubmittedShare
from app.core.clock import clock
from app.core.models import OutboxMessage
from app.projects import services as projects
from app.projects.models import Section
from tests.bidding.conftest import DEADLINE, Tender, after_deadline, upload
from tests.factories import csrf_token, current_code, login
from tests.projects.conftest import cst


def _bid(client: FlaskClient, tender: Tender, prices: list[str]) -> None:
    for bidder, price in zip(tender.bidders, prices, strict=False):
        assert upload(client, tender, bidder, tender.summary(price)).status_code == 201
        sealed = tender.seal(f"technical proposal of {bidder.org.name}".encode() * 50)
        assert upload(client, tender, bidder, sealed, kind="document", name="tech.pdf").status_code == 201


def _start_over_api(client: FlaskClient, tender: Tender) -> Any:
    staff = tender.world.staff
    token = accounts.create_api_token(staff, "ops").raw
    return client.post(
        f"/api/v1/bidding/sections/{tender.section.id}/ceremony",
        headers={"Authorization": f"Bearer {token}", "X-TOTP-Code": current_code(staff)},
    )


def test_two_bidders_are_counted_never_decrypted_and_the_tenderer_re_tenders(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    prices = ["9500000.00", "9400000.00"]
    _bid(client, tender, prices)
    sid = tender.section.id
    after_deadline()

    resp = _start_over_api(client, tender)
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert body["status"] == "not_opened" and body["bidders"] == 2
    assert "招标投标法第28条" in body["message"]

    section = db_session.get(Section, sid)
    assert section.status == "failed"
    assert "招标投标法第28条" in (section.failed_reason or "") and "2" in (section.failed_reason or "")
    ceremony = db_session.scalar(select(OpeningCeremony).where(OpeningCeremony.section_id == sid))
    assert ceremony.status == "not_opened" and ceremony.bidder_count == 2

    # nothing was decrypted: no record entry, no decrypt status, no plaintext file, no share taken
    assert db_session.scalars(select(OpeningRecordEntry)).all() == []
    envelopes = db_session.scalars(select(SealedEnvelope).where(SealedEnvelope.section_id == sid)).all()
    assert len(envelopes) == 4
    assert all(e.decrypt_status is None and e.plaintext_path is None for e in envelopes)
    assert not (Path(app.config["BLOB_DIR"]) / "opened").exists()
    assert db_session.scalars(select(SubmittedShare)).all() == []
    custodian = tender.custodians[1]
    share_token = accounts.create_api_token(custodian, "share").raw
    custodian.totp_secret_enc = custodian.totp_secret_enc or tender.world.staff.totp_secret_enc
    custodian.totp_enabled_at = custodian.totp_enabled_at or tender.world.staff.totp_enabled_at
    refused = client.post(
        f"/api/v1/bidding/sections/{sid}/shares",
        json={"mnemonic": tender.mnemonic(custodian)},
        headers={"Authorization": f"Bearer {share_token}", "X-TOTP-Code": current_code(custodian)},
    )
    assert refused.status_code == 409  # no ceremony collects shares: the key is never rebuilt

    # the public record states the count and the rule, never a bidder or a price
    anon = app.test_client()
    record = anon.get(f"/api/v1/bidding/sections/{sid}/record").get_json()
    assert record["record"]["not_opened"] is True and record["record"]["bidders"] == 2
    assert record["record"]["entries"] == [] and record["valid_bids"] == 0
    published = json.dumps(record, ensure_ascii=False)
    page = anon.get(f"/bidding/sections/{sid}/record").get_data(as_text=True)
    hall = anon.get(f"/bidding/sections/{sid}/hall").get_data(as_text=True)
    for text in (published, page, hall):
        assert all(b.org.name not in text for b in tender.bidders)
        assert all(p not in text and p.split(".")[0] not in text for p in prices)
    assert 'id="bidder-count">2<' in page and "招标投标法第28条" in page

    # each bidder is told privately; the tenderer side is offered the re-tender
    inbox = db_session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "inbox")).all()
    told = {m.user_id for m in inbox if "not opened" in m.subject or "未开标" in m.subject}
    assert {b.user.id for b in tender.bidders[:2]} <= told
    assert tender.bidders[2].user.id not in told
    offered = {m.user_id for m in inbox if tender.section.code in m.subject and m.user_id is not None}
    assert tender.world.agent.id in offered and tender.world.tenderer.id in offered

    # the tenderer re-tenders from the section page: a new draft linked to the failed section
    agent = app.test_client()
    login(agent, tender.world.agent)
    url = f"/projects/sections/{sid}"
    assert 'id="retender"' in agent.get(url).get_data(as_text=True)
    resp = agent.post(f"{url}/retender", data={"csrf_token": csrf_token(agent, url)})
    assert resp.status_code == 302
    again = db_session.scalar(select(Section).where(Section.retender_of_id == sid))
    assert again is not None and again.status == "draft" and again.project_id == section.project_id
    assert resp.headers["Location"].endswith(f"/projects/sections/{again.id}/edit")
    assert [d.sha256 for d in again.documents] == [d.sha256 for d in section.current_documents]
    assert all(d.published_at is None for d in again.documents)
    assert [c.user_id for c in again.custodians] == [c.user_id for c in section.custodians]
    failed_page = agent.get(url).get_data(as_text=True)
    assert f'href="/projects/sections/{again.id}"' in failed_page and 'id="retender"' not in failed_page
    assert f'href="{url}"' in agent.get(f"/projects/sections/{again.id}").get_data(as_text=True)
    # the failed section keeps its history; a second re-tender is refused
    assert [h.to_status for h in section.history][-2:] == ["failed", "retendered"]
    agent.post(f"{url}/retender", data={"csrf_token": csrf_token(agent, url)})
    assert db_session.scalars(select(Section).where(Section.retender_of_id == sid)).all() == [again]

    # the re-tender publishes under every rule once it has new dates
    clock.freeze(DEADLINE + dt.timedelta(days=1))
    with app.test_request_context():
        terms = projects.SectionTerms(
            name=again.name,
            estimated_value=again.estimated_value,
            ceiling_price=again.ceiling_price,
            bid_security=again.bid_security,
            panel_size=again.panel_size,
            panel_pool_count=again.panel_pool_count,
            panel_specialties=dict(again.panel_specialties),
            opening_items=list(again.opening_items),
            custodian_ids=[c.user_id for c in again.custodians],
            docs_available_from=cst(2026, 3, 24, 9, 0),
            docs_available_until=cst(2026, 3, 31, 17, 0),
            bid_deadline=cst(2026, 4, 14, 9, 30),
            online_only=True,
            notice_text=again.notice_text,
        )
        projects.update_section(again, terms, actor=tender.world.agent)
        assert projects.publish_section(again, actor=tender.world.agent).created
    assert again.status == "published" and again.opening_recipient


def test_three_bidders_are_opened_as_before(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    """The count decides before decryption only: with 3 receipted bidders the ceremony collects shares."""
    _bid(client, tender, ["1.00", "2.00", "3.00"])
    after_deadline()
    resp = _start_over_api(client, tender)
    assert resp.status_code == 201 and resp.get_json()["status"] == "collecting"
    ceremony = db_session.scalar(
        select(OpeningCeremony).where(OpeningCeremony.section_id == tender.section.id)
    )
    assert ceremony.bidder_count == 3
    assert db_session.get(Section, tender.section.id).status == "opening"


def test_a_withdrawn_bid_does_not_count(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    """Withdrawn before the deadline (撤回): the bidder has no receipted envelope left and is not counted."""
    _bid(client, tender, ["1.00", "2.00", "3.00"])
    gone = tender.bidders[2]
    resp = client.post(f"/api/v1/bidding/sections/{tender.section.id}/withdraw", headers=gone.headers())
    assert resp.status_code == 200, resp.get_json()
    after_deadline()
    assert _start_over_api(client, tender).get_json()["status"] == "not_opened"
    assert db_session.get(Section, tender.section.id).status == "failed"
