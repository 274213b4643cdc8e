"""Fixtures of the expert-pool tests: the specialty table, the parties of one section, and quick expert
factories (the registry rules themselves are tested through the services in test_pool.py)."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from app.accounts.models import Organization, User
from app.core.clock import CST, clock
from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.experts import draws, services, specialties
from app.experts.enums import ExpertStatus
from app.experts.models import Expert
from app.projects.models import CatalogueItem, CatalogueVersion, Project, Section
from tests.factories import PASSWORD, make_org

_HASH: list[str] = []


def quick_user(role: Role, org: Organization) -> User:
    """An account that can sign in with ``PASSWORD`` (and TOTP where the role needs it) without paying for
    a password hash per user."""
    from app.accounts import passwords, totp
    from app.accounts import services as accounts
    from app.core.clock import now
    from app.core.crypto import encrypt_at_rest
    from app.core.permissions import MFA_REQUIRED_ROLES

    if not _HASH:
        _HASH.append(passwords.hash_password(PASSWORD))
    n = next(_seq)
    user = User(
        username=f"x{role.value}{n}",
        display_name=f"Test {role.value} {n}",
        org_id=org.id,
        org_kind=org.kind,
        role=role.value,
        password_hash=_HASH[0],
    )
    if role in MFA_REQUIRED_ROLES:
        user.totp_secret_enc = encrypt_at_rest(totp.new_secret(), purpose=accounts.TOTP_PURPOSE)
        user.totp_enabled_at = now()
    db.session.add(user)
    db.session.flush()
    return user


# Monday 2 March 2026, 09:00 China Standard Time; evaluations are drawn for a few days later.
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=CST)
EVAL = dt.datetime(2026, 3, 5, 9, 0, tzinfo=CST)
_seq = itertools.count(1)


def id_number(n: int, birth: dt.date = dt.date(1975, 6, 15)) -> str:
    return services.id_number_checksum(f"320602{birth:%Y%m%d}{n % 1000:03d}")


def make_section(
    creator: User,
    *,
    owner: Organization,
    agency: Organization | None = None,
    regulator_org: Organization,
    status: str = "published",
) -> Section:
    n = next(_seq)
    version = CatalogueVersion(number=10_000 + n, title=f"目录 {n}", status="draft")
    item = CatalogueItem(
        version=version, code=f"GC-{n}", name="房屋建筑工程", category="engineering_construction"
    )
    project = Project(
        code=f"P-EXP-{n}",
        name=f"测试项目 {n}",
        catalogue_item=item,
        owner_org_id=owner.id,
        agency_org_id=agency.id if agency else None,
        regulator_org_id=regulator_org.id,
        funding_source="财政资金",
        approval_ref="通发改〔2026〕1号",
        budget=Decimal("1000000"),
        created_by=creator.id,
    )
    published = status != "draft"
    section = Section(
        project=project,
        code=f"S{n}",
        name=f"{n} 标段",
        status=status,
        estimated_value=Decimal("900000"),
        ceiling_price=Decimal("880000") if published else None,
        docs_available_from=T0 - dt.timedelta(days=20) if published else None,
        docs_available_until=T0 - dt.timedelta(days=15) if published else None,
        bid_deadline=T0 - dt.timedelta(days=1) if published else None,
        published_at=T0 - dt.timedelta(days=20) if published else None,
        panel_size=5,
        panel_pool_count=5,
        created_by=creator.id,
        cancel_reason="x" if status == "cancelled" else None,
        failed_reason="x" if status == "failed" else None,
    )
    db.session.add_all([version, item, project, section])
    db.session.flush()
    return section


@dataclass
class World:
    center: Organization
    office: Organization
    owner: Organization
    agency: Organization
    regulator_org: Organization
    bidder_org: Organization
    staff: User
    staff2: User
    manager: User
    regulator: User
    tenderer: User
    bidder: User
    section: Section
    employers: list[Organization] = field(default_factory=list)

    def expert(
        self,
        *,
        codes: tuple[str, ...] = ("A010101",),
        employer: Organization | None = None,
        birth: dt.date = dt.date(1975, 6, 15),
        status: ExpertStatus = ExpertStatus.ACTIVE,
        region: str = "南通市",
        user: User | None = None,
        phone: str = "13800000000",
    ) -> Expert:
        n = next(_seq)
        if employer is None:
            employer = make_org(OrgKind.EXPERT_EMPLOYER, name=f"专家单位-{n}")
            self.employers.append(employer)
        expert = Expert(
            status=status.value,
            admitted_at=None if status is ExpertStatus.APPLICANT else T0 - dt.timedelta(days=400),
            specialties=[],
            user_id=user.id if user else None,
        )
        services.apply_data(
            expert,
            services.ExpertData(
                name=f"专家{n}",
                id_number=id_number(n, birth),
                title="高级工程师",
                title_level="senior",
                years_of_practice=12,
                employer_org_id=employer.id,
                region=region,
                specialties=list(codes),
                phone=phone,
            ),
        )
        db.session.add(expert)
        db.session.flush()
        return expert

    def pool(self, n: int, codes: tuple[str, ...] = ("A010101",)) -> list[Expert]:
        return [self.expert(codes=codes) for _ in range(n)]

    def request(self, slots: list[draws.Slot] | None = None, **kw: Any) -> draws.ExpertDraw:
        kw.setdefault("evaluation_starts_at", EVAL)
        kw.setdefault("panel_size", 5)
        return draws.request_draw(
            self.section, slots=slots or [draws.Slot("A0101", 5, 2)], actor=self.staff, **kw
        )


@pytest.fixture
def world(db_session: Any) -> World:
    clock.freeze(T0)
    specialties.ensure_loaded()
    center = make_org(OrgKind.TRADING_CENTER)
    office = make_org(OrgKind.MANAGEMENT_OFFICE)
    owner = make_org(OrgKind.TENDERER)
    agency = make_org(OrgKind.AGENCY)
    regulator_org = make_org(OrgKind.REGULATOR)
    bidder_org = make_org(OrgKind.BIDDER)
    staff = quick_user(Role.CENTER_STAFF, center)
    section = make_section(staff, owner=owner, agency=agency, regulator_org=regulator_org)
    return World(
        center=center,
        office=office,
        owner=owner,
        agency=agency,
        regulator_org=regulator_org,
        bidder_org=bidder_org,
        staff=staff,
        staff2=quick_user(Role.CENTER_STAFF, center),
        manager=quick_user(Role.MANAGER, office),
        regulator=quick_user(Role.REGULATOR, regulator_org),
        tenderer=quick_user(Role.TENDERER, owner),
        bidder=quick_user(Role.BIDDER, bidder_org),
        section=section,
    )


@pytest.fixture
def bidders_of(world: World) -> Any:
    """Register the section's bidders through the provider hook the bidding domain will use."""
    registered: dict[int, set[int]] = {}

    def provider(section: Any) -> set[int]:
        return registered.get(section.id, set())

    services.BIDDER_PROVIDERS.append(provider)
    try:
        yield registered
    finally:
        services.BIDDER_PROVIDERS.remove(provider)
