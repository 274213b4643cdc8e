"""Issue 15, item 2 — experts employed by a bidder (now or within three years) never evaluate its bids
(实施条例 Art. 46; 评标专家和评标专家库管理暂行办法 Art. 12).

Bidders are secret until the opening, so a panel drawn before it can hold an expert who works — or worked
— for a bidder. Before this change nothing ever checked: that expert signed in and scored. Now the
opening checks every drawn member against the bidders, recuses the tied ones with the reason recorded, and
refills their seats through the draw itself (backups, then a supplementary round witnessed by a
regulator); the check runs again at sign-in."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import User
from app.bidding import opening
from app.core.clock import clock
from app.core.db import db
from app.core.models import AuditLeaf
from app.core.permissions import Role
from app.evaluation import services
from app.experts import draws, specialties
from app.experts.models import Expert, ExpertEmployment
from tests.bidding.conftest import DEADLINE, T0, after_deadline, publish_tender, upload
from tests.evaluation.conftest import EVAL, Trade, make_expert
from tests.experts.conftest import quick_user
from tests.factories import csrf_token, login, make_org
from tests.projects.conftest import World


def _client(app: Flask, user: User) -> FlaskClient:
    client = app.test_client()
    login(client, user)
    return client


def _record_employment(app: Flask, manager: User, expert: Expert, org_name: str, ends_on: dt.date) -> None:
    """The management office records a former employer through the expert's page."""
    client = _client(app, manager)
    path = f"/experts/pool/{expert.id}"
    resp = client.post(
        f"{path}/employments",
        data={
            "csrf_token": csrf_token(client, path),
            "organization": org_name,
            "ends_on": ends_on.isoformat(),
            "note": "项目经理",
        },
    )
    assert resp.status_code == 302
    assert db.session.scalar(select(ExpertEmployment).where(ExpertEmployment.expert_id == expert.id)), (
        "employment recorded"
    )


def _trade_with_panel_before_opening(
    app: Flask, client: FlaskClient, world: World, *, backups: int = 1
) -> tuple[Trade, list[Expert], Any]:
    """Publish and bid; a pool of exactly 5 + ``backups`` experts, for a panel drawn while the bidders
    are still secret (the caller ties some of them to a bidder first)."""
    clock.freeze(T0)
    with app.test_request_context():
        tender = publish_tender(world, bidders=3)
    for bidder, price in zip(tender.bidders, ["9500000", "9400000", "9300000"], strict=True):
        assert upload(client, tender, bidder, tender.summary(price)).status_code == 201
        clock.advance(dt.timedelta(seconds=1))
    trade = Trade(app, tender)
    experts = []
    with app.test_request_context():
        specialties.ensure_loaded()
        for _ in range(5 + backups):
            expert, user = make_expert()
            trade.experts[expert.id] = user
            experts.append(expert)
    return trade, experts, tender


def _draw_and_confirm(trade: Trade, world: World, backups: int) -> None:
    with trade.app.test_request_context():
        trade.draw = draws.request_draw(
            trade.section,
            slots=[draws.Slot("A0101", 5, backups)],
            evaluation_starts_at=EVAL,
            actor=world.staff,
            panel_size=5,
        )
        draws.witness(trade.draw, "271828-dice", actor=world.regulator)
        trade.confirm_invited()


def _open(trade: Trade) -> None:
    tender = trade.tender
    after_deadline()
    with trade.app.test_request_context():
        ceremony = opening.start_ceremony(tender.section.id, actor=tender.world.staff)
        for custodian in tender.custodians[:2]:
            opening.submit_share(tender.section.id, tender.mnemonic(custodian), actor=custodian)
        assert opening.run_opening(ceremony.id, actor=tender.world.staff) is not None
    assert trade.section.status == "opened"


def test_experts_of_a_bidder_drawn_before_the_opening_are_recused_at_it_and_replaced_by_a_witnessed_draw(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade, experts, tender = _trade_with_panel_before_opening(app, client, world)
    former, current = experts[0], experts[1]
    bidder_a, bidder_b = tender.bidders[0].org, tender.bidders[1].org
    # the registry: one expert worked for bidder A until a year ago (recorded through the office's page),
    # another is employed by bidder B today
    manager = quick_user(Role.MANAGER, make_org("management_office"))
    _record_employment(app, manager, former, bidder_a.name, (T0 - dt.timedelta(days=365)).date())
    current.employer_org_id = bidder_b.id
    db.session.flush()

    _draw_and_confirm(trade, world, backups=1)
    assert trade.draw is not None
    drawn = {s.expert_id: s for s in trade.draw.seats}
    assert former.id in drawn and current.id in drawn  # a pool of 6 for 5 seats and 1 backup: all drawn
    with app.test_request_context():  # two more experts join the pool after the draw was frozen
        for _ in range(3):
            expert, user = make_expert()
            trade.experts[expert.id] = user

    _open(trade)

    db.session.refresh(trade.draw)
    seats = {s.expert_id: s for s in trade.draw.seats}
    for expert, bidder in ((former, bidder_a), (current, bidder_b)):
        seat = seats[expert.id]
        assert seat.status == "recused"
        assert bidder.name in (seat.recusal_reason or "") and "条例第46条" in (seat.recusal_reason or "")
    assert "until" in (seats[former.id].recusal_reason or "") or "至" in (
        seats[former.id].recusal_reason or ""
    )
    # one vacancy taken by the backup, the other by a supplementary round waiting for the regulator
    assert trade.draw.status == "awaiting_witness" and len(trade.draw.rounds) == 2
    leaves = db.session.execute(
        select(AuditLeaf.payload).where(AuditLeaf.action == "experts:seat:recuse")
    ).all()
    assert len(leaves) == 1 and former.name not in leaves[0][0] and "employer_bidder" in leaves[0][0]

    # the staff member who requested the draw sees the recusals with their reasons
    page = _client(app, world.staff).get(f"/experts/draws/{trade.draw.id}").get_data(as_text=True)
    assert page.count(bidder_a.name) >= 1 and bidder_b.name in page

    # the regulator witnesses the replacement round through the page (a fresh sign-in counts as step-up)
    rc = _client(app, world.regulator)
    path = f"/experts/draws/{trade.draw.id}/witness"
    resp = rc.post(path, data={"csrf_token": csrf_token(rc, path), "entropy": "dice 6 1 3 3 5"})
    assert resp.status_code == 302 and "step-up" not in resp.headers["Location"]
    db.session.refresh(trade.draw)
    replacement = [s for s in trade.draw.seats if s.round_number == 2]
    called = [s.status for s in replacement if s.kind == "seat"]
    assert called and set(called) == {"invited"}
    assert all(s.expert_id not in (former.id, current.id) for s in replacement)
    assert draws.verify_draw(trade.draw).ok  # the same verifiable procedure, recomputable from the record
    # the supplementary round's frozen pool keeps the bidders' people out: both tied experts are excluded
    excluded = trade.draw.rounds[1].exclusion_reasons()
    assert {former.id, current.id} <= set(excluded)

    # the panel that scores: five experts, none tied to a bidder
    trade.confirm_invited()
    clock.freeze(EVAL)
    users = trade.panel_users()
    with app.test_request_context():
        for user in users:
            services.sign_in(trade.section, actor=user, conflict=False)
    ev = trade.evaluation()
    assert ev.status == "scoring"
    assert {m.expert_id for m in ev.counted}.isdisjoint({former.id, current.id}) and len(ev.counted) == 5


def test_a_tie_the_registry_learns_after_the_opening_recuses_the_expert_at_sign_in(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade, _experts, tender = _trade_with_panel_before_opening(app, client, world, backups=2)
    _draw_and_confirm(trade, world, backups=2)
    _open(trade)
    assert trade.draw is not None
    db.session.refresh(trade.draw)
    assert not [s for s in trade.draw.seats if s.status == "recused"]  # nobody tied at the opening
    # the office learns that a seated expert worked for bidder C until two years ago
    seated = next(s for s in trade.draw.seats if s.status == "confirmed")
    manager = quick_user(Role.MANAGER, make_org("management_office"))
    bidder_c = tender.bidders[2].org
    _record_employment(app, manager, seated.expert, bidder_c.name, (T0 - dt.timedelta(days=730)).date())

    clock.freeze(EVAL)
    user = trade.experts[seated.expert_id]
    ec = _client(app, user)
    path = f"/evaluation/sections/{trade.section.id}"
    resp = ec.post(f"{path}/sign-in", data={"csrf_token": csrf_token(ec, path), "declaration": "no_conflict"})
    assert resp.status_code == 302
    page = ec.get(path).get_data(as_text=True)
    assert 'id="recused"' in page and bidder_c.name in page  # declared "no conflict", recused anyway
    db.session.refresh(seated)
    assert seated.status == "recused"
    ev = trade.evaluation()
    member = next(m for m in ev.members if m.seat_id == seated.id)
    assert member.declaration == "conflict" and member.voided_at is not None
    assert services.member_of(ev, user) is None
    # its backup is called in the drawn order
    db.session.refresh(trade.draw)
    assert any(s.kind == "backup" and s.status == "invited" for s in trade.draw.seats)


def test_the_draw_excludes_the_tenderers_former_staff_and_bidders_once_known(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    """At the draw only the tenderer's and agency's people can be excluded — now and within three years;
    after the opening the bidders' too (an expert who left them four years ago is eligible)."""
    trade, experts, tender = _trade_with_panel_before_opening(app, client, world, backups=3)
    manager = quick_user(Role.MANAGER, make_org("management_office"))
    owner = db.session.get(type(tender.bidders[0].org), world.project.owner_org_id)
    assert owner is not None
    _record_employment(app, manager, experts[0], owner.name, (T0 - dt.timedelta(days=400)).date())
    _record_employment(
        app, manager, experts[1], tender.bidders[0].org.name, (T0 - dt.timedelta(days=300)).date()
    )
    _record_employment(
        app, manager, experts[2], tender.bidders[1].org.name, (T0 - dt.timedelta(days=4 * 365 + 2)).date()
    )
    with app.test_request_context():
        for _ in range(3):
            expert, user = make_expert()
            trade.experts[expert.id] = user
    _open(trade)  # bidders known from here on
    clock.freeze(DEADLINE + dt.timedelta(hours=1))
    with app.test_request_context():
        draw = draws.request_draw(
            trade.section,
            slots=[draws.Slot("A0101", 5, 1)],
            evaluation_starts_at=EVAL,
            actor=world.staff,
            panel_size=5,
        )
    reasons = draw.rounds[0].exclusion_reasons()
    assert reasons[experts[0].id] == ["former_employer_party"]  # the tenderer's, 400 days ago
    assert reasons[experts[1].id] == ["former_employer_party"]  # a bidder's, 300 days ago
    assert experts[2].id not in reasons  # left a bidder more than three years ago
