"""The experts JSON API: the pool registry for the management office only, draws under the pages' rule
(``permissions.can_view_panel``), the public record, and the invited expert's answer."""

from __future__ import annotations

from flask import Flask

from app.accounts.models import User
from app.accounts.services import create_api_token
from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.experts import draws
from app.experts.enums import SeatStatus
from tests.experts.conftest import World, quick_user
from tests.factories import make_org


def bearer(user: User) -> dict[str, str]:
    raw = create_api_token(user, "test").raw
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def test_pool_registry_is_for_the_management_office_only(app: Flask, world: World) -> None:
    experts = world.pool(3)
    experts[0].name = "张三丰"
    db.session.commit()
    client = app.test_client()
    office = bearer(world.manager)
    resp = client.get("/api/v1/experts/pool?limit=2", headers=office)
    assert resp.status_code == 200, resp.json
    assert [e["id"] for e in resp.json["data"]] == [experts[2].id, experts[1].id]
    assert resp.json["data"][0]["status_label"] not in {"", "active"}  # a word in the caller's language
    more = client.get(f"/api/v1/experts/pool?before={resp.json['next_before']}", headers=office)
    assert experts[0].id in [e["id"] for e in more.json["data"]]
    found = client.get("/api/v1/experts/pool?q=张三丰", headers=office).json["data"]
    assert [e["id"] for e in found] == [experts[0].id]
    detail = client.get(f"/api/v1/experts/pool/{experts[0].id}", headers=office)
    assert detail.status_code == 200 and detail.json["phone"] == "13800000000"
    assert "id_number" not in detail.json and detail.json["id_number_masked"]
    assert client.get("/api/v1/experts/pool/999999", headers=office).json["code"] == "not_found"
    bad = client.get("/api/v1/experts/pool?status=nonsense", headers=office)
    assert bad.status_code == 422 and set(bad.json) == {"code", "status", "message", "errors"}
    for other in (world.staff, world.regulator, world.tenderer, world.bidder):
        refused = client.get(f"/api/v1/experts/pool/{experts[0].id}", headers=bearer(other))
        assert refused.status_code == 403 and refused.json["code"] == "forbidden"
    assert client.get("/api/v1/experts/pool").status_code == 401


def test_draws_follow_the_pages_rule_and_the_public_record_is_open(app: Flask, world: World) -> None:
    world.pool(7)
    draw = world.request()
    draws.witness(draw, "dice 1 2 3 4 5", actor=world.regulator)
    db.session.commit()
    client = app.test_client()
    staff = client.get("/api/v1/experts/draws", headers=bearer(world.staff))
    assert [d["id"] for d in staff.json] == [draw.id]
    detail = client.get(f"/api/v1/experts/draws/{draw.id}", headers=bearer(world.regulator))
    assert detail.status_code == 200
    assert len(detail.json["seats"]) == len(draw.seats) and detail.json["seats"][0]["expert_name"]
    # the panel is sealed until the award: the other staff member and the parties see nothing
    assert client.get("/api/v1/experts/draws", headers=bearer(world.staff2)).json == []
    for user in (world.staff2, world.tenderer, world.bidder):
        sealed = client.get(f"/api/v1/experts/draws/{draw.id}", headers=bearer(user))
        assert sealed.status_code == 404, user.role
    record = client.get(f"/api/v1/experts/public/draws/{draw.id}")
    assert record.status_code == 200
    assert record.json == client.get(f"/experts/public/draws/{draw.id}.json").json
    assert record.json["published"] is False and "seed" not in record.json["rounds"][0]


def test_the_invited_expert_answers_through_the_api(app: Flask, world: World) -> None:
    employer = make_org(OrgKind.EXPERT_EMPLOYER)
    user = quick_user(Role.EXPERT, employer)
    me = world.expert(user=user, employer=employer)
    world.pool(7)
    draw = world.request()
    draws.witness(draw, "dice 1 2 3 4 5", actor=world.regulator)
    db.session.commit()
    mine = next((s for s in draw.seats if s.expert_id == me.id), None)
    client = app.test_client()
    headers = bearer(user)
    listed = client.get("/api/v1/experts/me/invitations", headers=headers).json
    if mine is None or mine.status != SeatStatus.INVITED:  # not drawn this time: answer someone's seat
        assert all(i["seat_id"] != getattr(mine, "id", 0) or i["status"] != "invited" for i in listed)
        other = next(s for s in draw.seats if s.status == SeatStatus.INVITED)
        answer_user = quick_user(Role.EXPERT, employer)
        other.expert.user_id = answer_user.id
        db.session.commit()
        mine, headers = other, bearer(answer_user)
        listed = client.get("/api/v1/experts/me/invitations", headers=headers).json
    assert [i["seat_id"] for i in listed] == [mine.id] and listed[0]["status"] == "invited"
    url = f"/api/v1/experts/me/invitations/{mine.id}/answer"
    no_reason = client.post(url, json={"answer": "decline"}, headers=headers)
    assert no_reason.status_code == 422 and "reason" in no_reason.json["errors"]
    unknown = client.post(url, json={"answer": "confirm", "extra": 1}, headers=headers)
    assert unknown.status_code == 422
    stranger = quick_user(Role.EXPERT, employer)
    assert client.post(url, json={"answer": "confirm"}, headers=bearer(stranger)).status_code == 404
    ok = client.post(url, json={"answer": "confirm"}, headers=headers)
    assert ok.status_code == 200, ok.json
    assert ok.json["status"] == "confirmed" and ok.json["status_label"]
    again = client.post(url, json={"answer": "decline", "reason": "x"}, headers=headers)
    assert again.status_code == 409 and again.json["code"] == "conflict"
    # without a token, a cookie session needs the CSRF token
    assert client.post(url, json={"answer": "confirm"}).status_code in {400, 401}
