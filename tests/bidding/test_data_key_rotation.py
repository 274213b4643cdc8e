"""Rotating the platform data key (docs/operations.md): the decrypted documents at rest, the shares of a
ceremony still collecting, and the bidder commitments in audit leaves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app.bidding import atrest, opening, uploads
from app.bidding.models import SealedEnvelope
from app.core.db import db
from app.core.models import AuditLeaf
from tests.bidding.conftest import Tender, after_deadline
from tests.bidding.test_opening import _open, _submit_bids

NEW_KEY = "rotated-data-key-" + "b" * 32


def use_keys(app: Flask, monkeypatch: pytest.MonkeyPatch, current: str, *retired: str) -> None:
    monkeypatch.setitem(app.config, "DATA_KEY", current)
    monkeypatch.setitem(app.config, "DATA_KEYS_RETIRED", list(retired))


def rotate(app: Flask, *args: str) -> dict[str, int]:
    result = app.test_cli_runner().invoke(args=["keys", "rotate-data", *args])
    assert result.exit_code == 0, result.output
    leaf = db.session.scalars(select(AuditLeaf).order_by(AuditLeaf.idx.desc()).limit(1)).one()
    assert leaf.action == "core:data_key:rotate"
    return dict(json.loads(leaf.payload)["counts"])


def test_documents_at_rest_rotate_to_the_current_key(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key = app.config["DATA_KEY"]
    _submit_bids(client, tender, ["1.00", "2.00", "3.00"])
    assert _open(app, tender) is not None
    docs = db_session.scalars(select(SealedEnvelope).where(SealedEnvelope.plaintext_path.is_not(None))).all()
    assert docs
    with app.test_request_context():
        plain = {d.id: b"".join(opening.read_document(d)) for d in docs}
        rows = {d.id: (d.plaintext_path, d.plaintext_size) for d in docs}

        use_keys(app, monkeypatch, NEW_KEY)
        with pytest.raises(atrest.AtRestError, match="none of the data keys"):
            b"".join(opening.read_document(docs[0]))

        use_keys(app, monkeypatch, NEW_KEY, old_key)
        assert {d.id: b"".join(opening.read_document(d)) for d in docs} == plain
        counts = rotate(app, "--documents")
        assert counts["documents"] == len(docs) and counts["documents_unreadable"] == 0
        assert {d.id: (d.plaintext_path, d.plaintext_size) for d in docs} == rows
        assert not list(Path(app.config["BLOB_DIR"]).rglob("*.rekey"))

        use_keys(app, monkeypatch, NEW_KEY)
        assert {d.id: b"".join(opening.read_document(d)) for d in docs} == plain
        assert set(rotate(app, "--documents").values()) == {0}


def test_shares_of_a_collecting_ceremony_rotate_and_commitments_check_with_retired_keys(
    app: Flask, client: FlaskClient, tender: Tender, db_session: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key = app.config["DATA_KEY"]
    _submit_bids(client, tender, ["1.00", "2.00", "3.00"], document=False)
    env = db_session.scalars(select(SealedEnvelope)).first()
    leaf = db_session.scalar(select(AuditLeaf).where(AuditLeaf.idx == env.audit_leaf_idx))
    commitment = json.loads(leaf.payload)["bidder_commitment"]
    first, second = tender.custodians[:2]
    with app.test_request_context():
        after_deadline()
        ceremony = opening.start_ceremony(tender.section.id, actor=tender.world.staff)
        opening.submit_share(tender.section.id, tender.mnemonic(first), actor=first)

        use_keys(app, monkeypatch, NEW_KEY, old_key)
        assert uploads.is_bidder_commitment(env.org_id, env.id, commitment)
        assert rotate(app)["opening_shares"] == 1
        assert rotate(app)["opening_shares"] == 0

        use_keys(app, monkeypatch, NEW_KEY)
        # the audit leaf is immutable: its commitment checks only with the retired key
        assert not uploads.is_bidder_commitment(env.org_id, env.id, commitment)
        _, quorum = opening.submit_share(tender.section.id, tender.mnemonic(second), actor=second)
        assert quorum
        assert opening.run_opening(ceremony.id, actor=second).status == "completed"
