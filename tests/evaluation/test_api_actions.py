"""The evaluation API's actions around the panel, with the pages' rules and services (issue 20, item 1): the
tenderer names and withdraws its representatives; center staff replace an absent member and seal the
archive (refused before the contract signing); a member downloads the bid and tender documents it may read
(audited); the tenderer records the contract signing and the refunds, and files its written report; a
works tender is refused the government procurement result announcement. Wrong roles get 403, other
parties 404, a token limited to another section 403, bad input 422; creating POSTs replay under their
``Idempotency-Key``. (No evaluation page asks for a step-up, so no step here does.)"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import User
from app.accounts.services import create_api_token
from app.core.clock import clock, to_local
from app.core.db import db
from app.core.models import AuditLeaf
from app.core.permissions import OrgKind, Role
from app.evaluation import services
from app.projects.models import Section
from tests.evaluation.conftest import (
    award_after_publicity,
    close_report,
    open_trade,
    score_lowest,
    sign_in_all,
    to_publicity,
)
from tests.experts.conftest import quick_user
from tests.factories import make_org, make_user
from tests.projects.conftest import World, procurement_world
from tests.projects.conftest import world as world

BASE = "/api/v1/evaluation/sections"


def bearer(user: User, *sections: int) -> dict[str, str]:
    raw = create_api_token(user, "test", sections=[str(s) for s in sections] or None).raw
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return headers | {"Idempotency-Key": key}


def _other_section(world: World) -> Section:
    section = Section(
        project_id=world.project.id,
        code="S-OTHER",
        name="其他标段",
        status="draft",
        estimated_value=Decimal("1000000"),
        created_by=world.agent.id,
    )
    db.session.add(section)
    db.session.commit()
    return section


def _leaves(action: str) -> int:
    return db.session.query(AuditLeaf).filter(AuditLeaf.action == action).count()


def test_the_tenderer_names_and_withdraws_its_representative(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"], panel=5, pool=4)
    sid = trade.section.id
    other = _other_section(world)
    api = app.test_client()
    url = f"{BASE}/{sid}/representatives"
    agent = bearer(world.agent)

    listed = api.get(url, headers=agent)
    assert listed.status_code == 200, listed.json
    assert listed.json["seats"] == 1 and listed.json["representatives"] == []
    assert world.tenderer.id in [c["user_id"] for c in listed.json["candidates"]]
    foreign = make_user(Role.TENDERER, make_org(OrgKind.TENDERER))
    assert api.get(url, headers=bearer(foreign)).status_code == 404
    assert api.get(url, headers=bearer(world.staff)).status_code == 403

    body = {"user_id": world.tenderer.id}
    assert api.post(url, json={"user_id": "x"}, headers=agent).status_code == 422
    assert api.post(url, json=body | {"extra": 1}, headers=agent).status_code == 422
    agency_account = api.post(url, json={"user_id": world.agent.id}, headers=agent)
    assert agency_account.status_code == 422 and "user_id" in agency_account.json["errors"]
    assert api.post(url, json={"user_id": 999999}, headers=agent).status_code == 422
    assert api.post(url, json=body, headers=bearer(trade.panel_users()[0])).status_code == 403
    assert api.post(url, json=body, headers=bearer(trade.tender.bidders[0].user)).status_code == 403
    assert api.post(url, json=body, headers=bearer(foreign)).status_code == 404
    assert api.post(url, json=body, headers=bearer(world.agent, other.id)).status_code == 403

    first = api.post(url, json=body, headers=keyed(bearer(world.agent, sid), "rep-1"))
    assert first.status_code == 201, first.json
    assert first.json["user_id"] == world.tenderer.id and first.json["signed_in_at"] is None
    again = api.post(url, json=body, headers=keyed(bearer(world.agent, sid), "rep-1"))
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json == first.json
    assert api.post(url, json=body, headers=agent).status_code == 409  # already named
    assert [r["id"] for r in api.get(url, headers=agent).json["representatives"]] == [first.json["id"]]

    withdraw = f"{url}/{first.json['id']}/withdraw"
    assert api.post(withdraw, json={}, headers=agent).status_code == 422
    assert api.post(f"{url}/999999/withdraw", json={"reason": "换人"}, headers=agent).status_code == 404
    assert api.post(withdraw, json={"reason": "换人"}, headers=bearer(foreign)).status_code == 404
    assert (
        api.post(withdraw, json={"reason": "换人"}, headers=bearer(world.agent, other.id)).status_code == 403
    )
    done = api.post(withdraw, json={"reason": "换人"}, headers=agent)
    assert done.status_code == 200, done.json
    assert done.json["representatives"] == []
    assert api.post(withdraw, json={"reason": "换人"}, headers=agent).status_code == 409
    assert _leaves("evaluation:representative:withdraw") == 1


def test_staff_replace_an_absent_member_through_the_api(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"], panel=5, backups=2)
    users = trade.panel_users()
    with app.test_request_context():
        for user in users[:4]:
            services.sign_in(trade.section, actor=user, conflict=False)
    db.session.commit()
    sid = trade.section.id
    other = _other_section(world)
    ev = trade.evaluation()
    absent = services.member_of(ev, users[4])
    present = services.member_of(ev, users[0])
    assert absent is not None and present is not None
    api = app.test_client()
    url = f"{BASE}/{sid}/members/{absent.id}/absent"
    staff = bearer(world.staff)

    early = api.post(url, headers=staff)
    assert early.status_code == 409 and early.json["code"] == "too_early"
    clock.advance(dt.timedelta(minutes=31))
    assert api.post(url, headers=bearer(world.regulator)).status_code == 403
    assert api.post(url, headers=bearer(world.agent)).status_code == 403
    assert api.post(url, headers=bearer(world.staff, other.id)).status_code == 403
    assert api.post(f"{BASE}/{sid}/members/999999/absent", headers=staff).status_code == 404
    assert api.post(f"{BASE}/{sid}/members/{present.id}/absent", headers=staff).status_code == 409
    replaced = api.post(url, headers=bearer(world.staff, sid))
    assert replaced.status_code == 200, replaced.json
    assert replaced.json["id"] == absent.id and replaced.json["counts"] is False
    db.session.refresh(absent)
    assert absent.voided_at is not None
    assert trade.draw is not None
    db.session.refresh(trade.draw)
    assert [s for s in trade.draw.seats if s.kind == "backup" and s.status == "invited"]  # the next backup
    assert api.post(url, headers=staff).status_code == 409


def test_a_member_downloads_the_documents_it_may_read_and_each_is_audited(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    sid = trade.section.id
    other = _other_section(world)
    users = trade.panel_users()
    api = app.test_client()
    member = bearer(users[0])
    assert api.get(f"{BASE}/{sid}/documents", headers=member).status_code == 404  # not signed in yet
    sign_in_all(trade)
    db.session.commit()

    listed = api.get(f"{BASE}/{sid}/documents", headers=member)
    assert listed.status_code == 200, listed.json
    bids, docs = listed.json["bids"], listed.json["tender_documents"]
    assert len(bids) == 3 and len(docs) == 1
    outsider = quick_user(Role.EXPERT, make_org(OrgKind.EXPERT_EMPLOYER))
    assert api.get(f"{BASE}/{sid}/documents", headers=bearer(outsider)).status_code == 404
    assert api.get(f"{BASE}/{sid}/documents", headers=bearer(world.agent)).status_code == 404
    assert api.get(f"{BASE}/{sid}/documents", headers=bearer(world.staff)).status_code == 403

    bid_url = f"{BASE}/{sid}/bids/{bids[0]['envelope_id']}"
    for headers, status in [
        (bearer(outsider), 404),
        (bearer(world.agent), 404),
        (bearer(trade.tender.bidders[0].user), 403),
        (bearer(users[0], other.id), 403),
    ]:
        assert api.get(bid_url, headers=headers).status_code == status
    assert _leaves("evaluation:document:view") == 0
    got = api.get(bid_url, headers=bearer(users[0], sid))
    assert got.status_code == 200 and got.mimetype == "application/octet-stream"
    assert b"technical proposal of" in got.data and got.headers["Cache-Control"] == "no-store"
    assert _leaves("evaluation:document:view") == 1
    assert api.get(f"{BASE}/{sid}/bids/999999", headers=member).status_code == 404

    doc_url = f"{BASE}/{sid}/tender-documents/{docs[0]['document_id']}"
    assert api.get(doc_url, headers=bearer(outsider)).status_code == 404
    assert api.get(doc_url, headers=bearer(users[0], other.id)).status_code == 403
    doc = api.get(doc_url, headers=member)
    assert doc.status_code == 200 and doc.data.startswith(b"%PDF")
    assert _leaves("evaluation:tender_document:view") == 1
    assert (
        api.get(f"{BASE}/{other.id}/tender-documents/{docs[0]['document_id']}", headers=member).status_code
        == 404
    )


def test_contract_refunds_written_report_and_archive_through_the_api(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade, _users = to_publicity(app, client, world, ["9500000", "9400000", "9300000"])
    ev = award_after_publicity(trade)
    db.session.commit()
    sid = trade.section.id
    other = _other_section(world)
    api = app.test_client()
    agent = bearer(world.agent)
    bidder = bearer(trade.tender.bidders[0].user)
    foreign = bearer(make_user(Role.TENDERER, make_org(OrgKind.TENDERER)))
    staff = bearer(world.staff)

    state = api.get(f"{BASE}/{sid}/contract", headers=agent)
    assert state.status_code == 200 and state.json["contract_signed_at"] is None
    assert len(state.json["refunds"]) == 3 and all(r["refunded_at"] is None for r in state.json["refunds"])
    assert api.get(f"{BASE}/{sid}/contract", headers=foreign).status_code == 404

    # the archive waits for the contract (archive.py: contract_missing)
    missing = api.post(f"{BASE}/{sid}/archive", headers=staff)
    assert missing.status_code == 409 and missing.json["code"] == "contract_missing"
    # refunds are recorded after the signing
    refund = state.json["refunds"][0]["id"]
    assert api.post(f"{BASE}/{sid}/refunds/{refund}/record", headers=agent).status_code == 409

    url = f"{BASE}/{sid}/contract"
    assert api.post(url, json={"signed_on": "soon"}, headers=agent).status_code == 422
    tomorrow = (clock.now() + dt.timedelta(days=2)).date().isoformat()
    assert api.post(url, json={"signed_on": tomorrow}, headers=agent).status_code == 422
    assert api.post(url, json={}, headers=bidder).status_code == 403
    assert api.post(url, json={}, headers=foreign).status_code == 404
    assert api.post(url, json={}, headers=bearer(world.agent, other.id)).status_code == 403
    # signed "today" in Beijing, before noon: the signing is now, not a time still to come
    today = to_local(clock.now()).date()
    assert to_local(clock.now()).hour < 12
    signed = api.post(url, json={"signed_on": today.isoformat()}, headers=keyed(agent, "contract-1"))
    assert signed.status_code == 201, signed.json
    assert signed.json["contract_signed_at"] and all(r["due_at"] for r in signed.json["refunds"])
    replay = api.post(url, json={"signed_on": today.isoformat()}, headers=keyed(agent, "contract-1"))
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert api.post(url, json={}, headers=agent).status_code == 409

    assert api.post(f"{BASE}/{sid}/refunds/{refund}/record", headers=bidder).status_code == 403
    assert api.post(f"{BASE}/{sid}/refunds/{refund}/record", headers=foreign).status_code == 404
    assert (
        api.post(f"{BASE}/{sid}/refunds/{refund}/record", headers=bearer(world.agent, other.id)).status_code
        == 403
    )
    assert api.post(f"{BASE}/{sid}/refunds/999999/record", headers=agent).status_code == 404
    for row in signed.json["refunds"]:
        done = api.post(f"{BASE}/{sid}/refunds/{row['id']}/record", headers=bearer(world.agent, sid))
        assert done.status_code == 200 and done.json["refunded_at"] and done.json["late"] is False
    assert api.post(f"{BASE}/{sid}/refunds/{refund}/record", headers=agent).status_code == 409

    # the written report to the regulator (招标投标法第47条)
    report_url = f"{BASE}/{sid}/written-report"
    report = {
        "scope": "道路工程施工",
        "method_and_media": "公开招标；江苏省公共资源交易网",
        "documents_summary": "评标办法：最低价。",
    }
    assert api.get(report_url, headers=agent).status_code == 404  # not filed yet
    assert api.post(report_url, json={"scope": "道路"}, headers=agent).status_code == 422
    assert api.post(report_url, json=report, headers=bidder).status_code == 403
    assert api.post(report_url, json=report, headers=foreign).status_code == 404
    filed = api.post(report_url, json=report, headers=keyed(agent, "written-1"))
    assert filed.status_code == 201, filed.json
    assert filed.json["written_report_state"] == "filed"
    replay = api.post(report_url, json=report, headers=keyed(agent, "written-1"))
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert api.post(report_url, json=report, headers=agent).status_code == 409
    document = api.get(report_url, headers=bearer(world.regulator))
    assert document.status_code == 200 and document.mimetype == "text/html"
    assert document.headers["X-Report-SHA256"] == ev.written_report.sha256
    assert "道路工程施工" in document.get_data(as_text=True)
    stranger = quick_user(Role.REGULATOR, make_org(OrgKind.REGULATOR))
    assert api.get(report_url, headers=bearer(stranger)).status_code == 404
    assert api.get(report_url, headers=bidder).status_code == 403

    # the printed records as signed PDFs, to the page's readers
    for path, headers in (
        ("report", bearer(world.regulator)),
        ("written-report", agent),
        ("award-notice", staff),
    ):
        pdf = api.get(f"{BASE}/{sid}/{path}.pdf", headers=headers)
        assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF") and pdf.headers["X-Record-SHA256"]
        assert api.get(f"{BASE}/{sid}/{path}.pdf", headers=bearer(stranger)).status_code == 404
    assert api.get(f"{BASE}/{sid}/award-notice.pdf", headers=bidder).status_code == 403

    # the archive: center staff seal it; the parties who may download it do
    archive_url = f"{BASE}/{sid}/archive"
    assert api.post(archive_url, headers=bearer(world.regulator)).status_code == 403
    assert api.post(archive_url, headers=agent).status_code == 403
    assert api.post(archive_url, headers=bearer(world.staff, other.id)).status_code == 403
    assert api.get(f"{archive_url}.zip", headers=staff).status_code == 404  # not sealed yet
    sealed = api.post(archive_url, headers=keyed(staff, "archive-1"))
    assert sealed.status_code == 201, sealed.json
    assert sealed.json["archive_sha256"] == ev.archive_sha256 and ev.status == "archived"
    replay = api.post(archive_url, headers=keyed(staff, "archive-1"))
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert api.post(archive_url, headers=staff).status_code == 409
    for headers in (staff, agent, bearer(world.regulator)):
        zipped = api.get(f"{archive_url}.zip", headers=headers)
        assert zipped.status_code == 200 and zipped.mimetype == "application/zip"
        assert zipped.data.startswith(b"PK") and zipped.headers["X-Archive-SHA256"] == ev.archive_sha256
    assert api.get(f"{archive_url}.zip", headers=bidder).status_code == 403
    assert api.get(f"{archive_url}.zip", headers=bearer(stranger)).status_code == 404
    assert api.get(f"{archive_url}.zip", headers=bearer(world.staff, other.id)).status_code == 403


def test_a_works_tender_has_no_result_announcement(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    users = sign_in_all(trade)
    score_lowest(trade, users)
    close_report(trade, users)
    db.session.commit()
    sid = trade.section.id
    api = app.test_client()
    url = f"{BASE}/{sid}/result-announcement"
    assert api.post(url, json={"rank": 0}, headers=bearer(world.agent)).status_code == 422
    assert api.post(url, json={}, headers=bearer(trade.tender.bidders[0].user)).status_code == 403
    refused = api.post(url, json={}, headers=bearer(world.agent))
    assert refused.status_code == 409 and refused.json["code"] == "works_candidate_publicity"


def test_a_procurement_result_is_announced_through_the_api(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    gp = procurement_world(world)
    trade = open_trade(app, client, gp, ["1180000", "1150000", "1120000"])
    users = sign_in_all(trade)
    score_lowest(trade, users)
    ev = close_report(trade, users)
    db.session.commit()
    assert ev.notice_kind == "result_announcement"
    sid = trade.section.id
    other = _other_section(world)
    api = app.test_client()
    agent = bearer(world.agent)
    url = f"{BASE}/{sid}/result-announcement"
    works = api.post(f"{BASE}/{sid}/publicity", json={}, headers=agent)
    assert works.status_code == 409 and works.json["code"] == "procurement_result_announcement"
    passed_over = api.post(url, json={"rank": 2}, headers=agent)
    assert passed_over.status_code == 422 and "reason" in passed_over.json["errors"]
    foreign = make_user(Role.TENDERER, make_org(OrgKind.TENDERER))
    assert api.post(url, json={}, headers=bearer(foreign)).status_code == 404
    assert api.post(url, json={}, headers=bearer(world.agent, other.id)).status_code == 403
    announced = api.post(url, json={"rank": 1}, headers=keyed(agent, "announce-1"))
    assert announced.status_code == 201, announced.json
    assert announced.json["status"] == "awarded" and announced.json["winner_rank"] == 1
    assert ev.winner_org_id == trade.tender.bidders[2].org.id
    replay = api.post(url, json={"rank": 1}, headers=keyed(agent, "announce-1"))
    assert replay.status_code == 201 and replay.headers.get("Idempotent-Replayed") == "true"
    assert api.post(url, json={"rank": 1}, headers=agent).status_code == 409
    # government procurement owes no written report under 招标投标法第47条
    report = {"scope": "采购", "method_and_media": "公开招标", "documents_summary": "最低价。"}
    assert api.post(f"{BASE}/{sid}/written-report", json=report, headers=agent).status_code == 409
