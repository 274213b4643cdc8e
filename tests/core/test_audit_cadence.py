"""Issue 16 item 3: checkpoints on a cadence and at key events, their publication, `flask audit verify`
failing on an unprotected tail, and the witness's note handling (its runs against a live server are in
test_witness_live.py)."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.core import audit, audit_cli, witness
from app.core.clock import clock
from app.core.models import AuditCheckpoint

T0 = dt.datetime(2026, 5, 4, 2, 0, tzinfo=dt.UTC)


def append(n: int, tag: str = "cadence") -> None:
    for i in range(n):
        audit.record(f"test:{tag}:step", object_type="thing", object_id=i, payload={"i": i})


def checkpoints(session: Session) -> list[tuple[int, str]]:
    rows = session.execute(
        select(AuditCheckpoint.tree_size, AuditCheckpoint.reason).order_by(AuditCheckpoint.id)
    ).all()
    return [(int(size), reason) for size, reason in rows]


def test_checkpoint_due_rules() -> None:
    due = audit.checkpoint_due
    assert not due(0, None, T0, interval=60, every=1000)  # an empty log needs none
    assert due(1, None, T0, interval=60, every=1000)  # a new log: at once
    latest = (10, T0)
    assert not due(10, latest, T0 + dt.timedelta(hours=5), interval=60, every=1000)  # not grown
    assert not due(11, latest, T0 + dt.timedelta(seconds=59), interval=60, every=1000)
    assert due(11, latest, T0 + dt.timedelta(seconds=60), interval=60, every=1000)
    assert due(1010, latest, T0 + dt.timedelta(seconds=1), interval=60, every=1000)  # grown by `every`
    assert not due(1009, latest, T0 + dt.timedelta(seconds=1), interval=60, every=1000)
    assert due(11, latest, T0 - dt.timedelta(seconds=1), interval=60, every=1000)  # clock moved back
    assert due(11, latest, T0, interval=0, every=0)  # interval 0: every commit that grew the log


def test_the_cadence_signs_a_small_log_at_commit(db_session: Session) -> None:
    with clock.frozen_at(T0):
        before = checkpoints(db_session)
        append(3)
        assert checkpoints(db_session) == before  # nothing signed before the commit
        db_session.commit()
        size = audit.tree_size()
        first = checkpoints(db_session)[len(before) :]
        assert first == [(size, "cadence")]  # the first commit of a new log is signed at once

        clock.advance(dt.timedelta(seconds=30))
        append(2)
        db_session.commit()
        assert checkpoints(db_session)[len(before) :] == first  # within the interval: nothing

        clock.advance(dt.timedelta(seconds=31))  # 61 s after the newest checkpoint
        append(1)
        db_session.commit()
        assert checkpoints(db_session)[len(before) :] == [*first, (size + 3, "cadence")]

        clock.advance(dt.timedelta(hours=1))
        db_session.commit()  # a transaction that did not append signs nothing
        assert len(checkpoints(db_session)) == len(before) + 2


def test_growth_by_every_signs_within_the_interval(
    app: Flask, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "AUDIT_CHECKPOINT_EVERY", 5)
    with clock.frozen_at(T0):
        append(1)
        db_session.commit()
        base = audit.tree_size()
        append(7)  # crosses a multiple of 5 ("periodic", inside the transaction), then commits 2 more
        db_session.commit()
        sizes = [size for size, _ in checkpoints(db_session) if size > base]
        assert sizes and max(sizes) <= audit.tree_size()
        assert audit.tree_size() - max(sizes) < 5


def test_a_rolled_back_transaction_signs_nothing(db_session: Session) -> None:
    with clock.frozen_at(T0):
        count = len(checkpoints(db_session))
        append(2)
        audit.checkpoint_soon("award")
        db_session.rollback()
        db_session.commit()
        assert len(checkpoints(db_session)) == count


def test_checkpoint_soon_signs_every_leaf_of_the_transaction(db_session: Session) -> None:
    with clock.frozen_at(T0):
        append(1)
        db_session.commit()
        append(1, "reveal")
        audit.checkpoint_soon("draw reveal")
        append(2, "after")  # leaves after the key event in the same transaction are covered too
        db_session.commit()
        assert checkpoints(db_session)[-1] == (audit.tree_size(), "draw reveal")


def test_a_size_is_signed_once(db_session: Session) -> None:
    append(2)
    first = audit.checkpoint(reason="opening")
    again = audit.checkpoint(reason="award")
    assert again.id == first.id and again.reason == "opening"
    append(1)
    assert audit.checkpoint().tree_size == first.tree_size + 1


def test_verify_fails_when_checkpoints_were_deleted(app: Flask, db_session: Session) -> None:
    with clock.frozen_at(T0):
        append(4)
        db_session.commit()
        assert audit.verify_log().ok
        db_session.execute(delete(AuditCheckpoint))
        assert audit.verify_log().ok  # the uncovered leaves span less than the cadence allows
        allowed = app.config["AUDIT_CHECKPOINT_INTERVAL"] + app.config["AUDIT_CHECKPOINT_GRACE"]
        clock.advance(dt.timedelta(seconds=allowed + 1))
        assert audit.verify_log().ok  # a quiet log is no problem
        append(1)  # a later leaf: with the checkpoints in place, its commit would have been signed
        result = audit.verify_log()
        size = audit.tree_size()
        assert not result.ok
        assert result.problems == [
            f"no checkpoint covers the last {size} leaves (no checkpoint at all; "
            f"they span {allowed + 1:.0f} s, the cadence allows {allowed:.0f} s): "
            "checkpoints were deleted, or the cadence is off"
        ]
        audit.checkpoint()
        assert audit.verify_log().ok


def test_verify_fails_on_more_uncovered_leaves_than_every(
    app: Flask, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    with clock.frozen_at(T0):
        append(1)
        cp = audit.checkpoint()
        monkeypatch.setitem(app.config, "AUDIT_CHECKPOINT_EVERY", 0)  # nothing signs while appending
        append(6)
        monkeypatch.setitem(app.config, "AUDIT_CHECKPOINT_EVERY", 5)
        problems = audit.verify_log().problems
        assert problems and problems[0].startswith(
            f"no checkpoint covers the last 6 leaves (the newest checkpoint covers {cp.tree_size};"
        )


def test_verify_compares_with_a_witness_pin(db_session: Session, tmp_path: Path) -> None:
    append(5)
    pinned = audit.checkpoint().note
    assert audit.verify_log(pinned=[("pinned by W", pinned)]).ok
    forged = pinned.replace(f"\n{audit.tree_size()}\n", f"\n{audit.tree_size() + 3}\n")
    problems = audit.verify_log(pinned=[("pinned by W", forged)]).problems
    assert problems == ["checkpoint pinned by W: signature does not verify with any registered platform key"]


def test_verify_reports_a_log_shorter_than_the_witness_pin(
    app: Flask, db_session: Session, tmp_path: Path
) -> None:
    """The rollback case: the witness pinned a tree larger than the log now stored (signed elsewhere, here
    by the same key on a longer log that the database no longer has)."""
    append(3)
    audit.checkpoint()
    size = audit.tree_size()
    body = f"{app.config['AUDIT_ORIGIN']}\n{size + 2}\n{base64.b64encode(bytes(32)).decode()}\n"
    note = audit._sign_note(body)
    state = tmp_path / "w"
    state.mkdir()
    (state / "checkpoint").write_text(note, encoding="utf-8")
    result = app.test_cli_runner().invoke(audit_cli.verify_command, ["--witness-state", str(state)])
    assert result.exit_code == 1
    assert f"covers {size + 2} leaves, only {size} are stored (log truncated)" in result.output


def test_checkpoint_cli_if_due(app: Flask, db_session: Session) -> None:
    runner = app.test_cli_runner()
    with clock.frozen_at(T0):
        append(2)
        out = runner.invoke(audit_cli.checkpoint_command, ["--if-due", "--reason", "cron"])
        assert out.exit_code == 0 and out.output.startswith(app.config["AUDIT_ORIGIN"])
        assert checkpoints(db_session)[-1] == (audit.tree_size(), "cron")
        again = runner.invoke(audit_cli.checkpoint_command, ["--if-due", "--reason", "cron"])
        assert again.exit_code == 0 and again.output == ""  # not grown: nothing due


def test_published_checkpoints_page_by_size(client: FlaskClient, db_session: Session) -> None:
    sizes = []
    for _ in range(3):
        append(1)
        sizes.append(audit.checkpoint().tree_size)
    db_session.commit()
    start = sizes[0] - 1
    page = client.get(f"/api/v1/audit/checkpoints?after={start}&limit=2").get_json()
    assert [cp["tree_size"] for cp in page] == sizes[:2]
    rest = client.get(f"/api/v1/audit/checkpoints?after={page[-1]['tree_size']}").get_json()
    assert [cp["tree_size"] for cp in rest] == sizes[2:]
    assert all(audit.verify_checkpoint_note(cp["note"], audit.platform_public_key()) for cp in page + rest)
    assert client.get("/api/v1/audit/checkpoints?limit=0").status_code == 422


def test_fetching_the_latest_signs_one_when_due(client: FlaskClient, db_session: Session) -> None:
    with clock.frozen_at(T0):
        append(1)
        db_session.commit()
        size = audit.tree_size()
        append(2)
        db_session.flush()
        # the two leaves are committed by the test client before the request (a savepoint); the commit hook
        # signed nothing because the newest checkpoint is fresh
        assert client.get("/api/v1/audit/checkpoints/latest").get_json()["tree_size"] == size
        clock.advance(dt.timedelta(seconds=61))
        assert client.get("/api/v1/audit/checkpoints/latest").get_json()["tree_size"] == size + 2
        count = db_session.scalar(select(func.count()).select_from(AuditCheckpoint))
        client.get("/api/v1/audit/checkpoints/latest")
        assert db_session.scalar(select(func.count()).select_from(AuditCheckpoint)) == count


def test_witness_reads_platform_notes(app: Flask, db_session: Session) -> None:
    append(2)
    cp = audit.checkpoint()
    key = witness.parse_verifier_key(audit.platform_verifier_key())
    assert key.name == app.config["AUDIT_ORIGIN"]
    got = witness.verified_checkpoint(cp.note, [key])
    assert (got.origin, got.size, got.root) == (app.config["AUDIT_ORIGIN"], cp.tree_size, cp.root_hash)
    with pytest.raises(ValueError, match="no valid signature"):
        witness.verified_checkpoint(cp.note.replace(f"\n{cp.tree_size}\n", "\n1\n"), [key])
    other = audit.verifier_key("another.example/log", audit.platform_public_key())
    with pytest.raises(ValueError, match="no valid signature"):
        witness.verified_checkpoint(cp.note, [witness.parse_verifier_key(other)])
    name, _, b64 = audit.platform_verifier_key().split("+", 2)
    with pytest.raises(ValueError, match="id does not match"):
        witness.parse_verifier_key(f"{name}+{'0' * 8}+{b64}")
