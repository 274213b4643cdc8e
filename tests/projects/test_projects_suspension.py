"""Issue 15 item 4: a suspension must not eat the bidding period (招标投标法 Art. 24, 实施条例 Art. 22).

Before the fix, an objection to the documents suspended the section and refused bids, and resuming kept the
old bid deadline — even one that had passed meanwhile — so any bidder could end a tender by objecting; a
regulator could also resume a section held by an unanswered objection. Now the answer resumes the section
with the deadline moved by at least the time suspended, the bidders that obtained the documents are told,
an answer that changes the documents goes out as an amendment under the 15-day rule, and nobody resumes
the section before the objection is answered."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.complaints import services as complaints
from app.complaints.enums import CaseKind, Matter
from app.complaints.models import Case
from app.core.clock import clock
from app.core.errors import Conflict
from app.core.models import OutboxMessage
from app.projects import services
from app.projects.models import Section
from tests.bidding.conftest import Tender, publish_tender, upload
from tests.bidding.conftest import _own_blob_dir as _own_blob_dir
from tests.complaints.conftest import CONTENT
from tests.factories import csrf_token, login
from tests.projects.conftest import World, cst


def _tender(app: Flask, world: World) -> Tender:
    with app.test_request_context():
        tender = publish_tender(world)
        for bidder in tender.bidders[:2]:
            services.obtain_documents(tender.section, actor=bidder.user)
    return tender


def _object(app: Flask, tender: Tender, at: dt.datetime) -> Case:
    clock.freeze(at)
    bidder = tender.bidders[0].user
    with app.test_request_context():
        case = complaints.save_draft(
            CaseKind.OBJECTION,
            complaints.CaseInput(
                section_id=tender.section.id, matter=Matter.DOCUMENTS.value, content=dict(CONTENT)
            ),
            actor=bidder,
        )
        return complaints.submit_objection(case, actor=bidder)


def _answer(app: Flask, world: World, case: Case, **form: str) -> str:
    agent = app.test_client()
    login(agent, world.agent)
    url = f"/complaints/cases/{case.id}"
    resp = agent.post(
        f"{url}/answer-objection", data={"csrf_token": csrf_token(agent, url), **form}, follow_redirects=True
    )
    return resp.get_data(as_text=True)


def test_objection_refuses_bids_holds_off_the_regulator_and_the_answer_gives_the_time_back(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    tender = _tender(app, world)
    sid = tender.section.id
    old_deadline = cst(2026, 3, 23, 9, 30)
    assert tender.section.bid_deadline == old_deadline
    case = _object(app, tender, cst(2026, 3, 3, 10, 0))
    section = db_session.get(Section, sid)
    assert section.suspended and case.suspended_section

    # while the objection waits, bids are refused with the rule
    resp = upload(client, tender, tender.bidders[1], tender.summary("9000000"))
    assert resp.status_code == 409 and "招标投标法第24条" in resp.get_json()["message"]

    # the supervising regulator cannot resume it before the answer — on either page
    regulator = app.test_client()
    login(regulator, world.regulator)
    page = f"/supervision/sections/{sid}/interventions"
    shown = regulator.post(
        f"/supervision/sections/{sid}/resume",
        data={"csrf_token": csrf_token(regulator, page), "note": "恢复"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "实施条例第22条" in shown and case.number in shown
    url = f"/projects/sections/{sid}"
    regulator.post(f"{url}/resume", data={"csrf_token": csrf_token(regulator, url), "reason": "恢复"})
    assert db_session.get(Section, sid).suspended

    # the old deadline passes while suspended: the deadline job leaves the section alone
    clock.freeze(cst(2026, 3, 25, 10, 0))
    with app.test_request_context():
        assert services.close_due_sections() == []
    _answer(app, world, case, answer="资格条件符合法律规定，异议不成立。")
    section = db_session.get(Section, sid)
    assert not section.suspended and section.status == "published"
    paused = dt.timedelta(days=22)  # 03-03 10:00 → 03-25 10:00
    assert section.bid_deadline >= old_deadline + paused
    assert section.bid_deadline == cst(2026, 4, 14, 9, 30)  # same time of day, a Tuesday
    assert section.docs_available_until == cst(2026, 3, 31, 17, 0)  # the sale period was running too
    assert "deadline_moved" in [h.to_status for h in section.history]

    # every bidder that obtained the documents is told the new deadline, through the outbox
    told = db_session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "inbox")).all()
    moved = [m for m in told if "2026-04-14 09:30" in m.body]
    assert {m.user_id for m in moved} == {b.user.id for b in tender.bidders[:2]}

    # bidding is open again until the new deadline
    assert upload(client, tender, tender.bidders[1], tender.summary("9000000")).status_code == 201
    with app.test_request_context():
        assert services.close_due_sections() == []


def test_an_answer_that_changes_the_documents_applies_the_15_day_rule(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    tender = _tender(app, world)
    case = _object(app, tender, cst(2026, 3, 10, 10, 0))
    clock.freeze(cst(2026, 3, 10, 16, 0))
    _answer(app, world, case, answer="将资格条件修改为二级及以上。", changes_documents="1")
    section = db_session.get(Section, tender.section.id)
    assert not section.suspended
    # 6 hours suspended would move the deadline one day (03-24 09:30); the changed documents need 15 days
    # from the answer (招标投标法第23条): 03-25 09:30.
    assert section.bid_deadline == cst(2026, 3, 25, 9, 30)
    amendment = section.amendments[-1]
    assert amendment.affects_bids and case.number in amendment.title
    assert amendment.new_deadline == cst(2026, 3, 25, 9, 30)
    told = db_session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "inbox")).all()
    assert {m.user_id for m in told if amendment.title in m.body} >= {b.user.id for b in tender.bidders[:2]}


def test_a_regulator_suspension_joined_by_an_objection_waits_for_both(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    tender = _tender(app, world)
    sid = tender.section.id
    clock.freeze(cst(2026, 3, 3, 9, 0))
    with app.test_request_context():
        services.suspend_section(tender.section, actor=world.regulator, reason="核查投诉线索")
    case = _object(app, tender, cst(2026, 3, 3, 10, 0))
    assert case.suspended_section  # the objection holds the suspension too
    with app.test_request_context(), pytest.raises(Conflict) as refused:
        services.resume_section(db_session.get(Section, sid), actor=world.regulator)
    assert "实施条例第22条" in refused.value.message
    clock.freeze(cst(2026, 3, 4, 10, 0))
    _answer(app, world, case, answer="异议不成立。")
    section = db_session.get(Section, sid)
    assert section.suspended  # the regulator's own suspension stands: the regulator resumes it
    clock.freeze(cst(2026, 3, 5, 9, 0))
    with app.test_request_context():
        services.resume_section(section, actor=world.regulator, note="核查完毕")
    assert not section.suspended and section.bid_deadline == cst(2026, 3, 25, 9, 30)  # 2 days given back
