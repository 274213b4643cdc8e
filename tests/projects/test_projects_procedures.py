"""Procedures beyond open tendering (issue 18 item 3): each government procurement method runs on its own
statutory periods and is refused when they are short; the methods are refused outside government
procurement; invitation tendering needs its approval and at least three invited bidders, and only the invited
obtain the documents and bid."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from app.accounts.models import Organization
from app.core.clock import clock
from app.core.db import db
from app.core.errors import DomainError, Forbidden
from app.core.permissions import OrgKind, Role
from app.projects import rules, services
from app.projects.enums import Procedure
from app.projects.models import Project
from tests.factories import csrf_token, intention_published, login, make_org, make_user
from tests.projects.conftest import World, cst, draft_section, terms


def _gp_project(world: World) -> Project:
    clock.freeze(cst(2026, 3, 1, 9, 0))  # the catalogue in force
    finance = select(Organization).where(Organization.industry == "finance_procurement")
    if db.session.scalar(finance) is None:  # the procurement regulator, once
        make_user(Role.REGULATOR, make_org(OrgKind.REGULATOR, industry="finance_procurement"))
    project = services.register_project(
        services.ProjectInput(
            name="某学校设备采购",
            catalogue_item_id=world.item("ZC-01").id,
            funding_source="财政资金",
            approval_ref="通财采〔2026〕1号",
            budget=Decimal("12000000"),
            owner_org_id=world.owner.id,
        ),
        actor=world.agent,
    )
    services.review_project(project, actor=world.staff, accept=True)
    intention_published(project)  # procurement: the intention was public ≥ 30 days before
    return project


def _gp_section(world: World, procedure: Procedure, deadline: dt.datetime, **kw: Any) -> Any:
    project = _gp_project(world)
    values = terms(
        world,
        procedure=procedure.value,
        docs_available_until=deadline,
        bid_deadline=deadline,
        custodian_ids=[world.staff.id, world.tenderer.id],
        **kw,
    )
    return services.create_section(project, values, actor=world.agent)


def _check(section: Any, code: str) -> rules.RuleCheck:
    checks = {c.code: c for c in services.publication_checks(section, at=cst(2026, 3, 2, 9, 0))}
    return checks[code]


@pytest.mark.parametrize(
    ("procedure", "short", "enough", "basis"),
    [
        # documents out Monday 2026-03-02: 3 working days → Thursday 03-05
        (Procedure.COMPETITIVE_NEGOTIATION, cst(2026, 3, 4), cst(2026, 3, 5), "74号第29条"),
        (Procedure.INQUIRY, cst(2026, 3, 4), cst(2026, 3, 5), "74号第45条"),
        # 10 calendar days → 03-12; the documents are on sale 5 working days (until 03-09 at the earliest)
        (Procedure.COMPETITIVE_CONSULTATION, cst(2026, 3, 11), cst(2026, 3, 12), "214号）第10条"),
        # a single-source notice of 5 working days → Monday 03-09
        (Procedure.SINGLE_SOURCE, cst(2026, 3, 6), cst(2026, 3, 9), "实施条例第38条"),
    ],
)
def test_each_procurement_method_runs_on_its_own_period(
    app: Any, world: World, procedure: Procedure, short: dt.datetime, enough: dt.datetime, basis: str
) -> None:
    with app.test_request_context():
        extra = (
            {"procedure_approval_ref": "通财采批〔2026〕3号"} if procedure is Procedure.SINGLE_SOURCE else {}
        )
        section = _gp_section(world, procedure, short, **extra)
        check = _check(section, "bid_period")
        assert not check.ok and basis in check.message
        assert _check(section, "procedure").ok
        section = _gp_section(world, procedure, enough, **extra)
        assert _check(section, "bid_period").ok and _check(section, "sale_period").ok
        # far shorter than the 20 days an open tender needs
        assert services.rule_set(section).min_bid_days < 20


def test_procurement_methods_are_refused_outside_government_procurement(app: Any, world: World) -> None:
    with app.test_request_context():
        section = draft_section(world, procedure=Procedure.INQUIRY.value)  # a construction project
        check = _check(section, "procedure")
        assert not check.ok and "询价" in check.message and "政府采购" in check.message
        with pytest.raises(DomainError) as refused:
            services.publish_section(section, actor=world.agent)
        assert "procedure" in refused.value.errors
        # and the construction periods still apply to it
        assert services.rule_set(section).min_bid_days == 20


def test_single_source_needs_its_approval(app: Any, world: World) -> None:
    with app.test_request_context():
        section = _gp_section(world, Procedure.SINGLE_SOURCE, cst(2026, 3, 9))
        check = _check(section, "procedure")
        assert not check.ok and "批准" in check.message


def test_invitation_tendering_needs_approval_three_invited_and_admits_only_them(
    app: Any, world: World, client: FlaskClient
) -> None:
    with app.test_request_context():
        invited = [make_org(OrgKind.BIDDER) for _ in range(3)]
        outsider = make_user(Role.BIDDER, make_org(OrgKind.BIDDER))
        guest = make_user(Role.BIDDER, invited[0])
        section = draft_section(
            world, procedure=Procedure.INVITED.value, invited_org_ids=[o.id for o in invited[:2]]
        )
        check = _check(section, "procedure")
        assert not check.ok and "批准" in check.message
        services.update_section(
            section,
            terms(
                world,
                procedure=Procedure.INVITED.value,
                procedure_approval_ref="通发改招〔2026〕7号",
                invited_org_ids=[o.id for o in invited[:2]],
            ),
            actor=world.agent,
        )
        check = _check(section, "procedure")
        assert not check.ok and "不少于 3 家" in check.message and "招标投标法第11、17条" in check.message
        # inviting a company that is not a bidder is refused with the field named
        with pytest.raises(DomainError) as refused:
            services.update_section(
                section,
                terms(world, procedure=Procedure.INVITED.value, invited_org_ids=[world.owner.id]),
                actor=world.agent,
            )
        assert "invited_org_ids" in refused.value.errors
        services.update_section(
            section,
            terms(
                world,
                procedure=Procedure.INVITED.value,
                procedure_approval_ref="通发改招〔2026〕7号",
                invited_org_ids=[o.id for o in invited],
            ),
            actor=world.agent,
        )
        assert _check(section, "procedure").ok
        services.publish_section(section, actor=world.agent)
        clock.freeze(cst(2026, 3, 3, 10, 0))  # during the sale period
        with pytest.raises(Forbidden):
            services.obtain_documents(section, actor=outsider)
        row, created = services.obtain_documents(section, actor=guest)
        assert created and row.bidder_org_id == invited[0].id
        sid = section.id

    # the tenderer's pages name the procedure in words
    login(client, world.agent)
    page = client.get(f"/projects/sections/{sid}").get_data(as_text=True)
    assert "邀请招标" in page and "已邀请 3 家投标人" in page and "通发改招〔2026〕7号" in page
    form = client.get(f"/projects/{world.project.id}/sections/new").get_data(as_text=True)
    assert all(w in form for w in ("公开招标", "邀请招标", "竞争性谈判", "竞争性磋商", "询价", "单一来源"))


def test_the_section_form_saves_the_procedure(client: FlaskClient, world: World, db_session: Any) -> None:
    invited = [make_org(OrgKind.BIDDER) for _ in range(3)]
    login(client, world.agent)
    url = f"/projects/{world.project.id}/sections/new"
    data = {
        "csrf_token": csrf_token(client, url),
        "name": "二标段",
        "estimated_value": "1000000",
        "bid_security": "20000",
        "evaluation_method": "lowest_price",
        "procedure": "invited",
        "procedure_approval_ref": "通发改招〔2026〕8号",
        "invited_org_ids": [str(o.id) for o in invited],
        "panel_size": "5",
        "panel_pool_count": "5",
        "max_envelope_mb": "50",
        "custodian_k": "2",
        "custodians": [str(world.staff.id), str(world.regulator.id)],
        "room": "0",
        "online_only": "y",
    }
    resp = client.post(url, data=data)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:2000]
    section = world.project.sections[-1]
    db_session.refresh(section)
    assert section.procedure == "invited" and sorted(section.invited_org_ids or []) == sorted(
        o.id for o in invited
    )
    assert section.procedure_approval_ref == "通发改招〔2026〕8号"
