"""Fixtures of the projects tests: a published catalogue, the parties of one project, and a helper that
drafts a section that would pass every publication rule at the frozen time."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from app.accounts.models import Organization, User
from app.core.clock import CST, clock
from app.core.permissions import OrgKind, Role
from app.projects import services
from app.projects.models import CatalogueItem, CatalogueVersion, OpeningRoom, Project, Section
from app.projects.seeding import publish_catalogue_at
from tests.factories import intention_published, make_org, make_user

# Monday 2 March 2026, 09:00 China Standard Time.
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=CST)


def cst(y: int, m: int, d: int, h: int = 9, minute: int = 30) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=CST)


@dataclass
class World:
    catalogue: CatalogueVersion
    center: Organization
    owner: Organization
    agency: Organization
    regulator_org: Organization
    manager: User
    staff: User
    regulator: User
    tenderer: User
    agent: User
    room: OpeningRoom
    project: Project

    def item(self, code: str) -> CatalogueItem:
        return next(i for i in self.catalogue.items if i.code == code)


def procurement_world(
    world: World,
    *,
    name: str = "南通市某医院医疗设备采购",
    approval_ref: str = "通财购〔2026〕1号",
    budget: Decimal = Decimal("12000000"),
) -> World:
    """The same parties on a government procurement project supervised by the finance department."""
    finance = make_org(OrgKind.REGULATOR, industry="finance_procurement")
    regulator = make_user(Role.REGULATOR, finance)
    project = services.register_project(
        services.ProjectInput(
            name=name,
            catalogue_item_id=world.item("ZC-01").id,
            funding_source="财政资金",
            approval_ref=approval_ref,
            budget=budget,
            regulator_org_id=finance.id,
            owner_org_id=world.owner.id,
        ),
        actor=world.agent,
    )
    services.review_project(project, actor=world.staff, accept=True)
    return dataclasses.replace(world, project=project, regulator=regulator, regulator_org=finance)


def publish_catalogue(manager: User, *, at: dt.datetime) -> CatalogueVersion:
    return publish_catalogue_at(manager, at)


@pytest.fixture(autouse=True)
def _no_foreign_publish_hooks(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests exercise the publication seam itself; hooks other domains register (the opening-key
    generation of app.bidding) are tested there."""
    monkeypatch.setattr(services, "PUBLISH_HOOKS", [])


@pytest.fixture
def world(db_session: Any) -> World:
    clock.freeze(T0 - dt.timedelta(days=30))  # every record of the world is dated at fixed instants
    manager = make_user(Role.MANAGER)
    catalogue = publish_catalogue(manager, at=T0 - dt.timedelta(days=1))
    center = make_org(OrgKind.TRADING_CENTER)
    owner = make_org(OrgKind.TENDERER)
    agency = make_org(OrgKind.AGENCY)
    regulator_org = make_org(OrgKind.REGULATOR)
    staff = make_user(Role.CENTER_STAFF, center)
    regulator = make_user(Role.REGULATOR, regulator_org)
    tenderer = make_user(Role.TENDERER, owner)
    agent = make_user(Role.TENDERER, agency)
    clock.freeze(T0)
    room = services.create_room(actor=staff, name=f"开标室-{staff.id}")
    item = next(i for i in catalogue.items if i.code == "GC-01")
    project = services.register_project(
        services.ProjectInput(
            name="南通市某道路改造工程",
            catalogue_item_id=item.id,
            funding_source="财政资金",
            approval_ref="通发改〔2026〕1号",
            budget=Decimal("12000000"),
            regulator_org_id=regulator_org.id,
            owner_org_id=owner.id,
        ),
        actor=agent,
    )
    services.review_project(project, actor=staff, accept=True)
    return World(
        catalogue,
        center,
        owner,
        agency,
        regulator_org,
        manager,
        staff,
        regulator,
        tenderer,
        agent,
        room,
        project,
    )


def terms(world: World, **overrides: Any) -> services.SectionTerms:
    values: dict[str, Any] = {
        "name": "一标段",
        "estimated_value": Decimal("10000000"),
        "ceiling_price": Decimal("9800000"),
        "bid_security": Decimal("200000"),
        "qualification": "市政公用工程施工总承包二级及以上",
        "panel_size": 5,
        "panel_pool_count": 4,
        "panel_specialties": {"市政": 3, "造价": 1},
        "opening_items": ["duration", "project_manager"],
        "custodian_k": 2,
        "custodian_ids": [world.staff.id, world.regulator.id, world.tenderer.id],
        "docs_available_from": cst(2026, 3, 2, 9, 0),
        "docs_available_until": cst(2026, 3, 9, 17, 0),
        "bid_deadline": cst(2026, 3, 23, 9, 30),
        "room_id": world.room.id,
        "notice_text": "一、项目概况\n二、投标人资格要求\n三、招标文件的获取\n",
    }
    values.update(overrides)
    return services.SectionTerms(**values)


def draft_section(
    world: World, *, actor: User | None = None, document: bool = True, **overrides: Any
) -> Section:
    intention_published(world.project)
    section = services.create_section(world.project, terms(world, **overrides), actor=actor or world.agent)
    if document:
        services.add_document(
            section,
            actor=actor or world.agent,
            name="招标文件",
            filename="tender.pdf",
            content_type="application/pdf",
            stream=io.BytesIO(b"%PDF-1.4 tender documents"),
        )
    return section
