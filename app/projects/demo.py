"""Demo data of the projects domain: the trading catalogue in force, opening rooms, and one published tender
per catalogue category (plus a draft that the publish wizard refuses, to show the rule checks).

Called by ``flask demo seed`` (``app.demo``) once the demo organizations and accounts exist. Dates are
computed from the server clock with the statutory helpers, so every publication passes its rules whatever
the day the demo is installed."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable
from decimal import Decimal

from app.accounts.models import Organization, User
from app.core.calendar import load_calendar
from app.core.clock import CST, clock, now
from app.core.db import db

from . import rules, services
from .enums import Category
from .models import CatalogueItem, OpeningRoom, Project, Section

# item code, project, section, owner key, registered by (user), regulator key, funding, budget (yuan)
TENDERS = [
    (
        "GC-01",
        "南通市崇川区实验小学新建工程",
        "施工一标段",
        "tenderer",
        "agent",
        "reg_housing",
        "财政资金",
        "36800000",
    ),
    (
        "ZC-01",
        "南通市政务服务中心办公设备采购",
        "第1包 计算机设备",
        "tenderer",
        "tenderer",
        "reg_finance",
        "财政预算",
        "2450000",
    ),
    (
        "TD-01",
        "崇川区CR26012地块国有建设用地使用权出让",
        "CR26012地块",
        "tenderer",
        "agent",
        "reg_land",
        "出让收入",
        "128000000",
    ),
    (
        "CQ-01",
        "南通市某国有企业40%股权转让",
        "40%股权",
        "tenderer",
        "agent",
        "reg_assets",
        "企业自有",
        "56000000",
    ),
    (
        "QT-01",
        "南通市公共停车场特许经营权",
        "中心城区停车场",
        "tenderer",
        "tenderer",
        "reg_housing",
        "社会资本",
        "8800000",
    ),
]

#: Run by :func:`seed_projects` before any tender is published, with the demo accounts by user name. Other
#: domains whose publish hooks need demo data register here (the bidding domain: the custodians' personal
#: age recipients, without which its opening-key hook refuses the publication).
BEFORE_PUBLISH: list[Callable[[dict[str, User]], None]] = []

ROOMS = [
    ("第一开标室", "交易中心三楼 301"),
    ("第二开标室", "交易中心三楼 302"),
    ("第三开标室", "交易中心三楼 303"),
]


def _at(day: dt.date, hour: int, minute: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=CST).astimezone(dt.UTC)


def _notice(project: Project, section_name: str) -> str:
    return (
        f"{project.name}（{section_name}）招标公告\n"
        "一、项目概况与招标范围\n"
        "二、投标人资格要求\n"
        "三、招标文件的获取：在交易平台登记获取，不收取费用\n"
        "四、投标文件的递交：在投标截止时间前通过平台加密递交\n"
        "五、开标：在线开标，投标人无需到场\n"
    )


def seed_projects(orgs: dict[str, Organization], users: dict[str, User]) -> None:
    """Create the catalogue, rooms and the demo tenders (flushes; the caller commits)."""
    manager, staff = users["manager"], users["staff"]
    version = services.create_catalogue_version(actor=manager, title="南通市公共资源交易目录（2026年版）")
    # The city assigns its parking concessions to the housing and construction bureau: the supervising
    # regulator of a project follows from its item's industry.
    other = next(i for i in version.items if i.code == "QT-01")
    services.save_catalogue_item(
        version,
        actor=manager,
        code=other.code,
        values={**{f: getattr(other, f) for f in services.ITEM_FIELDS}, "industry": "housing_construction"},
    )
    services.open_catalogue_comment(version, actor=manager, days=10)
    # Demo only: the public comment period is placed in the past so the version can be published today.
    version.comment_opens_at = now() - dt.timedelta(days=20)
    version.comment_closes_at = now() - dt.timedelta(days=10)
    db.session.flush()
    services.publish_catalogue_version(version, actor=manager)
    items = {item.code: item for item in version.items}

    for prepare in BEFORE_PUBLISH:
        prepare(users)
    rooms = [services.create_room(actor=staff, name=name, location=where) for name, where in ROOMS]
    calendar = load_calendar()
    regulators = {
        key: next(u for u in users.values() if u.role == "regulator" and u.org_id == org.id)
        for key, org in orgs.items()
        if org.kind == "regulator" and any(u.org_id == org.id for u in users.values())
    }
    first_gc: Project | None = None
    for index, (code, name, section_name, owner, by, reg, funding, budget) in enumerate(TENDERS):
        item = items[code]
        actor = users[by]
        project = services.register_project(
            services.ProjectInput(
                name=name,
                catalogue_item_id=item.id,
                funding_source=funding,
                approval_ref=f"通发改审〔2026〕{101 + index}号",
                budget=Decimal(budget),
                regulator_org_id=orgs[reg].id,
                owner_org_id=orgs[owner].id if actor.organization.kind == "agency" else None,
                region="南通市",
            ),
            actor=actor,
        )
        services.review_project(project, actor=staff, accept=True)
        online = code == "CQ-01"
        room = None if online else rooms[index % len(rooms)]
        section = _publish_section(
            project,
            item,
            section_name,
            actor=actor,
            custodians=[staff, regulators[reg], actor],
            room=room,
            hour=9 if index < len(rooms) else 14,
        )
        if code == "GC-01":
            first_gc = project
            for bidder in ("bidder1", "bidder2", "bidder3"):
                services.obtain_documents(section, actor=users[bidder])
            # 答疑: one question answered with a clarification, one waiting for the tenderer's answer
            answered = services.ask_question(
                section,
                actor=users["bidder2"],
                body="工程量清单第3章中的沥青混凝土面层厚度以哪一份图纸为准？",
            )
            services.answer_questions(
                section,
                actor=actor,
                question_ids=[answered.id],
                answer="以施工图设计文件第S-12页为准，面层厚度为4厘米。",
                affects_bids=False,
            )
            services.ask_question(
                section, actor=users["bidder3"], body="投标文件是否需要提供项目经理的社保缴纳证明？"
            )

    # A draft the publish wizard refuses: its deadline is one day short of the statutory 20 days.
    assert first_gc is not None
    start = now()
    gc = items["GC-01"]
    short = rules.earliest_date(start, gc.min_bid_days - 1, gc.bid_day_unit, calendar)
    draft = services.create_section(
        first_gc,
        services.SectionTerms(
            name="施工二标段（草稿）",
            estimated_value=Decimal("12000000"),
            ceiling_price=Decimal("11800000"),
            bid_security=Decimal("240000"),
            qualification="建筑工程施工总承包二级及以上资质",
            panel_size=5,
            panel_pool_count=4,
            opening_items=["duration", "quality", "project_manager"],
            custodian_ids=[staff.id, regulators["reg_housing"].id, users["agent"].id],
            docs_available_from=start,
            docs_available_until=_at(rules.earliest_date(start, 5, gc.sale_day_unit, calendar), 17, 0),
            bid_deadline=_at(short, 9, 30),
            online_only=True,
            notice_text=_notice(first_gc, "施工二标段"),
        ),
        actor=users["agent"],
    )
    _document(draft, users["agent"])
    _prequalification(first_gc, users, staff=staff, regulator=regulators["reg_housing"])


def _publish_section(
    project: Project,
    item: CatalogueItem,
    name: str,
    *,
    actor: User,
    custodians: list[User],
    room: OpeningRoom | None,
    hour: int,
) -> Section:
    cal = load_calendar()
    start = now()
    sale_end = rules.earliest_date(start, item.min_sale_days, item.sale_day_unit, cal)
    deadline_day = cal.next_workday(
        rules.earliest_date(start, item.min_bid_days, item.bid_day_unit, cal) + dt.timedelta(days=1)
    )
    estimated = (project.budget * Decimal("0.9")).quantize(Decimal("1"))
    section = services.create_section(
        project,
        services.SectionTerms(
            name=name,
            estimated_value=estimated,
            ceiling_price=(estimated * Decimal("0.98")).quantize(Decimal("1")),
            bid_security=min((estimated * Decimal("0.02")).quantize(Decimal("1")), Decimal("800000")),
            qualification="具备独立法人资格；近三年无重大违法记录；满足招标文件规定的资格条件",
            # works: a 10 % 履约保证金 (条例 Art. 58 allows at most that)
            performance_security_pct=Decimal("10")
            if item.category == Category.ENGINEERING_CONSTRUCTION
            else None,
            evaluation_method="comprehensive",
            scoring_criteria=[
                {"name": "投标报价", "weight": 60},
                {"name": "技术方案", "weight": 30},
                {"name": "信誉业绩", "weight": 10},
            ],
            panel_size=5,
            panel_pool_count=4,
            panel_specialties={"技术": 3, "经济": 1},
            opening_items=["duration", "quality"],
            custodian_ids=[u.id for u in custodians],
            docs_available_from=start,
            docs_available_until=_at(sale_end, 17, 0),
            bid_deadline=_at(deadline_day, hour, 30),
            online_only=room is None,
            room_id=room.id if room else None,
            notice_text=_notice(project, name),
        ),
        actor=actor,
    )
    _document(section, actor)
    if item.category == Category.GOVERNMENT_PROCUREMENT:
        _intention_before(project, actor, days=40)
    services.publish_section(section, actor=actor)
    return section


def _intention_before(project: Project, actor: User, *, days: int) -> None:
    """The procurement intention of a government procurement project, published ``days`` days before now
    (财库〔2020〕10号: at least 30 days before the announcement). The clock goes back and returns."""
    from app.contracts import intentions

    announce_month = now().astimezone(CST).date().replace(day=1)
    clock.advance(-dt.timedelta(days=days))
    try:
        intention = intentions.create_intention(
            project,
            actor=actor,
            project_name=project.name,
            budget=project.budget,
            needs_summary=f"{project.name}：货物及相关服务，详见采购需求。",
            expected_month=announce_month,
        )
        intentions.publish_intention(intention, actor=actor)
    finally:
        clock.advance(dt.timedelta(days=days))


def _document(section: Section, actor: User) -> None:
    body = f"{section.project.name}\n{section.name}\n招标文件（示例）\n\n{section.notice_text}".encode()
    services.add_document(
        section,
        actor=actor,
        name="招标文件",
        filename=f"{section.code}-招标文件.txt",
        content_type="text/plain; charset=utf-8",
        stream=io.BytesIO(body),
    )


def _prequalification(project: Project, users: dict[str, User], *, staff: User, regulator: User) -> None:
    """A works section with prequalification (资格预审): its round published today on the statutory periods
    (实施条例 Art. 16, 17), one bidder has applied (the others see nothing of it before the deadline)."""
    from .prequal import services as prequal

    agent, cal, start = users["agent"], load_calendar(), now()
    sale_end = _at(rules.earliest_date(start, 5, "calendar", cal), 17, 0)
    deadline = _at(rules.earliest_date(sale_end, 5, "calendar", cal), 17, 0)
    section = services.create_section(
        project,
        services.SectionTerms(
            name="施工三标段（资格预审）",
            estimated_value=Decimal("15000000"),
            ceiling_price=Decimal("14800000"),
            bid_security=Decimal("300000"),
            qualification="建筑工程施工总承包一级资质；近三年类似工程业绩不少于2项",
            panel_size=5,
            panel_pool_count=4,
            custodian_ids=[staff.id, regulator.id, agent.id],
            online_only=True,
            notice_text=_notice(project, "施工三标段"),
            prequalification=True,
        ),
        actor=agent,
    )
    pq = prequal.start_round(section, actor=agent)
    prequal.update_round(
        pq,
        actor=agent,
        notice_text=f"{project.name}施工三标段资格预审公告\n一、申请人资格要求\n二、资格预审文件的获取\n三、申请文件的递交",
        docs_available_from=start,
        docs_available_until=sale_end,
        application_deadline=deadline,
    )
    prequal.upload_document(
        pq,
        actor=agent,
        filename=f"{section.code}-资格预审文件.txt",
        stream=io.BytesIO("资格预审文件（示例）".encode()),
    )
    prequal.publish_round(pq, actor=agent)
    prequal.apply(
        pq,
        actor=users["bidder1"],
        filename="资格预审申请文件.txt",
        stream=io.BytesIO("申请文件（示例）".encode()),
    )
