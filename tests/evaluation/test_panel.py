"""The panel at work: declarations and replacement, void work, time extensions, outliers, confidentiality of
other sections' bids, and the workspace pages."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.bidding.models import SealedEnvelope
from app.core.errors import Conflict, DomainError
from app.core.models import AuditLeaf
from app.core.permissions import Role
from app.evaluation import services
from app.projects.models import Project
from tests.evaluation.conftest import open_trade, publicity_form, score_lowest, sign_in_all
from tests.factories import csrf_token, login, make_user
from tests.projects.conftest import World


def test_a_declared_conflict_replaces_the_seat_and_a_replaced_members_work_is_void(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    users = trade.panel_users()
    cheapest = trade.tender.bidders[2].org.id
    with app.test_request_context():
        with pytest.raises(DomainError):
            services.sign_in(trade.section, actor=users[0], conflict=True, note="")
        services.sign_in(trade.section, actor=users[0], conflict=True, note="配偶在投标人处任职")
    ev = trade.evaluation()
    assert ev.status == "sign_in" and trade.section.status == "evaluating"
    assert services.member_of(ev, users[0]) is None  # void
    trade.confirm_invited()  # the first backup answers
    users = sign_in_all_remaining(trade)
    assert ev.status == "scoring" and len(ev.counted) == 5
    assert ev.leader_member_id == trade.member(users[0]).id

    # three of five fail the cheapest bidder: it fails … until one of them is replaced mid-evaluation
    with app.test_request_context():
        for i, user in enumerate(users):
            member = trade.member(user)
            quals = {
                b.org_id: (not (i < 3 and b.org_id == cheapest), "资质证书过期")
                for b in services.bids_of(trade.section)
            }
            services.save_scores(member, actor=user, qualification=quals)
            services.submit(member, actor=user)
        assert [r.rank for r in services.results(ev) if r.bid.org_id == cheapest] == [None]
        replaced = trade.member(users[2])
        services.recuse(replaced, actor=trade.world.staff, reason="与投标人存在经济利益关系")
    assert not services.all_submitted(ev)
    assert replaced.id not in [s.member_id for s in services.counted_sheets(ev)]
    trade.confirm_invited()
    newcomer = next(
        u
        for u in trade.panel_users()
        if services.member_of(ev, u) is None or not services.member_of(ev, u).signed_in_at
    )  # type: ignore[union-attr]
    with app.test_request_context():
        services.sign_in(trade.section, actor=newcomer, conflict=False)
        score_lowest(trade, [newcomer])
    assert services.all_submitted(ev)
    assert [r.rank for r in services.results(ev) if r.bid.org_id == cheapest] == [1]
    leaves = db_session.query(AuditLeaf).filter(AuditLeaf.action == "evaluation:member:void").count()
    assert leaves == 2


def sign_in_all_remaining(trade: Any) -> list[Any]:
    ev = trade.evaluation()
    users = trade.panel_users()
    with trade.app.test_request_context():
        for user in users:
            member = services.member_of(ev, user)
            if member is None or member.signed_in_at is None:
                services.sign_in(trade.section, actor=user, conflict=False)
    return users


def test_time_is_extended_when_more_than_a_third_ask(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    users = sign_in_all(trade)
    ev = trade.evaluation()
    before = ev.ends_at
    with app.test_request_context():
        assert services.request_extension(trade.member(users[0]), actor=users[0]) is False  # 1/5
        assert services.request_extension(trade.member(users[1]), actor=users[1]) is True  # 2/5 > 1/3
    assert ev.ends_at > before and ev.extensions == 1


def test_comprehensive_outliers_must_be_explained_before_the_report(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"], method="comprehensive")
    users = sign_in_all(trade)
    ev = trade.evaluation()
    bids = services.bids_of(trade.section)
    with app.test_request_context():
        for i, user in enumerate(users):
            member = trade.member(user)
            tech = "5" if i == 4 else "45"
            quals = {b.org_id: (True, "") for b in bids}
            points = {b.org_id: {"technical": tech, "commercial": "15"} for b in bids}
            with pytest.raises(DomainError):
                services.save_scores(
                    member, actor=user, qualification=quals, points={bids[0].org_id: {"technical": "51"}}
                )
            services.save_scores(member, actor=user, qualification=quals, points=points)
            services.submit(member, actor=user)
        flagged = services.outliers(ev)
        assert {(m.id, org) for m, org, *_ in flagged} == {
            (trade.member(users[4]).id, b.org_id) for b in bids
        }
        leader = users[0]
        with pytest.raises(Conflict) as err:
            services.draw_up_report(ev, actor=leader)
        assert err.value.code == "unexplained_outlier"
        for b in bids:
            services.explain(trade.member(users[4]), b.org_id, "技术方案存在重大缺陷", actor=users[4])
        services.draw_up_report(ev, actor=leader)
        # a dissent in writing; silence is deemed agreement at close
        services.decide(trade.member(users[1]), actor=users[1], sign=False, dissent="不同意第一名的技术评分")
        services.decide(trade.member(users[2]), actor=users[2], sign=True)
        services.close_report(ev, actor=leader)
    decisions = sorted(m.decision for m in ev.counted)
    assert decisions == ["deemed", "deemed", "deemed", "dissent", "signed"]
    # the cheapest has the full price score (30); the three subjective totals are equal
    assert ev.candidates[0].org_id == trade.tender.bidders[2].org.id
    assert ev.candidates[0].score == Decimal("82.00")  # mean(45, 45, 45, 45, 5) + 15 + 30


def test_an_expert_cannot_see_another_sections_bids(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    first = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    users = sign_in_all(first)
    other_env = (
        db_session.query(SealedEnvelope).filter_by(section_id=first.section.id, kind="document").first()
    )
    second = open_trade(
        app, client, world, ["8500000", "8400000", "8300000"], name="二标段", online_only=True, room_id=None
    )
    second_users = sign_in_all(second)
    own_env = (
        db_session.query(SealedEnvelope).filter_by(section_id=second.section.id, kind="document").first()
    )
    expert = second_users[0]
    client = app.test_client()
    login(client, expert)
    assert client.get(f"/evaluation/sections/{second.section.id}").status_code == 200
    doc = client.get(f"/evaluation/sections/{second.section.id}/bids/{own_env.id}")
    assert doc.status_code == 200 and b"technical proposal" in doc.data
    assert db_session.query(AuditLeaf).filter(AuditLeaf.action == "evaluation:document:view").count() == 1
    # the other section, directly or through the own section's URL: 404
    assert client.get(f"/evaluation/sections/{first.section.id}").status_code == 404
    assert client.get(f"/evaluation/sections/{first.section.id}/bids/{other_env.id}").status_code == 404
    assert client.get(f"/evaluation/sections/{second.section.id}/bids/{other_env.id}").status_code == 404
    assert users[0].id != expert.id


def test_workspace_pages_score_and_report_through_the_forms(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    users = trade.panel_users()
    path = f"/evaluation/sections/{trade.section.id}"
    sessions = []
    for user in users:
        client = app.test_client()
        login(client, user)
        page = client.get(path)
        assert page.status_code == 200 and trade.tender.bidders[0].org.name in page.get_data(as_text=True)
        token = csrf_token(client, path)
        signed = client.post(f"{path}/sign-in", data={"csrf_token": token, "declaration": "no_conflict"})
        assert signed.status_code == 302
        sessions.append((client, token))
    for client, token in sessions:
        form = {"csrf_token": token, "action": "submit"}
        for b in trade.tender.bidders:
            form[f"qualified_{b.org.id}"] = "pass"
        assert client.post(f"{path}/scores", data=form).status_code == 302
    ev = trade.evaluation()
    assert all(m.submitted_at for m in ev.counted)
    leader = users[0]
    client = app.test_client()
    login(client, leader)
    token = csrf_token(client, path)
    assert client.post(f"{path}/report/draw-up", data={"csrf_token": token}).status_code == 302
    assert (
        client.post(f"{path}/report/decide", data={"csrf_token": token, "decision": "sign"}).status_code
        == 302
    )
    assert client.post(f"{path}/report/close", data={"csrf_token": token}).status_code == 302
    assert ev.status == "reported"
    report = client.get(f"{path}/report")
    assert report.status_code == 200 and report.headers["X-Report-SHA256"] == ev.report_sha256
    # another tenderer organization cannot reach this section's publicity page
    stranger = make_user(Role.TENDERER)
    client = app.test_client()
    login(client, stranger)
    assert client.get(f"/evaluation/manage/{trade.section.id}").status_code == 404
    client = app.test_client()
    login(client, trade.world.agent)
    token = csrf_token(client, f"/evaluation/manage/{trade.section.id}")
    assert (
        client.post(
            f"/evaluation/manage/{trade.section.id}/publish",
            data={"csrf_token": token, **publicity_form(trade.evaluation())},
        ).status_code
        == 302
    )
    assert ev.status == "publicity"
    assert db_session.get(Project, trade.section.project_id) is not None


def test_demo_links_accounts_to_drawn_experts(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    from app.evaluation.demo import link_panel_accounts

    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    assert trade.draw is not None
    seat = next(s for s in trade.draw.seats if s.status == "confirmed")
    seat.expert.user_id = None
    db_session.flush()
    with app.test_request_context():
        lines = link_panel_accounts(trade.section)
    assert len(lines) == 1 and lines[0].startswith(f"expert-s{trade.section.id}-{seat.id}")
    assert seat.expert.user_id is not None
    with app.test_request_context():
        assert link_panel_accounts(trade.section) == []


def test_no_evaluation_step_while_the_section_is_suspended(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    """A suspension (regulator or a pending case) stops scoring until it is resumed (SPEC §2)."""
    from app.projects import services as projects

    trade = open_trade(app, client, world, ["9500000", "9400000", "9300000"])
    users = sign_in_all(trade)
    member = trade.member(users[0])
    projects.suspend_section(trade.section, actor=world.regulator, reason="投诉调查期间暂停")
    with app.test_request_context(), pytest.raises(Conflict) as refused:
        quals = {b.org_id: (True, "") for b in services.bids_of(trade.section)}
        services.save_scores(member, actor=users[0], qualification=quals)
    assert refused.value.code == "suspended"
    projects.resume_section(trade.section, actor=world.regulator)
    with app.test_request_context():
        services.save_scores(member, actor=users[0], qualification=quals)
        services.submit(member, actor=users[0])
    assert member.submitted_at is not None
