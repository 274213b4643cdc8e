"""Suspending and resuming a section through the JSON API (the interventions page's rule and services):
only the supervising regulator, with a step-up; the suspension is created once per ``Idempotency-Key``; a
token limited to another section is refused; the interventions list filters to a limited token's
sections."""

from __future__ import annotations

from flask import Flask

from app.accounts.models import User
from app.accounts.services import create_api_token
from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.projects.models import SectionSuspension
from tests.factories import current_code, make_org, make_user
from tests.supervision.conftest import Scene


def bearer(user: User, *sections: int) -> dict[str, str]:
    raw = create_api_token(user, "test", sections=[str(s) for s in sections] or None).raw
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def test_the_supervising_regulator_suspends_and_resumes(app: Flask, scene: Scene) -> None:
    section = scene.section()
    other = scene.section()
    db.session.commit()
    client = app.test_client()
    url = f"/api/v1/supervision/sections/{section.id}/suspension"
    mine = bearer(scene.regulator)
    code = {"X-TOTP-Code": current_code(scene.regulator)}
    reason = {"reason": "投诉调查期间暂停"}
    assert client.post(url, json=reason, headers=bearer(scene.manager)).status_code == 403
    assert client.post(url, json=reason, headers=bearer(scene.staff)).status_code == 403
    assert client.post(url, json=reason, headers=bearer(scene.regulator, other.id)).status_code == 403
    stranger = bearer(make_user(Role.REGULATOR, make_org(OrgKind.REGULATOR)))
    assert client.post(url, json=reason, headers=stranger).status_code == 403
    assert client.post(url, json={"reason": ""}, headers=mine).status_code == 422
    assert client.post(url, json=reason, headers=mine).status_code == 401  # the step-up

    keyed = mine | {"Idempotency-Key": "suspend-1"}
    first = client.post(url, json=reason, headers=keyed | code)
    assert first.status_code == 201, first.json
    assert first.json["suspended"] is True and first.json["reason"] == reason["reason"]
    again = client.post(url, json=reason, headers=keyed)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert db.session.query(SectionSuspension).filter_by(section_id=section.id).count() == 1
    twice = client.post(url, json=reason, headers=mine | {"X-TOTP-Code": current_code(scene.regulator)})
    assert twice.status_code == 409

    listed = client.get("/api/v1/supervision/interventions", headers=bearer(scene.regulator, section.id))
    assert listed.status_code == 200 and [s["id"] for s in listed.json["suspended"]] == [section.id]
    elsewhere = client.get("/api/v1/supervision/interventions", headers=bearer(scene.regulator, other.id))
    assert elsewhere.status_code == 200 and elsewhere.json["suspended"] == []

    resumed = client.post(
        f"{url}/end",
        json={"note": "调查结束"},
        headers=mine | {"X-TOTP-Code": current_code(scene.regulator)},
    )
    assert resumed.status_code == 200, resumed.json
    assert resumed.json["suspended"] is False and resumed.json["ended_at"] is not None
    assert client.post(f"{url}/end", json={"note": 5}, headers=mine).status_code == 422
