"""转办、交办、督办: first-responsible ownership, the transfer chain, AB roles and the idempotent tick."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, or_, select

from app.complaints import routing, services
from app.complaints.models import Case, CaseNotice
from app.complaints.permissions import can_act
from app.core.clock import clock
from app.core.errors import Conflict, Forbidden
from app.core.models import OutboxMessage

from .conftest import World, cst


def report(world: World, **kw: Any) -> tuple[Case, str]:
    data = services.ReportInput(subject="疑似围标", facts="多家投标人联系人相同。", **kw)
    return services.file_report(data)


def _outbox(db_session: Any) -> int:
    return int(db_session.scalar(select(func.count()).select_from(OutboxMessage)) or 0)


def test_first_receiver_owns_the_case_until_it_is_forwarded(world: World) -> None:
    case, _code = report(world)
    assert case.handling_org_id == world.office.id
    routing.receive(case, actor=world.manager)
    with pytest.raises(Conflict) as err:
        routing.forward(case, actor=world.manager2, to_org=world.housing)
    assert err.value.code == "first_responsible"
    assert not can_act(world.manager2, case)
    routing.forward(case, actor=world.manager, to_org=world.housing, note="住建行业")
    assert case.status == "forwarded" and case.owner_id is None and case.handling_org_id == world.housing.id
    assert not can_act(world.manager, case)  # responsibility passed with the transfer
    routing.assign(case, actor=world.regulator, primary=world.regulator, backup=world.regulator_b)
    chain = [(t.kind, t.from_org_id, t.to_org_id, t.to_user_id) for t in case.transfers]
    assert chain == [
        ("received", None, world.office.id, world.manager.id),
        ("forwarded", world.office.id, world.housing.id, None),
        ("received", None, world.housing.id, world.regulator.id),
        ("assigned", world.housing.id, world.housing.id, world.regulator.id),
    ]


def test_backup_acts_only_when_the_primary_is_on_leave(world: World) -> None:
    case, _code = report(world)
    routing.assign(case, actor=world.manager, primary=world.manager, backup=world.manager2)
    assert not can_act(world.manager2, case)
    with pytest.raises(Forbidden):
        services.answer_report(case, actor=world.manager2, answer="x")
    routing.record_absence(world.manager, dt.date(2026, 3, 2), dt.date(2026, 3, 3), actor=world.manager2)
    assert can_act(world.manager2, case)
    result = routing.tick()
    assert result.notices >= 1
    services.answer_report(case, actor=world.manager2, answer="已核实并处理。")
    assert case.status == "answered"


def test_backup_is_alerted_when_the_case_nears_its_due_date_untouched(world: World, db_session: Any) -> None:
    case, _code = report(world)
    routing.assign(
        case, actor=world.manager, primary=world.manager, backup=world.manager2, due_at=cst(2026, 3, 6, 0)
    )  # last day Thu 03-05
    clock.freeze(cst(2026, 3, 3, 23, 59))
    routing.tick()
    assert not case.backup_may_act
    clock.freeze(cst(2026, 3, 4, 0, 0))  # the working day before the last day begins
    routing.tick()
    assert case.backup_may_act and can_act(world.manager2, case)
    kinds = db_session.scalars(select(CaseNotice.kind).where(CaseNotice.case_id == case.id)).all()
    assert "due_soon_backup" in kinds


def test_tick_marks_overdue_escalates_and_is_idempotent(world: World, db_session: Any) -> None:
    case, _code = report(world)  # forward within 3 working days: ends 24:00 Thu 03-05
    routing.set_department_head(world.office, world.manager2, actor=None)
    assert case.due_at == cst(2026, 3, 6, 0)
    clock.freeze(cst(2026, 3, 5, 23, 59))
    assert routing.tick().overdue == []
    clock.freeze(cst(2026, 3, 6, 0, 0))
    first = routing.tick()
    assert first.overdue == [case.number] and case.overdue_at == cst(2026, 3, 6, 0)
    sent = _outbox(db_session)
    again = routing.tick()
    assert again.overdue == [] and again.notices == 0 and _outbox(db_session) == sent
    # still overdue a working day later (Fri 24:00 → Mon): escalated to the department head, once
    clock.freeze(cst(2026, 3, 7, 0, 0))
    assert routing.tick().notices == 1
    assert routing.tick().notices == 0
    heads = db_session.scalars(
        select(OutboxMessage.recipient).where(
            # the subject is written in the platform language (zh_CN by default) at enqueue time
            or_(OutboxMessage.subject.like("Escalation%"), OutboxMessage.subject.like("升级督办%"))
        )
    ).all()
    assert heads == [world.manager2.username]


def test_objection_overdue_notifies_the_tenderer_and_escalates_to_the_regulator(
    world: World, db_session: Any
) -> None:
    from .test_cases import objection

    case = objection(world)
    clock.freeze(cst(2026, 3, 9, 10))  # due 24:00 Thu 03-05; a working day later has passed
    routing.tick()
    recipients = set(
        db_session.scalars(select(OutboxMessage.recipient).where(OutboxMessage.body.like("%03-06%")))
    )
    assert world.tenderer.username in recipients and world.regulator.username in recipients
    assert case.overdue_at is not None


def test_supervision_notice_by_the_office(world: World, db_session: Any) -> None:
    case, _code = report(world)
    routing.forward(case, actor=world.manager, to_org=world.housing)
    assert routing.supervise(case, actor=world.manager2, note="请加快办理")
    with pytest.raises(Forbidden):
        routing.supervise(case, actor=world.regulator2, note="x")


def test_cross_department_complaint_is_forwarded_by_the_office_to_the_regulator(world: World) -> None:
    from app.complaints.enums import Matter

    from .test_cases import complaint_draft

    case = complaint_draft(world, matter=Matter.OTHER)
    case.cross_department = True
    services.submit_complaint(case, actor=world.bidder)
    assert case.handling_org_id == world.office.id
    with pytest.raises(Forbidden):
        services.accept_complaint(case, actor=world.manager)  # the office coordinates, never decides
    clock.freeze(cst(2026, 3, 4, 10))
    routing.forward(case, actor=world.manager, to_org=world.housing, note="住建行业")
    assert case.status == "transferred" and case.handling_org_id == world.housing.id
    assert case.due_at == cst(2026, 3, 10, 0)  # the regulator's 3 working days start on receipt
    services.accept_complaint(case, actor=world.regulator)
    assert case.status == "accepted"
    assert [t.kind for t in case.transfers] == ["received", "forwarded", "received"]
