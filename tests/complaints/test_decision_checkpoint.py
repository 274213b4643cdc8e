"""Issue 16: a complaint decision is signed into a checkpoint when it commits."""

from __future__ import annotations

from sqlalchemy import select

from app.complaints import services
from app.complaints.enums import Matter
from app.core import audit
from app.core.db import db
from app.core.models import AuditCheckpoint

from .conftest import World
from .test_cases import complaint_draft


def test_the_decision_commits_with_a_checkpoint_covering_it(world: World) -> None:
    case = complaint_draft(world, matter=Matter.OTHER)
    services.submit_complaint(case, actor=world.bidder)
    services.accept_complaint(case, actor=world.regulator)
    db.session.commit()
    services.decide_complaint(
        case, services.DecisionInput(upheld=False, decision="投诉事项缺乏事实依据。"), actor=world.regulator
    )
    db.session.commit()
    newest = db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1))
    assert newest is not None
    assert (newest.tree_size, newest.reason) == (audit.tree_size(), "case decision")
