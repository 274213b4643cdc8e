"""Fixtures of the evaluation tests: a section published, bid, opened (k custodian shares) and given a
witnessed, confirmed panel through the real services of the projects, bidding and experts domains."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.accounts.models import User
from app.bidding import opening
from app.core.clock import clock, now
from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.evaluation import services
from app.evaluation.models import Evaluation, PanelMember
from app.experts import draws, specialties
from app.experts import services as experts
from app.experts.enums import ExpertStatus, SeatStatus
from app.experts.models import Expert, ExpertDraw
from app.projects.models import Section
from tests.bidding.conftest import DEADLINE, T0, Tender, after_deadline, publish_tender, upload
from tests.experts.conftest import id_number, quick_user
from tests.factories import make_org
from tests.projects.conftest import World
from tests.projects.conftest import world as world

EVAL = DEADLINE + dt.timedelta(days=1)
COMPREHENSIVE = [
    {"name": "technical", "weight": "50"},
    {"name": "commercial", "weight": "20"},
    {"name": "price", "weight": "30"},
]
_seq = itertools.count(500)


@pytest.fixture(autouse=True)
def _own_blob_dir(app: Flask, tmp_path: Any) -> Any:
    """Files do not roll back with the test transaction: every test gets its own BLOB_DIR."""
    previous = app.config["BLOB_DIR"]
    app.config["BLOB_DIR"] = str(tmp_path / "blobs")
    yield
    app.config["BLOB_DIR"] = previous


@dataclass
class Trade:
    app: Flask
    tender: Tender
    draw: ExpertDraw | None = None
    experts: dict[int, User] = field(default_factory=dict)  # expert id → user

    @property
    def world(self) -> World:
        return self.tender.world

    @property
    def section(self) -> Section:
        section = db.session.get(Section, self.tender.section.id)
        assert section is not None
        return section

    def evaluation(self) -> Evaluation:
        ev = services.evaluation_for(self.section)
        assert ev is not None
        return ev

    def panel_users(self) -> list[User]:
        """Users of the confirmed seats, in seat order."""
        assert self.draw is not None
        db.session.refresh(self.draw)
        return [self._user_of(s) for s in services._confirmed_seats(self.draw)]

    def _user_of(self, seat: Any) -> User:
        user = db.session.get(User, seat.expert.user_id)
        assert user is not None
        return user

    def member(self, user: User) -> PanelMember:
        m = services.member_of(self.evaluation(), user)
        assert m is not None
        return m

    def confirm_invited(self) -> None:
        assert self.draw is not None
        db.session.refresh(self.draw)
        for seat in list(self.draw.seats):
            if seat.status == SeatStatus.INVITED:
                draws.respond(seat, accept=True, actor=self._user_of(seat))


def make_expert(code: str = "A010101") -> tuple[Expert, User]:
    n = next(_seq)
    employer = make_org(OrgKind.EXPERT_EMPLOYER, name=f"评标专家单位-{n}")
    user = quick_user(Role.EXPERT, employer)
    expert = Expert(
        status=ExpertStatus.ACTIVE.value,
        admitted_at=T0 - dt.timedelta(days=400),
        specialties=[],
        user_id=user.id,
    )
    experts.apply_data(
        expert,
        experts.ExpertData(
            name=f"专家{n}",
            id_number=id_number(n),
            title="高级工程师",
            title_level="senior",
            years_of_practice=12,
            employer_org_id=employer.id,
            region="南通市",
            specialties=[code],
            phone="13800000000",
        ),
    )
    db.session.add(expert)
    db.session.flush()
    return expert, user


def open_trade(
    app: Flask,
    client: FlaskClient,
    world: World,
    prices: list[str],
    *,
    method: str = "lowest_price",
    panel: int = 5,
    backups: int = 2,
    pool: int | None = None,
    declared: list[dict[str, Any]] | None = None,
    before_deadline: Callable[[Tender], None] | None = None,
    **overrides: Any,
) -> Trade:
    """Publish, bid (sealed to the section's recipient), pass the deadline, open with k shares, draw and
    confirm a panel (``pool`` experts of ``panel`` members; all of them by default); the clock ends at the
    evaluation time. ``declared``: extra summary items per bidder (e.g. ``sme_size``); ``before_deadline``
    runs once the bids are in (e.g. paying the bid securities)."""
    clock.freeze(T0)
    if method == "comprehensive":
        overrides.setdefault("scoring_criteria", COMPREHENSIVE)
    with app.test_request_context():
        tender = publish_tender(world, bidders=len(prices), evaluation_method=method, **overrides)
    extras = declared or [{} for _ in prices]
    for bidder, price, extra in zip(tender.bidders, prices, extras, strict=True):
        assert upload(client, tender, bidder, tender.summary(price, **extra)).status_code == 201
        data = tender.seal(f"technical proposal of {bidder.org.name}".encode() * 100)
        assert upload(client, tender, bidder, data, kind="document", name="tech.pdf").status_code == 201
        clock.advance(dt.timedelta(seconds=1))
    if before_deadline is not None:
        before_deadline(tender)
    after_deadline()
    with app.test_request_context():
        ceremony = opening.start_ceremony(tender.section.id, actor=world.staff)
        for custodian in tender.custodians[:2]:
            _, quorum = opening.submit_share(tender.section.id, tender.mnemonic(custodian), actor=custodian)
        assert quorum
        assert opening.run_opening(ceremony.id, actor=world.staff) is not None
    trade = Trade(app, tender)
    assert trade.section.status == "opened"
    with app.test_request_context():
        specialties.ensure_loaded()
        for _ in range(panel + backups + 2):
            expert, user = make_expert()
            trade.experts[expert.id] = user
        trade.draw = draws.request_draw(
            trade.section,
            slots=[draws.Slot("A0101", pool or panel, backups)],
            evaluation_starts_at=EVAL,
            actor=world.staff,
            panel_size=panel,
        )
        draws.witness(trade.draw, "314159-dice", actor=world.regulator)
        trade.confirm_invited()
    clock.freeze(EVAL)
    return trade


def sign_in_all(trade: Trade) -> list[User]:
    users = trade.panel_users()
    with trade.app.test_request_context():
        for user in users:
            services.sign_in(trade.section, actor=user, conflict=False)
    return users


def score_lowest(trade: Trade, users: list[User], *, fail: dict[int, str] | None = None) -> None:
    """Everyone passes every bidder, except ``fail`` (org id → reason) failed by every member."""
    fail = fail or {}
    with trade.app.test_request_context():
        bids = services.bids_of(trade.section)
        for user in users:
            member = trade.member(user)
            quals = {b.org_id: (b.org_id not in fail, fail.get(b.org_id, "")) for b in bids}
            services.save_scores(member, actor=user, qualification=quals)
            services.submit(member, actor=user)


def close_report(trade: Trade, users: list[User]) -> Evaluation:
    ev = trade.evaluation()
    leader = next(u for u in users if services.is_leader(ev, services.member_of(ev, u)))
    with trade.app.test_request_context():
        services.draw_up_report(ev, actor=leader)
        for user in users:
            services.decide(trade.member(user), actor=user, sign=True)
        services.close_report(ev, actor=leader)
    return ev


def publicity_details(ev: Evaluation) -> dict[int, Any]:
    """What the tenderer adds per candidate to the publicity (发改委令第10号 Art. 6(2), 6(3))."""
    from app.evaluation.endings import CandidateDetails

    return {
        c.rank: CandidateDetails(
            project_manager=f"项目经理{c.rank}",
            pm_certificate=f"一级建造师 苏132{c.org_id:06d}",
            qualifications="市政公用工程施工总承包二级",
        )
        for c in ev.candidates
    }


def publicity_form(ev: Evaluation) -> dict[str, str]:
    """The same, as the manage page's form fields."""
    out: dict[str, str] = {}
    for rank, d in publicity_details(ev).items():
        out |= {
            f"project_manager_{rank}": d.project_manager,
            f"pm_certificate_{rank}": d.pm_certificate,
            f"qualifications_{rank}": d.qualifications,
        }
    return out


def publish(trade: Trade) -> Evaluation:
    """The agency publishes the candidates of the closed report."""
    ev = trade.evaluation()
    with trade.app.test_request_context():
        services.publish_candidates(ev, actor=trade.world.agent, details=publicity_details(ev))
    return ev


def to_publicity(
    app: Flask, client: FlaskClient, world: World, prices: list[str], **score: Any
) -> tuple[Trade, list[User]]:
    """A trade through opening, sign-in, scoring (``score`` goes to :func:`score_lowest`), the closed
    report and the published candidates."""
    trade = open_trade(app, client, world, prices)
    users = sign_in_all(trade)
    score_lowest(trade, users, **score)
    close_report(trade, users)
    publish(trade)
    return trade, users


def award_after_publicity(trade: Trade, rank: int = 1, reason: str = "") -> Evaluation:
    """Let the publicity run out, then award."""
    ev = trade.evaluation()
    assert ev.publicity_ends_at is not None
    if now() < ev.publicity_ends_at:
        clock.freeze(ev.publicity_ends_at + dt.timedelta(minutes=1))
    with trade.app.test_request_context():
        services.award(ev, actor=trade.world.agent, rank=rank, reason=reason)
    return ev


def uphold(trade: Trade, remedy: Any, *, by: int = 0, decision: str = "投诉成立。") -> Any:
    """A bidder complains (matter "other"), the regulator accepts and upholds it with ``remedy`` — through
    the real services of the complaints domain."""
    from app.complaints import services as complaints
    from app.complaints.enums import CaseKind
    from tests.complaints.conftest import CONTENT

    bidder = trade.tender.bidders[by].user
    with trade.app.test_request_context():
        case = complaints.save_draft(
            CaseKind.COMPLAINT,
            complaints.CaseInput(
                section_id=trade.section.id, matter="other", knew_at=now(), content=dict(CONTENT)
            ),
            actor=bidder,
        )
        complaints.submit_complaint(case, actor=bidder)
        complaints.accept_complaint(case, actor=trade.world.regulator)
        complaints.decide_complaint(
            case,
            complaints.DecisionInput(upheld=True, decision=decision, remedy=remedy),
            actor=trade.world.regulator,
        )
    return case


__all__ = [
    "COMPREHENSIVE",
    "EVAL",
    "Trade",
    "award_after_publicity",
    "close_report",
    "open_trade",
    "publicity_details",
    "publicity_form",
    "publish",
    "score_lowest",
    "sign_in_all",
    "to_publicity",
    "uphold",
]
