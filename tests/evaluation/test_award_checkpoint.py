"""Issue 16: an award is signed into a checkpoint when it commits, so the public can pin it at once (as a
draw reveal, tests/experts/test_draw_checkpoint.py, and a case decision,
tests/complaints/test_decision_checkpoint.py)."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.core import audit
from app.core.checkpoint_note import parse_checkpoint_note, verify_checkpoint_note
from app.core.db import db
from app.core.models import AuditCheckpoint, AuditLeaf
from tests.evaluation.conftest import World, award_after_publicity, to_publicity


def test_the_award_commits_with_a_checkpoint_covering_it(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    trade, _users = to_publicity(app, client, world, ["9500000", "9400000", "9300000"])
    db.session.commit()
    before = db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1))
    ev = award_after_publicity(trade)
    db.session.commit()
    assert ev.status == "awarded"

    newest = db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1))
    assert newest is not None and newest is not before
    assert (newest.tree_size, newest.reason) == (audit.tree_size(), "award")
    award_leaf = db.session.scalar(
        select(AuditLeaf).where(
            AuditLeaf.action == "evaluation:award:issue", AuditLeaf.object_id == str(ev.id)
        )
    )
    assert award_leaf is not None and award_leaf.idx < newest.tree_size  # the award is inside
    with app.app_context():
        assert verify_checkpoint_note(newest.note, audit.platform_public_keys())
        assert parse_checkpoint_note(newest.note)[1:] == (newest.tree_size, bytes(newest.root_hash))
        assert bytes(newest.root_hash) == audit.root_hash(newest.tree_size)
