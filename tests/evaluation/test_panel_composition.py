"""Issue 15, item 3 — the panel is lawful before anyone scores (招标投标法 Art. 37, 实施条例 Art. 70).

Before this change a 5-member panel of 4 pool experts and 1 tenderer representative started scoring as
soon as the 4 experts signed in: the representative's seat counted towards the two thirds but was never
seated, and the report was made by 4. Now the representative is a real seat — an account of the tenderer,
named on its page, signing in and scoring like an expert — and scoring starts only when the seated panel
is the composition; an absent member is replaced from the backups (or the tenderer names another)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import User
from app.core import storage
from app.core.clock import clock
from app.core.db import db
from app.core.permissions import Role
from app.evaluation import panel, services
from app.evaluation.models import Score
from app.experts.models import PanelSeat
from tests.evaluation.conftest import Trade, open_trade, score_lowest
from tests.factories import csrf_token, login, make_user
from tests.projects.conftest import World


def _client(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    login(client, user)
    return client


def _flashes(resp: Any) -> list[str]:
    return re.findall(r'class="flash[^"]*"[^>]*>([^<]+)', resp.get_data(as_text=True))


def _sign_in(app: Flask, trade: Trade, user: User) -> FlaskClient:
    client = _client(app, user)
    path = f"/evaluation/sections/{trade.section.id}"
    resp = client.post(
        f"{path}/sign-in", data={"csrf_token": csrf_token(client, path), "declaration": "no_conflict"}
    )
    assert resp.status_code == 302
    return client


def _name(app: Flask, trade: Trade, by: User, rep: User) -> Any:
    client = _client(app, by)
    path = f"/evaluation/manage/{trade.section.id}/panel"
    return client.post(
        path, data={"csrf_token": csrf_token(client, path), "user_id": rep.id}, follow_redirects=True
    )


def test_scoring_waits_for_the_tenderer_representative_who_is_a_real_seat(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"], panel=5, pool=4)
    experts = trade.panel_users()
    assert len(experts) == 4
    clients = [_sign_in(app, trade, u) for u in experts]
    ev = trade.evaluation()
    assert ev.status == "sign_in"  # before: "scoring" with 4 of 5
    path = f"/evaluation/sections/{trade.section.id}"
    page = clients[0].get(path).get_data(as_text=True)
    assert 'id="panel-waiting"' in page and "招标投标法第37条" in page
    # scores posted now are refused and nothing is stored
    bids = services.bids_of(trade.section)
    form = {"csrf_token": csrf_token(clients[0], path), "action": "submit"}
    form |= {f"qualified_{b.org_id}": "pass" for b in bids}
    clients[0].post(f"{path}/scores", data=form)
    assert db.session.query(Score).count() == 0

    # the agency's staff is not the tenderer: refused with the rule; the tenderer names its own account
    refused = _name(app, trade, world.agent, world.agent)
    assert "招标人代表" in " ".join(_flashes(refused)) and ev.status == "sign_in"
    _name(app, trade, world.agent, world.tenderer)
    second = make_user(Role.TENDERER, db.session.get(type(world.owner), world.owner.id))
    assert _flashes(_name(app, trade, world.tenderer, second))  # the one representative seat is taken
    assert [r.user_id for r in panel.active_representatives(trade.section)] == [world.tenderer.id]

    # the representative finds the evaluation, signs in and declares; now the panel is complete
    rc = _client(app, world.tenderer)
    assert trade.section.code in rc.get("/evaluation/").get_data(as_text=True)
    resp = rc.post(f"{path}/sign-in", data={"csrf_token": csrf_token(rc, path), "declaration": "no_conflict"})
    assert resp.status_code == 302
    db.session.refresh(ev)
    assert ev.status == "scoring"
    rep_member = services.member_of(ev, world.tenderer)
    assert rep_member is not None and rep_member.is_representative
    assert ev.leader_member_id != rep_member.id  # a representative never leads

    # the representative scores through the page like an expert
    form = {"csrf_token": csrf_token(rc, path), "action": "submit"}
    form |= {f"qualified_{b.org_id}": "pass" for b in bids}
    rc.post(f"{path}/scores", data=form)
    assert rep_member.submitted_at is not None
    score_lowest(trade, experts)
    assert services.all_submitted(ev)
    leader = next(u for u in experts if services.is_leader(ev, services.member_of(ev, u)))
    with app.test_request_context():
        services.draw_up_report(ev, actor=leader)
    report = b"".join(storage.iter_blob(ev.report_path or "")).decode()
    members = re.search(r'<ol id="members">(.*?)</ol>', report, re.S)
    assert members is not None and members.group(1).count("<li>") == 5  # before: a report of 4
    assert len(services.signatures_document(ev)["members"]) == 5


def test_an_absent_expert_is_replaced_from_the_backups_before_scoring(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"], panel=5, backups=2)
    users = trade.panel_users()
    with app.test_request_context():
        for user in users[:4]:
            services.sign_in(trade.section, actor=user, conflict=False)
    ev = trade.evaluation()
    assert ev.status == "sign_in"
    absent = services.member_of(ev, users[4])
    assert absent is not None and absent.signed_in_at is None

    staff = _client(app, world.staff)
    monitor = f"/evaluation/monitor/{trade.section.id}"
    url = f"{monitor}/members/{absent.id}/absent"
    early = staff.post(url, data={"csrf_token": csrf_token(staff, monitor)}, follow_redirects=True)
    assert absent.voided_at is None and _flashes(early)  # members may still sign in: too early
    clock.advance(dt.timedelta(minutes=31))
    assert f'id="absent-{absent.id}"' in staff.get(monitor).get_data(as_text=True)
    staff.post(url, data={"csrf_token": csrf_token(staff, monitor)})
    db.session.refresh(absent)
    assert absent.voided_at is not None
    seat = db.session.get(PanelSeat, absent.seat_id)
    assert seat is not None and seat.status == "absent" and seat.recusal_reason
    # the next backup in the drawn order is called, with a full answer time though the evaluation began
    assert trade.draw is not None
    db.session.refresh(trade.draw)
    called = [s for s in trade.draw.seats if s.kind == "backup" and s.status == "invited"]
    assert len(called) == 1 and called[0].respond_by is not None and called[0].respond_by > clock.now()
    trade.confirm_invited()
    newcomer = next(u for u in trade.panel_users() if u not in users)
    with app.test_request_context():
        services.sign_in(trade.section, actor=newcomer, conflict=False)
    assert ev.status == "scoring" and len(ev.counted) == 5


def test_an_absent_representative_is_replaced_by_the_tenderer_naming_another(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"], panel=5, pool=4)
    _name(app, trade, world.tenderer, world.tenderer)
    experts = trade.panel_users()
    with app.test_request_context():
        for user in experts:
            services.sign_in(trade.section, actor=user, conflict=False)
    ev = trade.evaluation()
    rep_member = next(m for m in ev.members if m.is_representative)
    clock.advance(dt.timedelta(minutes=31))
    staff = _client(app, world.staff)
    monitor = f"/evaluation/monitor/{trade.section.id}"
    staff.post(f"{monitor}/members/{rep_member.id}/absent", data={"csrf_token": csrf_token(staff, monitor)})
    db.session.refresh(rep_member)
    assert rep_member.voided_at is not None and ev.status == "sign_in"
    colleague = make_user(Role.TENDERER, db.session.get(type(world.owner), world.owner.id))
    _name(app, trade, world.tenderer, colleague)
    _sign_in(app, trade, colleague)
    db.session.refresh(ev)
    assert ev.status == "scoring" and sum(1 for m in ev.counted if m.is_representative) == 1
