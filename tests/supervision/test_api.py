"""The supervision JSON API: alerts for the supervising regulator only (the alerts desk's rule), deciding
one, rectification notices (issued once per Idempotency-Key), the assessment figures."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select

from app.accounts.models import User
from app.accounts.services import create_api_token
from app.core.clock import now
from app.core.db import db
from app.core.models import IdempotencyKey
from app.core.permissions import OrgKind, Role
from app.supervision.models import RectificationNotice, SupervisionAlert
from tests.factories import make_org, make_user
from tests.supervision.conftest import Scene


def bearer(user: User) -> dict[str, str]:
    raw = create_api_token(user, "test").raw
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def _alert(section_id: int) -> SupervisionAlert:
    alert = SupervisionAlert(
        section_id=section_id,
        rule="same_source_ip",
        fingerprint="f" * 64,
        summary="两家投标人从同一地址上传",
        legal_basis="《招标投标法实施条例》第四十条",
        evidence={"ip": "203.0.113.7"},
        status="open",
        raised_at=now(),
    )
    db.session.add(alert)
    db.session.commit()
    return alert


def test_alerts_are_the_supervising_regulators(app: Flask, scene: Scene) -> None:
    section = scene.section()
    alert = _alert(section.id)
    client = app.test_client()
    mine = bearer(scene.regulator)
    listed = client.get("/api/v1/supervision/alerts?status=open", headers=mine).json
    assert [a["id"] for a in listed] == [alert.id]
    assert listed[0]["rule_label"] and listed[0]["rule_label"] != "same_source_ip"
    other = bearer(make_user(Role.REGULATOR, make_org(OrgKind.REGULATOR)))
    assert client.get("/api/v1/supervision/alerts", headers=other).json == []
    assert client.get(f"/api/v1/supervision/alerts/{alert.id}", headers=other).status_code == 404
    assert client.get("/api/v1/supervision/alerts", headers=bearer(scene.manager)).status_code == 403

    url = f"/api/v1/supervision/alerts/{alert.id}/decision"
    assert client.post(url, json={"action": "dismiss"}, headers=other).status_code == 404
    no_reason = client.post(url, json={"action": "dismiss"}, headers=mine)
    assert no_reason.status_code == 422 and no_reason.json["errors"]
    done = client.post(url, json={"action": "dismiss", "note": "现场上传，已核实"}, headers=mine)
    assert done.status_code == 200 and done.json["status"] == "dismissed"
    again = client.post(url, json={"action": "acknowledge"}, headers=mine)
    assert again.status_code == 409


def test_a_notice_is_issued_once_per_idempotency_key(app: Flask, scene: Scene) -> None:
    section = scene.section()
    client = app.test_client()
    url = f"/api/v1/supervision/sections/{section.id}/notices"
    body = {"addressee_org_id": scene.owner.id, "body": "请于期限内补正开标记录。", "due_on": "2026-03-10"}
    mine = bearer(scene.regulator)
    first = client.post(url, json=body, headers={**mine, "Idempotency-Key": "notice-1"})
    assert first.status_code == 201, first.json
    assert first.json["status_label"] and first.json["due_at"]
    retry = client.post(url, json=body, headers={**mine, "Idempotency-Key": "notice-1"})
    assert retry.status_code == 201 and retry.json == first.json
    assert retry.headers["Idempotent-Replayed"] == "true"
    count = select(func.count()).select_from(RectificationNotice)
    assert db.session.scalar(count) == 1
    # the same key with another body is refused in the one error shape; a new key creates again
    changed = client.post(
        url, json={**body, "body": "另一份"}, headers={**mine, "Idempotency-Key": "notice-1"}
    )
    assert changed.status_code == 422 and changed.json["code"] == "idempotency_key_reused"
    assert set(changed.json) == {"code", "status", "message", "errors"}
    assert client.post(url, json=body, headers={**mine, "Idempotency-Key": "notice-2"}).status_code == 201
    assert db.session.scalar(count) == 2
    # a refused request frees its key: the corrected request may use it
    past = client.post(url, json={**body, "due_on": "2026-03-01"}, headers={**mine, "Idempotency-Key": "k3"})
    assert past.status_code == 422 and "due_at" in past.json["errors"]
    assert client.post(url, json=body, headers={**mine, "Idempotency-Key": "k3"}).status_code == 201
    # keys are the caller's: another regulator's same key is its own (and it may not act here: 403)
    other = bearer(make_user(Role.REGULATOR, make_org(OrgKind.REGULATOR)))
    refused = client.post(url, json=body, headers={**other, "Idempotency-Key": "notice-1"})
    assert refused.status_code == 403
    assert db.session.scalar(select(func.count()).select_from(IdempotencyKey)) == 3
    too_long = client.post(url, json=body, headers={**mine, "Idempotency-Key": "x" * 256})
    assert too_long.status_code == 422 and too_long.json["code"] == "idempotency_key_invalid"
    # every regulator reads the interventions; the section's notices
    listed = client.get("/api/v1/supervision/interventions", headers=other).json
    assert len(listed["notices"]) == 3
    assert len(client.get(url, headers=mine).json) == 3


def test_assessment_for_regulators_and_the_office(app: Flask, scene: Scene) -> None:
    client = app.test_client()
    resp = client.get(
        "/api/v1/supervision/assessment?start=2026-01-01&end=2026-03-31", headers=bearer(scene.manager)
    )
    assert resp.status_code == 200
    names = {row["name"] for row in resp.json["people"]}
    assert scene.staff.display_name in names
    people = {row["name"]: row for row in resp.json["people"]}
    assert people[scene.staff.display_name]["registrations_reviewed"] == 1
    assert (
        client.get(
            "/api/v1/supervision/assessment?start=1900-01-01", headers=bearer(scene.manager)
        ).status_code
        == 422
    )
    assert client.get("/api/v1/supervision/assessment", headers=bearer(scene.staff)).status_code == 403
