"""The section state machine: only the moves in TRANSITIONS, guards, suspension blocking every step with
the paused interval recorded, CHECK constraints, and an audit leaf for every change."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from app.core.clock import clock
from app.core.errors import Conflict, DomainError
from app.core.models import AuditLeaf
from app.projects import services
from app.projects.enums import SectionStatus
from app.projects.models import Section
from tests.factories import csrf_token, login, make_user
from tests.projects.conftest import World, cst, draft_section


@pytest.fixture
def published(app: Any, world: World) -> Any:
    with app.test_request_context():
        section = draft_section(world)
        services.publish_section(section, actor=world.agent)
        yield section


def _actions(db_session: Any, section: Section) -> list[str]:
    return list(
        db_session.scalars(
            select(AuditLeaf.action)
            .where(AuditLeaf.object_type == "section", AuditLeaf.object_id == str(section.id))
            .order_by(AuditLeaf.idx)
        )
    )


def test_every_state_has_an_entry_and_terminal_states_only_archive() -> None:
    assert set(services.TRANSITIONS) == set(SectionStatus)
    for state in (SectionStatus.FAILED, SectionStatus.CANCELLED):
        assert services.TRANSITIONS[state] == {SectionStatus.ARCHIVED}
    # an award goes back only on an upheld complaint (app/evaluation/remedies.py):
    # 中标无效, 重新评审, 重新招标
    assert services.TRANSITIONS[SectionStatus.AWARDED] == {
        SectionStatus.ARCHIVED,
        SectionStatus.PUBLICITY,
        SectionStatus.EVALUATING,
        SectionStatus.FAILED,
    }
    assert services.TRANSITIONS[SectionStatus.ARCHIVED] == frozenset()


def test_full_happy_path_is_audited(app: Any, world: World, published: Section, db_session: Any) -> None:
    clock.freeze(cst(2026, 3, 23, 9, 30))
    with app.test_request_context():
        for state in (
            "bidding_closed",
            "opening",
            "opened",
            "evaluating",
            "publicity",
            "awarded",
            "archived",
        ):
            services.transition(published, state, actor=world.staff)
    assert published.status == "archived" and published.ended_at is not None
    transitions = [a for a in _actions(db_session, published) if a == "projects:section:transition"]
    assert len(transitions) == 7
    assert [h.to_status for h in published.history][-3:] == ["publicity", "awarded", "archived"]


@pytest.mark.parametrize("target", ["opening", "opened", "awarded", "archived", "draft", "evaluating"])
def test_illegal_moves_are_refused(app: Any, world: World, published: Section, target: str) -> None:
    with app.test_request_context(), pytest.raises(Conflict):
        services.transition(published, target, actor=world.staff)
    assert published.status == "published"


def test_bidding_closes_at_the_deadline_not_before(app: Any, world: World, published: Section) -> None:
    with app.test_request_context():
        clock.freeze(cst(2026, 3, 23, 9, 29))
        with pytest.raises(Conflict):
            services.transition(published, "bidding_closed", actor=None)
        assert services.close_due_sections() == []
        clock.freeze(cst(2026, 3, 23, 9, 30))
        assert services.close_due_sections() == [published]
    assert published.status == "bidding_closed" and published.closed_at is not None


def test_cancel_and_fail_need_a_reason(app: Any, world: World, published: Section) -> None:
    with app.test_request_context():
        with pytest.raises(DomainError):
            services.cancel_section(published, actor=world.agent, reason="  ")
        services.cancel_section(published, actor=world.agent, reason="项目取消")
    assert published.status == "cancelled" and published.cancel_reason == "项目取消"
    assert published.room_id is not None  # the room stays named; its slots are released


def test_suspension_blocks_every_step_and_records_the_paused_interval(
    app: Any, world: World, published: Section, db_session: Any
) -> None:
    with app.test_request_context():
        clock.freeze(cst(2026, 3, 20, 9, 0))
        services.suspend_section(published, actor=world.regulator, reason="投诉处理中")
        with pytest.raises(Conflict):
            services.suspend_section(published, actor=world.regulator, reason="again")
        with pytest.raises(Conflict):
            services.cancel_section(published, actor=world.agent, reason="x")
        with pytest.raises(Conflict):
            services.publish_amendment(published, actor=world.agent, title="t", body="b", affects_bids=False)
        bidder = make_user("bidder")
        with pytest.raises(Conflict):
            services.obtain_documents(published, actor=bidder)
        clock.freeze(cst(2026, 3, 23, 10, 0))
        assert services.close_due_sections() == []  # the deadline passed, but the section is suspended
        with pytest.raises(Conflict):
            services.transition(published, "bidding_closed", actor=None)
        clock.freeze(cst(2026, 3, 25, 10, 0))
        row = services.resume_section(published, actor=world.regulator, note="投诉驳回")
    assert row.ended_at - row.started_at == dt.timedelta(days=5, hours=1)
    assert not published.suspended
    actions = _actions(db_session, published)
    assert "projects:section:suspend" in actions and "projects:section:resume" in actions
    assert [h.to_status for h in published.history][-3:] == ["suspended", "resumed", "deadline_moved"]
    # the 5 days 1 hour suspended are given back: 03-23 09:30 + 5d1h → 09:30 the next working day (Mon 03-30)
    assert published.bid_deadline == cst(2026, 3, 30, 9, 30) and published.status == "published"


def test_database_ties_state_to_columns(app: Any, world: World, published: Section, db_session: Any) -> None:
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(
            text("UPDATE section SET status = 'cancelled' WHERE id = :id"), {"id": published.id}
        )
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(
            text("UPDATE section SET published_at = NULL WHERE id = :id"), {"id": published.id}
        )
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.execute(text("UPDATE section SET panel_size = 6 WHERE id = :id"), {"id": published.id})


def test_only_one_open_suspension_per_section_in_the_database(
    app: Any, world: World, published: Section, db_session: Any
) -> None:
    from app.projects.models import SectionSuspension

    with app.test_request_context():
        services.suspend_section(published, actor=world.regulator, reason="a")
    with pytest.raises(IntegrityError), db_session.begin_nested():
        db_session.add(
            SectionSuspension(section_id=published.id, reason="b", started_at=clock.now(), started_by=None)
        )


def test_regulator_suspends_through_the_page_other_regulators_cannot(
    client: Any, world: World, published: Section
) -> None:
    other = make_user("regulator")
    login(client, other)
    page = f"/projects/sections/{published.id}"
    resp = client.post(f"{page}/suspend", data={"reason": "x", "csrf_token": csrf_token(client, page)})
    assert resp.status_code == 403
    client.post("/auth/logout", data={"csrf_token": csrf_token(client, page)})
    login(client, world.regulator)
    resp = client.post(f"{page}/suspend", data={"reason": "责令暂停", "csrf_token": csrf_token(client, page)})
    assert resp.status_code == 302
    assert published.suspended
