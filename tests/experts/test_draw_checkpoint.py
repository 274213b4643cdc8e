"""Issue 16: a draw reveal is signed into a checkpoint when it commits, so the public can pin it at once."""

from __future__ import annotations

from sqlalchemy import select

from app.core import audit
from app.core.db import db
from app.core.models import AuditCheckpoint
from app.experts import draws
from tests.experts.conftest import World


def test_the_reveal_commits_with_a_checkpoint_covering_it(world: World) -> None:
    world.pool(12)
    draw = world.request()
    db.session.commit()
    draws.witness(draw, "dice 3 6 1 4 2 5", actor=world.regulator)
    db.session.commit()
    newest = db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1))
    assert newest is not None
    assert (newest.tree_size, newest.reason) == (audit.tree_size(), "draw reveal")
