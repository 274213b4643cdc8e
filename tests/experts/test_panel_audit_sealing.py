"""Who sits on a panel stays confidential on the audit pages until the section's result is determined:
an expert answering an invitation or viewing a document is a leaf the manager and every regulator read on
``/audit/``, the section timeline and the live stream; before the result none of them names the expert
(actor, user id, object or payload). From the result on the leaves show in full."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from app.core import audit
from app.core.db import db
from app.core.models import AuditLeaf
from app.core.permissions import OrgKind, Role
from app.experts import draws
from app.experts.draws import Slot
from app.experts.enums import SeatStatus
from app.experts.models import PanelSeat
from tests.experts.conftest import EVAL, World, quick_user
from tests.factories import csrf_token, login, make_org


@pytest.fixture
def answered(app: Flask, world: World, bidders_of: dict[int, set[int]]) -> tuple[World, Any, Any]:
    """A drawn panel whose experts have accounts; one of them confirms through the real page."""
    for _ in range(8):
        employer = make_org(OrgKind.EXPERT_EMPLOYER)
        world.expert(user=quick_user(Role.EXPERT, employer), employer=employer)
    draw = draws.request_draw(
        world.section, slots=[Slot("A0101", 5, 1)], evaluation_starts_at=EVAL, actor=world.staff
    )
    draws.witness(draw, "dice 6 6 2 1 4 3", actor=world.regulator)
    db.session.commit()
    seat = db.session.scalars(
        select(PanelSeat).where(PanelSeat.draw_id == draw.id, PanelSeat.status == SeatStatus.INVITED.value)
    ).first()
    assert seat is not None
    from app.accounts.models import User

    expert_user = db.session.get(User, seat.expert.user_id)
    client = app.test_client()
    login(client, expert_user)
    resp = client.post(
        f"/experts/me/invitations/{seat.id}",
        data={"answer": "confirm", "csrf_token": csrf_token(client, "/experts/me")},
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(PanelSeat, seat.id).status == SeatStatus.CONFIRMED
    # The evaluation views record the expert reading documents the same way (app/evaluation/views.py).
    audit.record(
        "evaluation:tender_document:view",
        actor=expert_user,
        object_type="evaluation",
        object_id=999,
        payload={"section_id": world.section.id, "document_id": 1, "sha256": "0" * 64},
    )
    db.session.commit()
    return world, seat, expert_user


def _expert_leaves(user: Any) -> list[AuditLeaf]:
    return list(db.session.scalars(select(AuditLeaf).where(AuditLeaf.actor_id == user.id)))


def _pages(app: Flask, reader: Any, section_id: int) -> str:
    client = app.test_client()
    login(client, reader)
    audit_page = client.get("/audit/")
    assert audit_page.status_code == 200
    out = audit_page.get_data(as_text=True)
    timeline = client.get(f"/supervision/sections/{section_id}/timeline.json")
    if timeline.status_code == 200:
        out += timeline.get_data(as_text=True)
    return out


def test_an_experts_acts_do_not_show_who_acted_before_the_result(app: Flask, answered: Any) -> None:
    world, seat, expert_user = answered
    leaves = _expert_leaves(expert_user)
    actions = {leaf.action for leaf in leaves}
    assert {"experts:seat:confirm", "evaluation:tender_document:view"} <= actions
    for reader in (world.manager, world.regulator):
        html = _pages(app, reader, world.section.id)
        assert expert_user.display_name not in html, reader.role
        assert f'"actor_id": {expert_user.id}' not in html and f'"actor_id":{expert_user.id}' not in html
        assert f'"seat_id": {seat.id}' not in html and f'"seat_id":{seat.id}' not in html
    for leaf in leaves:  # the live stream and its replay
        event = audit.live_event(leaf, json.loads(leaf.payload))
        assert event["sealed"] and event["actor_role"] is None and event["object_id"] is None


def test_an_experts_acts_show_once_the_result_is_determined(app: Flask, answered: Any) -> None:
    world, _seat, expert_user = answered
    world.section.status = "awarded"
    db.session.commit()
    html = _pages(app, world.manager, world.section.id)
    assert expert_user.display_name in html
