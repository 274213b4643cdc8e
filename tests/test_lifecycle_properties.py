"""Property-based lifecycle test (issue 9 item 5): a Hypothesis state machine drives one section through
random sequences of publish, amend, submit, withdraw, deadline, suspend/resume, open (k-of-n shares, real
decryption), draw, evaluate, objections and award — through the real services and the test client — and
checks after every step:

* nothing opens (no ceremony starts, no share is taken, no record is published) before the bid deadline or
  while the section is suspended; no section state changes while it is suspended;
* no envelope is accepted at or after the deadline (and every one accepted before it while open is stored);
* before the opening nobody but the bidder itself can tell who bid: other bidders, the tenderer, its agency
  and the regulator see nothing through the visibility functions, the API or the public pages; the audit
  leaves of submissions name no bidder;
* the audit log verifies (``app.core.audit.verify_log``) at the end of every example.

The world (parties, bidders with keys and tokens, the expert pool) is built once per test; each example
runs inside a SAVEPOINT of the test's transaction that is rolled back afterwards, with the clock reset.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from app.bidding import opening, uploads
from app.bidding import permissions as bidding_permissions
from app.bidding.enums import EntryStatus, EnvelopeKind
from app.bidding.models import OpeningCeremony, SealedEnvelope
from app.complaints import services as complaints
from app.complaints.enums import CaseKind
from app.core import audit, audit_sealing
from app.core.clock import clock, now
from app.core.db import db
from app.core.errors import DomainError
from app.core.models import AuditLeaf
from app.evaluation import services as evaluation
from app.experts import draws, specialties
from app.projects import services as projects
from app.projects.enums import SectionStatus
from app.projects.models import Section, SectionStatusChange
from tests.bidding.conftest import T0, Bidder, Tender, make_bidder, publish_tender, upload
from tests.evaluation.conftest import (
    Trade,
    close_report,
    make_expert,
    publicity_details,
    score_lowest,
    sign_in_all,
)
from tests.projects.conftest import World
from tests.projects.conftest import world as world

S = SectionStatus
PRICES = ["9500000", "9400000", "9300000"]
PANEL, BACKUPS = 5, 2
#: States after the opening record is out (nothing sealed is left) and the terminal ones.
OPENED = {S.OPENED, S.EVALUATING, S.PUBLICITY, S.AWARDED, S.ARCHIVED}
ENDED = {S.AWARDED, S.FAILED, S.CANCELLED, S.ARCHIVED}
#: How far along the happy path an example starts (then random steps follow).
STAGES = ["published", "bids_in", "opened", "evaluated", "publicity"]
#: Clock moves the machine may make.
STEPS = [
    dt.timedelta(minutes=1),
    dt.timedelta(hours=3),
    dt.timedelta(days=1),
    dt.timedelta(days=4),
]


@pytest.fixture(autouse=True)
def _own_blob_dir(app: Flask, tmp_path: Any) -> Any:
    """Files do not roll back with the test transaction: this test gets its own BLOB_DIR."""
    previous = app.config["BLOB_DIR"]
    app.config["BLOB_DIR"] = str(tmp_path / "blobs")
    yield
    app.config["BLOB_DIR"] = previous


class Lifecycle(RuleBasedStateMachine):
    """One section per example. The model keeps only what the services must agree with: the suspension
    flag, which bidders hold an active summary, the objections pending."""

    app: Flask
    client: FlaskClient
    world: World
    bidders: list[Bidder]
    experts: dict[int, Any]
    reached: Counter[str]

    def __init__(self) -> None:
        super().__init__()
        db.session.commit()  # the world (and the previous example's rollback) is settled before the savepoint
        self._savepoint = db.session.get_bind().begin_nested()  # type: ignore[union-attr]
        clock.freeze(T0)
        self.first_leaf = audit.tree_size()
        self.tender: Tender | None = None
        self.trade: Trade | None = None
        self.suspended = False
        self.summaries: set[int] = set()  # org ids with an active summary envelope
        self.bidding_orgs: set[int] = set()  # org ids with any active (receipted) envelope
        self.pending: list[Any] = []  # objections awaiting an answer

    # -- plumbing --------------------------------------------------------------------------------------------

    @property
    def section(self) -> Section:
        assert self.tender is not None
        section = db.session.get(Section, self.tender.section.id)
        assert section is not None
        return section

    @property
    def status(self) -> SectionStatus:
        return S(self.section.status)

    def attempt(self, fn: Any, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
        """One request's worth of work: committed on success, rolled back on a refusal (as the views do)."""
        db.session.commit()
        with self.app.test_request_context():
            try:
                result = fn(*args, **kwargs)
            except DomainError as err:
                db.session.rollback()
                return False, err
            db.session.commit()
        return True, result

    def move_to(self, at: dt.datetime) -> None:
        """Time only moves forward."""
        clock.freeze(max(now(), at))

    def bidding_open(self) -> bool:
        section = self.section
        assert section.bid_deadline is not None
        return self.status is S.PUBLISHED and not self.suspended and now() < section.bid_deadline

    def bidding_phase(self) -> bool:
        """Published and before the deadline (suspended or not)."""
        return self.tender is not None and self.status is S.PUBLISHED and not self.after_deadline()

    def after_deadline(self) -> bool:
        deadline = self.section.bid_deadline
        return deadline is not None and now() >= deadline

    def note(self) -> None:
        self.suspended = bool(self.section.suspended)

    # -- publish, amend --------------------------------------------------------------------------------------

    @initialize(stage=st.sampled_from(STAGES))
    def publish(self, stage: str) -> None:
        """Publish the section, then walk the happy path through the same steps as the rules up to
        ``stage``, so the random steps that follow start from every phase of the trade."""
        with self.app.test_request_context():
            tender = publish_tender(self.world, bidders=0)
        tender.bidders = list(self.bidders)
        db.session.commit()
        self.tender = tender
        assert self.status is S.PUBLISHED and self.section.opening_recipient
        depth = STAGES.index(stage)
        if depth >= 1:
            self.submit("all", "summary")
            self.submit(0, "document")
        if depth >= 2:
            self.advance(1)
            self.open_section(2, 0)
            self.draw()
            assert self.status is S.OPENED and self.trade is not None
        if depth >= 3:
            self.evaluate()
        if depth >= 4:
            self.publish_candidates()
            assert self.status is S.PUBLICITY

    @precondition(lambda self: self.bidding_phase())
    @rule(affects_bids=st.booleans())
    def amend(self, affects_bids: bool) -> None:
        before = self.section.bid_deadline
        assert before is not None
        was_open = self.bidding_open()
        ok, result = self.attempt(
            projects.publish_amendment,
            self.section,
            actor=self.world.agent,
            title="澄清",
            body="补充说明",
            affects_bids=affects_bids,
        )
        assert ok == was_open, result
        after = self.section.bid_deadline
        assert after is not None and after >= before  # a deadline only ever moves later
        if ok and after != before:
            assert affects_bids and after - now() >= dt.timedelta(days=14)

    # -- bidding ---------------------------------------------------------------------------------------------

    def _submit(self, bidder: Bidder, kind: str) -> None:
        assert self.tender is not None
        expected = self.bidding_open()
        at = now()
        if kind == EnvelopeKind.SUMMARY:
            data = self.tender.summary(PRICES[self.bidders.index(bidder)])
            resp = upload(self.client, self.tender, bidder, data)
        else:
            data = self.tender.seal(f"technical proposal of {bidder.org.name}".encode())
            resp = upload(self.client, self.tender, bidder, data, kind="document", name="tech.pdf")
        db.session.rollback()  # the request ended its own transaction; read afresh
        assert (resp.status_code == 201) == expected, (resp.status_code, resp.get_json())
        if resp.status_code == 201:
            assert at < (self.section.bid_deadline or at)
            self.bidding_orgs.add(bidder.org.id)
            if kind == EnvelopeKind.SUMMARY:
                self.summaries.add(bidder.org.id)
        else:
            assert resp.status_code in {404, 409, 422}, resp.status_code
        self.check_api_confidentiality()

    @precondition(lambda self: self.bidding_phase())
    @rule(who=st.sampled_from([0, 1, 2, "all"]), kind=st.sampled_from(["summary", "document"]))
    def submit(self, who: int | str, kind: str) -> None:
        """One envelope of one bidder, or the summaries of all three."""
        if who == "all":
            for bidder in self.bidders:
                self._submit(bidder, EnvelopeKind.SUMMARY.value)
        else:
            assert isinstance(who, int)
            self._submit(self.bidders[who], kind)

    @precondition(
        lambda self: (
            self.tender is not None
            and not self.bidding_phase()
            and self.status in {S.PUBLISHED, S.BIDDING_CLOSED, S.OPENING, S.OPENED}
        )
    )
    @rule(who=st.integers(0, 2))
    def submit_late(self, who: int) -> None:
        """At or after the deadline, or once bidding closed, in any later state: always refused."""
        self._submit(self.bidders[who], EnvelopeKind.SUMMARY.value)
        self.withdraw(who)

    @precondition(lambda self: self.bidding_phase())
    @rule(who=st.integers(0, 2))
    def withdraw_bid(self, who: int) -> None:
        self.withdraw(who)

    def withdraw(self, who: int) -> None:
        bidder = self.bidders[who]
        expected = self.bidding_open()
        resp = self.client.post(
            f"/api/v1/bidding/sections/{self.section.id}/withdraw", headers=bidder.headers()
        )
        db.session.rollback()
        assert (resp.status_code == 200) == expected, (resp.status_code, resp.get_json())
        if resp.status_code == 200:
            self.summaries.discard(bidder.org.id)
            self.bidding_orgs.discard(bidder.org.id)
            assert uploads.own_envelopes(self.section.id, bidder.org.id, history=False) == []
        self.check_api_confidentiality()

    # -- time, suspension ------------------------------------------------------------------------------------

    @precondition(lambda self: self.tender is not None)
    @rule(step=st.sampled_from([*STEPS, -1, 0, 1]))
    def advance(self, step: dt.timedelta | int) -> None:
        """Move the clock on, or (an int) to one minute before, exactly at, or one minute after the current
        deadline (never backwards)."""
        if isinstance(step, dt.timedelta):
            clock.advance(step)
        else:
            deadline = self.section.bid_deadline
            assert deadline is not None
            self.move_to(deadline + dt.timedelta(minutes=step))

    @precondition(lambda self: self.tender is not None and self.status is S.PUBLISHED)
    @rule()
    def deadline_job(self) -> None:
        expected = not self.suspended and self.after_deadline()
        ok, closed = self.attempt(projects.close_due_sections)
        assert ok
        assert (self.section.id in [s.id for s in closed]) == expected
        if expected:
            assert self.status is S.BIDDING_CLOSED

    @precondition(lambda self: self.tender is not None and self.status not in ENDED)
    @rule()
    def suspend_or_resume(self) -> None:
        """The regulator suspends a trade in progress, or resumes it."""
        if self.suspended:
            ok, result = self.attempt(projects.resume_section, self.section, actor=self.world.regulator)
            # an objection awaiting its answer holds the suspension, against the regulator too (条例 22, 54)
            assert ok == (not self.pending), result
            self.note()
            assert self.suspended == bool(self.pending)
        else:
            ok, result = self.attempt(
                projects.suspend_section, self.section, actor=self.world.regulator, reason="监督检查"
            )
            assert ok, result
            self.note()
            assert self.suspended

    # -- objections ------------------------------------------------------------------------------------------

    def _object(self, matter: str, who: int) -> tuple[bool, Any]:
        bidder = self.bidders[who]

        def file() -> Any:
            case = complaints.save_draft(
                CaseKind.OBJECTION,
                complaints.CaseInput(
                    section_id=self.section.id,
                    matter=matter,
                    content={"subject": "异议", "facts": "事实与理由", "claims": "请求"},
                ),
                actor=bidder.user,
            )
            return complaints.submit_objection(case, actor=bidder.user)

        was_suspended = self.suspended
        ok, case = self.attempt(file)
        if ok:
            self.pending.append(case.id)
            # a pending objection on the documents or the results suspends the section (条例 22, 54)
            assert self.section.suspended
            assert self.status in ({S.PUBLISHED} if matter == "documents" else {S.PUBLICITY})
        else:
            assert self.section.suspended == was_suspended
        self.note()
        return ok, case

    @precondition(lambda self: self.bidding_phase())
    @rule(who=st.integers(0, 2))
    def object_to_documents(self, who: int) -> None:
        self._object("documents", who)

    @precondition(lambda self: self.tender is not None and self.status is S.PUBLICITY)
    @rule(who=st.integers(0, 2))
    def object_to_results(self, who: int) -> None:
        ok, _case = self._object("results", who)
        ev = evaluation.evaluation_for(self.section)
        assert ev is not None and ev.publicity_ends_at is not None
        assert ok == (now() < ev.publicity_ends_at), (
            "objections to results are taken inside the publicity only"
        )

    @precondition(lambda self: bool(self.pending))
    @rule()
    def answer_objection(self) -> None:
        from app.complaints.models import Case

        case = db.session.get(Case, self.pending.pop(0))
        assert case is not None
        ok, result = self.attempt(complaints.answer_objection, case, actor=self.world.agent, answer="已答复")
        assert ok, result
        self.note()

    # -- opening ---------------------------------------------------------------------------------------------

    def start_opening(self) -> None:
        section_id = self.section.id
        live = opening.live_ceremony(section_id)
        expected = self.after_deadline() and not self.suspended and live is None
        ok, result = self.attempt(opening.start_ceremony, section_id, actor=self.world.staff)
        assert ok == expected, (result, self.suspended, self.after_deadline())
        self.note()
        if ok:
            # fewer than 3 bidders with a receipted envelope: counted, never opened (法 28, 条例 44)
            counted = len(self.bidding_orgs)
            assert self.status is (S.OPENING if counted >= opening.MIN_VALID_BIDS else S.FAILED), counted
            if counted < opening.MIN_VALID_BIDS:
                assert result.status == "not_opened" and result.bidder_count == counted
                assert opening.completed_ceremony(self.section) is None

    def submit_share(self, who: int) -> None:
        """A custodian's share; at the quorum the opening runs (as the share view does)."""
        assert self.tender is not None
        custodian = self.tender.custodians[who]
        section_id = self.section.id
        collecting = db.session.scalar(
            select(OpeningCeremony).where(
                OpeningCeremony.section_id == section_id, OpeningCeremony.status == "collecting"
            )
        )
        mine = opening.custodian_share(section_id, custodian)
        assert mine is not None
        expected = (
            collecting is not None
            and not self.suspended
            and not any(s.key_share_id == mine.id for s in collecting.shares)
        )
        mnemonic = self.tender.mnemonic(custodian)
        ok, result = self.attempt(opening.submit_share, section_id, mnemonic, actor=custodian)
        if self.suspended:
            assert not ok, "a key share was taken while the section is suspended"
        assert ok == expected, result
        if not ok:
            return
        ceremony, quorum = result
        if quorum:
            with self.app.test_request_context():
                opening.run_opening(ceremony.id, actor=custodian)
            db.session.rollback()
            self.check_opened()
        self.note()

    @precondition(
        lambda self: self.tender is not None and self.status in {S.PUBLISHED, S.BIDDING_CLOSED, S.OPENING}
    )
    @rule(shares=st.sampled_from([2, 0, 1, 3]), first=st.integers(0, 2))
    def open_section(self, shares: int, first: int) -> None:
        """The control room: start the ceremony (unless one is running), then ``shares`` custodians
        (from ``first`` on) hand in their shares; at k the opening runs."""
        if opening.live_ceremony(self.section.id) is None:
            self.start_opening()
        for n in range(shares):
            if self.status is not S.OPENING:
                break
            self.submit_share((first + n) % 3)

    @precondition(lambda self: self.tender is not None and self.status is S.OPENING)
    @rule()
    def postpone(self) -> None:
        collecting = db.session.scalar(
            select(OpeningCeremony).where(
                OpeningCeremony.section_id == self.section.id, OpeningCeremony.status == "collecting"
            )
        )
        ok, result = self.attempt(
            opening.postpone, self.section.id, actor=self.world.staff, reason="密钥持有人未到场"
        )
        assert ok == (collecting is not None), result
        self.note()

    def check_opened(self) -> None:
        section = self.section
        ceremony = opening.completed_ceremony(section)
        assert ceremony is not None
        assert ceremony.started_at >= (section.bid_deadline or ceremony.started_at)
        valid = {e.org_id for e in ceremony.entries if e.status == EntryStatus.VALID}
        assert valid == self.summaries, "every receipted summary opens, and nothing else"
        assert self.status is (S.OPENED if len(valid) >= opening.MIN_VALID_BIDS else S.FAILED)

    # -- draw, evaluation, award -----------------------------------------------------------------------------

    @precondition(
        lambda self: (
            self.tender is not None
            and self.trade is None
            and self.status in {S.PUBLISHED, S.BIDDING_CLOSED, S.OPENING, S.OPENED}
        )
    )
    @rule()
    def draw(self) -> None:
        assert self.tender is not None
        section = self.section
        starts = max(now(), section.bid_deadline or now()) + dt.timedelta(days=1)
        trade = Trade(self.app, self.tender, experts=self.experts)

        def run() -> Any:
            trade.draw = draws.request_draw(
                section,
                slots=[draws.Slot("A0101", PANEL, BACKUPS)],
                evaluation_starts_at=starts,
                actor=self.world.staff,
                panel_size=PANEL,
            )
            draws.witness(trade.draw, "314159-dice", actor=self.world.regulator)
            trade.confirm_invited()
            return trade.draw

        ok, result = self.attempt(run)
        assert ok == (not self.suspended), result
        if ok:
            self.trade = trade

    @precondition(lambda self: self.trade is not None and self.status is S.OPENED)
    @rule()
    def evaluate(self) -> None:
        trade = self.trade
        assert trade is not None and trade.draw is not None
        db.session.refresh(trade.draw)
        self.move_to(trade.draw.evaluation_starts_at)

        def run() -> None:
            users = sign_in_all(trade)
            score_lowest(trade, users)
            close_report(trade, users)

        ok, result = self.attempt(run)
        assert ok == (not self.suspended), result
        self.note()
        if ok:
            assert self.status is S.EVALUATING and trade.evaluation().status == "reported"

    @precondition(
        lambda self: (
            self.trade is not None
            and self.status is S.EVALUATING
            and evaluation.evaluation_for(self.section) is not None
        )
    )
    @rule()
    def publish_candidates(self) -> None:
        assert self.trade is not None
        ev = self.trade.evaluation()
        expected = not self.suspended and ev.status == "reported"
        ok, result = self.attempt(
            evaluation.publish_candidates, ev, actor=self.world.agent, details=publicity_details(ev)
        )
        assert ok == expected, result
        self.note()

    @precondition(lambda self: self.trade is not None and self.status is S.PUBLICITY)
    @rule()
    def after_publicity(self) -> None:
        assert self.trade is not None
        ends = self.trade.evaluation().publicity_ends_at
        assert ends is not None
        self.move_to(ends + dt.timedelta(minutes=1))

    @precondition(lambda self: self.trade is not None and self.status is S.PUBLICITY)
    @rule()
    def award(self) -> None:
        assert self.trade is not None
        ev = self.trade.evaluation()
        assert ev.publicity_ends_at is not None
        expected = now() >= ev.publicity_ends_at and not self.suspended and not self.pending
        ok, result = self.attempt(evaluation.award, ev, actor=self.world.agent)
        assert ok == expected, (result, self.suspended, self.pending)
        self.note()
        if ok:
            assert self.status is S.AWARDED and ev.winner_org_id == self.bidders[2].org.id  # the lowest price

    # -- invariants ------------------------------------------------------------------------------------------

    @invariant()
    def nothing_opens_early_or_while_suspended(self) -> None:
        if self.tender is None:
            return
        db.session.rollback()
        section = self.section
        assert section.bid_deadline is not None
        if self.status not in {S.DRAFT, S.PUBLISHED, S.CANCELLED}:
            assert section.closed_at is not None and section.closed_at >= section.bid_deadline
        for ceremony in db.session.scalars(
            select(OpeningCeremony).where(OpeningCeremony.section_id == section.id)
        ):
            assert ceremony.started_at >= section.bid_deadline, "a ceremony started before the deadline"
        # the timeline: every change legal, none while suspended (suspend/resume rows toggle the overlay)
        suspended = False
        for row in db.session.scalars(
            select(SectionStatusChange)
            .where(SectionStatusChange.section_id == section.id)
            .order_by(SectionStatusChange.id)
        ):
            if row.to_status == "suspended":
                assert not suspended
                suspended = True
            elif row.to_status == "resumed":
                assert suspended
                suspended = False
            elif row.to_status in {"deadline_moved", "retendered"}:  # notes on the timeline, no state
                assert not suspended
            else:
                assert not suspended, f"{row.from_status} → {row.to_status} while suspended"
                if row.from_status is not None:
                    assert S(row.to_status) in projects.TRANSITIONS[S(row.from_status)]
        assert suspended == bool(section.suspended) == self.suspended

    @invariant()
    def no_bid_after_the_deadline(self) -> None:
        if self.tender is None:
            return
        section = self.section
        assert section.bid_deadline is not None
        for env in db.session.scalars(select(SealedEnvelope).where(SealedEnvelope.section_id == section.id)):
            assert env.received_at < section.bid_deadline
            if section.closed_at is not None:
                assert env.received_at < section.closed_at

    @invariant()
    def sealed_until_opened(self) -> None:
        if self.tender is None:
            return
        section = self.section
        if opening.completed_ceremony(section) is not None:
            assert self.status in OPENED or self.status is S.FAILED
            return
        assert not bidding_permissions.is_opened(section)
        world = self.world
        envelopes = list(
            db.session.scalars(select(SealedEnvelope).where(SealedEnvelope.section_id == section.id))
        )
        outsiders = [world.tenderer, world.agent, world.regulator, world.staff]
        for env in envelopes:
            for user in outsiders + [b.user for b in self.bidders if b.org.id != env.org_id]:
                assert not bidding_permissions.can_see_envelope(user, env)
        for user in (world.tenderer, world.agent, world.regulator):
            assert not bidding_permissions.can_see_count(user, section)
        for user in outsiders:
            assert not bidding_permissions.can_read_opened(user, section)
        for bidder in self.bidders:
            assert {e.org_id for e in uploads.own_envelopes(section.id, bidder.org.id)} <= {bidder.org.id}
        assert evaluation.bids_of(section) == []
        # the audit leaves of submissions and withdrawals name no bidder, also in what readers are shown
        bidder_users = {b.user.id for b in self.bidders}
        bidder_orgs = {b.org.id for b in self.bidders}
        for leaf in db.session.scalars(
            select(AuditLeaf).where(
                AuditLeaf.idx >= self.first_leaf,
                AuditLeaf.action.in_(["bidding:envelope:receive", "bidding:envelope:withdraw"]),
            )
        ):
            assert leaf.actor_id is None and leaf.org_id is None and not leaf.source_ip
            view = audit_sealing.view_of(leaf)
            assert view.actor_id not in bidder_users and view.org_id not in bidder_orgs
            assert '"org_id"' not in (view.payload or "")

    def check_api_confidentiality(self) -> None:
        """Through the test client: each bidder's API lists its own envelopes only; the public hall shows no
        bidder and the opening record does not exist before the opening."""
        section = self.section
        if opening.completed_ceremony(section) is not None:
            return
        for bidder in self.bidders:
            resp = self.client.get(
                f"/api/v1/bidding/sections/{section.id}/envelopes", headers=bidder.headers()
            )
            assert resp.status_code == 200
            ids = {e["id"] for e in resp.get_json()["envelopes"]}
            own = {e.id for e in uploads.own_envelopes(section.id, bidder.org.id)}
            assert ids == own
            # the staff-only count is refused to a bidder
            assert self.client.get(
                f"/api/v1/bidding/sections/{section.id}/count", headers=bidder.headers()
            ).status_code in {403, 404}
        anonymous = self.app.test_client()
        assert anonymous.get(f"/bidding/sections/{section.id}/record").status_code == 404
        hall = anonymous.get(f"/bidding/sections/{section.id}/hall")
        assert hall.status_code == 200
        page = hall.get_data(as_text=True)
        assert not any(b.org.name in page for b in self.bidders)
        db.session.rollback()

    def teardown(self) -> None:
        try:
            if self.tender is not None:
                db.session.rollback()
                result = audit.verify_log()
                assert result.ok, result.problems
                self.reached[self.status.value] += 1
        finally:
            db.session.rollback()
            if self._savepoint.is_active:
                self._savepoint.rollback()
            db.session.expire_all()
            clock.reset()


def test_section_lifecycle_properties(app: Flask, client: FlaskClient, world: World, db_session: Any) -> None:
    with app.test_request_context():
        specialties.ensure_loaded()
        bidders = [make_bidder() for _ in PRICES]
        experts = {}
        for _ in range(PANEL + BACKUPS + 2):
            expert, user = make_expert()
            experts[expert.id] = user
    db_session.commit()
    reached: Counter[str] = Counter()

    class Machine(Lifecycle):
        pass

    Machine.app, Machine.client, Machine.world = app, client, world
    Machine.bidders, Machine.experts, Machine.reached = bidders, experts, reached
    run_state_machine_as_test(
        Machine,
        settings=settings(
            max_examples=20,
            stateful_step_count=30,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    # the machine must actually walk the lifecycle, not only refuse things
    assert reached["opened"] + reached["evaluating"] + reached["publicity"] + reached["awarded"] > 0, reached


def test_no_ceremony_and_no_share_while_suspended(app: Flask, client: FlaskClient, world: World) -> None:
    """What the machine found: a regulator suspends the section after the ceremony started; the custodians'
    shares were still taken and the opening ran (its record was published) while suspended. Likewise a new
    ceremony could start on a suspended section already in ``opening`` (after a postponement)."""
    clock.freeze(T0)
    with app.test_request_context():
        tender = publish_tender(world, bidders=3)
    for bidder, price in zip(tender.bidders, PRICES, strict=True):
        assert upload(client, tender, bidder, tender.summary(price)).status_code == 201
    clock.freeze((tender.section.bid_deadline or T0) + dt.timedelta(minutes=1))
    staff, regulator = world.staff, world.regulator
    section_id = tender.section.id
    with app.test_request_context():
        opening.start_ceremony(section_id, actor=staff)
        projects.suspend_section(tender.section, actor=regulator, reason="监督检查")
        for custodian in tender.custodians[:2]:
            with pytest.raises(DomainError) as refused:
                opening.submit_share(section_id, tender.mnemonic(custodian), actor=custodian)
            assert refused.value.code == "suspended"
        opening.postpone(section_id, actor=staff, reason="暂停")
        with pytest.raises(DomainError) as refused:
            opening.start_ceremony(section_id, actor=staff)
        assert refused.value.code == "suspended"
        assert opening.completed_ceremony(tender.section) is None
        projects.resume_section(tender.section, actor=regulator)
        ceremony = opening.start_ceremony(section_id, actor=staff)
        for custodian in tender.custodians[:2]:
            _, quorum = opening.submit_share(section_id, tender.mnemonic(custodian), actor=custodian)
        assert quorum and opening.run_opening(ceremony.id, actor=staff) is not None
    assert tender.section.status == "opened"
