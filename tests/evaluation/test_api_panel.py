"""The panel member's steps through the JSON API, with the workspace's rule and services: sign-in with the
conflict declaration (once; a declared conflict recuses), the leader draws up and closes the report, each
member signs or dissents. Wrong roles get 403, a non-member 404, a token limited to another section 403,
bad input 422; sign-in replays under its ``Idempotency-Key``; the list filters to a limited token's
sections."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import User
from app.accounts.services import create_api_token
from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.evaluation import services
from app.projects.models import Section
from tests.evaluation.conftest import open_trade, score_lowest
from tests.experts.conftest import quick_user
from tests.factories import make_org
from tests.projects.conftest import World
from tests.projects.conftest import world as world

BASE = "/api/v1/evaluation/sections"


def bearer(user: User, *sections: int) -> dict[str, str]:
    raw = create_api_token(user, "test", sections=[str(s) for s in sections] or None).raw
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


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


def test_sign_in_declares_once_and_a_conflict_recuses(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    users = trade.panel_users()
    other = _other_section(world)
    sid = trade.section.id
    api = app.test_client()
    url = f"{BASE}/{sid}/sign-in"
    no_conflict = {"declaration": "no_conflict"}
    assert api.post(url, json={"declaration": "maybe"}, headers=bearer(users[0])).status_code == 422
    assert api.post(url, json=no_conflict, headers=bearer(trade.tender.bidders[0].user)).status_code == 403
    outsider = quick_user(Role.EXPERT, make_org(OrgKind.EXPERT_EMPLOYER))
    assert api.post(url, json=no_conflict, headers=bearer(outsider)).status_code == 404
    assert api.post(url, json=no_conflict, headers=bearer(users[0], other.id)).status_code == 403
    assert api.get(f"{BASE}/{sid}/me", headers=bearer(users[0])).status_code == 404  # not started

    keyed = bearer(users[0], sid) | {"Idempotency-Key": "sign-in-1"}
    first = api.post(url, json=no_conflict, headers=keyed)
    assert first.status_code == 201, first.json
    assert first.json["declaration"] == "no_conflict" and first.json["signed_in_at"]
    again = api.post(url, json=no_conflict, headers=keyed)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    twice = api.post(url, json=no_conflict, headers=bearer(users[0]))
    assert twice.status_code == 409

    conflicted = bearer(users[1])
    unexplained = api.post(url, json={"declaration": "conflict"}, headers=conflicted)
    assert unexplained.status_code == 422 and "note" in unexplained.json["errors"]
    recused = api.post(url, json={"declaration": "conflict", "note": "曾在投标人处任职"}, headers=conflicted)
    assert recused.status_code == 201, recused.json
    assert (
        recused.json["declaration"] == "conflict" and recused.json["voided_at"] and not recused.json["counts"]
    )
    assert api.get(f"{BASE}/{sid}/me", headers=conflicted).json["member_id"] == recused.json["member_id"]

    assert [e["section_id"] for e in api.get(BASE, headers=bearer(users[0], sid)).json] == [sid]
    elsewhere = api.get(BASE, headers=bearer(users[0], other.id))
    assert elsewhere.status_code == 200 and elsewhere.json == []


def test_the_report_is_drawn_up_signed_and_closed_through_the_api(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    users = trade.panel_users()
    sid = trade.section.id
    api = app.test_client()
    headers = {u.id: bearer(u) for u in users}
    for user in users:
        resp = api.post(
            f"{BASE}/{sid}/sign-in", json={"declaration": "no_conflict"}, headers=headers[user.id]
        )
        assert resp.status_code == 201, resp.json
    score_lowest(trade, users)
    db.session.commit()
    ev = trade.evaluation()
    leader = next(u for u in users if services.is_leader(ev, services.member_of(ev, u)))
    member = next(u for u in users if u.id != leader.id)

    assert api.post(f"{BASE}/{sid}/report/draw-up", headers=headers[member.id]).status_code == 404
    assert api.post(f"{BASE}/{sid}/report/draw-up", headers=bearer(world.staff)).status_code == 403
    drawn = api.post(f"{BASE}/{sid}/report/draw-up", headers=headers[leader.id])
    assert drawn.status_code == 201, drawn.json
    assert drawn.json["sha256"] == ev.report_sha256 and drawn.json["drawn_at"]

    url = f"{BASE}/{sid}/report/decision"
    assert api.post(url, json={"decision": "maybe"}, headers=headers[member.id]).status_code == 422
    dissent = api.post(
        url, json={"decision": "dissent", "dissent": "价格分计算有误。"}, headers=headers[member.id]
    )
    assert dissent.status_code == 201 and dissent.json["decision"] == "dissent"
    assert api.post(url, json={"decision": "sign"}, headers=headers[member.id]).status_code == 409
    signed = api.post(url, json={"decision": "sign"}, headers=headers[leader.id])
    assert signed.status_code == 201 and signed.json["decision"] == "signed"

    assert api.post(f"{BASE}/{sid}/report/close", headers=headers[member.id]).status_code == 404
    closed = api.post(f"{BASE}/{sid}/report/close", headers=headers[leader.id])
    assert closed.status_code == 200, closed.json
    assert closed.json["reported_at"]
