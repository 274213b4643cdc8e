"""The draw request form's pickers: the sections ready for a draw, and the specialty tree with how many
active pool experts each specialty (sub-specialties included) can draw from; seats entered in the tree make
the composition."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from flask import Flask
from sqlalchemy import select

from app.core.db import db
from app.core.errors import DomainError
from app.core.permissions import Role
from app.experts.models import ExpertDraw
from tests.experts.conftest import World, quick_user
from tests.experts.test_views import client_for, post_draw_request


def test_the_tree_counts_experts_and_its_seats_make_the_composition(app: Flask, world: World) -> None:
    world.pool(6)  # A010101
    world.pool(2, codes=("A0601",))
    staff = quick_user(Role.CENTER_STAFF, world.center)
    client = client_for(app, staff)
    page = client.get("/experts/draws").get_data(as_text=True)
    assert f'<option value="{world.section.id}"' in page and world.section.code in page
    counts = dict(re.findall(r'name="seats-([A-C]\d*)" min="0" max="(\d+)"', page))
    assert counts["A"] == "8" and counts["A01"] == "6" and counts["A010101"] == "6" and counts["A06"] == "2"
    assert "8 名专家" in page and "specialty code" not in page.lower()

    resp = post_draw_request(
        client,
        world,
        composition="",
        **{"seats-A0101": "5", "backups-A0101": "1", "seats-A06": "", "backups-A06": ""},
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]
    draw = db.session.scalar(select(ExpertDraw).where(ExpertDraw.section_id == world.section.id))
    assert draw is not None
    assert [(c["specialty"], c["seats"], c["backups"]) for c in draw.composition] == [("A0101", 5, 1)]


def test_a_start_before_the_calendar_begins_is_asked_again_not_a_server_error(
    app: Flask, world: World
) -> None:
    """A mistyped year (0001-01-01 00:00 Beijing time has no UTC instant) in the draw request, the section
    form or the prequalification form reads as no date: asked again, never a 500."""
    from app.core.clock import local_to_utc
    from app.projects.prequal.views import _local

    world.pool(6)
    staff = quick_user(Role.CENTER_STAFF, world.center)
    client = client_for(app, staff)
    resp = post_draw_request(
        client,
        world,
        follow=True,
        evaluation_starts_at="0001-01-01T00:00",
        composition="",
        **{"seats-A0101": "5", "backups-A0101": "1"},
    )
    assert resp.status_code == 200
    assert "请填写抽取申请的全部字段。" in resp.get_data(as_text=True)
    assert db.session.scalar(select(ExpertDraw).where(ExpertDraw.section_id == world.section.id)) is None
    assert local_to_utc(dt.datetime(1, 1, 1)) is None
    form = {"opens_at": "0001-01-01T07:59"}
    with app.test_request_context(method="POST", data=form), pytest.raises(DomainError):
        _local("opens_at")
