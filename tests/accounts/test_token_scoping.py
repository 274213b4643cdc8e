"""API tokens restricted to some tender sections: created on the account page (project code/section code),
such a token reaches those sections' objects only; lists show those sections' rows only; other sections'
objects, unfiltered lists and objects of no section are refused (403 in the one error shape); the caller's
own account and public routes stay open."""

from __future__ import annotations

import re

from flask import Flask

from app.accounts import services
from app.core.clock import now
from app.core.db import db
from app.supervision.models import SupervisionAlert
from tests.factories import csrf_token, login
from tests.supervision.conftest import Scene
from tests.supervision.conftest import scene as scene


def _alert(section_id: int, fingerprint: str) -> SupervisionAlert:
    alert = SupervisionAlert(
        section_id=section_id,
        rule="same_source_ip",
        fingerprint=fingerprint,
        summary="同一地址",
        legal_basis="《招标投标法实施条例》第四十条",
        evidence={},
        status="open",
        raised_at=now(),
    )
    db.session.add(alert)
    db.session.flush()
    return alert


def test_a_section_token_reaches_only_its_sections(app: Flask, scene: Scene) -> None:
    inside, outside = scene.section(), scene.section()
    in_alert, out_alert = _alert(inside.id, "a" * 64), _alert(outside.id, "b" * 64)
    db.session.commit()
    client = app.test_client()
    login(client, scene.regulator)
    page = client.post(
        "/account/tokens",
        data={
            "name": "监管接口",
            "sections": f"{scene.project.code}/{inside.code}",
            "csrf_token": csrf_token(client, "/account/"),
        },
    )
    html = page.get_data(as_text=True)
    assert f"{scene.project.code}/{inside.code}" in html
    raw = re.search(r'id="new-token">([^<]+)<', html)
    assert raw is not None
    headers = {"Authorization": f"Bearer {raw.group(1).strip()}"}
    assert f"{scene.project.code}/{inside.code}" in client.get("/account/").get_data(as_text=True)

    api = app.test_client()
    assert api.get(f"/api/v1/supervision/alerts/{in_alert.id}", headers=headers).status_code == 200
    refused = api.get(f"/api/v1/supervision/alerts/{out_alert.id}", headers=headers)
    assert refused.status_code == 403 and refused.json["code"] == "forbidden"
    assert set(refused.json) == {"code", "status", "message", "errors"}
    assert api.get(f"/api/v1/supervision/sections/{inside.id}/notices", headers=headers).status_code == 200
    assert api.get(f"/api/v1/supervision/sections/{outside.id}/notices", headers=headers).status_code == 403
    # lists that narrow themselves list the token's sections only; the others (figures across all
    # sections, objects of no section) are refused; the caller's own account and public routes stay open
    listed = api.get("/api/v1/supervision/alerts", headers=headers)
    assert listed.status_code == 200 and [a["id"] for a in listed.json] == [in_alert.id]
    assert api.get("/api/v1/supervision/assessment", headers=headers).status_code == 403
    assert api.get("/api/v1/me", headers=headers).status_code == 200
    assert api.get("/api/v1/health", headers=headers).status_code == 200
    # a missing object is the view's 404, as without restriction
    assert api.get("/api/v1/supervision/alerts/999999", headers=headers).status_code == 404
    # an unrestricted token of the same regulator reaches both
    full = {"Authorization": f"Bearer {services.create_api_token(scene.regulator, 'all').raw}"}
    db.session.commit()
    assert api.get(f"/api/v1/supervision/alerts/{out_alert.id}", headers=full).status_code == 200


def test_unknown_sections_are_refused_when_creating_a_token(app: Flask, scene: Scene) -> None:
    client = app.test_client()
    login(client, scene.regulator)
    page = client.post(
        "/account/tokens",
        data={"name": "x", "sections": "NOPE/S9", "csrf_token": csrf_token(client, "/account/")},
        follow_redirects=True,
    )
    assert "NOPE/S9" in page.get_data(as_text=True)
    assert not scene.regulator.api_tokens
