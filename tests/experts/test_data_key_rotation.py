"""Rotating the platform data key (docs/operations.md, "Rotating the data key"): TOTP secrets, expert ID
numbers and their lookup hashes, and draw randomness not yet revealed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app.accounts import services as accounts
from app.core import crypto
from app.core.crypto import DataKeyError
from app.core.db import db
from app.core.models import AuditLeaf
from app.experts import draws, services
from app.experts.models import Expert
from tests.experts.conftest import World
from tests.factories import login

NEW_KEY = "rotated-data-key-" + "b" * 32


def use_keys(app: Flask, monkeypatch: pytest.MonkeyPatch, current: str, *retired: str) -> None:
    monkeypatch.setitem(app.config, "DATA_KEY", current)
    monkeypatch.setitem(app.config, "DATA_KEYS_RETIRED", list(retired))


def rotate(app: Flask, *args: str) -> dict[str, Any]:
    result = app.test_cli_runner().invoke(args=["keys", "rotate-data", *args])
    assert result.exit_code == 0, result.output
    leaf = db.session.scalars(select(AuditLeaf).order_by(AuditLeaf.idx.desc()).limit(1)).one()
    assert leaf.action == "core:data_key:rotate"
    return dict(json.loads(leaf.payload))


def test_values_under_a_retired_key_stay_readable_and_rotate_to_the_current_key(
    app: Flask, client: FlaskClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key = app.config["DATA_KEY"]
    user = world.staff  # signs in with TOTP
    secret = accounts.totp_secret(user)
    expert = world.expert()
    id_number = services.reveal_id_number(expert, actor=world.manager)
    world.pool(11)
    draw = world.request()  # the round's server randomness stays encrypted until the witness

    use_keys(app, monkeypatch, NEW_KEY)  # the retired key forgotten: a clear error, not a wrong value
    with pytest.raises(DataKeyError, match="DATA_KEYS_RETIRED"):
        accounts.totp_secret(user)
    with pytest.raises(DataKeyError):
        services.reveal_id_number(expert, actor=world.manager)

    use_keys(app, monkeypatch, NEW_KEY, old_key)
    assert accounts.totp_secret(user) == secret
    assert services.find_by_id_number(id_number) == expert
    login(client, user)  # password, then a TOTP code checked against the secret under the retired key

    payload = rotate(app)
    experts = db.session.scalar(select(func.count()).select_from(Expert))
    assert (
        payload["fingerprint"] == crypto.data_key_fingerprint(NEW_KEY) != crypto.data_key_fingerprint(old_key)
    )
    assert payload["retired"] == [crypto.data_key_fingerprint(old_key)]
    assert NEW_KEY not in leaf_texts() and old_key not in leaf_texts()
    counts = payload["counts"]
    assert counts["expert_id_numbers"] == counts["expert_id_hashes"] == experts
    assert counts["totp_secrets"] >= 1 and counts["draw_randomness"] == 1
    assert "documents" not in counts

    use_keys(app, monkeypatch, NEW_KEY)
    db.session.expire_all()
    assert accounts.totp_secret(user) == secret
    assert services.find_by_id_number(id_number) == expert
    assert services.reveal_id_number(expert, actor=world.manager) == id_number
    draws.witness(draw, "dice 3 6 1 4 2 5", actor=world.regulator)
    assert draws.verify_draw(draw).ok
    login(app.test_client(), user)

    again = rotate(app)["counts"]
    assert set(again.values()) == {0}


def leaf_texts() -> str:
    return "\n".join(db.session.scalars(select(AuditLeaf.payload)))
