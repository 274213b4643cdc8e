"""The pages: the office's pool and import, the staff draw room, the regulator's witness step behind
step-up, the expert's own page and the one-time answer link."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

from flask import Flask
from sqlalchemy import select

from app.core.clock import security_clock
from app.core.db import db
from app.core.models import OutboxMessage
from app.core.permissions import OrgKind, Role
from app.experts import draws, services
from app.experts.enums import SeatStatus
from app.experts.models import ExpertDraw
from tests.experts.conftest import World, quick_user
from tests.experts.test_import import HEADER, good_row
from tests.factories import csrf_token, current_code, login, make_org


def client_for(app: Flask, user: Any) -> Any:
    client = app.test_client()
    login(client, user)
    return client


def post_draw_request(
    client: Any, world: World, token: str | None = None, *, follow: bool = False, **fields: Any
) -> Any:
    """The draw request form as center staff send it (5 seats of A0101 and a backup, on 03-05 09:00);
    ``fields`` change or add form fields."""
    data = {
        "csrf_token": token or csrf_token(client, "/experts/draws"),
        "section_id": world.section.id,
        "panel_size": 5,
        "evaluation_starts_at": "2026-03-05T09:00",
        "region_scope": "local",
        "composition": "A0101 5 1",
        **fields,
    }
    return client.post("/experts/draws/new", data=data, follow_redirects=follow)


def test_office_pool_and_import_dry_run(app: Flask, world: World) -> None:
    manager = quick_user(Role.MANAGER, world.office)
    world.pool(3)
    client = client_for(app, manager)
    html = client.get("/experts/pool?status=active").get_data(as_text=True)
    assert "3206" in html and "**********" in html
    csv = "\n".join(
        [",".join(HEADER), ",".join(str(c) for c in good_row(5)), ",".join(["", *map(str, good_row(6)[1:])])]
    )
    resp = client.post(
        "/experts/import",
        data={
            "csrf_token": csrf_token(client, "/experts/import"),
            "file": (io.BytesIO(csv.encode()), "x.csv"),
        },
        content_type="multipart/form-data",
    )
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "<td>3</td>" in page and "name" in page


def test_draw_room_request_then_witness_with_step_up(app: Flask, world: World) -> None:
    world.pool(8)
    staff = quick_user(Role.CENTER_STAFF, world.center)
    client = client_for(app, staff)
    resp = post_draw_request(client, world)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    draw = db.session.scalar(select(ExpertDraw).where(ExpertDraw.section_id == world.section.id))
    assert draw is not None and draw.status == "awaiting_witness"

    regulator = quick_user(Role.REGULATOR, world.regulator_org)
    rc = client_for(app, regulator)
    security_clock.advance(
        dt.timedelta(minutes=10)
    )  # the sign-in no longer counts as a recent re-authentication
    resp = rc.get(f"/experts/draws/{draw.id}/witness")
    assert resp.status_code == 302 and "/auth/step-up" in resp.headers["Location"]
    rc.post(
        "/auth/step-up", data={"csrf_token": csrf_token(rc, "/auth/step-up"), "code": current_code(regulator)}
    )
    token = csrf_token(rc, f"/experts/draws/{draw.id}/witness")
    resp = rc.post(
        f"/experts/draws/{draw.id}/witness", data={"csrf_token": token, "entropy": "dice 4 4 1 6 2"}
    )
    assert resp.status_code == 302, re.findall(
        r'class="flash[^"]*"[^>]*>([^<]+)', resp.get_data(as_text=True)
    )
    db.session.refresh(draw)
    assert draw.status == "drawn"
    verify = rc.get(f"/experts/draws/{draw.id}/verify").get_data(as_text=True)
    assert 'class="bad"' not in verify and draw.rounds[0].seed in verify


def test_running_a_draw_needs_a_recent_step_up(app: Flask, world: World) -> None:
    """ASVS 7.5.3: a stale sign-in cannot freeze the pool and commit the server randomness."""
    world.pool(8)
    staff = quick_user(Role.CENTER_STAFF, world.center)
    client = client_for(app, staff)
    token = csrf_token(client, "/experts/draws")
    security_clock.advance(
        dt.timedelta(minutes=10)
    )  # the sign-in no longer counts as a recent re-authentication
    resp = post_draw_request(client, world, token)
    assert resp.status_code == 302 and "/auth/step-up" in resp.headers["Location"]
    assert db.session.scalar(select(ExpertDraw).where(ExpertDraw.section_id == world.section.id)) is None


def test_expert_page_and_one_time_link(app: Flask, world: World) -> None:
    employer = make_org(OrgKind.EXPERT_EMPLOYER)
    user = quick_user(Role.EXPERT, employer)
    me = world.expert(user=user, employer=employer)
    world.pool(7)
    draw = world.request()
    draws.witness(draw, "dice 1 2 3 4 5", actor=world.regulator)
    db.session.commit()
    client = client_for(app, user)
    assert client.get("/experts/me").status_code == 200
    resp = client.post(
        "/experts/me/leave",
        data={
            "csrf_token": csrf_token(client, "/experts/me"),
            "starts_on": "2026-04-01",
            "ends_on": "2026-04-03",
        },
    )
    assert resp.status_code == 302 and len(me.leaves) == 1

    body = db.session.scalars(select(OutboxMessage.body).where(OutboxMessage.channel == "sms")).first()
    assert body is not None
    link = re.search(r"/experts/answer/(\S+)", body)
    assert link is not None
    seat = draws.seat_for_token(link.group(1))
    assert seat is not None and seat.status == SeatStatus.INVITED
    anon = app.test_client()
    page = anon.get(link.group(0))
    assert page.status_code == 200
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True))
    assert token is not None
    resp = anon.post(
        link.group(0), data={"csrf_token": token.group(1), "answer": "decline", "reason": "出差"}
    )
    assert resp.status_code == 200
    assert anon.get(link.group(0)).status_code == 404  # one time only
    db.session.refresh(seat)
    assert seat.status == SeatStatus.DECLINED and seat.decline_reason == "出差"
    assert services.expert_of(user) is me


def test_a_used_invitation_link_tells_the_expert_why_and_whom_to_call(app: Flask, world: World) -> None:
    """An expert who opens the SMS link again (already answered, or a mistyped link) learns that the link
    is spent and to call the trading center, not "the page was not found"; the same words either way, so
    the page tells nothing about whether a link ever existed."""
    world.pool(7)
    draws.witness(world.request(), "dice 1 2 3 4 5", actor=world.regulator)
    db.session.commit()
    body = db.session.scalars(select(OutboxMessage.body).where(OutboxMessage.channel == "sms")).first()
    link = re.search(r"/experts/answer/(\S+)", body or "")
    assert link is not None
    anon = app.test_client()
    page = anon.get(link.group(0)).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token is not None
    anon.post(link.group(0), data={"csrf_token": token.group(1), "answer": "decline", "reason": "出差"})
    expected = "此评标邀请链接已失效（已答复、已过期或已撤回）。如需答复，请致电交易中心。"
    for path in (link.group(0), "/experts/answer/not-a-token"):
        resp = anon.get(path)
        assert resp.status_code == 404
        assert expected in resp.get_data(as_text=True), path
        assert "页面不存在" not in resp.get_data(as_text=True)
