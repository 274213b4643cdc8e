"""Demo cases of every type in several states (``seed_cases``, called by ``flask demo seed``).

When the demo has no tender sections yet (the projects demo seeds its own when it exists), a small
construction project and a government procurement project are created here directly, so the cases have
something to be about.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from app.accounts import services as accounts
from app.accounts.models import Organization, User
from app.core.clock import clock, now
from app.core.db import db
from app.core.permissions import OrgKind, Role

from . import routing, services
from .enums import CaseKind, Matter, PauseReason


@dataclass
class DemoSections:
    construction: Any
    procurement: Any


def build_sections(
    *,
    owner: Organization,
    regulator: Organization,
    procurement_regulator: Organization,
    creator: User,
    bid_deadline: dt.datetime,
    status: str = "published",
    suffix: str = "",
) -> DemoSections:
    """A catalogue (construction + government procurement items), one project of each and one section each.
    Rows are written directly (not through the publication wizard): demo and test scaffolding only."""
    from app.projects.models import CatalogueItem, CatalogueVersion, Project, Section
    from app.projects.services.registration import _next_project_code

    at = now()
    version = db.session.scalar(select(CatalogueVersion).where(CatalogueVersion.status == "published"))
    if version is None:
        number = (
            db.session.scalar(select(CatalogueVersion.number).order_by(CatalogueVersion.number.desc())) or 0
        ) + 1
        version = CatalogueVersion(
            number=number,
            title="交易目录",
            status="published",
            comment_opens_at=at,
            comment_closes_at=at + dt.timedelta(days=1),
            published_at=at,
        )
        db.session.add(version)
        db.session.flush()
    items = {}
    for code, name, category, industry, lead in (
        ("CX-GC", "房屋建筑和市政工程施工", "engineering_construction", regulator.industry, 10),
        ("CX-CG", "政府采购货物和服务", "government_procurement", procurement_regulator.industry, None),
    ):
        item = db.session.scalar(
            select(CatalogueItem).where(
                CatalogueItem.version_id == version.id, CatalogueItem.category == category
            )
        )
        if item is None:
            item = CatalogueItem(
                version_id=version.id,
                code=code + suffix,
                name=name,
                category=category,
                industry=industry,
                objection_lead_days=lead,
                objection_day_unit="calendar" if lead else "working",
            )
            db.session.add(item)
            db.session.flush()
        items[category] = item
    sections = []
    for category, reg, pname in (
        ("engineering_construction", regulator, "南通市文峰路道路改造工程"),
        ("government_procurement", procurement_regulator, "南通市第一人民医院医疗设备采购"),
    ):
        # Codes as the platform gives them (GC2026-0004, its section GC2026-0004-01), never a random suffix.
        project = Project(
            code=_next_project_code(items[category]),
            name=pname,
            catalogue_item_id=items[category].id,
            owner_org_id=owner.id,
            regulator_org_id=reg.id,
            funding_source="财政资金",
            approval_ref="通发改〔2026〕8号",
            budget=Decimal("9000000"),
            status="accepted",
            reviewed_at=at,
            created_by=creator.id,
        )
        db.session.add(project)
        db.session.flush()
        section = Section(
            project_id=project.id,
            code=f"{project.code}-01",
            name=f"{pname}（一标段）",
            status=status,
            estimated_value=Decimal("8000000"),
            ceiling_price=Decimal("8000000"),
            bid_security=Decimal("80000"),
            docs_available_from=bid_deadline - dt.timedelta(days=25),
            docs_available_until=bid_deadline - dt.timedelta(days=18),
            bid_deadline=bid_deadline,
            published_at=at,
            published_by=creator.id,
            created_by=creator.id,
            online_only=True,
        )
        db.session.add(section)
        sections.append(section)
    db.session.flush()
    return DemoSections(sections[0], sections[1])


def _org(kind: OrgKind, industry: str | None = None) -> Organization | None:
    stmt = select(Organization).where(Organization.kind == kind.value).order_by(Organization.id)
    if industry:
        stmt = stmt.where(Organization.industry == industry)
    return db.session.scalar(stmt)


def _user(username: str) -> User | None:
    return db.session.scalar(select(User).where(User.username == username))


def _backup(org: Organization, role: Role, username: str, name: str) -> User:
    """A colleague to be the backup handler (B角); signs in only after a password reset by the sysadmin."""
    user = _user(username)
    if user is None:
        user = accounts.create_user(
            username=username,
            display_name=name,
            organization=org,
            role=role,
            password="demo-" + secrets.token_urlsafe(24),
            actor=None,
        )
    return user


def seed_cases() -> None:
    """Cases of every type in several states, over the demo city created by ``app.demo.seed``."""
    office = _org(OrgKind.MANAGEMENT_OFFICE)
    housing = _org(OrgKind.REGULATOR, "housing_construction")
    finance = _org(OrgKind.REGULATOR, "finance_procurement")
    manager, regulator, regulator2 = _user("manager"), _user("regulator"), _user("regulator2")
    tenderer, bidder1, bidder2, bidder3 = (
        _user("tenderer"),
        _user("bidder1"),
        _user("bidder2"),
        _user("bidder3"),
    )
    if None in (
        office,
        housing,
        finance,
        manager,
        regulator,
        regulator2,
        tenderer,
        bidder1,
        bidder2,
        bidder3,
    ):
        return
    assert office and housing and finance and manager and regulator and regulator2
    assert tenderer and bidder1 and bidder2 and bidder3
    manager_b = _backup(office, Role.MANAGER, "manager_b", "陆芳（公管办）")
    regulator_b = _backup(housing, Role.REGULATOR, "regulator_b", "钱进（住建局）")
    routing.set_department_head(housing, regulator, actor=None)
    routing.set_department_head(office, manager, actor=None)

    # The story starts two days ago and ends now: no case event is dated in the future.
    clock.advance(dt.timedelta(days=-2))
    start = now()
    sections = build_sections(
        owner=tenderer.organization,
        regulator=housing,
        procurement_regulator=finance,
        creator=tenderer,
        bid_deadline=start + dt.timedelta(days=30),
    )
    gc, gp = sections.construction, sections.procurement

    def content(**kw: str) -> dict[str, str]:
        base = {
            "subject": kw.pop("subject"),
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
        base.update(kw)
        return base

    # objections: one pending (section suspended), one answered; a procurement challenge
    pending = services.save_draft(
        CaseKind.OBJECTION,
        services.CaseInput(
            section_id=gc.id, matter=Matter.DOCUMENTS.value, content=content(subject="对资格条件的异议")
        ),
        actor=bidder2,
    )
    services.submit_objection(pending, actor=bidder2)
    answered = services.save_draft(
        CaseKind.OBJECTION,
        services.CaseInput(
            section_id=gc.id, matter=Matter.DOCUMENTS.value, content=content(subject="对评标办法的异议")
        ),
        actor=bidder1,
    )
    services.submit_objection(answered, actor=bidder1)
    challenge = services.save_draft(
        CaseKind.OBJECTION,
        services.CaseInput(
            section_id=gp.id,
            matter=Matter.DOCUMENTS.value,
            knew_at=start - dt.timedelta(days=1),
            content=content(subject="对技术参数指向性的质疑"),
        ),
        actor=bidder3,
    )
    services.submit_objection(challenge, actor=bidder3)

    # two days pass (back to the present): answers, then complaints on the answered objection
    clock.advance(dt.timedelta(days=2))
    services.answer_objection(answered, actor=tenderer, answer="评标办法符合法律规定，异议不成立。")
    complaint = services.save_draft(
        CaseKind.COMPLAINT,
        services.CaseInput(
            section_id=gc.id,
            matter=Matter.DOCUMENTS.value,
            knew_at=now() - dt.timedelta(days=3),
            prior_objection_id=answered.id,
            content=content(subject="对评标办法的投诉"),
        ),
        actor=bidder1,
    )
    services.submit_complaint(complaint, actor=bidder1)
    routing.receive(complaint, actor=regulator)
    routing.assign(complaint, actor=regulator, primary=regulator, backup=regulator_b)
    services.accept_complaint(complaint, actor=regulator)
    services.start_investigation(complaint, actor=regulator, suspend=False)
    services.pause_clock(complaint, actor=regulator, reason=PauseReason.EXPERT_REVIEW, note="专家复核")
    services.post_message(complaint, actor=bidder1, body="补充证据见附件说明。")
    services.post_message(complaint, actor=regulator, body="已组织专家复核。", audience="parties")

    # a draft that failed validation is kept
    services.save_draft(
        CaseKind.COMPLAINT,
        services.CaseInput(
            section_id=gc.id, matter=Matter.OTHER.value, content={"subject": "草稿：对开标时间的投诉"}
        ),
        actor=bidder2,
    )

    # a decided and published complaint on another matter (results), rejected
    decided = services.save_draft(
        CaseKind.COMPLAINT,
        services.CaseInput(
            section_id=gc.id,
            matter=Matter.OTHER.value,
            knew_at=now() - dt.timedelta(days=1),
            content=content(subject="对代理机构收费的投诉", complainant_name="江苏华建建设股份有限公司"),
        ),
        actor=bidder2,
    )
    services.submit_complaint(decided, actor=bidder2)
    services.accept_complaint(decided, actor=regulator)
    services.decide_complaint(
        decided,
        services.DecisionInput(
            upheld=False,
            decision="经查，代理服务费按招标文件约定收取，投诉缺乏事实依据，予以驳回。联系人电话13800000000。",
            groundless=True,
        ),
        actor=regulator,
    )
    services.publish_decision(decided, actor=regulator)

    # reports: one received, one forwarded and assigned, one answered
    services.file_report(
        services.ReportInput(subject="开标现场疑似围标", facts="多家投标人的联系人为同一人。")
    )
    forwarded, _code = services.file_report(
        services.ReportInput(
            subject="评标专家收受好处",
            facts="某专家评标前与投标人私下接触。",
            anonymous=False,
            reporter_name="王先生",
            reporter_contact="13900000000",
        )
    )
    routing.forward(forwarded, actor=manager, to_org=housing, note="属住建行业监管")
    routing.assign(forwarded, actor=regulator, primary=regulator, backup=regulator_b)
    done, _code2 = services.file_report(
        services.ReportInput(subject="交易中心窗口服务态度", facts="窗口人员推诿。")
    )
    routing.assign(done, actor=manager, primary=manager, backup=manager_b)
    services.answer_report(done, actor=manager, answer="已约谈相关人员并责令整改。")
    services.close_case(done, actor=manager)

    # a complaint received ten days ago and never accepted: overdue on the regulator's desk
    clock.advance(dt.timedelta(days=-10))
    try:
        late = services.save_draft(
            CaseKind.COMPLAINT,
            services.CaseInput(
                section_id=gc.id,
                matter=Matter.OTHER.value,
                knew_at=now() - dt.timedelta(days=1),
                content=content(subject="对开标时间变更的投诉", complainant_name="南通四建集团有限公司"),
            ),
            actor=bidder3,
        )
        services.submit_complaint(late, actor=bidder3)
    finally:
        clock.advance(dt.timedelta(days=10))
    routing.tick()
