"""The complaints JSON API follows the pages' rule: a bidder sees its own cases, the respondent the cases
against it (never drafts), a regulator the cases of the trades it supervises or handles, another bidder or
regulator nothing (404); a reporter's identity only to the handling department; anyone follows a report by its
code (in a header) and reads published decisions."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from app.accounts import services as accounts
from app.complaints import services
from app.complaints.enums import CaseKind, Matter
from app.core.permissions import OrgKind, Role
from tests.factories import make_org, make_user

from .conftest import CONTENT, World


def _as(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {accounts.create_api_token(user, name='api').raw}"}


def test_cases_follow_the_pages_rule(client: FlaskClient, world: World) -> None:
    draft = services.save_draft(
        CaseKind.OBJECTION,
        services.CaseInput(section_id=world.section.id, matter=Matter.DOCUMENTS.value, content=dict(CONTENT)),
        actor=world.bidder,
    )
    filed = services.save_draft(
        CaseKind.OBJECTION,
        services.CaseInput(section_id=world.section.id, matter=Matter.DOCUMENTS.value, content=dict(CONTENT)),
        actor=world.bidder,
    )
    services.submit_objection(filed, actor=world.bidder)

    mine = client.get("/api/v1/complaints/cases", headers=_as(world.bidder)).get_json()["data"]
    assert {c["id"] for c in mine} == {draft.id, filed.id}
    respondent = client.get("/api/v1/complaints/cases", headers=_as(world.tenderer)).get_json()["data"]
    assert [c["id"] for c in respondent] == [filed.id]  # never the draft
    assert client.get(f"/api/v1/complaints/cases/{draft.id}", headers=_as(world.tenderer)).status_code == 404
    detail = client.get(f"/api/v1/complaints/cases/{filed.id}", headers=_as(world.tenderer)).get_json()
    assert detail["side"] == "respondent" and detail["status"] == "submitted"
    assert detail["section_code"] == world.section.code

    supervising = client.get("/api/v1/complaints/cases", headers=_as(world.regulator)).get_json()["data"]
    assert [c["id"] for c in supervising] == [filed.id]
    other_regulator = make_user(Role.REGULATOR, make_org(OrgKind.REGULATOR, industry="water"))
    assert client.get("/api/v1/complaints/cases", headers=_as(other_regulator)).get_json()["data"] == []
    assert client.get(f"/api/v1/complaints/cases/{filed.id}", headers=_as(other_regulator)).status_code == 404
    assert client.get(f"/api/v1/complaints/cases/{filed.id}", headers=_as(world.bidder2)).status_code == 404
    office = client.get("/api/v1/complaints/cases", headers=_as(world.manager)).get_json()["data"]
    assert [c["id"] for c in office] == [filed.id]
    bad = client.get("/api/v1/complaints/cases?status=maybe", headers=_as(world.bidder))
    assert bad.status_code == 422


def test_reports_are_tracked_by_code_and_identity_stays_with_the_handlers(
    client: FlaskClient, world: World
) -> None:
    report, code = services.file_report(
        services.ReportInput(
            subject="围标线索",
            facts="多家投标人的投标文件由同一台电脑制作。",
            section_id=world.section.id,
            anonymous=False,
            reporter_name="实名举报人甲",
            reporter_contact="13800000000",
        )
    )
    tracked = client.get("/api/v1/complaints/track", headers={"X-Tracking-Code": code})
    assert tracked.status_code == 200 and tracked.get_json()["status"] == report.status
    assert "实名举报人甲" not in tracked.get_data(as_text=True)
    assert (
        client.get("/api/v1/complaints/track", headers={"X-Tracking-Code": "not-a-code"}).status_code == 404
    )
    assert client.get("/api/v1/complaints/track").status_code == 404

    assert report.handling_org_id == world.manager.org_id  # reports go to the management office first
    office = client.get(f"/api/v1/complaints/cases/{report.id}", headers=_as(world.manager)).get_json()
    assert office["side"] == "handler" and office["reporter_name"] == "实名举报人甲"
    regulator = client.get(f"/api/v1/complaints/cases/{report.id}", headers=_as(world.regulator))
    assert regulator.status_code == 200  # the section's regulator reads the case, not who reported
    assert regulator.get_json()["reporter_name"] is None and "实名举报人甲" not in regulator.get_data(
        as_text=True
    )
    decisions = client.get("/api/v1/complaints/decisions")
    assert decisions.status_code == 200 and isinstance(decisions.get_json(), list)


def test_a_bidder_files_an_objection_once_per_idempotency_key(client: FlaskClient, world: World) -> None:
    from sqlalchemy import func, select

    from app.complaints.models import Case
    from app.core.db import db

    headers = {**_as(world.bidder), "Idempotency-Key": "objection-1"}
    db.session.commit()
    body = {
        "kind": "objection",
        "section_id": world.section.id,
        "matter": "documents",
        "content": dict(CONTENT),
    }
    filed = client.post("/api/v1/complaints/cases", json=body, headers=headers)
    assert filed.status_code == 201, filed.get_json()
    assert filed.get_json()["status"] == "submitted" and filed.get_json()["side"] == "filer"
    again = client.post("/api/v1/complaints/cases", json=body, headers=headers)
    assert again.status_code == 201 and again.get_json()["id"] == filed.get_json()["id"]
    assert db.session.scalar(select(func.count()).select_from(Case)) == 1
    # a draft is kept on request; an incomplete filing keeps nothing and names the fields
    draft = client.post("/api/v1/complaints/cases", json={**body, "submit": False}, headers=_as(world.bidder))
    assert draft.status_code == 201 and draft.get_json()["status"] == "draft"
    incomplete = client.post(
        "/api/v1/complaints/cases",
        json={"kind": "complaint", "section_id": world.section.id, "content": {"subject": "x"}},
        headers=_as(world.bidder),
    )
    assert incomplete.status_code in {409, 422} and set(incomplete.get_json()) == {
        "code",
        "status",
        "message",
        "errors",
    }
    assert db.session.scalar(select(func.count()).select_from(Case)) == 2
    unknown = client.post(
        "/api/v1/complaints/cases", json={**body, "content": {"nonsense": "x"}}, headers=_as(world.bidder)
    )
    assert unknown.status_code == 422
    not_mine = client.post(
        "/api/v1/complaints/cases", json={**body, "prior_objection_id": 999999}, headers=_as(world.bidder)
    )
    assert not_mine.status_code == 422 and "prior_objection_id" in not_mine.get_json()["errors"]
    # only bidders file
    assert client.post("/api/v1/complaints/cases", json=body, headers=_as(world.tenderer)).status_code == 403


def test_anyone_reports_through_the_api_and_tracks_with_the_code(client: FlaskClient, world: World) -> None:
    body = {"subject": "围标线索", "facts": "多家投标人的投标文件由同一台电脑制作。"}
    key = {"Idempotency-Key": "a" * 40}
    filed = client.post("/api/v1/complaints/reports", json=body, headers=key)
    assert filed.status_code == 201, filed.get_json()
    code = filed.get_json()["tracking_code"]
    assert (
        client.post("/api/v1/complaints/reports", json=body, headers=key).get_json()["tracking_code"] == code
    )
    from sqlalchemy import select

    from app.core.db import db
    from app.core.models import IdempotencyKey

    stored = db.session.scalars(select(IdempotencyKey.response_enc)).one()
    assert stored is not None and code.encode() not in stored  # the code is kept only as a hash
    tracked = client.get("/api/v1/complaints/track", headers={"X-Tracking-Code": code})
    assert tracked.status_code == 200 and tracked.get_json()["subject"] == "围标线索"
    short = client.post("/api/v1/complaints/reports", json=body, headers={"Idempotency-Key": "short"})
    assert short.status_code == 422 and short.get_json()["code"] == "idempotency_key_invalid"
    named = client.post(
        "/api/v1/complaints/reports", json={**body, "anonymous": False}, headers=_as(world.bidder)
    )
    assert named.status_code == 422 and "reporter_name" in named.get_json()["errors"]
    assert client.post("/api/v1/complaints/reports", json={"subject": "x"}).status_code == 422


def test_a_named_report_through_the_api_with_a_password_alone_names_no_account(
    client: FlaskClient, world: World
) -> None:
    """A browser session past the password but not the second factor files a named report as a member of
    the public: the case names no account."""
    from sqlalchemy import select

    from app.complaints.models import Report
    from app.core.db import db
    from tests.factories import csrf_token, login, make_user

    official = make_user("regulator")
    login(client, official, mfa=False)
    token = csrf_token(client, "/auth/mfa")
    body = {"subject": "围标线索", "facts": "多家投标人的投标文件由同一台电脑制作。", "anonymous": False}
    filed = client.post(
        "/api/v1/complaints/reports", json={**body, "reporter_name": "王先生"}, headers={"X-CSRFToken": token}
    )
    assert filed.status_code == 201, filed.get_json()
    report = db.session.scalars(select(Report)).one()
    assert report.filer_id is None
