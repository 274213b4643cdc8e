"""Issue 15, item 6 — objections at the opening are cases (实施条例 Arts. 44, 60); issue 14's "any bidder,
even one that did not bid, can post unlimited on-site objections".

Before this change an on-site objection was a loose row of the bidding domain: any bidder account could
post any number, center staff answered it, and a later complaint about the opening was refused as
"objection first" because no objection case existed. Now only bidders of the section object (one waiting
at a time, a few per opening), the tenderer answers on the spot, the answer is in the opening record, the
objection is a case with its history, and the complaint about the opening is accepted on the normal clock."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.bidding import opening
from app.complaints.models import Case
from app.core.clock import CST, clock, now
from app.core.db import db
from app.core.errors import Conflict
from app.evaluation import services as evaluation
from tests.bidding.conftest import DEADLINE, Tender, after_deadline, make_bidder, upload
from tests.complaints.conftest import CONTENT
from tests.factories import csrf_token, login


def _open(app: Flask, client: FlaskClient, tender: Tender) -> None:
    for bidder, price in zip(tender.bidders, ["9100000", "9200000", "9300000"], strict=True):
        assert upload(client, tender, bidder, tender.summary(price)).status_code == 201
    after_deadline()
    with app.test_request_context():
        ceremony = opening.start_ceremony(tender.section.id, actor=tender.world.staff)
        for custodian in tender.custodians[:2]:
            opening.submit_share(tender.section.id, tender.mnemonic(custodian), actor=custodian)
        assert opening.run_opening(ceremony.id, actor=tender.world.staff) is not None


def _client(app: Flask, user: Any) -> FlaskClient:
    client = app.test_client()
    login(client, user)
    return client


def _object_on_page(client: FlaskClient, sid: int, body: str) -> Any:
    hall = f"/bidding/sections/{sid}/hall"
    return client.post(
        f"/bidding/sections/{sid}/objections",
        data={"csrf_token": csrf_token(client, hall), "body": body},
        follow_redirects=True,
    )


def _answer_on_page(client: FlaskClient, sid: int, objection_id: int, answer: str) -> Any:
    hall = f"/bidding/sections/{sid}/hall"
    return client.post(
        f"/bidding/sections/{sid}/objections/{objection_id}/answer",
        data={"csrf_token": csrf_token(client, hall), "answer": answer},
    )


def test_only_bidders_object_the_tenderer_answers_on_the_spot_and_a_complaint_follows(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    _open(app, client, tender)
    sid = tender.section.id
    outsider = make_bidder("未投标的公司")
    resp = client.post(
        f"/api/v1/bidding/sections/{sid}/objections",
        json={"body": "开标程序违法"},
        headers=outsider.headers(),
    )
    assert resp.status_code == 403 and "第44条" in resp.get_json()["message"]  # before: 200

    # a bidder of the section objects in the hall: a case, shown in the hall
    bidder = tender.bidders[0]
    bc = _client(app, bidder.user)
    page = _object_on_page(bc, sid, "我方报价唱标有误，应为9100000元。").get_data(as_text=True)
    assert "我方报价唱标有误" in page
    case = db.session.scalar(select(Case).where(Case.section_id == sid, Case.matter == "opening"))
    assert case is not None and case.kind == "objection" and case.status == "submitted"
    assert case.filer_org_id == bidder.org.id and case.number and case.number.startswith("YY-")
    row = db.session.scalar(select(opening.OnSiteObjection).where(opening.OnSiteObjection.case_id == case.id))
    assert row is not None
    # the next one waits for the answer to this one (rate limit decided in the database)
    resp = client.post(
        f"/api/v1/bidding/sections/{sid}/objections", json={"body": "再议"}, headers=bidder.headers()
    )
    assert resp.status_code == 429
    # the evaluation does not start while the objection waits for its answer
    with app.test_request_context(), pytest.raises(Conflict) as err:
        evaluation.start(tender.section, actor=None)
    assert err.value.code == "pending_opening_objection"

    # center staff no longer answer; the tenderer (its agency) does, and it goes into the record
    assert _answer_on_page(_client(app, tender.world.staff), sid, row.id, "staff").status_code == 403
    tc = _client(app, tender.world.agent)
    assert 'name="answer"' in tc.get(f"/bidding/sections/{sid}/hall").get_data(as_text=True)
    assert _answer_on_page(tc, sid, row.id, "已当场核对投标函，唱标价格无误。").status_code == 302
    db.session.refresh(case)
    assert case.status == "answered" and case.answer == "已当场核对投标函，唱标价格无误。"
    record_page = app.test_client().get(f"/bidding/sections/{sid}/record").get_data(as_text=True)
    table = re.search(r'<table class="table" id="record-objections">(.*?)</table>', record_page, re.S)
    assert table is not None and "唱标价格无误" in table.group(1) and case.number in table.group(1)
    record = client.get(f"/api/v1/bidding/sections/{sid}/record").get_json()
    assert record["objections"][0]["answer"] == "已当场核对投标函，唱标价格无误。"
    # the case and its history, as the bidder sees it
    case_page = bc.get(f"/complaints/cases/{case.id}").get_data(as_text=True)
    assert "唱标价格无误" in case_page and case.number in case_page
    assert [(e.from_status, e.to_status) for e in case.events if e.action == "transition"] == [
        ("draft", "submitted"),
        ("submitted", "answered"),
    ]

    # a complaint about the opening after the answered objection: accepted on the normal clock
    clock.advance(dt.timedelta(days=2))
    path = "/complaints/new/complaint"
    resp = bc.post(
        path,
        data={
            **CONTENT,
            "subject": "对开标的投诉",
            "section_id": str(sid),
            "matter": "opening",
            "knew_at": (DEADLINE + dt.timedelta(minutes=5)).astimezone(CST).strftime("%Y-%m-%dT%H:%M"),
            "prior_objection_id": str(case.id),
            "action": "submit",
            "csrf_token": csrf_token(bc, path),
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]  # before: 422 "objection first"
    complaint = db.session.scalar(select(Case).where(Case.kind == "complaint", Case.section_id == sid))
    assert complaint is not None and complaint.status == "submitted" and complaint.due_at is not None
    assert complaint.handling_org_id == tender.section.project.regulator_org_id


def test_objections_at_one_opening_are_limited_and_end_with_the_opening_day(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    app.config["OPENING_OBJECTIONS_PER_BIDDER"] = 2
    try:
        _open(app, client, tender)
        sid = tender.section.id
        bidder = tender.bidders[1]
        codes = []
        for n in range(3):
            resp = client.post(
                f"/api/v1/bidding/sections/{sid}/objections",
                json={"body": f"异议{n}"},
                headers=bidder.headers(),
            )
            codes.append(resp.status_code)
            if resp.status_code == 200:
                with app.test_request_context():
                    opening.answer_objection(sid, resp.get_json()["id"], "已答复", actor=tender.world.agent)
        assert codes == [200, 200, 429]
        # the next day the opening is over: a complaint, not an on-site objection
        clock.freeze(DEADLINE.astimezone(CST).replace(hour=0, minute=0) + dt.timedelta(days=1, minutes=1))
        assert now() > DEADLINE
        resp = client.post(
            f"/api/v1/bidding/sections/{sid}/objections",
            json={"body": "次日"},
            headers=tender.bidders[2].headers(),
        )
        assert resp.status_code == 409 and resp.get_json()["code"] == "out_of_time"
    finally:
        app.config.pop("OPENING_OBJECTIONS_PER_BIDDER", None)


def _complain_about_the_opening(client: FlaskClient, sid: int, knew_at: dt.datetime) -> Any:
    path = "/complaints/new/complaint"
    return client.post(
        path,
        data={
            **CONTENT,
            "subject": "对开标的投诉",
            "section_id": str(sid),
            "matter": "opening",
            "knew_at": knew_at.astimezone(CST).strftime("%Y-%m-%dT%H:%M"),
            "action": "submit",
            "csrf_token": csrf_token(client, path),
        },
    )


def test_a_complaint_about_an_opening_that_never_took_place_needs_no_objection_first(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    """A section ended unopened for fewer than 3 bidders (招标投标法第28条) had no ceremony at which anyone
    could object; a complaint about that opening is accepted without an objection (before: refused "objection
    first", so nobody could complain about it at all)."""
    for bidder, price in zip(tender.bidders[:2], ["9100000", "9200000"], strict=True):
        assert upload(client, tender, bidder, tender.summary(price)).status_code == 201
    after_deadline()
    sid = tender.section.id
    with app.test_request_context():
        ceremony = opening.start_ceremony(sid, actor=tender.world.staff)
    assert ceremony.status == "not_opened" and tender.section.status == "failed"
    bidder = tender.bidders[0]
    bc = _client(app, bidder.user)
    # nobody can object at this opening: there is no record to object to
    refused = client.post(
        f"/api/v1/bidding/sections/{sid}/objections", json={"body": "开标程序违法"}, headers=bidder.headers()
    )
    assert refused.status_code == 409 and refused.get_json()["code"] == "no_record"

    clock.advance(dt.timedelta(days=2))
    resp = _complain_about_the_opening(bc, sid, DEADLINE + dt.timedelta(minutes=5))
    assert resp.status_code == 302, resp.get_data(as_text=True)[:3000]  # before: 422 "objection first"
    complaint = db.session.scalar(select(Case).where(Case.kind == "complaint", Case.section_id == sid))
    assert complaint is not None and complaint.status == "submitted" and complaint.matter == "opening"
    assert complaint.prior_objection_id is None and complaint.due_at is not None
    assert complaint.handling_org_id == tender.section.project.regulator_org_id


def test_a_complaint_about_a_held_opening_still_needs_the_objection_first(
    app: Flask, client: FlaskClient, tender: Tender
) -> None:
    _open(app, client, tender)
    bc = _client(app, tender.bidders[0].user)
    clock.advance(dt.timedelta(days=2))
    resp = _complain_about_the_opening(bc, tender.section.id, DEADLINE + dt.timedelta(minutes=5))
    assert resp.status_code == 422
    assert "条例第60条" in resp.get_data(as_text=True)
    kept = db.session.scalar(select(Case).where(Case.kind == "complaint"))
    assert kept is None or kept.status == "draft"  # kept as a draft, never filed


def test_government_procurement_a_written_challenge_about_an_opening_not_held_then_a_complaint(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any
) -> None:
    """Government procurement keeps its rule (政府采购法第55条: a complaint follows a 质疑), and a supplier
    whose opening never took place can now file that challenge in writing (before: refused "raise it in the
    opening ceremony", so neither a challenge nor a complaint about that opening was possible)."""
    from app.complaints import services as complaints
    from app.complaints.enums import CaseKind

    for bidder, price in zip(tender.bidders[:2], ["9100000", "9200000"], strict=True):
        assert upload(client, tender, bidder, tender.summary(price)).status_code == 201
    after_deadline()
    sid = tender.section.id
    with app.test_request_context():
        assert opening.start_ceremony(sid, actor=tender.world.staff).status == "not_opened"
    tender.section.project.catalogue_item = tender.world.item("ZC-01")  # a government procurement item
    db.session.flush()
    bidder = tender.bidders[0].user
    knew_at = DEADLINE + dt.timedelta(minutes=1)  # the count was taken
    with app.test_request_context():
        # a complaint without the challenge is still refused
        early = complaints.save_draft(
            CaseKind.COMPLAINT,
            complaints.CaseInput(section_id=sid, matter="opening", knew_at=knew_at, content=dict(CONTENT)),
            actor=bidder,
        )
        with pytest.raises(complaints.DomainError) as refused:
            complaints.submit_complaint(early, actor=bidder)
        assert refused.value.code == "objection_first"
        challenge = complaints.save_draft(
            CaseKind.OBJECTION,
            complaints.CaseInput(section_id=sid, matter="opening", knew_at=knew_at, content=dict(CONTENT)),
            actor=bidder,
        )
        complaints.submit_objection(challenge, actor=bidder)
        assert challenge.status == "submitted" and challenge.regime == "procurement"
        complaints.answer_objection(
            challenge, actor=tender.world.agent, answer="投标人不足三家，依法不开标。"
        )
        assert challenge.status == "answered"
        clock.advance(dt.timedelta(days=1))
        complaint = complaints.save_draft(
            CaseKind.COMPLAINT,
            complaints.CaseInput(
                section_id=sid,
                matter="opening",
                knew_at=knew_at,
                prior_objection_id=challenge.id,
                content=dict(CONTENT),
            ),
            actor=bidder,
        )
        complaints.submit_complaint(complaint, actor=bidder)
    assert complaint.status == "submitted"
