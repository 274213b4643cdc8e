"""Fixtures of the portal tests: a catalogue in force, two accepted projects in different categories and
regions, and a helper that publishes a section through the projects services (the real publication path,
audit leaf included)."""

from __future__ import annotations

import datetime as dt
import io
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from app.accounts.models import Organization, User
from app.core.clock import CST, clock
from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.projects import services
from app.projects.models import CatalogueVersion, OpeningRoom, Project, Section
from tests.factories import intention_published, make_org, make_user

# Monday 2 March 2026, 09:00 China Standard Time.
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=CST)
_n = itertools.count(1)


def cst(y: int, m: int, d: int, h: int = 9, minute: int = 30) -> dt.datetime:
    return dt.datetime(y, m, d, h, minute, tzinfo=CST)


@dataclass
class Portal:
    catalogue: CatalogueVersion
    owner: Organization
    agency: Organization
    staff: User
    regulator: User
    tenderer: User
    agent: User
    room: OpeningRoom
    works: Project  # engineering construction, 崇川区
    goods: Project  # government procurement, 海门区
    procurement_regulator: User  # the goods project's regulator (finance), from the catalogue's industry

    def terms(self, **overrides: Any) -> services.SectionTerms:
        values: dict[str, Any] = {
            "name": "一标段",
            "estimated_value": Decimal("10000000"),
            "ceiling_price": Decimal("9800000"),
            "bid_security": Decimal("200000"),
            "qualification": "市政公用工程施工总承包二级及以上",
            "panel_size": 5,
            "panel_pool_count": 4,
            "panel_specialties": {"市政": 3, "造价": 1},
            "opening_items": ["duration"],
            "custodian_k": 2,
            "custodian_ids": [self.staff.id, self.regulator.id, self.tenderer.id],  # works; goods below
            "docs_available_from": cst(2026, 3, 2, 9, 0),
            "docs_available_until": cst(2026, 3, 9, 17, 0),
            "bid_deadline": cst(2026, 3, 23, 9, 30),
            "online_only": True,
            "room_id": None,
            "notice_text": "一、项目概况\n二、投标人资格要求\n三、招标文件的获取\n",
        }
        values.update(overrides)
        return services.SectionTerms(**values)

    def draft(
        self, project: Project | None = None, *, document: bytes = b"%PDF-1.4 tender", **kw: Any
    ) -> Section:
        project = project or self.works
        if project is self.goods and "custodian_ids" not in kw:
            kw["custodian_ids"] = [self.staff.id, self.procurement_regulator.id, self.tenderer.id]
        # create_section numbers from len(project.sections); reload it (see the report to app/projects).
        db.session.expire(project, ["sections"])
        intention_published(project)
        section = services.create_section(project, self.terms(**kw), actor=self.agent)
        services.add_document(
            section,
            actor=self.agent,
            name="招标文件",
            filename="tender.pdf",
            content_type="application/pdf",
            stream=io.BytesIO(document),
        )
        return section

    def publish(self, project: Project | None = None, **kw: Any) -> Section:
        section = self.draft(project, **kw)
        result = services.publish_section(section, actor=self.agent)
        assert result.created
        return result.section


def _catalogue(manager: User) -> CatalogueVersion:
    clock.freeze(T0 - dt.timedelta(days=4))
    version = services.create_catalogue_version(actor=manager, title="2026 交易目录")
    services.open_catalogue_comment(version, actor=manager, days=1)
    clock.freeze(T0 - dt.timedelta(days=1))
    return services.publish_catalogue_version(version, actor=manager)


def _project(portal_parts: dict[str, Any], code: str, name: str, region: str) -> Project:
    item = next(i for i in portal_parts["catalogue"].items if i.code == code)
    project = services.register_project(
        services.ProjectInput(
            name=name,
            catalogue_item_id=item.id,
            funding_source="财政资金",
            approval_ref=f"通发改〔2026〕{next(_n)}号",
            budget=Decimal("12000000"),
            owner_org_id=portal_parts["owner"].id,
            region=region,
        ),
        actor=portal_parts["agent"],
    )
    services.review_project(project, actor=portal_parts["staff"], accept=True)
    return project


@pytest.fixture(autouse=True)
def _fresh_page_cache() -> None:
    """Each test's database is rolled back; pages cached by an earlier test must not be served."""
    from app.portal import cache

    cache.clear()


def _register_custodian_keys(users: list[User]) -> None:
    """The sealed-bids domain's publish hook splits the opening key among the custodians' age recipients."""
    try:
        from app.bidding.services import register_custodian_key
    except ImportError:  # the sealed-bids domain is not installed: no publish hook needs keys
        return
    from pyrage import x25519

    for user in users:
        register_custodian_key(user, str(x25519.Identity.generate().to_public()), actor=user)


@pytest.fixture
def portal(db_session: Any) -> Portal:
    manager = make_user(Role.MANAGER)
    catalogue = _catalogue(manager)
    center = make_org(OrgKind.TRADING_CENTER)
    owner = make_org(OrgKind.TENDERER, name=f"南通市城市建设投资有限公司-{next(_n)}")
    agency = make_org(OrgKind.AGENCY, name=f"江苏某招标代理有限公司-{next(_n)}")
    regulator_org = make_org(OrgKind.REGULATOR)
    staff = make_user(Role.CENTER_STAFF, center)
    regulator = make_user(Role.REGULATOR, regulator_org)
    finance = make_user(Role.REGULATOR, make_org(OrgKind.REGULATOR, industry="finance_procurement"))
    tenderer = make_user(Role.TENDERER, owner)
    agent = make_user(Role.TENDERER, agency)
    clock.freeze(T0)
    _register_custodian_keys([staff, regulator, finance, tenderer])
    room = services.create_room(actor=staff, name=f"开标室-{next(_n)}")
    parts = {
        "catalogue": catalogue,
        "regulator_org": regulator_org,
        "owner": owner,
        "agent": agent,
        "staff": staff,
    }
    works = _project(parts, "GC-01", "南通市某道路改造工程", "崇川区")
    goods = _project(parts, "ZC-01", "海门区教育局教学设备采购", "海门区")
    return Portal(catalogue, owner, agency, staff, regulator, tenderer, agent, room, works, goods, finance)
