"""Two demo trades run through the real services, in the past (the demo clock is moved back and returned):

* **a recusal with a replacement draw** — a construction section whose panel (4 pool experts and 1 tenderer
  representative) is drawn before the opening; the registry knows that one drawn expert worked for a
  bidder until last year, so the opening recuses that expert with the reason recorded and — no backup left
  — a supplementary round is frozen, witnessed by the regulator and its expert invited; the tenderer names
  its representative. The section waits for the panel to sign in.
* **a government procurement section through to its contract** — the same steps to the result
  announcement, then the signed contract uploaded and published within 2 working days, and an amendment;
  both procurement projects published their procurement intentions 40 days before their announcements
  (财库〔2020〕10号);
* **a government procurement section with a result announcement and a challenge after it** — bids,
  opening, a 5-expert panel that scores and reports, the purchaser's result announcement
  (中标/成交结果公告, the award), then a losing supplier's challenge (质疑) to the result, pending: the
  contract waits for it.

Bids are sealed to each section's opening recipient and signed with a key registered for the purpose;
the custodians' shares are opened with the demo identities in ``instance/demo-keys/`` (written by the
bidding domain's demo hook). Without those files (a partial seed) nothing is created here.

Runs last in ``flask demo seed`` and commits as it goes: uploads and the opening commit by design.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyrage
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import current_app

from app.accounts.models import Organization, User
from app.core.calendar import load_calendar
from app.core.clock import CST, clock, now
from app.core.db import db
from app.projects import rules
from app.projects import services as projects
from app.projects.enums import Category
from app.projects.models import Project, Section

SEED_BIDS = {"bidder1": "1175000.00", "bidder2": "1162000.00", "bidder3": "1149000.00"}
WORKS_BIDS = {"bidder1": "9860000.00", "bidder2": "9790000.00", "bidder3": "9815000.00"}


@contextmanager
def _time_travel() -> Iterator[Any]:
    """Move business time with ``go(instant)``; on leaving, back to where it was."""
    moved = dt.timedelta(0)

    def go(instant: dt.datetime) -> None:
        nonlocal moved
        delta = instant - now()
        clock.advance(delta)
        moved += delta

    try:
        yield go
    finally:
        clock.advance(-moved)


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=CST).astimezone(dt.UTC)


def _keys_dir() -> Path:
    return Path(current_app.config["INSTANCE_PATH"]) / "demo-keys"


def _identity(username: str) -> pyrage.x25519.Identity | None:
    path = _keys_dir() / f"{username}.age-identity.txt"
    if not path.exists():
        return None
    return pyrage.x25519.Identity.from_str(path.read_text().strip())


def _publish(
    *,
    item_code: str,
    project_name: str,
    section_name: str,
    actor: User,
    owner: Organization | None,
    regulator: User,
    staff: User,
    tenderer: User,
    panel: tuple[int, int],
    budget: str,
    project: Project | None = None,
) -> Section:
    catalogue = projects.current_catalogue()
    assert catalogue is not None
    item = next(i for i in catalogue.items if i.code == item_code)
    if project is None:
        project = _register(item_code, project_name, actor=actor, owner=owner, regulator=regulator,
                            staff=staff, budget=budget)  # fmt: skip
    cal = load_calendar()
    start = now()
    sale_end = rules.earliest_date(start, item.min_sale_days, item.sale_day_unit, cal)
    deadline = cal.next_workday(
        rules.earliest_date(start, item.min_bid_days, item.bid_day_unit, cal) + dt.timedelta(days=1)
    )
    estimated = (Decimal(budget) * Decimal("0.9")).quantize(Decimal("1"))
    section = projects.create_section(
        project,
        projects.SectionTerms(
            name=section_name,
            estimated_value=estimated,
            ceiling_price=(estimated * Decimal("0.98")).quantize(Decimal("1")),
            bid_security=min((estimated * Decimal("0.02")).quantize(Decimal("1")), Decimal("800000")),
            qualification="具备独立法人资格；近三年无重大违法记录",
            evaluation_method="lowest_price",
            panel_size=panel[0],
            panel_pool_count=panel[1],
            opening_items=["duration", "quality"],
            custodian_ids=[staff.id, regulator.id, tenderer.id],
            docs_available_from=start,
            docs_available_until=_at(sale_end, 17),
            bid_deadline=_at(deadline, 9, 30),
            online_only=True,
            notice_text=f"{project_name}（{section_name}）招标公告\n在线开标。\n",
            # government procurement of goods: small and micro enterprises 10 % off (财库〔2020〕46号第9条)
            sme_deduction_rate=Decimal("10") if item.category == Category.GOVERNMENT_PROCUREMENT else None,
        ),
        actor=actor,
    )
    projects.add_document(
        section,
        actor=actor,
        name="招标文件",
        filename=f"{section.code}-招标文件.txt",
        content_type="text/plain; charset=utf-8",
        stream=io.BytesIO(f"{project_name}\n{section_name}\n招标文件（示例）".encode()),
    )
    projects.publish_section(section, actor=actor)
    db.session.commit()
    return section


def _register(
    item_code: str,
    project_name: str,
    *,
    actor: User,
    owner: Organization | None,
    regulator: User,
    staff: User,
    budget: str,
) -> Project:
    catalogue = projects.current_catalogue()
    assert catalogue is not None
    item = next(i for i in catalogue.items if i.code == item_code)
    project: Project = projects.register_project(
        projects.ProjectInput(
            name=project_name,
            catalogue_item_id=item.id,
            funding_source="财政资金",
            approval_ref="通发改审〔2026〕209号",
            budget=Decimal(budget),
            regulator_org_id=regulator.org_id,
            owner_org_id=owner.id if owner is not None else None,
            region="南通市",
        ),
        actor=actor,
    )
    projects.review_project(project, actor=staff, accept=True)
    return project


def _procurement_projects(users: dict[str, User], announce_at: dt.datetime) -> dict[str, Project]:
    """The government procurement projects of the demo trades, registered with their procurement intentions
    published now — at least 30 days before their tender announcements (财库〔2020〕10号)."""
    from app.contracts import intentions

    staff, regulator, tenderer = users["staff"], users["regulator2"], users["tenderer"]
    month = announce_at.astimezone(CST).date().replace(day=1)
    out = {}
    for key, name, budget, needs in (
        ("lab", "南通市中医院检验设备采购", "1300000", "全自动生化分析仪1台，含安装调试、培训及三年质保。"),
        ("desks", "南通市实验小学课桌椅采购", "1300000", "学生课桌椅600套、教师讲台20张，含送货安装。"),
    ):
        project = _register("ZC-01", name, actor=tenderer, owner=None, regulator=regulator, staff=staff,
                            budget=budget)  # fmt: skip
        intention = intentions.create_intention(
            project,
            actor=tenderer,
            project_name=name,
            budget=budget,
            needs_summary=needs,
            expected_month=month,
        )
        intentions.publish_intention(intention, actor=tenderer)
        out[key] = project
    db.session.commit()
    return out


def _bid(section: Section, bidder: User, key: Ed25519PrivateKey, key_id: str, price: str) -> None:
    """Seal the summary to the section's recipient, sign it and submit it through the upload service."""
    from app.bidding import signing, uploads

    body = {"section_id": section.id, "price": price, "duration": 180, "quality": "合格"}
    recipient = pyrage.x25519.Recipient.from_str(section.opening_recipient or "")
    data = pyrage.encrypt(json.dumps(body, ensure_ascii=False).encode(), [recipient])
    import hashlib

    statement = signing.envelope_statement(hashlib.sha256(data).hexdigest(), section.id, "summary")
    request = uploads.UploadRequest(
        section_id=section.id,
        kind="summary",
        name="",
        signature_b64=base64.b64encode(key.sign(statement)).decode(),
        key_id=key_id,
        source_ip="127.0.0.1",
        user_agent="demo",
    )
    prepared = uploads.prepare(request, actor=bidder)
    assert isinstance(prepared, uploads.Prepared)
    db.session.commit()  # the upload service streams outside any transaction
    staged = uploads.stage_stream(io.BytesIO(data).readinto, prepared.max_bytes, content_length=len(data))
    uploads.commit(prepared, staged, actor=bidder)


def _bidders(users: dict[str, User]) -> dict[str, tuple[User, Ed25519PrivateKey, str]]:
    """A signing key per demo bidder, registered for these trades."""
    from app.bidding import services as bidding
    from app.bidding import signing

    out = {}
    for name in SEED_BIDS:
        user = users[name]
        key = Ed25519PrivateKey.generate()
        row = bidding.register_bidder_key(
            user.organization,
            base64.b64encode(signing.raw_public(key.public_key())).decode(),
            actor=user,
            label="演示交易",
        )
        out[name] = (user, key, row.key_id)
    return out


def _open(section: Section, custodians: list[tuple[User, pyrage.x25519.Identity]], staff: User) -> None:
    from app.bidding import opening

    ceremony = opening.start_ceremony(section.id, actor=staff)
    for user, identity in custodians:
        share = opening.custodian_share(section.id, user)
        assert share is not None
        mnemonic = pyrage.decrypt(share.ciphertext, [identity]).decode()
        opening.submit_share(section.id, mnemonic, actor=user)
    assert opening.run_opening(ceremony.id, actor=staff) is not None
    db.session.refresh(section)


def seed_trades(users: dict[str, User]) -> list[str]:
    """Run both demo trades; returns the sign-in lines of the drawn experts' accounts."""
    needed = ("staff", "manager", "regulator", "regulator2", "tenderer", "agent", *SEED_BIDS)
    if any(n not in users for n in needed):
        return []
    custodian_ids = {n: _identity(n) for n in ("staff", "regulator", "regulator2")}
    if any(i is None for i in custodian_ids.values()):
        return []
    db.session.commit()  # what the seed made so far: the uploads and the opening commit on their own
    lines: list[str] = []
    real = now()
    with _time_travel() as go:
        go(real - dt.timedelta(days=80))
        gp_projects = _procurement_projects(users, real - dt.timedelta(days=40))
        go(real - dt.timedelta(days=45))
        bidders = _bidders(users)
        lines += _recusal_trade(users, bidders, custodian_ids, go)
        go(real - dt.timedelta(days=40))
        lines += _procurement_trade(users, bidders, custodian_ids, go, gp_projects["lab"])
        go(real - dt.timedelta(days=38))
        lines += _contract_trade(users, bidders, custodian_ids, go, gp_projects["desks"])
    db.session.commit()
    return lines


def _recusal_trade(
    users: dict[str, User], bidders: dict[str, Any], identities: dict[str, Any], go: Any
) -> list[str]:
    from app.experts import draws, employment
    from app.experts.enums import SeatStatus

    from . import panel
    from .demo import link_panel_accounts

    staff, regulator, tenderer, agent = users["staff"], users["regulator"], users["tenderer"], users["agent"]
    section = _publish(
        item_code="GC-01",
        project_name="南通市第二中学体育馆改造工程",
        section_name="施工标段",
        actor=agent,
        owner=tenderer.organization,
        regulator=regulator,
        staff=staff,
        tenderer=tenderer,
        panel=(5, 4),
        budget="11500000",
    )
    go(now() + dt.timedelta(days=1))
    for name, (user, key, key_id) in bidders.items():
        _bid(section, user, key, key_id, WORKS_BIDS[name])
    assert section.bid_deadline is not None
    deadline = section.bid_deadline
    # the panel is drawn the day before the opening, while the bidders are still secret
    go(deadline - dt.timedelta(days=1))
    evaluation_at = _at(
        load_calendar().next_workday(deadline.astimezone(CST).date() + dt.timedelta(days=1)), 9
    )
    draw = draws.request_draw(
        section, slots=[draws.Slot("A", 4, 0)], evaluation_starts_at=evaluation_at, panel_size=5, actor=staff
    )
    draws.witness(draw, "演示 骰子 3 5 2 6 1", actor=regulator)
    lines = link_panel_accounts(section, confirm=True)
    # the registry knows that one drawn expert was the project manager of a bidder until last year
    tied = next(s for s in draw.seats if s.status == SeatStatus.CONFIRMED)
    employment.add(
        tied.expert,
        org=users["bidder1"].organization,
        starts_on=(now() - dt.timedelta(days=5 * 365)).date(),
        ends_on=(now() - dt.timedelta(days=300)).date(),
        note="项目经理",
        actor=users["manager"],
    )
    db.session.commit()
    # the opening: the tied expert is recused, and with no backup left a supplementary round is frozen
    go(deadline + dt.timedelta(minutes=5))
    _open(section, [(staff, identities["staff"]), (regulator, identities["regulator"])], staff)
    db.session.refresh(draw)
    go(deadline + dt.timedelta(hours=2))
    draws.witness(draw, "演示 补抽 4 4 1 6 2", actor=regulator)
    lines += link_panel_accounts(section, confirm=True)
    panel.name_representative(section, tenderer, actor=tenderer)
    db.session.commit()
    return lines


def _procurement_trade(
    users: dict[str, User], bidders: dict[str, Any], identities: dict[str, Any], go: Any, project: Project
) -> list[str]:
    from app.complaints import services as complaints
    from app.complaints.enums import CaseKind, Matter

    section, lines = _procurement_result(users, bidders, identities, go, project, "第1包 生化分析仪")
    # two days later a losing supplier challenges the result: pending, the contract waits for it
    go(now() + dt.timedelta(days=2))
    challenger = users["bidder1"]
    case = complaints.save_draft(
        CaseKind.OBJECTION,
        complaints.CaseInput(
            section_id=section.id,
            matter=Matter.RESULTS.value,
            content={
                "subject": "对成交结果的质疑",
                "facts": "成交供应商所投产品的检测速度不满足采购文件第三章技术参数第5项的实质性要求。",
                "claims": "请求重新审查成交供应商的响应文件，依法确定成交结果。",
            },
        ),
        actor=challenger,
    )
    complaints.submit_objection(case, actor=challenger)
    db.session.commit()
    return lines


def _contract_trade(
    users: dict[str, User], bidders: dict[str, Any], identities: dict[str, Any], go: Any, project: Project
) -> list[str]:
    """A government procurement section through to its contract: signed three days after the result
    announcement, uploaded and published the next working day (条例 Art. 50), then one amendment."""
    from app.contracts import services as contracts

    section, lines = _procurement_result(users, bidders, identities, go, project, "第1包 学生课桌椅")
    tenderer = users["tenderer"]
    cal = load_calendar()
    go(_at(cal.next_workday(now().astimezone(CST).date() + dt.timedelta(days=3)), 10))
    contract = contracts.upload_contract(
        section,
        actor=tenderer,
        stream=io.BytesIO(_demo_pdf("南通市实验小学课桌椅采购合同")),
        filename="课桌椅采购合同.pdf",
        amount="1149000.00",
        title="南通市实验小学课桌椅采购合同",
    )
    db.session.commit()
    go(_at(cal.next_workday(now().astimezone(CST).date() + dt.timedelta(days=1)), 9))
    contracts.publish_contract(contract, actor=tenderer)
    db.session.commit()
    go(now() + dt.timedelta(days=5))
    contracts.record_amendment(
        contract,
        actor=tenderer,
        summary="追加同型号学生课桌椅30套（政府采购法第49条，未超过原合同金额的百分之十）。",
        amount_after="1206450.00",
        stream=io.BytesIO(_demo_pdf("补充合同（一）")),
        filename="补充合同一.pdf",
    )
    db.session.commit()
    return lines


def _demo_pdf(title: str) -> bytes:
    """A minimal one-page PDF standing for the scanned signed contract."""
    text = title.encode("unicode_escape").decode()
    return (
        "%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        "2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
        f"% {text}\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    ).encode()


def _procurement_result(
    users: dict[str, User],
    bidders: dict[str, Any],
    identities: dict[str, Any],
    go: Any,
    project: Project,
    section_name: str,
) -> tuple[Section, list[str]]:
    """Publish, bid, open, evaluate and announce the result of a section of a registered procurement
    project."""
    from app.experts import draws

    from . import procurement, services
    from .demo import link_panel_accounts

    staff, regulator, tenderer = users["staff"], users["regulator2"], users["tenderer"]
    section = _publish(
        project=project,
        item_code="ZC-01",
        project_name=project.name,
        section_name=section_name,
        actor=tenderer,
        owner=None,
        regulator=regulator,
        staff=staff,
        tenderer=tenderer,
        panel=(5, 5),
        budget="1300000",
    )
    go(now() + dt.timedelta(days=1))
    for name, (user, key, key_id) in bidders.items():
        _bid(section, user, key, key_id, SEED_BIDS[name])
    assert section.bid_deadline is not None
    deadline = section.bid_deadline
    go(deadline + dt.timedelta(minutes=5))
    _open(section, [(staff, identities["staff"]), (regulator, identities["regulator2"])], staff)
    evaluation_at = deadline + dt.timedelta(hours=2)
    draw = draws.request_draw(
        section, slots=[draws.Slot("B", 5, 1)], evaluation_starts_at=evaluation_at, panel_size=5, actor=staff
    )
    draws.witness(draw, "演示 骰子 6 2 5 1 3", actor=regulator)
    lines = link_panel_accounts(section, confirm=True)
    db.session.commit()

    go(evaluation_at)
    db.session.refresh(draw)
    members = [u for s in services._confirmed_seats(draw) if (u := db.session.get(User, s.expert.user_id))]
    for user in members:
        services.sign_in(section, actor=user, conflict=False)
    ev = services.evaluation_for(section)
    assert ev is not None
    for user in members:
        member = services.member_of(ev, user)
        assert member is not None
        services.save_scores(
            member, actor=user, qualification={b.org_id: (True, "") for b in services.bids_of(section)}
        )
        services.submit(member, actor=user)
    leader = next(u for u in members if services.is_leader(ev, services.member_of(ev, u)))
    services.draw_up_report(ev, actor=leader)
    for user in members:
        member = services.member_of(ev, user)
        assert member is not None
        services.decide(member, actor=user, sign=True)
    services.close_report(ev, actor=leader)
    db.session.commit()

    # the next working day the purchaser confirms the supplier and publishes the result announcement
    go(_at(load_calendar().next_workday(now().astimezone(CST).date() + dt.timedelta(days=1)), 10))
    procurement.announce_result(ev, actor=tenderer, rank=1)
    db.session.commit()
    return section, lines
