"""Issue 18 item 5 — procurement intentions (采购意向公开, 财库〔2020〕10号): a government procurement
purchaser publishes its intention; the tender announcement of a government procurement section is refused
unless an intention of its project was public at least 30 days before; an intention whose month is too
close is refused."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal
from typing import Any

import pyrage
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import User
from app.bidding import services as bidding
from app.contracts import intentions
from app.contracts.models import ProcurementIntention
from app.core.clock import CST, clock
from app.core.db import db
from app.core.errors import DomainError
from app.core.models import AuditLeaf
from app.core.permissions import OrgKind, Role
from app.projects import services as projects
from tests.factories import csrf_token, make_org, make_user, signed_in
from tests.projects.conftest import World, procurement_world, terms


def cst(y: int, m: int, d: int, h: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=CST)


def _flashes(resp: Any) -> str:
    return " ".join(re.findall(r'class="flash[^"]*"[^>]*>([^<]+)', resp.get_data(as_text=True)))


def _post(client: FlaskClient, path: str, **data: str) -> Any:
    token = csrf_token(client, "/contracts/intentions")
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=True)


def _section(world: World, deadline: dt.datetime) -> Any:
    return projects.create_section(
        world.project,
        terms(
            world,
            docs_available_from=deadline - dt.timedelta(days=25),
            docs_available_until=deadline - dt.timedelta(days=14),
            bid_deadline=deadline,
            room_id=None,
            online_only=True,
        ),
        actor=world.agent,
    )


def _add_document(section: Any) -> None:
    projects.add_document(
        section,
        actor=_agent(section),
        name="采购文件",
        filename="tender.pdf",
        content_type="application/pdf",
        stream=io.BytesIO(b"%PDF-1.4 procurement documents"),
    )


def _agent(section: Any) -> User:
    user = db.session.get(User, section.created_by)
    assert user is not None
    return user


def test_a_tender_announcement_waits_30_days_after_the_intention(
    app: Flask, world: World, db_session: Any
) -> None:
    gp = procurement_world(
        world, name="南通市某学校教学设备采购", approval_ref="通财购〔2026〕9号", budget=Decimal("3000000")
    )
    clock.freeze(cst(2026, 3, 2))
    agent = signed_in(app, world.agent)
    page = agent.get("/contracts/intentions").get_data(as_text=True)
    assert "新增采购意向" in page and gp.project.code in page

    # bad input: no budget, no summary, a month already past, a works project
    resp = _post(
        agent, "/contracts/intentions", project_id=str(gp.project.id), project_name="教学设备",
        budget="abc", needs_summary="投影仪50台", expected_month="2026-06",
    )  # fmt: skip
    assert "金额" in _flashes(resp)
    resp = _post(
        agent, "/contracts/intentions", project_id=str(gp.project.id), project_name="教学设备",
        budget="2800000", needs_summary=" ", expected_month="2026-06",
    )  # fmt: skip
    assert "采购需求概况" in _flashes(resp)
    resp = _post(
        agent, "/contracts/intentions", project_id=str(gp.project.id), project_name="教学设备",
        budget="2800000", needs_summary="投影仪50台", expected_month="2026-01",
    )  # fmt: skip
    assert "已过" in _flashes(resp)
    resp = _post(
        agent, "/contracts/intentions", project_id=str(world.project.id), project_name="道路",
        budget="2800000", needs_summary="施工", expected_month="2026-06",
    )  # fmt: skip
    assert "政府采购项目" in _flashes(resp)
    resp = _post(
        agent, "/contracts/intentions", project_id="99999999999999", project_name="x",
        budget="1", needs_summary="x", expected_month="2026-06",
    )  # fmt: skip
    assert "请选择项目" in _flashes(resp)
    assert db.session.scalar(select(ProcurementIntention.id)) is None

    # too short: a March intention cannot be public 30 days before its month ends (31 March < 1 April)
    resp = _post(
        agent, "/contracts/intentions", project_id=str(gp.project.id), project_name="教学设备采购",
        budget="2800000", needs_summary="多媒体教学设备一批（投影仪50台）", expected_month="2026-03",
    )  # fmt: skip
    short = db.session.scalar(
        select(ProcurementIntention).where(ProcurementIntention.expected_month == dt.date(2026, 3, 1))
    )
    assert short is not None and short.status == "draft"
    resp = _post(agent, f"/contracts/intentions/{short.id}/publish")
    assert "30日" in _flashes(resp) and "2026-04-01" in _flashes(resp)
    db.session.refresh(short)
    assert short.status == "draft" and short.published_at is None

    # a GP section without any published intention is refused, naming the rule
    section = _section(gp, cst(2026, 4, 27, 9, 30))
    with app.test_request_context():
        _add_document(section)
        checks = {c.code: c for c in projects.publication_checks(section)}
        assert checks["intention"].ok is False and "财库" in checks["intention"].message
        with pytest.raises(DomainError) as refused:
            projects.publish_section(section, actor=world.agent)
        assert "intention" in refused.value.errors

    # an intention for May, published on 2 March
    resp = _post(
        agent, "/contracts/intentions", project_id=str(gp.project.id), project_name="教学设备采购",
        budget="2800000", needs_summary="多媒体教学设备一批（投影仪50台）", expected_month="2026-05",
    )  # fmt: skip
    may = db.session.scalar(
        select(ProcurementIntention).where(ProcurementIntention.expected_month == dt.date(2026, 5, 1))
    )
    assert may is not None
    resp = _post(agent, f"/contracts/intentions/{may.id}/publish")
    assert "已公开" in _flashes(resp)
    assert may.status == "published" and may.published_at == cst(2026, 3, 2)
    assert db.session.scalar(select(AuditLeaf.idx).where(AuditLeaf.action == "contracts:intention:publish"))
    anonymous = app.test_client()
    public = anonymous.get("/portal/intentions").get_data(as_text=True)
    assert "多媒体教学设备一批" in public and "2026年5月" in public
    body = anonymous.get("/api/v1/public/intentions").get_json()
    assert [(i["id"], i["expected_month"], i["budget"]) for i in body] == [(may.id, "2026-05", "2800000.00")]

    # 29 days later the announcement is still refused: 2 March + 30 = 1 April
    clock.freeze(cst(2026, 3, 31, 9))
    section2 = projects.create_section(
        gp.project,
        terms(
            gp,
            docs_available_from=cst(2026, 4, 1, 9),
            docs_available_until=cst(2026, 4, 10, 17),
            bid_deadline=cst(2026, 4, 27, 9, 30),
            name="二标段",
            room_id=None,
            online_only=True,
        ),
        actor=world.agent,
    )
    with app.test_request_context():
        _add_document(section2)
        check = next(c for c in projects.publication_checks(section2) if c.code == "intention")
        assert not check.ok and "2026-04-01" in check.message
        with pytest.raises(DomainError):
            projects.publish_section(section2, actor=world.agent)
    # from 1 April it passes
    clock.freeze(cst(2026, 4, 1, 9))
    with app.test_request_context():
        for user in (gp.staff, gp.regulator, gp.tenderer):
            key = pyrage.x25519.Identity.generate().to_public()
            bidding.register_custodian_key(user, str(key), actor=user)
        check = next(c for c in projects.publication_checks(section2) if c.code == "intention")
        assert check.ok, check.message
        assert projects.publish_section(section2, actor=world.agent).created

    # a withdrawn intention no longer counts; withdrawing needs a reason
    resp = _post(agent, f"/contracts/intentions/{may.id}/withdraw", reason="")
    assert may.status == "published"
    resp = _post(agent, f"/contracts/intentions/{may.id}/withdraw", reason="预算调整")
    assert "已撤回" in _flashes(resp) and may.status == "withdrawn"
    with app.test_request_context():
        check = next(c for c in projects.publication_checks(section) if c.code == "intention")
        assert not check.ok
    assert "多媒体教学设备一批" not in anonymous.get("/portal/intentions").get_data(as_text=True)


def test_intentions_belong_to_their_purchaser(app: Flask, world: World, db_session: Any) -> None:
    gp = procurement_world(
        world, name="南通市某学校教学设备采购", approval_ref="通财购〔2026〕9号", budget=Decimal("3000000")
    )
    with app.test_request_context():
        row = intentions.create_intention(
            gp.project,
            actor=world.agent,
            project_name="教学设备采购",
            budget="100000",
            needs_summary="课桌椅",
            expected_month=dt.date(2026, 9, 1),
        )
    db.session.commit()
    # the owner's own user may act too; a stranger tenderer, a bidder and staff may not
    stranger = signed_in(app, make_user(Role.TENDERER, make_org(OrgKind.TENDERER)))
    assert _post(stranger, f"/contracts/intentions/{row.id}/publish").status_code == 404
    assert row.status == "draft"
    bidder = signed_in(app, make_user(Role.BIDDER))
    assert bidder.get("/contracts/intentions").status_code == 403
    staff = signed_in(app, world.staff)
    assert staff.get("/contracts/intentions").status_code == 403
    owner = signed_in(app, world.tenderer)
    assert "已公开" in _flashes(_post(owner, f"/contracts/intentions/{row.id}/publish"))
    # a works section needs no intention
    with app.test_request_context():
        section = _section(world, dt.datetime(2026, 3, 30, 9, 30, tzinfo=CST))
        assert "intention" not in {c.code for c in projects.publication_checks(section)}
