"""Expert draws through the JSON API, with the draw pages' rules and services: center staff request (step-up,
``Idempotency-Key``) and cancel their own draws, the supervising regulator witnesses (step-up) and verifies,
anyone recomputes the public record. Wrong roles get 403, a token limited to another section 403, a
regulator of another industry 404, bad input 422; lists filter to a limited token's sections."""

from __future__ import annotations

from typing import Any

from flask import Flask

from app.accounts.models import User
from app.accounts.services import create_api_token
from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.experts.models import ExpertDraw
from tests.experts.conftest import EVAL, World, make_section, quick_user
from tests.factories import current_code, make_org

BASE = "/api/v1/experts"
REQUEST = {
    "composition": [{"specialty": "A0101", "seats": 5, "backups": 2}],
    "evaluation_starts_at": EVAL.isoformat(),
    "panel_size": 5,
}


def bearer(user: User, *sections: int) -> dict[str, str]:
    raw = create_api_token(user, "test", sections=[str(s) for s in sections] or None).raw
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def totp(user: User) -> dict[str, str]:
    return {"X-TOTP-Code": current_code(user)}


def _other_section(world: World) -> Any:
    return make_section(world.staff, owner=world.owner, regulator_org=world.regulator_org)


def test_staff_request_a_draw_once_under_an_idempotency_key(app: Flask, world: World) -> None:
    world.pool(7)
    other = _other_section(world)
    db.session.commit()
    client = app.test_client()
    url = f"{BASE}/sections/{world.section.id}/draws"
    staff = bearer(world.staff)
    assert (
        client.post(url, json=REQUEST, headers=bearer(world.regulator) | totp(world.regulator)).status_code
        == 403
    )
    limited = bearer(world.staff, other.id) | totp(world.staff)
    assert client.post(url, json=REQUEST, headers=limited).status_code == 403
    assert client.post(url, json=REQUEST, headers=staff).status_code == 401  # the step-up
    for bad in (
        {**REQUEST, "composition": []},
        {**REQUEST, "panel_size": 4},
        {**REQUEST, "region_scope": "mars"},
    ):
        refused = client.post(url, json=bad, headers=staff | totp(world.staff))
        assert refused.status_code == 422 and set(refused.json) == {"code", "status", "message", "errors"}
    assert client.post(f"{BASE}/sections/999999/draws", json=REQUEST, headers=staff).status_code == 404

    keyed = staff | {"Idempotency-Key": "draw-1"}
    first = client.post(url, json=REQUEST, headers=keyed | totp(world.staff))
    assert first.status_code == 201, first.json
    assert first.json["section_id"] == world.section.id and first.json["status"] == "awaiting_witness"
    again = client.post(url, json=REQUEST, headers=keyed)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json == first.json
    assert db.session.query(ExpertDraw).filter_by(section_id=world.section.id).count() == 1


def test_the_supervising_regulator_witnesses_and_verifies(app: Flask, world: World) -> None:
    world.pool(7)
    draw = world.request()
    other = _other_section(world)
    db.session.commit()
    client = app.test_client()
    url = f"{BASE}/draws/{draw.id}/witness"
    regulator = bearer(world.regulator)
    entropy = {"entropy": "dice 1 2 3 4 5"}
    assert client.post(url, json=entropy, headers=bearer(world.staff)).status_code == 403
    assert client.post(url, json=entropy, headers=bearer(world.regulator, other.id)).status_code == 403
    stranger = quick_user(Role.REGULATOR, make_org(OrgKind.REGULATOR))
    assert client.post(url, json=entropy, headers=bearer(stranger) | totp(stranger)).status_code == 404
    assert client.post(url, json={"entropy": "123"}, headers=regulator).status_code == 422
    assert client.post(url, json=entropy, headers=regulator).status_code == 401  # the step-up
    witnessed = client.post(url, json=entropy, headers=regulator | totp(world.regulator))
    assert witnessed.status_code == 200, witnessed.json
    assert len(witnessed.json["seats"]) == 7

    verified = client.get(f"{BASE}/draws/{draw.id}/verification", headers=regulator)
    assert verified.status_code == 200 and verified.json["ok"] is True
    assert all(c["ok"] for r in verified.json["rounds"] for c in r["checks"])
    assert client.get(f"{BASE}/draws/{draw.id}/verification", headers=bearer(world.staff)).status_code == 403
    public = client.get(f"{BASE}/public/draws/{draw.id}/verification")
    assert public.status_code == 200
    assert public.json["ok"] is None and all(r["sealed"] for r in public.json["rounds"])  # until the result
    assert client.get(f"{BASE}/public/draws/999999/verification").status_code == 404


def test_only_the_requesting_staff_cancels_with_a_reason(app: Flask, world: World) -> None:
    world.pool(7)
    draw = world.request()
    db.session.commit()
    client = app.test_client()
    url = f"{BASE}/draws/{draw.id}/cancel"
    reason = {"reason": "评标时间调整"}
    assert client.post(url, json=reason, headers=bearer(world.regulator)).status_code == 403
    assert client.post(url, json=reason, headers=bearer(world.staff2)).status_code == 404
    assert client.post(url, json={}, headers=bearer(world.staff)).status_code == 422
    cancelled = client.post(url, json=reason, headers=bearer(world.staff))
    assert cancelled.status_code == 200, cancelled.json
    assert cancelled.json["status"] == "cancelled" and cancelled.json["cancel_reason"] == "评标时间调整"


def test_a_token_limited_to_sections_lists_their_draws(app: Flask, world: World) -> None:
    world.pool(7)
    draw = world.request()
    other = _other_section(world)
    db.session.commit()
    client = app.test_client()
    assert [
        d["id"] for d in client.get(f"{BASE}/draws", headers=bearer(world.staff, world.section.id)).json
    ] == [draw.id]
    elsewhere = client.get(f"{BASE}/draws", headers=bearer(world.staff, other.id))
    assert elsewhere.status_code == 200 and elsewhere.json == []
