"""Issue 15 item 7 (and issue 14, "any regulator, of any industry, can witness any draw and read any
section's opened-envelope capture data"): jurisdiction by industry, one check per route.

The supervising regulator of a section is the regulator of its catalogue item's industry (derived at
registration). Only that regulator witnesses the section's draws, sees its sealed panel and draw record,
its opened envelopes' capture data, its alerts, its evaluation monitor, report, written report and archive.
A regulator of another industry gets 404 (the object does not exist for it), or 403 where it may watch
but not act, and sees none of it in lists."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.core.clock import clock
from app.core.errors import NotFound
from app.core.permissions import OrgKind, Role
from app.evaluation import archive, services
from app.experts import draws, specialties
from app.experts.models import ExpertDraw
from app.supervision import alerts
from tests.bidding.conftest import T0, publish_tender
from tests.evaluation.conftest import (
    EVAL,
    Trade,
    award_after_publicity,
    close_report,
    make_expert,
    open_trade,
    publish,
    score_lowest,
    sign_in_all,
)
from tests.factories import csrf_token, login, make_org, make_user
from tests.projects.conftest import World


@pytest.fixture
def scene(app: Flask, client: FlaskClient, world: World, db_session: Any) -> dict[str, Any]:
    """An archived trade with its draw, alerts and written report; and a second section's draw awaiting
    its witness. Both supervised by ``world.regulator`` (housing and construction)."""
    clock.freeze(T0)
    with app.test_request_context():
        other = publish_tender(world, bidders=0, room_id=None, online_only=True)
        specialties.ensure_loaded()
        for _ in range(9):
            make_expert()
        waiting = draws.request_draw(
            other.section,
            slots=[draws.Slot("A0101", 5, 2)],
            evaluation_starts_at=EVAL,
            actor=world.staff,
            panel_size=5,
        )
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    users = sign_in_all(trade)
    score_lowest(trade, users)
    close_report(trade, users)
    publish(trade)
    award_after_publicity(trade)
    ev = trade.evaluation()
    with app.test_request_context():
        from app.evaluation import endings

        endings.file_written_report(
            ev,
            endings.ReportInput(
                scope="施工", method_and_media="公开招标；本平台", documents_summary="见招标文件"
            ),
            actor=world.agent,
        )
        alerts.run_alert_rules(trade.section)
        services.record_contract(ev, actor=world.agent)
        archive.archive(ev, actor=world.staff)
    stranger = make_user(Role.REGULATOR, make_org(OrgKind.REGULATOR, industry="finance_procurement"))
    return {"trade": trade, "waiting": waiting, "stranger": stranger}


def _routes(trade: Trade, waiting: ExpertDraw) -> list[tuple[str, str]]:
    sid = trade.section.id
    draw = trade.draw
    assert draw is not None
    return [
        ("GET", f"/experts/draws/{waiting.id}/witness"),
        ("POST", f"/experts/draws/{waiting.id}/witness"),
        ("GET", f"/experts/draws/{draw.id}"),
        ("GET", f"/experts/draws/{draw.id}/verify"),
        ("GET", f"/api/v1/bidding/sections/{sid}/opened-envelopes"),
        ("GET", f"/evaluation/monitor/{sid}"),
        ("GET", f"/evaluation/sections/{sid}/report"),
        ("GET", f"/evaluation/sections/{sid}/written-report"),
        ("GET", f"/evaluation/sections/{sid}/archive.zip"),
    ]


ROUTE_NAMES = [
    "witness page",
    "witness post",
    "sealed panel",
    "draw verification",
    "opened-envelope capture data",
    "evaluation monitor",
    "evaluation report",
    "written report",
    "archive",
]


@pytest.mark.parametrize("index", range(len(ROUTE_NAMES)), ids=ROUTE_NAMES)
def test_a_regulator_of_another_industry_gets_404_and_the_supervising_one_gets_through(
    app: Flask, scene: dict[str, Any], world: World, index: int
) -> None:
    method, url = _routes(scene["trade"], scene["waiting"])[index]

    def call(client: FlaskClient) -> int:
        if method == "POST":  # a valid CSRF token: the refusal must come from the jurisdiction check
            token = csrf_token(client, "/experts/witness")
            return client.post(url, data={"csrf_token": token, "entropy": "x"}).status_code
        return client.get(url).status_code

    stranger = app.test_client()
    login(stranger, scene["stranger"])
    assert call(stranger) == 404, url
    supervisor = app.test_client()
    login(supervisor, world.regulator)
    # past the jurisdiction check: the page, or the witness form's own answer (too little entropy: 200)
    assert call(supervisor) == 200, url


def test_lists_show_a_regulator_only_its_own_sections(
    app: Flask, scene: dict[str, Any], world: World
) -> None:
    trade, waiting = scene["trade"], scene["waiting"]
    stranger = app.test_client()
    login(stranger, scene["stranger"])
    supervisor = app.test_client()
    login(supervisor, world.regulator)
    witness_url = f"/experts/draws/{waiting.id}/witness"
    assert witness_url not in stranger.get("/experts/witness").get_data(as_text=True)
    assert witness_url in supervisor.get("/experts/witness").get_data(as_text=True)
    monitor_url = f"/evaluation/monitor/{trade.section.id}"
    assert monitor_url not in stranger.get("/evaluation/monitor").get_data(as_text=True)
    assert monitor_url in supervisor.get("/evaluation/monitor").get_data(as_text=True)
    draw_url = f"/experts/draws/{trade.draw.id}"
    assert draw_url not in stranger.get("/experts/draws").get_data(as_text=True)
    assert draw_url in supervisor.get("/experts/draws").get_data(as_text=True)
    desk = f"/supervision/alerts?section={trade.section.id}&status=open"
    shown = supervisor.get(desk).get_data(as_text=True)
    assert "contract_due" in shown or "written_report_due" in shown or trade.section.code in shown
    assert trade.section.code not in stranger.get(desk).get_data(as_text=True)
    run = f"/supervision/sections/{trade.section.id}/alerts/run"
    assert (
        stranger.post(run, data={"csrf_token": csrf_token(stranger, "/supervision/alerts")}).status_code
        == 403
    )


def test_the_witness_service_refuses_another_industrys_regulator(
    app: Flask, scene: dict[str, Any], world: World
) -> None:
    waiting = scene["waiting"]
    with app.test_request_context(), pytest.raises(NotFound):
        draws.witness(waiting, "dice 1 2 3 4 5", actor=scene["stranger"])
    assert waiting.status == "awaiting_witness"
    with app.test_request_context():
        draws.witness(waiting, "dice 1 2 3 4 5", actor=world.regulator)
    assert waiting.status == "drawn"
