"""The application log names nobody and carries no link: the outbox notes a message's id and channel only
(not the recipient, subject or body: those would tell who was drawn for a panel, who bid on a sealed
section or who obtained documents, and hand out one-time links), and the request log names the route, not
the path (a path can carry a one-time token)."""

from __future__ import annotations

import re

from flask import Flask
from sqlalchemy import select

from app.core import outbox
from app.core.db import db
from app.core.models import OutboxMessage
from app.core.permissions import OrgKind, Role
from app.experts import draws
from app.experts.draws import Slot
from tests.experts.conftest import EVAL, World, quick_user
from tests.factories import make_org


def test_outbox_and_request_logs_name_no_recipient_subject_or_link(
    app: Flask, world: World, bidders_of: dict[int, set[int]], caplog
) -> None:
    for n in range(8):
        employer = make_org(OrgKind.EXPERT_EMPLOYER)
        expert = world.expert(user=quick_user(Role.EXPERT, employer), employer=employer)
        expert.email = f"expert{n}@mail.example"
    draw = draws.request_draw(
        world.section, slots=[Slot("A0101", 5, 1)], evaluation_starts_at=EVAL, actor=world.staff
    )
    draws.witness(draw, "dice 6 6 2 1 4 3", actor=world.regulator)
    db.session.commit()
    messages = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    invitations = [m for m in messages if "/experts/answer/" in m.body]
    assert invitations
    token = re.search(r"/experts/answer/([A-Za-z0-9_\-]+)", invitations[0].body).group(1)  # type: ignore[union-attr]
    with caplog.at_level("INFO"):
        assert outbox.deliver_pending() >= len(invitations)
        assert app.test_client().get(f"/experts/answer/{token}").status_code == 200
    logged = caplog.text
    for m in invitations:  # (an inbox message's recipient is an account id: a bare number)
        assert m.subject not in logged and (m.channel == "inbox" or m.recipient not in logged)
    assert "://" not in logged and token not in logged  # no link, no token
    assert f"outbox message {invitations[0].id} ({invitations[0].channel})" in logged
    assert "/experts/answer/<token>" in logged  # the route is logged, not the token
