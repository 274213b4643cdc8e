"""The audit log against the database: appends, proofs, checkpoints, tamper detection, immutability."""

from __future__ import annotations

import base64
import datetime as dt
import enum
import hashlib
import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.core import audit, audit_cli, merkle
from app.core.clock import clock
from app.core.errors import DomainError
from app.core.models import AuditCheckpoint, AuditLeaf, AuditNode
from tests.offline import ggzy_audit


class Colour(enum.Enum):
    RED = "red"


@dataclass
class FakeActor:
    id: int
    role: str
    org_id: int


ACTOR = FakeActor(id=7, role="agency_staff", org_id=3)


def all_leaf_bytes(session: Session) -> list[bytes]:
    leaves = session.scalars(select(AuditLeaf).order_by(AuditLeaf.idx)).all()
    assert [leaf.idx for leaf in leaves] == list(range(len(leaves)))
    return [audit.leaf_bytes_of(leaf) for leaf in leaves]


def append(n: int, prefix: str = "test") -> list[AuditLeaf]:
    return [
        audit.record(
            f"{prefix}:thing:changed",
            actor=ACTOR if i % 3 else None,
            object_type="thing",
            object_id=i,
            payload={"i": i, "名称": "标段 A", "amount": Decimal("12.50")},
            source_ip="10.0.0.1",
        )
        for i in range(n)
    ]


@pytest.fixture
def tamperable(db_session: Session, is_postgres: bool) -> None:
    """Switch the append-only triggers off inside the test's transaction (the rollback restores them)."""
    if is_postgres:
        db_session.execute(text("ALTER TABLE audit_leaf DISABLE TRIGGER USER"))
        db_session.execute(text("ALTER TABLE audit_node DISABLE TRIGGER USER"))
    else:
        for stmt in audit.SQLITE_DROP_TRIGGERS:
            db_session.execute(text(stmt))


def test_canonical_json() -> None:
    when = dt.datetime(2026, 1, 2, 11, 4, 5, 6, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    got = audit.canonical_json({"b": 1, "a": [when, Decimal("1.10"), Colour.RED], "c": '中文 "q"'})
    assert got == '{"a":["2026-01-02T03:04:05.000006Z","1.10","red"],"b":1,"c":"中文 \\"q\\""}'
    with pytest.raises(ValueError, match="naive"):
        audit.canonical_json({"t": dt.datetime(2026, 1, 1)})  # naive on purpose


def test_appended_leaves_give_the_naive_root(db_session: Session) -> None:
    start = audit.tree_size()
    leaves = append(37)
    db_session.commit()

    assert [leaf.idx for leaf in leaves] == list(range(start, start + 37))
    assert audit.tree_size() == start + 37
    data = all_leaf_bytes(db_session)
    # Leaf hash = SHA-256(0x00 ‖ canonical leaf JSON), and the head is MTH over all of them.
    assert all(merkle.leaf_hash(data[leaf.idx]) == leaf.leaf_hash for leaf in leaves)
    assert audit.root_hash() == merkle.mth(data)
    for size in (1, 2, 3, start + 5, start + 16, start + 36):
        assert audit.root_hash(size) == merkle.mth(data[:size])

    last = json.loads(data[-2])  # i = 35: an actor (every third leaf is a system one)
    assert last["actor_id"] == ACTOR.id and last["actor_role"] == "agency_staff" and last["object_id"] == "35"
    assert last["payload_sha256"] == hashlib.sha256(leaves[-2].payload.encode()).hexdigest()
    assert json.loads(data[-1])["actor_id"] is None
    assert json.loads(leaves[-1].payload)["amount"] == "12.50"


def test_proofs_served_from_the_database_verify(db_session: Session) -> None:
    append(45)
    data = all_leaf_bytes(db_session)
    n = len(data)
    roots = {size: merkle.mth(data[:size]) for size in range(n + 1)}
    for size in sorted({1, 2, 7, 8, 33, n - 1, n}):
        for index in range(size):
            proof = audit.inclusion_proof(index, size)
            assert len(proof) <= max(1, (size - 1).bit_length())
            assert merkle.verify_inclusion(merkle.leaf_hash(data[index]), index, size, proof, roots[size])
    for old, new in [(1, n), (3, 7), (7, 8), (8, 33), (13, n), (n - 1, n), (n, n)]:
        proof = audit.consistency_proof(old, new)
        assert merkle.verify_consistency(old, new, roots[old], roots[new], proof)
    with pytest.raises(merkle.InvalidProofError):
        audit.inclusion_proof(0, n + 1)


def test_a_batch_appends_the_same_leaves_as_one_by_one(db_session: Session) -> None:
    """Leaves, subtrees, head, root and proofs of a batch are byte for byte those of the same appends made
    one by one (same clock), and the batch writes them in one go when it ends."""
    clock.freeze(dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC))
    append(5, "before")  # a log that does not start at a power of two
    db_session.commit()
    start = audit.tree_size()

    def snapshot() -> tuple[Any, ...]:
        n = audit.tree_size()
        data = all_leaf_bytes(db_session)
        nodes = db_session.execute(
            select(AuditNode.level, AuditNode.index, AuditNode.hash).order_by(
                AuditNode.level, AuditNode.index
            )
        ).all()
        proofs = [audit.inclusion_proof(i, n) for i in range(n)]
        return (
            n,
            data,
            [tuple(r) for r in nodes],
            audit.root_hash(),
            proofs,
            audit.consistency_proof(start, n),
        )

    one_by_one = db_session.begin_nested()
    append(27)
    expected = snapshot()
    one_by_one.rollback()
    assert audit.tree_size() == start

    with audit.batch():
        leaves = append(27)
        assert audit.tree_size() == start  # nothing written yet
        with audit.batch():  # a nested block joins the outer one
            assert audit.record("inner:thing:changed").idx == start + 27
    got = snapshot()
    assert [leaf.idx for leaf in leaves] == list(range(start, start + 27))
    # the inner leaf comes last: compare everything before it
    assert got[0] == expected[0] + 1
    assert got[1][: expected[0]] == expected[1]
    assert audit.root_hash(expected[0]) == expected[3]
    assert [audit.inclusion_proof(i, expected[0]) for i in range(expected[0])] == expected[4]
    assert set(expected[2]) <= set(got[2])
    assert audit.verify_log().ok


def test_a_batch_that_raises_writes_nothing(db_session: Session) -> None:
    start = audit.tree_size()
    with pytest.raises(RuntimeError, match="refused"), audit.batch():
        append(3)
        raise RuntimeError("refused")
    assert audit.tree_size() == start
    assert audit.record("after:thing:changed").idx == start  # the head was read again
    db_session.commit()
    assert audit.verify_log().ok


def test_a_checkpoint_inside_a_batch_signs_the_pending_leaves(db_session: Session) -> None:
    with audit.batch():
        append(4)
        cp = audit.checkpoint()
        append(2)
    assert cp.tree_size == audit.tree_size() - 2
    assert bytes(cp.root_hash) == audit.root_hash(cp.tree_size)
    db_session.commit()
    assert audit.verify_log().ok


def test_checkpoint_is_a_signed_note(app: Flask, db_session: Session) -> None:
    append(5)
    cp = audit.checkpoint(reason="opening")
    origin, size, root = audit.parse_checkpoint_note(cp.note)
    assert (origin, size, root) == (app.config["AUDIT_ORIGIN"], audit.tree_size(), audit.root_hash())
    assert (cp.tree_size, cp.root_hash, cp.reason) == (size, root, "opening")
    lines = cp.note.split("\n")
    assert lines[3] == "" and lines[4].startswith(f"— {origin} ") and cp.note.endswith("\n")

    key = audit.platform_public_key()
    assert audit.verify_checkpoint_note(cp.note, key)
    assert audit.verify_checkpoint_note(cp.note, audit.platform_verifier_key())
    assert not audit.verify_checkpoint_note(cp.note.replace(f"\n{size}\n", f"\n{size + 1}\n"), key)
    assert not audit.verify_checkpoint_note(cp.note, Ed25519PrivateKey.generate().public_key())


def test_regulator_cosignature(db_session: Session) -> None:
    append(2)
    cp = audit.checkpoint()
    witness = Ed25519PrivateKey.generate()
    public_b64 = base64.b64encode(witness.public_key().public_bytes_raw()).decode()
    body = cp.note.split("\n\n")[0] + "\n"
    signature = base64.b64encode(witness.sign(body.encode())).decode()
    size_before = audit.tree_size()

    audit.cosign(cp, actor=ACTOR, cosignature=signature, public_key_b64=public_b64)
    db_session.commit()
    stored = db_session.get(AuditCheckpoint, cp.id)
    assert stored is not None
    assert [(c["actor_id"], c["public_key"]) for c in stored.cosignatures] == [("7", public_b64)]
    assert audit.tree_size() == size_before + 1  # the cosignature is itself audited

    forged = base64.b64encode(witness.sign(b"something else")).decode()
    with pytest.raises(audit.InvalidCosignature):
        audit.cosign(cp, actor=ACTOR, cosignature=forged, public_key_b64=public_b64)
    # The pre-C2SP form stays out of the note, and keeps verifying and showing.
    assert "\n\n" in stored.note and stored.note.count("\n— ") == 1
    assert [(v.format, v.valid) for v in audit.cosignature_views(stored)] == [("legacy", True)]


WITNESS = "witness.example.gov.cn/regulator"


def spec_cosignature(key: Ed25519PrivateKey, text: str, timestamp: int, name: str = WITNESS) -> str:
    """c2sp.org/tlog-cosignature v1 with `cryptography` only: key ID over (name, 0x0A, 0x04, key), the
    message "cosignature/v1", "time <t>" and the note text, the blob key ID ‖ u64 time ‖ signature."""
    public = key.public_key().public_bytes_raw()
    key_id = hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    signature = key.sign(f"cosignature/v1\ntime {timestamp}\n{text}".encode())
    return f"— {name} {base64.b64encode(key_id + timestamp.to_bytes(8, 'big') + signature).decode()}"


def witness_vkey(key: Ed25519PrivateKey, name: str = WITNESS) -> str:
    public = key.public_key().public_bytes_raw()
    key_id = hashlib.sha256(name.encode() + b"\n\x04" + public).digest()[:4]
    return f"{name}+{key_id.hex()}+" + base64.b64encode(b"\x04" + public).decode()


def test_the_checkpoint_is_c2sp_tlog_checkpoint_compliant(app: Flask, db_session: Session) -> None:
    append(3)
    cp = audit.checkpoint()
    origin = app.config["AUDIT_ORIGIN"]
    root_b64 = base64.b64encode(cp.root_hash).decode()
    text = f"{origin}\n{cp.tree_size}\n{root_b64}\n"
    assert cp.note.startswith(text + "\n— " + origin + " ") and cp.note.endswith("\n")
    assert not any(ch in origin for ch in " +") and str(cp.tree_size) == str(int(str(cp.tree_size)))
    # The log signature is a plain signed-note Ed25519 signature (type 0x01) under the origin as key name.
    public = audit.platform_public_key().public_bytes_raw()
    blob = base64.b64decode(cp.note.rstrip("\n").rsplit(" ", 1)[1])
    assert blob[:4] == hashlib.sha256(origin.encode() + b"\n\x01" + public).digest()[:4] and len(blob) == 68
    audit.platform_public_key().verify(blob[4:], text.encode())


def test_a_c2sp_cosignature_is_appended_to_the_note(db_session: Session) -> None:
    append(2)
    cp = audit.checkpoint()
    text = cp.note.split("\n\n")[0] + "\n"
    key = Ed25519PrivateKey.generate()
    public_b64 = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    now = 1_765_000_000  # fixed: the app clock is frozen at it
    with clock.frozen_at(dt.datetime.fromtimestamp(now, dt.UTC)):
        line = spec_cosignature(key, text, now - 60)
        # One byte changed (the timestamp, then the note's size) is refused.
        changed = spec_cosignature(key, text.replace(f"\n{cp.tree_size}\n", f"\n{cp.tree_size + 1}\n"), now)
        for bad in (line[:-8] + ("A" if line[-8] != "A" else "B") + line[-7:], changed):
            with pytest.raises(audit.InvalidCosignature):
                audit.cosign(cp, actor=ACTOR, cosignature=bad, public_key_b64=public_b64)
        with pytest.raises(audit.InvalidCosignature):  # another key than the registered one
            other = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
            audit.cosign(cp, actor=ACTOR, cosignature=line, public_key_b64=other)
        with pytest.raises(audit.InvalidCosignature, match="future"):
            audit.cosign(
                cp,
                actor=ACTOR,
                cosignature=spec_cosignature(key, text, now + 3600),
                public_key_b64=public_b64,
            )
        assert cp.cosignatures == [] and cp.note.count("\n— ") == 1

        audit.cosign(cp, actor=ACTOR, cosignature=line, public_key_b64=public_b64)
    db_session.commit()
    stored = db_session.get(AuditCheckpoint, cp.id)
    assert stored is not None
    assert stored.note == text + "\n" + cp.note.split("\n\n")[1].split("\n")[0] + "\n" + line + "\n"
    assert audit.verify_checkpoint_note(
        stored.note, audit.platform_public_keys()
    )  # the log signature still holds
    entry = stored.cosignatures[0]
    assert (entry["format"], entry["name"], entry["timestamp"], entry["line"]) == (
        "cosignature/v1",
        WITNESS,
        now - 60,
        line,
    )
    assert entry["verifier_key"] == witness_vkey(key)
    [view] = audit.cosignature_views(stored)
    assert view.valid and view.signed_at == dt.datetime.fromtimestamp(now - 60, dt.UTC)
    leaf = db_session.scalars(select(AuditLeaf).order_by(AuditLeaf.idx.desc()).limit(1)).one()
    assert leaf.action == "audit:checkpoint:cosigned" and json.loads(leaf.payload)["line"] == line

    # Standard tooling: the served note verifies offline with the platform vkey and the witness vkey.
    assert "cosigned by " + WITNESS in audit_cli.check_witnesses(stored.note, [witness_vkey(key)])
    with pytest.raises(ValueError, match="no cosignature"):
        audit_cli.check_witnesses(stored.note, [witness_vkey(Ed25519PrivateKey.generate())])


def test_stored_cosignatures_that_no_longer_verify_are_shown_as_such(db_session: Session) -> None:
    append(1)
    cp = audit.checkpoint()
    text = cp.note.split("\n\n")[0] + "\n"
    key = Ed25519PrivateKey.generate()
    public_b64 = base64.b64encode(key.public_key().public_bytes_raw()).decode()
    old = {
        "actor_id": "7",
        "public_key": public_b64,
        "signature": base64.b64encode(key.sign(text.encode())).decode(),
    }
    forged = {**old, "signature": base64.b64encode(key.sign(b"other")).decode()}
    line = spec_cosignature(key, text, 1_700_000_000)
    dropped = {
        "format": "cosignature/v1",
        "public_key": public_b64,
        "verifier_key": witness_vkey(key),
        "line": line,
    }
    cp.cosignatures = [old, forged, dropped]  # the last one's line is not in the note
    assert [v.valid for v in audit.cosignature_views(cp)] == [True, False, False]


def test_offline_check_with_witness_keys(app: Flask, db_session: Session, tmp_path: Path) -> None:
    append(6)
    cp = audit.checkpoint()
    text = cp.note.split("\n\n")[0] + "\n"
    key = Ed25519PrivateKey.generate()
    with clock.frozen_at(dt.datetime(2026, 12, 7, tzinfo=dt.UTC)):
        audit.cosign(
            cp,
            actor=ACTOR,
            cosignature=spec_cosignature(key, text, 1_765_000_000),
            public_key_b64=base64.b64encode(key.public_key().public_bytes_raw()).decode(),
        )
    db_session.commit()
    runner = app.test_cli_runner()
    prove = runner.invoke(args=["audit", "prove", "2", "--size", str(cp.tree_size)])
    assert prove.exit_code == 0, prove.output
    (tmp_path / "cp.txt").write_text(cp.note, encoding="utf-8")
    (tmp_path / "proof.json").write_text(prove.output, encoding="utf-8")
    with app.app_context():
        vkey = audit.platform_verifier_key()
    args = ["--checkpoint", str(tmp_path / "cp.txt"), "--proof", str(tmp_path / "proof.json"), "--key", vkey]
    assert audit_cli.main(args) == 0
    assert audit_cli.main([*args, "--witness", witness_vkey(key)]) == 0
    # The same check by the console script's code in an interpreter that has only the standard library and
    # cryptography to import from.
    offline = ggzy_audit(*args, "--witness", witness_vkey(key))
    assert offline.returncode == 0 and offline.stdout.startswith("OK: "), offline.stderr
    assert ggzy_audit(*args, "--witness", witness_vkey(Ed25519PrivateKey.generate())).returncode == 1
    assert audit_cli.main([*args, "--witness", witness_vkey(Ed25519PrivateKey.generate())]) == 1
    # A cosignature by a known witness that fails to verify rejects the note.
    blob = bytearray(base64.b64decode(cp.note.rstrip("\n").rsplit(" ", 1)[1]))
    blob[-1] ^= 1
    tampered = cp.note.rstrip("\n").rsplit(" ", 1)[0] + " " + base64.b64encode(bytes(blob)).decode() + "\n"
    (tmp_path / "cp.txt").write_text(tampered, encoding="utf-8")
    assert audit_cli.main([*args, "--witness", witness_vkey(key)]) == 1


def test_a_checkpoint_every_n_leaves(
    app: Flask, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(app.config, "AUDIT_CHECKPOINT_EVERY", 4)
    append(9)
    periodic = db_session.scalars(select(AuditCheckpoint).where(AuditCheckpoint.reason == "periodic")).all()
    assert len(periodic) >= 2 and all(cp.tree_size % 4 == 0 for cp in periodic)


def test_source_ip_comes_from_the_request(app: Flask, db_session: Session) -> None:
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        leaf = audit.record("test:thing:viewed")
    assert leaf.source_ip == "203.0.113.9"
    assert leaf.actor_id is None and leaf.payload == "{}"


def test_denials_are_recorded(app: Flask, db_session: Session) -> None:
    with app.test_request_context("/admin", environ_base={"REMOTE_ADDR": "198.51.100.4"}):
        leaf = audit.record_denial(permission="admin:user:create", endpoint="admin.users")
    assert (leaf.action, leaf.object_id, leaf.actor_id) == ("security:authz:denied", "admin.users", None)
    assert json.loads(leaf.payload) == {"endpoint": "admin.users", "permission": "admin:user:create"}


def test_verify_log_passes_on_an_honest_log(db_session: Session) -> None:
    append(30)
    audit.checkpoint()
    append(3)
    result = audit.verify_log(batch=7)
    assert result.ok, result.problems
    assert result.size == audit.tree_size() and result.root == audit.root_hash()


def test_verify_agrees_with_leaf_bytes_on_awkward_values(db_session: Session) -> None:
    """verify_log spells the leaf encoding out for speed; it must agree with leaf_bytes() byte for byte."""
    odd = FakeActor(id=0, role='监督 "role"', org_id=2**31 - 1)
    with clock.frozen_at(dt.datetime(2026, 3, 1, 8, 0, 0, tzinfo=dt.UTC)):  # zero microseconds
        audit.record(
            "test:odd:\u2028\t", actor=odd, object_type="t\\y", object_id='"\n\x01中', source_ip="::1"
        )
    audit.record("test:odd:none", object_type=None, object_id=None, payload={"x": None}, source_ip=None)
    audit.checkpoint()  # leaf 0 is from a frozen past: uncovered, it would be reported as the cadence missed
    result = audit.verify_log()
    assert result.ok, result.problems


def test_rewriting_an_old_leaf_is_named_by_verify(db_session: Session, tamperable: None) -> None:
    leaves = append(20)
    audit.checkpoint()
    victim = leaves[5].idx
    db_session.execute(
        text("UPDATE audit_leaf SET action = 'test:thing:erased' WHERE idx = :i"), {"i": victim}
    )

    result = audit.verify_log(batch=8)
    assert not result.ok
    assert result.problems[0] == f"leaf {victim}: leaf_hash does not match its columns (the leaf was altered)"
    assert any(p.startswith("checkpoint ") and "root differs" in p for p in result.problems)


def test_a_rewrite_that_also_fixes_the_leaf_hash_is_still_caught(
    db_session: Session, tamperable: None
) -> None:
    leaves = append(20)
    audit.checkpoint()
    victim = db_session.get(AuditLeaf, leaves[6].idx)
    assert victim is not None
    forged = audit.leaf_bytes(
        created_at=victim.created_at,
        actor_id=victim.actor_id,
        actor_role=victim.actor_role,
        org_id=victim.org_id,
        action="test:thing:erased",
        object_type=victim.object_type,
        object_id=victim.object_id,
        source_ip=victim.source_ip,
        payload_sha256=victim.payload_sha256,
    )
    db_session.execute(
        text("UPDATE audit_leaf SET action = 'test:thing:erased', leaf_hash = :h WHERE idx = :i"),
        {"h": merkle.leaf_hash(forged), "i": victim.idx},
    )
    db_session.expire_all()

    result = audit.verify_log()
    assert not result.ok
    pair = victim.idx - victim.idx % 2
    assert f"leaves {pair}–{pair + 1} were rewritten" in " ".join(result.problems)
    assert any("root differs" in p for p in result.problems)


def test_a_payload_edit_is_caught(db_session: Session, tamperable: None) -> None:
    leaf = append(3)[1]
    db_session.execute(text("UPDATE audit_leaf SET payload = '{}' WHERE idx = :i"), {"i": leaf.idx})
    result = audit.verify_log()
    assert result.problems == [f"leaf {leaf.idx}: payload does not match its payload_sha256"]


def test_truncating_the_log_is_caught(db_session: Session, tamperable: None) -> None:
    append(6)
    cp = audit.checkpoint()
    db_session.execute(text("DELETE FROM audit_leaf WHERE idx = :i"), {"i": cp.tree_size - 1})
    problems = " ".join(audit.verify_log().problems)
    assert f"checkpoint {cp.id} covers {cp.tree_size} leaves, only {cp.tree_size - 1} are stored" in problems


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_leaf SET action = 'x' WHERE idx = :i",
        "DELETE FROM audit_leaf WHERE idx = :i",
        'UPDATE audit_node SET hash = hash WHERE level = 1 AND "index" = 0',
        "DELETE FROM audit_node WHERE level = 1",
    ],
)
def test_the_database_refuses_updates_and_deletes(db_session: Session, sql: str) -> None:
    leaf = append(4)[0]
    with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
        db_session.execute(text(sql), {"i": leaf.idx})


def test_truncate_is_refused_on_postgres(db_session: Session, is_postgres: bool) -> None:
    if not is_postgres:
        pytest.skip("SQLite has no TRUNCATE")
    append(1)
    with pytest.raises(DBAPIError, match="append-only"), db_session.begin_nested():
        db_session.execute(text("TRUNCATE audit_leaf"))


def test_the_orm_refuses_updates_and_deletes(db_session: Session) -> None:
    leaf = append(2)[0]
    leaf.action = "test:thing:erased"
    with pytest.raises(audit.AuditImmutableError, match="update refused"):
        db_session.flush()
    db_session.rollback()

    leaf = append(2)[0]
    db_session.delete(leaf)
    with pytest.raises(audit.AuditImmutableError, match="delete refused"):
        db_session.flush()
    db_session.rollback()

    append(2)
    for stmt in (update(AuditLeaf).values(action="x"), delete(AuditNode), update(AuditNode).values(hash=b"")):
        with pytest.raises(audit.AuditImmutableError):
            db_session.execute(stmt)


def test_cli_verify_prove_and_offline_check(
    app: Flask, db_session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    leaves = append(11)
    runner = app.test_cli_runner()
    cp = runner.invoke(args=["audit", "checkpoint"])
    assert cp.exit_code == 0, cp.output
    verify = runner.invoke(args=["audit", "verify"])
    assert verify.exit_code == 0 and verify.output.startswith("OK:"), verify.output
    prove = runner.invoke(args=["audit", "prove", str(leaves[4].idx)])
    assert prove.exit_code == 0, prove.output
    consistency = runner.invoke(args=["audit", "consistency", "3", str(audit.tree_size())])
    assert consistency.exit_code == 0 and json.loads(consistency.output)["kind"] == "consistency"

    (tmp_path / "cp.txt").write_text(cp.output, encoding="utf-8")
    (tmp_path / "proof.json").write_text(prove.output, encoding="utf-8")
    args = ["--checkpoint", str(tmp_path / "cp.txt"), "--proof", str(tmp_path / "proof.json")]
    with app.app_context():
        vkey = audit.platform_verifier_key()
    assert audit_cli.main([*args, "--key", vkey]) == 0
    assert f"leaf {leaves[4].idx} is in the signed tree" in capsys.readouterr().out

    wrong_key = base64.b64encode(Ed25519PrivateKey.generate().public_key().public_bytes_raw()).decode()
    assert audit_cli.main([*args, "--key", wrong_key]) == 1
    forged: dict[str, Any] = json.loads(prove.output)
    forged["leaf"] = forged["leaf"].replace("test:thing:changed", "test:thing:erased")
    (tmp_path / "proof.json").write_text(json.dumps(forged), encoding="utf-8")
    assert audit_cli.main([*args, "--key", vkey]) == 1
    assert "does not hash to leaf_hash" in capsys.readouterr().err


def test_cli_verify_fails_on_a_tampered_log(app: Flask, db_session: Session, tamperable: None) -> None:
    leaf = append(3)[2]
    db_session.execute(text("UPDATE audit_leaf SET source_ip = '6.6.6.6' WHERE idx = :i"), {"i": leaf.idx})
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"leaf {leaf.idx}: leaf_hash does not match" in result.output


def test_a_forged_checkpoint_is_caught(db_session: Session) -> None:
    append(4)
    cp = audit.checkpoint()
    forged_root = base64.b64encode(bytes(32)).decode()
    lines = cp.note.split("\n")
    db_session.execute(
        update(AuditCheckpoint)
        .where(AuditCheckpoint.id == cp.id)
        .values(note="\n".join([*lines[:2], forged_root, *lines[3:]]), root_hash=bytes(32))
    )
    problems = audit.verify_log().problems
    assert f"checkpoint {cp.id}: signature does not verify with any registered platform key" in problems
    assert (
        f"checkpoint {cp.id} (size {cp.tree_size}): root differs from the one recomputed from the leaves"
        in problems
    )


def test_offline_consistency_between_two_checkpoints(app: Flask, db_session: Session, tmp_path: Path) -> None:
    append(5)
    old = audit.checkpoint()
    append(9)
    new = audit.checkpoint()
    runner = app.test_cli_runner()
    proof = runner.invoke(args=["audit", "consistency", str(old.tree_size), str(new.tree_size)])
    assert proof.exit_code == 0, proof.output
    for name, content in (("old.txt", old.note), ("new.txt", new.note), ("proof.json", proof.output)):
        (tmp_path / name).write_text(content, encoding="utf-8")
    with app.app_context():
        vkey = audit.platform_verifier_key()
    args = ["--checkpoint", str(tmp_path / "new.txt"), "--proof", str(tmp_path / "proof.json"), "--key", vkey]
    assert audit_cli.main([*args, "--old-checkpoint", str(tmp_path / "old.txt")]) == 0
    assert audit_cli.main(args) == 1  # the older checkpoint is needed


def test_rotating_the_signing_key_keeps_old_checkpoints_verifiable(
    app: Flask, client: Any, db_session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The procedure in docs/operations.md: `flask audit retire-key`, then the new PLATFORM_SIGNING_KEY.
    The whole log, old checkpoint included, still verifies; a key never retired by the platform does not
    count; /api/v1/audit/keys publishes both."""
    from cryptography.hazmat.primitives import serialization

    from app.core.models import SigningKey

    def pem(key: Ed25519PrivateKey) -> bytes:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    append(3)
    old_cp = audit.checkpoint()
    old_key = audit.platform_public_key()
    result = app.test_cli_runner().invoke(args=["audit", "retire-key"])
    assert result.exit_code == 0, result.output
    assert "now configure the new PLATFORM_SIGNING_KEY" in result.output
    retired = db_session.scalars(select(AuditLeaf).where(AuditLeaf.action == "core:signing_key:retire")).one()
    old_b64 = base64.b64encode(audit.raw_public_key(old_key)).decode()
    assert json.loads(retired.payload)["public_key"] == old_b64
    with pytest.raises(DomainError):  # twice is a mistake, not a second row
        audit.retire_signing_key()

    monkeypatch.setitem(app.config, "PLATFORM_SIGNING_KEY_PEM", pem(Ed25519PrivateKey.generate()))
    new_key = audit.platform_public_key()
    append(2)
    new_cp = audit.checkpoint(reason="key_rotation")
    assert audit.verify_checkpoint_note(old_cp.note, audit.platform_public_keys())
    assert not audit.verify_checkpoint_note(old_cp.note, new_key)
    assert audit.verify_checkpoint_note(new_cp.note, new_key)
    outcome = audit.verify_log()
    assert outcome.ok, outcome.problems

    listed = client.get("/api/v1/audit/keys").get_json()
    assert [(k["current"], k["retired_at"] is None) for k in listed] == [(True, True), (False, False)]
    assert listed[0]["public_key"] == base64.b64encode(audit.raw_public_key(new_key)).decode()
    assert listed[1]["public_key"] == old_b64
    assert db_session.scalar(select(func.count()).select_from(SigningKey)) == 1

    # Rotating without retiring first: the earlier checkpoints no longer verify, and verify says so.
    monkeypatch.setitem(app.config, "PLATFORM_SIGNING_KEY_PEM", pem(Ed25519PrivateKey.generate()))
    problems = audit.verify_log().problems
    assert f"checkpoint {new_cp.id}: signature does not verify with any registered platform key" in problems
    assert not any(f"checkpoint {old_cp.id}:" in p for p in problems)  # the retired key still counts
