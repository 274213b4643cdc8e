"""A small world for the complaints tests: the management office, two regulators, a tenderer, bidders and
one construction and one government procurement section (rows written directly)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest

from app.accounts.models import Organization, User
from app.complaints.demo import build_sections
from app.core.clock import CST, clock
from app.core.permissions import OrgKind, Role
from tests.factories import make_org, make_user


def cst(y: int, m: int, d: int, hh: int = 9, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=CST)


# A Monday with no holiday nearby; the sections' bid deadline is 30 days later.
T0 = cst(2026, 3, 2, 9)


@dataclass
class World:
    office: Organization
    housing: Organization
    finance: Organization
    owner: Organization
    manager: User
    manager2: User
    regulator: User
    regulator_b: User
    regulator2: User
    tenderer: User
    bidder: User
    bidder2: User
    section: Any  # construction
    gp_section: Any  # government procurement


@pytest.fixture
def world(db_session: Any) -> World:
    clock.freeze(T0)
    office = make_org(OrgKind.MANAGEMENT_OFFICE)
    housing = make_org(OrgKind.REGULATOR, industry="housing_construction")
    finance = make_org(OrgKind.REGULATOR, industry="finance_procurement")
    owner = make_org(OrgKind.TENDERER)
    tenderer = make_user(Role.TENDERER, owner)
    sections = build_sections(
        owner=owner,
        regulator=housing,
        procurement_regulator=finance,
        creator=tenderer,
        bid_deadline=cst(2026, 4, 1, 9, 30),
        suffix=f"-{owner.id}",
    )
    return World(
        office=office,
        housing=housing,
        finance=finance,
        owner=owner,
        manager=make_user(Role.MANAGER, office),
        manager2=make_user(Role.MANAGER, office),
        regulator=make_user(Role.REGULATOR, housing),
        regulator_b=make_user(Role.REGULATOR, housing),
        regulator2=make_user(Role.REGULATOR, finance),
        tenderer=tenderer,
        bidder=make_user(Role.BIDDER),
        bidder2=make_user(Role.BIDDER),
        section=sections.construction,
        gp_section=sections.procurement,
    )


CONTENT = {
    "subject": "对资格条件的异议",
    "complainant_name": "南通一建集团有限公司",
    "complainant_address": "南通市崇川区工农路1号",
    "complainant_contact": "0513-85000001",
    "respondent_name": "南通市城市建设投资有限公司",
    "respondent_address": "南通市崇川区世纪大道6号",
    "respondent_contact": "0513-85000002",
    "facts": "资格条件设置了与项目无关的特定业绩要求。",
    "claims": "请求责令修改招标文件。",
    "evidence": "招标文件第三章第2.1条。",
}
