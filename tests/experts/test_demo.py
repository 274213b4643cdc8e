"""The demo pool: a few hundred experts across specialties, deterministic, and a draw that a regulator can
witness and verify."""

from __future__ import annotations

from sqlalchemy import func, select

from app.core.db import db
from app.core.permissions import OrgKind, Role
from app.experts import draws
from app.experts.demo import seed_experts
from app.experts.models import Expert, ExpertDraw, ExpertSpecialty
from tests.experts.conftest import World, quick_user
from tests.factories import make_org


def test_demo_pool(world: World) -> None:
    expert_user = quick_user(Role.EXPERT, make_org(OrgKind.EXPERT_EMPLOYER))
    created = seed_experts({}, {"staff": world.staff, "expert": expert_user}, count=120)
    assert len(created) == 120
    assert db.session.scalar(select(func.count(func.distinct(ExpertSpecialty.specialty_code)))) >= 25
    assert db.session.scalar(select(Expert).where(Expert.user_id == expert_user.id)) is not None
    draw = db.session.scalar(select(ExpertDraw).where(ExpertDraw.section_id == world.section.id))
    assert draw is not None and draw.status == "awaiting_witness"
    draws.witness(draw, "demo dice 5 2 6", actor=world.regulator)
    assert draws.verify_draw(draw).ok
