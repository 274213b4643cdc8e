"""Clarifications and amendments: numbered with diffs; affecting bids with fewer than 15 days left moves
the deadline, the opening time and the room booking, and every bidder that obtained the documents is told."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.core.clock import clock
from app.core.models import AuditLeaf, OutboxMessage
from app.projects import services
from app.projects.models import RoomSlot, Section
from tests.factories import make_user
from tests.projects.conftest import World, cst, draft_section


@pytest.fixture
def published(app: Any, world: World) -> Any:
    with app.test_request_context():
        section = draft_section(world)  # deadline Mon 23 Mar 2026 09:30
        services.publish_section(section, actor=world.agent)
        yield section


def _slots(db_session: Any, section: Section) -> list[Any]:
    return list(db_session.scalars(select(RoomSlot).where(RoomSlot.section_id == section.id)))


def test_amendments_are_numbered_with_diffs(app: Any, world: World, published: Section) -> None:
    with app.test_request_context():
        first = services.publish_amendment(
            published,
            actor=world.agent,
            title="澄清一",
            body="资格要求澄清",
            affects_bids=False,
            notice_text=published.notice_text.replace("二、投标人资格要求", "二、投标人资格要求（已澄清）"),
        )
        second = services.publish_amendment(
            published, actor=world.tenderer, title="澄清二", body="答疑", affects_bids=False
        )
    assert (first.number, second.number) == (1, 2)
    assert "-二、投标人资格要求\n" in first.diff and "+二、投标人资格要求（已澄清）\n" in first.diff
    assert second.diff == ""  # text unchanged
    assert "（已澄清）" in published.notice_text
    assert first.new_deadline is None and published.bid_deadline == cst(2026, 3, 23, 9, 30)


def test_exactly_15_days_left_keeps_the_deadline(app: Any, world: World, published: Section) -> None:
    clock.freeze(cst(2026, 3, 8, 18, 0))  # 8 Mar → 23 Mar: 15 days
    with app.test_request_context():
        amendment = services.publish_amendment(
            published, actor=world.agent, title="修改", body="工期调整", affects_bids=True
        )
    assert amendment.new_deadline is None
    assert published.bid_deadline == cst(2026, 3, 23, 9, 30)


def test_14_days_left_moves_deadline_room_and_notifies_obtainers(
    app: Any, world: World, published: Section, db_session: Any
) -> None:
    bidders = [make_user("bidder") for _ in range(2)]
    bystander = make_user("bidder")
    with app.test_request_context():
        for bidder in bidders:
            services.obtain_documents(published, actor=bidder)
        clock.freeze(cst(2026, 3, 9, 10, 0))  # 9 Mar → 23 Mar: only 14 days
        amendment = services.publish_amendment(
            published,
            actor=world.agent,
            title="修改工程量清单",
            body="第3章工程量清单修改",
            affects_bids=True,
        )
    # 9 Mar + 15 days = 24 Mar (Tuesday, a working day); same time of day.
    assert amendment.old_deadline == cst(2026, 3, 23, 9, 30)
    assert amendment.new_deadline == cst(2026, 3, 24, 9, 30)
    assert published.bid_deadline == cst(2026, 3, 24, 9, 30)
    slots = _slots(db_session, published)
    assert slots and min(s.starts_at for s in slots) == cst(2026, 3, 24, 9, 30)
    messages = db_session.scalars(select(OutboxMessage).where(OutboxMessage.channel == "inbox")).all()
    assert sorted(m.user_id for m in messages) == sorted(b.id for b in bidders)
    assert bystander.id not in {m.user_id for m in messages}
    assert all("2026-03-24 09:30" in m.body for m in messages)
    actions = set(db_session.scalars(select(AuditLeaf.action)))
    assert {"projects:section:deadline_extend", "projects:amendment:publish"} <= actions


def test_not_affecting_bids_never_moves_the_deadline(app: Any, world: World, published: Section) -> None:
    clock.freeze(cst(2026, 3, 20, 10, 0))
    with app.test_request_context():
        amendment = services.publish_amendment(
            published, actor=world.agent, title="答疑", body="错别字", affects_bids=False
        )
    assert amendment.new_deadline is None


def test_extension_that_would_end_on_national_day_moves_to_the_next_working_day(
    app: Any, world: World, db_session: Any
) -> None:
    clock.freeze(cst(2026, 9, 7, 9, 0))
    with app.test_request_context():
        section = draft_section(
            world,
            docs_available_from=cst(2026, 9, 7, 9, 0),
            docs_available_until=cst(2026, 9, 14, 17, 0),
            bid_deadline=cst(2026, 9, 30, 9, 30),
        )
        services.publish_section(section, actor=world.agent)
        clock.freeze(cst(2026, 9, 22, 10, 0))  # + 15 days = 7 Oct, a National Day holiday
        amendment = services.publish_amendment(
            section, actor=world.agent, title="修改", body="x", affects_bids=True
        )
    assert amendment.new_deadline == cst(2026, 10, 8, 9, 30)


def test_moved_deadline_refused_when_the_room_is_taken(app: Any, world: World, published: Section) -> None:
    from app.core.errors import Conflict

    with app.test_request_context():
        other = draft_section(
            world,
            name="二标段",
            docs_available_until=cst(2026, 3, 10, 17, 0),
            bid_deadline=cst(2026, 3, 24, 9, 30),
        )
        assert other.room_id == world.room.id
        clock.freeze(cst(2026, 3, 9, 10, 0))
        with pytest.raises(Conflict):
            services.publish_amendment(
                published, actor=world.agent, title="修改", body="x", affects_bids=True
            )


def test_moved_deadline_takes_another_free_room(app: Any, world: World, published: Section) -> None:
    with app.test_request_context():
        spare = services.create_room(actor=world.staff, name="第二开标室")
        draft_section(
            world,
            name="二标段",
            docs_available_until=cst(2026, 3, 10, 17, 0),
            bid_deadline=cst(2026, 3, 24, 9, 30),
        )
        clock.freeze(cst(2026, 3, 9, 10, 0))
        services.publish_amendment(published, actor=world.agent, title="修改", body="x", affects_bids=True)
    assert published.room_id == spare.id
