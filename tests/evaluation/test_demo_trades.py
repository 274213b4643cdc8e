"""Issue 15 — the demo city shows the lawful flows: a recusal at the opening with a replacement draw, and a
government procurement section with its result announcement and a challenge (质疑) filed after it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Flask
from sqlalchemy import select

from app import demo
from app.complaints.models import Case
from app.contracts import services as contracts
from app.contracts.models import ProcurementIntention
from app.core.clock import CST, clock
from app.core.db import db
from app.evaluation import procurement, services
from app.experts import draws
from app.experts.models import PanelSeat
from app.projects.models import Section


def test_demo_city_has_a_recusal_with_a_replacement_draw_and_a_challenged_result_announcement(
    app: Flask, db_session: Any
) -> None:
    clock.freeze(dt.datetime(2026, 11, 16, 9, 0, tzinfo=CST))  # the day the demo is installed
    with app.test_request_context():
        lines = demo.seed()
    assert any(line.startswith("expert-s") and "| expert" in line for line in lines)  # drawn experts sign in

    recused = db.session.scalar(select(PanelSeat).where(PanelSeat.status == "recused"))
    assert recused is not None and "南通一建集团有限公司" in (recused.recusal_reason or "")
    draw = recused.draw
    assert [r.status for r in draw.rounds] == ["revealed", "revealed"]  # the replacement draw, witnessed
    assert any(s.round_number == 2 and s.status == "confirmed" for s in draw.seats)
    assert draws.verify_draw(draw).ok
    works = db.session.get(Section, draw.section_id)
    assert works is not None and works.status == "opened"

    gp = db.session.scalar(
        select(Section).where(Section.status == "awarded", Section.name.contains("生化分析仪"))
    )
    assert gp is not None and procurement.is_procurement(gp)
    ev = services.evaluation_for(gp)
    assert ev is not None and ev.notice_kind == "result_announcement" and ev.awarded_at is not None
    challenge = db.session.scalar(select(Case).where(Case.section_id == gp.id, Case.matter == "results"))
    assert challenge is not None and challenge.status == "submitted" and challenge.filed_at is not None
    assert challenge.filed_at > ev.awarded_at  # after the result announcement
    assert procurement.contract_blockers(gp)  # the contract waits for the answer
    # the other procurement section reached its contract: published on time, with one amendment; both
    # procurement projects published their intentions at least 30 days before their announcements
    desks = db.session.scalar(select(Section).where(Section.name.contains("课桌椅")))
    assert desks is not None and desks.status == "awarded"
    contract = contracts.contract_for(desks)
    assert contract is not None and contract.status == "published" and not contract.published_late
    assert [a.number for a in contract.amendments] == [1]
    shown = db.session.scalars(
        select(ProcurementIntention).where(ProcurementIntention.status == "published")
    ).all()
    assert len(shown) == 3  # the two trades and the published procurement tender of the projects demo
    for intention in shown:
        section = db.session.scalar(select(Section).where(Section.project_id == intention.project_id))
        assert section is not None and section.published_at is not None and intention.published_at is not None
        assert section.published_at - intention.published_at >= dt.timedelta(days=30)
    assert clock.now() == dt.datetime(2026, 11, 16, 9, 0, tzinfo=CST)  # the demo clock is back
