"""Filing rules, the state machine, remedies on the section, withdrawal, abuse flags."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from app.complaints import opening as opening_objections
from app.complaints import services
from app.complaints.enums import CaseKind, Matter, PauseReason, Remedy
from app.complaints.models import Case, CreditRecord
from app.core.clock import clock
from app.core.errors import Conflict, DomainError, Forbidden
from app.core.models import OutboxMessage

from .conftest import CONTENT, World, cst


def objection(
    world: World,
    *,
    matter: Matter = Matter.DOCUMENTS,
    bidder: Any = None,
    section: Any = None,
    knew_at: Any = None,
) -> Case:
    case = services.save_draft(
        CaseKind.OBJECTION,
        services.CaseInput(
            section_id=(section or world.section).id,
            matter=matter.value,
            knew_at=knew_at,
            content=dict(CONTENT),
        ),
        actor=bidder or world.bidder,
    )
    return services.submit_objection(case, actor=bidder or world.bidder)


def complaint_draft(world: World, **kw: Any) -> Case:
    data = services.CaseInput(
        section_id=kw.pop("section", world.section).id,
        matter=kw.pop("matter", Matter.DOCUMENTS).value,
        knew_at=kw.pop("knew_at", cst(2026, 3, 2, 9)),
        prior_objection_id=kw.pop("prior", None),
        content={**CONTENT, **kw.pop("content", {})},
    )
    return services.save_draft(CaseKind.COMPLAINT, data, actor=kw.pop("bidder", world.bidder))


def filed_gp_complaint(world: World, *, at: dt.datetime | None = None) -> Case:
    """A government procurement complaint filed at ``at`` (Thu 03-05 10:00) after a challenge answered
    (known 03-02, complaint known 03-04): submitted, not accepted yet."""
    challenge = objection(world, section=world.gp_section, knew_at=cst(2026, 3, 2, 8))
    services.answer_objection(challenge, actor=world.tenderer, answer="质疑不成立")
    case = complaint_draft(world, section=world.gp_section, prior=challenge.id, knew_at=cst(2026, 3, 4, 9))
    clock.freeze(at or cst(2026, 3, 5, 10))
    return services.submit_complaint(case, actor=world.bidder)


def test_document_objection_suspends_and_the_answer_resumes(world: World) -> None:
    case = objection(world)
    assert case.number and case.number.startswith("YY-2026-")
    assert world.section.suspended and case.suspended_section
    assert case.due_at == cst(2026, 3, 6, 0)  # 3 days: ends 24:00 Thu 03-05
    services.answer_objection(case, actor=world.tenderer, answer="异议不成立。")
    assert case.status == "answered"
    assert not world.section.suspended
    assert [s.ended_at is not None for s in world.section.suspensions] == [True]


def test_second_objection_keeps_the_section_suspended_until_both_are_answered(world: World) -> None:
    first = objection(world)
    second = objection(world, bidder=world.bidder2)
    services.answer_objection(first, actor=world.tenderer, answer="答复一")
    assert world.section.suspended
    services.answer_objection(second, actor=world.tenderer, answer="答复二")
    assert not world.section.suspended


def test_document_objection_after_the_window_is_refused_with_the_window(world: World) -> None:
    clock.freeze(cst(2026, 3, 23, 0, 0))  # deadline 04-01: the last filing day was 03-22
    case = services.save_draft(
        CaseKind.OBJECTION,
        services.CaseInput(section_id=world.section.id, matter="documents", content=dict(CONTENT)),
        actor=world.bidder,
    )
    with pytest.raises(DomainError) as err:
        services.submit_objection(case, actor=world.bidder)
    assert err.value.code == "out_of_time"
    assert "2026-03-23 00:00" in err.value.message  # 24:00 of 03-22, shown in China Standard Time
    assert case.status == "draft"


def test_result_objection_only_during_publicity(world: World) -> None:
    with pytest.raises(DomainError, match=r"publicity|公示"):
        objection(world, matter=Matter.RESULTS)
    world.section.status = "publicity"
    case = objection(world, matter=Matter.RESULTS)
    assert world.section.suspended and case.status == "submitted"


def test_an_objection_to_the_opening_waits_for_the_published_opening_record(world: World) -> None:
    """Before the record is out an objection would tell the tenderer who bid; the whole flow through the
    opening hall is in tests/bidding/test_opening_objections.py."""
    world.section.status = "opening"
    with pytest.raises(Conflict) as err:
        opening_objections.raise_objection(world.section, actor=world.bidder, text="唱标价格与投标函不一致")
    assert err.value.code == "no_record"
    with pytest.raises(Forbidden):
        opening_objections.raise_objection(world.section, actor=world.tenderer, text="x")


def test_complaint_on_documents_needs_the_objection_first(world: World) -> None:
    draft = complaint_draft(world)
    with pytest.raises(DomainError) as err:
        services.submit_complaint(draft, actor=world.bidder)
    assert err.value.code == "objection_first"
    assert "条例第60条" in err.value.message
    assert draft.status == "draft"


def test_missing_content_is_listed_field_by_field(world: World) -> None:
    draft = complaint_draft(world, content={"respondent_address": "", "evidence": ""})
    draft.by_agent = True
    with pytest.raises(DomainError) as err:
        services.submit_complaint(draft, actor=world.bidder)
    assert set(err.value.errors) == {"respondent_address", "evidence", "power_of_attorney"}


def _answered_objection(world: World) -> Case:
    obj = objection(world)
    clock.advance(dt.timedelta(days=2))
    services.answer_objection(obj, actor=world.tenderer, answer="不成立")
    return obj


def test_complaint_window_excludes_the_objection_wait_and_refuses_late_filing(world: World) -> None:
    obj = _answered_objection(world)  # filed 03-02, answered 03-04: 2 days not counted
    draft = complaint_draft(world, prior=obj.id, knew_at=cst(2026, 3, 1, 9))
    clock.freeze(cst(2026, 3, 13, 12))  # 03-01 + 10 + 2 = 03-13: still in time
    services.submit_complaint(draft, actor=world.bidder)
    assert draft.handling_org_id == world.housing.id and draft.status == "submitted"

    late = complaint_draft(world, prior=obj.id, knew_at=cst(2026, 3, 1, 9), bidder=world.bidder)
    clock.freeze(cst(2026, 3, 14, 0, 1))
    with pytest.raises(DomainError) as err:
        services.submit_complaint(late, actor=world.bidder)
    assert err.value.code == "out_of_time"
    assert "2026-03-14 00:00" in err.value.message


def test_complaint_lifecycle_with_pause_and_re_tender_remedy(world: World) -> None:
    obj = _answered_objection(world)
    case = complaint_draft(world, prior=obj.id, knew_at=cst(2026, 3, 3, 9))
    services.submit_complaint(case, actor=world.bidder)
    assert case.due_at == cst(2026, 3, 10, 0)  # accept within 3 working days of Wed 03-04
    services.accept_complaint(case, actor=world.regulator)
    due = case.due_at
    world.section.status = "evaluating"
    services.start_investigation(case, actor=world.regulator, suspend=True)
    assert world.section.suspended
    services.pause_clock(case, actor=world.regulator, reason=PauseReason.TESTING)
    assert case.due_at is None
    clock.advance(dt.timedelta(days=7))  # Wed → next Wed: 5 working days of testing
    services.resume_clock(case, actor=world.regulator)
    assert case.due_at is not None and due is not None
    assert services.case_calendar().working_days_between(due.date(), case.due_at.date()) == 5
    services.decide_complaint(
        case,
        services.DecisionInput(upheld=True, decision="资格条件违法，责令重新招标。", remedy=Remedy.RE_TENDER),
        actor=world.regulator,
    )
    assert case.status == "upheld" and case.remedy == "re_tender"
    assert not world.section.suspended
    assert world.section.status == "failed"
    assert "重新招标" in (world.section.failed_reason or "")  # the remedy in words
    services.publish_decision(case, actor=world.regulator)
    assert case.published_at is not None


def test_withdrawal_refused_once_a_violation_is_established_and_no_refile(world: World) -> None:
    case = complaint_draft(world, matter=Matter.OTHER)
    services.submit_complaint(case, actor=world.bidder)
    services.accept_complaint(case, actor=world.regulator)
    services.establish_violation(case, actor=world.regulator, note="查实")
    with pytest.raises(Conflict):
        services.withdraw(case, actor=world.bidder, reason="和解")

    other = complaint_draft(world, matter=Matter.OTHER, bidder=world.bidder2)
    services.submit_complaint(other, actor=world.bidder2)
    services.withdraw(other, actor=world.bidder2, reason="和解")
    again = complaint_draft(world, matter=Matter.OTHER, bidder=world.bidder2)
    with pytest.raises(DomainError) as err:
        services.submit_complaint(again, actor=world.bidder2)
    assert err.value.code == "refiled_after_withdrawal"


def test_regulator_of_another_industry_cannot_decide(world: World) -> None:
    case = complaint_draft(world, matter=Matter.OTHER)
    services.submit_complaint(case, actor=world.bidder)
    from app.core.errors import Forbidden

    with pytest.raises(Forbidden):
        services.accept_complaint(case, actor=world.regulator2)
    with pytest.raises(Forbidden):
        services.accept_complaint(case, actor=world.manager)


def test_three_groundless_complaints_in_a_year_flag_a_credit_record(world: World, db_session: Any) -> None:
    for i in range(3):
        case = complaint_draft(world, matter=Matter.OTHER, content={"subject": f"第{i}次"})
        # the same facts rule is about withdrawals; decided complaints may be followed by new ones
        services.submit_complaint(case, actor=world.bidder)
        services.accept_complaint(case, actor=world.regulator)
        services.decide_complaint(
            case,
            services.DecisionInput(upheld=False, decision="缺乏事实依据", groundless=True),
            actor=world.regulator,
        )
    records = db_session.scalars(select(CreditRecord).where(CreditRecord.org_id == world.bidder.org_id)).all()
    assert len(records) == 1 and records[0].regulator_org_id == world.housing.id


def test_procurement_challenge_then_complaint(world: World, db_session: Any) -> None:
    challenge = objection(world, section=world.gp_section, knew_at=cst(2026, 3, 2, 8))
    assert challenge.regime == "procurement" and challenge.number.startswith("ZY-")
    assert challenge.due_at == cst(2026, 3, 12, 0)  # 7 working days from Mon 03-02
    # government procurement calls it a challenge (质疑): so do the tenderer's notice and the suspension
    notice = db_session.scalars(
        select(OutboxMessage).where(OutboxMessage.subject.contains(challenge.number))
    ).all()
    assert [m.subject for m in notice] and all(m.subject == f"质疑 {challenge.number}" for m in notice)
    assert all(m.body.startswith("对 ") and "的质疑须在" in m.body and "异议" not in m.body for m in notice)
    clock.freeze(cst(2026, 3, 11, 10))
    services.answer_objection(challenge, actor=world.tenderer, answer="质疑不成立")
    answered = db_session.scalars(
        select(OutboxMessage.subject).where(OutboxMessage.body == "质疑不成立")
    ).all()
    assert answered == [f"质疑 {challenge.number} 已答复"]
    case = complaint_draft(world, section=world.gp_section, prior=challenge.id)
    services.submit_complaint(case, actor=world.bidder)
    assert case.handling_org_id == world.finance.id


@pytest.mark.parametrize(("stored_lead", "filed_on", "lawful"), [(5, 25, False), (15, 20, True)])
def test_document_objection_window_is_the_statutory_10_days_whatever_the_catalogue_item_stored(
    world: World, stored_lead: int, filed_on: int, lawful: bool
) -> None:
    """条例 Art. 22 fixes the lead time at 10 日 before the deadline (04-01). A catalogue item stored before
    the floors were enforced (5 or 15 days) must change neither way: a late objection (03-25, 7 days
    before) is refused and suspends nothing; a timely one (03-20, 12 days before) is accepted."""
    item = world.section.project.catalogue_item
    item.objection_lead_days = stored_lead
    clock.freeze(cst(2026, 3, filed_on, 10))
    case = services.save_draft(
        CaseKind.OBJECTION,
        services.CaseInput(section_id=world.section.id, matter="documents", content=dict(CONTENT)),
        actor=world.bidder,
    )
    if lawful:
        services.submit_objection(case, actor=world.bidder)
        assert case.status == "submitted" and world.section.suspended
        return
    with pytest.raises(DomainError) as err:
        services.submit_objection(case, actor=world.bidder)
    assert err.value.code == "out_of_time"
    assert "10" in err.value.message and "2026-03-23 00:00" in err.value.message
    assert case.status == "draft" and not world.section.suspended


def test_fixing_defects_stops_only_a_procurement_decision_clock(world: World) -> None:
    """条例 Art. 61 excludes only testing, appraisal and expert review from the 30 working days of a works
    complaint; the time the complainant takes to fix defects (补正) is excluded for government procurement
    alone (采购条例 Art. 58). Pausing a works complaint's clock for it is refused and changes nothing."""
    obj = _answered_objection(world)
    case = complaint_draft(world, prior=obj.id, knew_at=cst(2026, 3, 3, 9))
    services.submit_complaint(case, actor=world.bidder)
    services.accept_complaint(case, actor=world.regulator)
    due = case.due_at
    with pytest.raises(DomainError) as err:
        services.pause_clock(case, actor=world.regulator, reason=PauseReason.DEFECT_FIX)
    assert err.value.code == "pause_not_excluded"
    assert "第61条" in err.value.message and "reason" in err.value.errors
    assert case.due_at == due and not case.pauses and not case.is_paused

    challenge = objection(world, section=world.gp_section, knew_at=cst(2026, 3, 4, 8))
    services.answer_objection(challenge, actor=world.tenderer, answer="质疑不成立")
    gp = complaint_draft(world, section=world.gp_section, prior=challenge.id, knew_at=cst(2026, 3, 4, 9))
    services.submit_complaint(gp, actor=world.bidder)
    services.accept_complaint(gp, actor=world.regulator2)
    services.pause_clock(gp, actor=world.regulator2, reason=PauseReason.DEFECT_FIX)
    assert gp.is_paused and gp.due_at is None


def test_the_sections_cases_are_filed_against_carry_the_platforms_codes(world: World) -> None:
    """The demo's complaint sections read like every other tender (GC2026-0004-01), not ``GC-01-bda2af /
    BD01``: the code is what a bidder picks the section by when filing an objection."""
    import re

    for section, prefix in ((world.section, "GC"), (world.gp_section, "ZC")):
        assert re.fullmatch(rf"{prefix}\d{{4}}-\d{{4}}", section.project.code), section.project.code
        assert section.code == f"{section.project.code}-01"


def test_a_procurement_suspended_for_a_complaint_is_warned_then_flagged_at_30_days(
    world: World, db_session: Any
) -> None:
    """政府采购法 Art. 57: the finance department may suspend the procurement while it handles a complaint,
    for at most 30 日. The supervision rules warn the handling regulator 5 days
    ahead and flag the suspension once the limit has passed; resuming ends it. A works complaint's
    suspension has no such limit (条例 Art. 62 sets none)."""
    from app.complaints.sections import suspension_limit
    from app.supervision.alerts import run_alert_rules
    from app.supervision.models import SupervisionAlert

    obj = _answered_objection(world)
    works = complaint_draft(world, prior=obj.id, knew_at=cst(2026, 3, 3, 9))
    services.submit_complaint(works, actor=world.bidder)
    services.accept_complaint(works, actor=world.regulator)
    services.start_investigation(works, actor=world.regulator, suspend=True)
    assert world.section.suspended and suspension_limit(works) is None

    case = filed_gp_complaint(world)
    services.accept_complaint(case, actor=world.regulator2)
    assert suspension_limit(case) is None  # nothing suspended yet
    clock.freeze(cst(2026, 3, 6, 15))  # Friday afternoon
    services.start_investigation(case, actor=world.regulator2, suspend=True)
    assert world.gp_section.suspended
    limit = suspension_limit(case)
    # 30 日 counted from 03-07 end on Sun 04-05, in the Qingming holiday (04-04 to 04-06): the period runs
    # on to the next working day, Tue 04-07, 24:00 (民法典 Art. 203, as every other period here)
    assert limit == cst(2026, 4, 8, 0)

    def alerts() -> list[tuple[str, str]]:
        rows = db_session.scalars(
            select(SupervisionAlert).where(SupervisionAlert.section_id == world.gp_section.id)
        )
        return [(a.rule, a.evidence["state"]) for a in rows if a.rule == "suspension_limit"]

    def told() -> list[str]:
        return list(
            db_session.scalars(select(OutboxMessage.body).where(OutboxMessage.subject.contains("暂停期限")))
        )

    clock.freeze(cst(2026, 4, 2, 23, 59))  # more than 5 days before: quiet
    run_alert_rules(world.gp_section)
    assert alerts() == [] and told() == []
    clock.freeze(cst(2026, 4, 3, 9))
    run_alert_rules(world.gp_section)
    assert alerts() == [("suspension_limit", "due_soon")]
    assert told() and all("2026-04-08 00:00" in body and "第57条" in body for body in told())
    run_alert_rules(world.gp_section)  # the same finding is not raised twice
    assert len(alerts()) == 1
    clock.freeze(cst(2026, 4, 8, 0, 1))
    run_alert_rules(world.gp_section)
    assert alerts() == [("suspension_limit", "due_soon"), ("suspension_limit", "overdue")]
    assert any("恢复" in body for body in told())

    from app.projects import services as projects

    projects.resume_section(world.gp_section, actor=world.regulator2, note="暂停期满，恢复采购活动")
    assert suspension_limit(case) is None
    clock.freeze(cst(2026, 4, 20, 9))
    run_alert_rules(world.gp_section)
    assert len(alerts()) == 2


def test_an_accepted_complaint_is_sent_to_the_respondent(world: World, db_session: Any) -> None:
    """The respondent (the tenderer or purchaser side) learns of an accepted complaint and where to answer
    it; in government procurement it owes a written explanation with its evidence within 5 工作日 of the
    copy (财政部令第94号), which the case shows."""
    from app.core.models import OutboxMessage as Msg

    def notices(number: str) -> list[str]:
        return list(
            db_session.scalars(
                select(Msg.body).where(
                    Msg.subject == f"关于您项目的投诉 {number}",
                    Msg.channel == "inbox",
                    Msg.user_id == world.tenderer.id,
                )
            )
        )

    gp = filed_gp_complaint(world, at=cst(2026, 3, 5, 10))  # a Thursday
    assert services.explanation_due(gp) is None and notices(gp.number) == []  # not accepted yet
    services.accept_complaint(gp, actor=world.regulator2)
    due = services.explanation_due(gp)
    assert due == cst(2026, 3, 13, 0)  # 5 working days from Fri 03-06: Thu 03-12, 24:00
    [body] = notices(gp.number)
    assert "2026-03-13 00:00" in body and "财政部令第94号" in body and world.finance.name in body
    assert [e.action for e in gp.events].count("respondent_notified") == 1

    obj = _answered_objection(world)
    works = complaint_draft(world, prior=obj.id, knew_at=cst(2026, 3, 3, 9))
    services.submit_complaint(works, actor=world.bidder)
    services.accept_complaint(works, actor=world.regulator)
    [body] = notices(works.number)
    assert "案件往来" in body and "财政部令" not in body
    assert services.explanation_due(works) is None
