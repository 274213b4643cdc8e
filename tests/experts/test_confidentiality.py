"""Sealed panels: before the award only the drawing staff member and regulators see a draw; the tenderer,
bidders and other staff get 404, before and after the opening; after the award the parties see it. The
public sees digests only."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.experts import draws
from app.experts.draws import Slot
from tests.experts.conftest import World, quick_user
from tests.factories import login, make_org


@pytest.fixture
def sealed(world: World, bidders_of: dict[int, set[int]]) -> tuple[World, draws.ExpertDraw, dict[str, Any]]:
    users = {
        "staff": quick_user(Role.CENTER_STAFF, world.center),
        "other_staff": quick_user(Role.CENTER_STAFF, world.center),
        "regulator": quick_user(Role.REGULATOR, world.regulator_org),
        "tenderer": quick_user(Role.TENDERER, world.owner),
        "agent": quick_user(Role.TENDERER, world.agency),
        "bidder": quick_user(Role.BIDDER, world.bidder_org),
        "other_bidder": quick_user(Role.BIDDER, make_org(OrgKind.BIDDER)),
        "other_tenderer": quick_user(Role.TENDERER, make_org(OrgKind.TENDERER)),
    }
    bidders_of[world.section.id] = {world.bidder_org.id}
    world.pool(8)
    draw = draws.request_draw(
        world.section, slots=[Slot("A0101", 5, 1)], evaluation_starts_at=world_eval(), actor=users["staff"]
    )
    draws.witness(draw, "dice 6 6 2 1 4 3", actor=users["regulator"])
    db.session.commit()
    return world, draw, users


def world_eval() -> Any:
    from tests.experts.conftest import EVAL

    return EVAL


def status_for(app: Flask, user: Any, url: str) -> int:
    client = app.test_client()
    login(client, user)
    return client.get(url).status_code


@pytest.mark.parametrize("section_status", ["published", "opened"])
def test_panel_is_sealed_before_the_award(app: Flask, sealed: Any, section_status: str) -> None:
    world, draw, users = sealed
    world.section.status = section_status
    db.session.commit()
    url = f"/experts/draws/{draw.id}"
    for who in ("tenderer", "agent", "bidder", "other_staff"):
        assert status_for(app, users[who], url) == 404, who
    for who in ("staff", "regulator"):
        assert status_for(app, users[who], url) == 200, who


def test_panel_is_visible_to_the_parties_after_the_award(app: Flask, sealed: Any) -> None:
    world, draw, users = sealed
    world.section.status = "awarded"
    db.session.commit()
    url = f"/experts/draws/{draw.id}"
    for who in ("tenderer", "agent", "bidder", "other_staff", "regulator"):
        assert status_for(app, users[who], url) == 200, who
    for who in ("other_bidder", "other_tenderer"):
        assert status_for(app, users[who], url) == 404, who


def test_the_public_sees_digests_and_no_names(app: Flask, sealed: Any) -> None:
    _world, draw, _users = sealed
    html = app.test_client().get(f"/experts/public/draws/{draw.id}").get_data(as_text=True)
    rnd = draw.rounds[0]
    assert rnd.pool_digest in html and rnd.commitment in html
    for seat in draw.seats:
        assert seat.expert.name not in html and seat.expert.phone not in html


def test_the_drawing_staff_page_shows_the_panel_and_exclusions(app: Flask, sealed: Any) -> None:
    _world, draw, users = sealed
    client = app.test_client()
    login(client, users["staff"])
    html = client.get(f"/experts/draws/{draw.id}").get_data(as_text=True)
    assert all(s.expert.name in html for s in draw.seats)
    assert draw.rounds[0].commitment in html
