"""Demo expert pool: a few hundred experts across specialties, employed by some twenty organizations,
generated from a fixed random seed so every demo city looks the same; the demo expert account is linked
to one of them, and one draw waits for a regulator's witness."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select

from app.accounts import services as accounts
from app.accounts.models import Organization, User
from app.core.clock import now, to_local
from app.core.db import db
from app.core.errors import DomainError
from app.core.permissions import OrgKind

from . import draws, services, specialties
from .enums import ExpertStatus, TitleLevel
from .models import Expert, ExpertStatusChange

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁任沈姚卢"
)
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建国志红玉兰春梅海波宁晓东亮斌雪峰琳"
EMPLOYERS = [
    "南通大学",
    "江苏工程职业技术学院",
    "南通职业大学",
    "南通市建筑设计研究院有限公司",
    "南通市市政设计院有限公司",
    "江苏省第二建筑设计研究院南通分院",
    "南通市交通规划设计院",
    "南通市水利勘测设计研究院有限公司",
    "南通市第一人民医院",
    "南通大学附属医院",
    "南通市建设工程造价咨询有限公司",
    "江苏天衡会计师事务所南通分所",
    "南通市信息中心",
    "南通市环境监测中心站",
    "南通市城乡规划设计院",
    "江苏南通律师事务所",
    "南通市建设工程质量监督站",
    "南通市电力设计院有限公司",
    "南通市勘察测绘院",
    "如皋市建筑设计院",
]
TITLES = {
    TitleLevel.PROFESSOR: ["教授级高级工程师", "教授", "主任医师", "正高级会计师"],
    TitleLevel.SENIOR: ["高级工程师", "副教授", "高级经济师", "高级会计师", "副主任医师"],
}


def seed_experts(orgs: dict[str, Organization], users: dict[str, User], *, count: int = 300) -> list[Expert]:
    """Create the demo pool (deterministic); returns the experts created."""
    rng = random.Random(20261126)
    specialties.ensure_loaded()
    leaf_codes = [s.code for s in specialties.options(leaf_only=True)]
    employers = []
    for name in EMPLOYERS:
        org = db.session.scalar(select(Organization).where(Organization.name == name))
        employers.append(
            org or accounts.create_organization(name, OrgKind.EXPERT_EMPLOYER, actor=None, region="南通市")
        )
    expert_user = users.get("expert")
    today = to_local(now()).date()  # Beijing time: the UTC date is yesterday before 08:00
    created: list[Expert] = []
    for n in range(count):
        birth = dt.date(rng.randint(1956, 1985), rng.randint(1, 12), rng.randint(1, 28))
        first17 = f"3206{rng.choice(['01', '02', '11', '12', '81', '82', '84'])}{birth:%Y%m%d}{n % 1000:03d}"
        level = rng.choice([TitleLevel.PROFESSOR, TitleLevel.SENIOR, TitleLevel.SENIOR])
        codes = rng.sample(leaf_codes, rng.choice([1, 1, 2, 3]))
        status = rng.choices(
            [ExpertStatus.ACTIVE, ExpertStatus.APPLICANT, ExpertStatus.SUSPENDED], weights=[90, 6, 4]
        )[0]
        employer = employers[0] if n == 0 and expert_user is not None else rng.choice(employers)
        expert = Expert(
            status=status.value,
            admitted_at=None
            if status is ExpertStatus.APPLICANT
            else now() - dt.timedelta(days=rng.randint(30, 3000)),
            status_reason="demo: credit score below threshold" if status is ExpertStatus.SUSPENDED else None,
            credit_score=rng.randint(55, 59) if status is ExpertStatus.SUSPENDED else rng.randint(80, 100),
            specialties=[],
        )
        services.apply_data(
            expert,
            services.ExpertData(
                name=rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice([1, 2]))),
                id_number=services.id_number_checksum(first17),
                title=rng.choice(TITLES[level]),
                title_level=level.value,
                years_of_practice=max(8, min(45, today.year - birth.year - 24 - rng.randint(0, 6))),
                employer_org_id=employer.id,
                region="南通市"
                if rng.random() < 0.85
                else rng.choice(["苏州市", "扬州市", "泰州市", "盐城市"]),
                specialties=codes,
                phone=f"1{rng.choice('3589')}{rng.randint(0, 999_999_999):09d}",
                email=f"expert{n:03d}@example.cn",
            ),
        )
        if n == 0 and expert_user is not None:
            expert.user_id = expert_user.id
            expert.region = "南通市"
        db.session.add(expert)
        created.append(expert)
    db.session.flush()  # ids for the history rows and leave calendars
    for expert in created:
        db.session.add(
            ExpertStatusChange(expert_id=expert.id, to_status=expert.status, reason="演示数据：入库")
        )
        if rng.random() < 0.05:
            start = today + dt.timedelta(days=rng.randint(0, 20))
            services.add_leave(
                expert, start, start + dt.timedelta(days=rng.randint(0, 7)), "演示数据：请假", actor=None
            )
    _demo_draw(users)
    return created


def _demo_draw(users: dict[str, User]) -> None:
    """One draw of a published demo section, frozen and committed, waiting for the regulator."""
    from app.projects.models import Section

    staff = users.get("staff")
    section = db.session.scalar(select(Section).where(Section.status == "published").order_by(Section.id))
    if staff is None or section is None:
        return
    starts = max(section.bid_deadline or now(), now()) + dt.timedelta(days=1)
    try:
        with db.session.begin_nested():
            draws.request_draw(
                section,
                slots=[draws.Slot("A01", 4, 2), draws.Slot("A06", 1, 1)],
                evaluation_starts_at=starts,
                panel_size=section.panel_size if section.panel_size >= 5 else 5,
                actor=staff,
            )
    except DomainError:
        return  # the demo composition does not fit this section; staff can request one in the UI
