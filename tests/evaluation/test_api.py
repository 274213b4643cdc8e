"""The evaluation JSON API end to end: members score through it (own sheet only), the monitors read the
panel, the report's fingerprint follows the pages' rule, the tenderer publishes and awards, and the
public result appears once published."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import User
from app.accounts.services import create_api_token
from app.core.clock import clock
from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.evaluation import services
from tests.evaluation.conftest import close_report, open_trade, sign_in_all
from tests.experts.conftest import quick_user
from tests.factories import make_org
from tests.projects.conftest import World
from tests.projects.conftest import world as world


def bearer(user: User) -> dict[str, str]:
    raw = create_api_token(user, "test").raw
    db.session.commit()
    return {"Authorization": f"Bearer {raw}"}


def test_scoring_publicity_and_award_through_the_api(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    users = sign_in_all(trade)
    db.session.commit()
    sid = trade.section.id
    api = app.test_client()
    bids = [b.org.id for b in trade.tender.bidders]

    # the list shows each reader its evaluations; a regulator of another industry sees nothing
    listed = api.get("/api/v1/evaluation/sections", headers=bearer(users[0])).json
    assert [e["section_id"] for e in listed] == [sid] and listed[0]["status"] == "scoring"
    stranger = quick_user(Role.REGULATOR, make_org(OrgKind.REGULATOR))
    assert api.get("/api/v1/evaluation/sections", headers=bearer(stranger)).json == []
    assert api.get(f"/api/v1/evaluation/sections/{sid}", headers=bearer(stranger)).status_code == 404

    # a member saves a draft, is refused a failed verdict without a reason, then submits
    url = f"/api/v1/evaluation/sections/{sid}/scores"
    headers = {u.id: bearer(u) for u in users}
    no_reason = api.put(
        url, json={"qualification": [{"org_id": bids[0], "qualified": False}]}, headers=headers[users[0].id]
    )
    assert no_reason.status_code == 422 and no_reason.json["errors"]
    for user in users:
        body = {"qualification": [{"org_id": o, "qualified": True} for o in bids], "submit": True}
        resp = api.put(url, json=body, headers=headers[user.id])
        assert resp.status_code == 200, resp.json
        assert resp.json["submitted_at"] and len(resp.json["qualification"]) == 3
    locked = api.put(url, json={"qualification": []}, headers=headers[users[0].id])
    assert locked.status_code == 409 and locked.json["code"] == "locked"
    # the sheet is the caller's own; a non-member expert and the tenderer have none
    assert api.get(url, headers=headers[users[1].id]).json["member_id"] == trade.member(users[1]).id
    outsider = quick_user(Role.EXPERT, make_org(OrgKind.EXPERT_EMPLOYER))
    assert api.get(url, headers=bearer(outsider)).status_code == 404
    assert api.get(url, headers=bearer(world.agent)).status_code == 404

    # the monitors see the members and their progress; the tenderer sees no names before the award
    staff_panel = api.get(f"/api/v1/evaluation/sections/{sid}/panel", headers=bearer(world.staff)).json
    assert len(staff_panel["members"]) == 5 and all(m["submitted_at"] for m in staff_panel["members"])
    agent_panel = api.get(f"/api/v1/evaluation/sections/{sid}/panel", headers=bearer(world.agent)).json
    assert agent_panel["members"] == [] and agent_panel["names"] == []

    # nothing is public yet; the report is not drawn up
    assert api.get(f"/api/v1/evaluation/public/sections/{sid}").status_code == 404
    assert (
        api.get(f"/api/v1/evaluation/sections/{sid}/report", headers=bearer(world.staff)).status_code == 404
    )
    with app.test_request_context():
        ev = trade.evaluation()
        close_report(trade, users)
    db.session.commit()
    report = api.get(f"/api/v1/evaluation/sections/{sid}/report", headers=bearer(world.regulator))
    assert report.status_code == 200 and report.json["sha256"] == ev.report_sha256

    # the tenderer publishes (the agency acts for it) and, after the publicity, awards
    agent = bearer(world.agent)
    ranks = [{"rank": c.rank, "project_manager": f"经理{c.rank}", "pm_certificate": "一级建造师",
              "qualifications": "市政公用工程施工总承包二级"} for c in ev.candidates]  # fmt: skip
    assert api.post(f"/api/v1/evaluation/sections/{sid}/award", json={}, headers=agent).status_code == 409
    published = api.post(
        f"/api/v1/evaluation/sections/{sid}/publicity", json={"candidates": ranks}, headers=agent
    )
    assert published.status_code == 200, published.json
    assert [c["rank"] for c in published.json["candidates"]] == [1, 2, 3]
    public = api.get(f"/api/v1/evaluation/public/sections/{sid}")
    assert public.status_code == 200 and public.json["candidates"][0]["project_manager"] == "经理1"
    bidder = trade.tender.bidders[0].user
    refused = api.post(f"/api/v1/evaluation/sections/{sid}/award", json={}, headers=bearer(bidder))
    assert refused.status_code == 403
    assert ev.publicity_ends_at is not None
    clock.freeze(ev.publicity_ends_at + dt.timedelta(minutes=1))
    awarded = api.post(f"/api/v1/evaluation/sections/{sid}/award", json={"rank": 1}, headers=agent)
    assert awarded.status_code == 200, awarded.json
    assert awarded.json["status"] == "awarded" and awarded.json["winner_rank"] == 1
    assert len(api.get(f"/api/v1/evaluation/public/sections/{sid}").json["panel"]) == 5
    assert services.evaluation_for(trade.section) is ev
