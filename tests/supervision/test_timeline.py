"""The section timeline proves each leaf into the signed checkpoint; a tampered leaf shows red and fails
verification; the consistency check catches a rewritten history."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from sqlalchemy import text

from app.core import audit, merkle
from app.core.db import db
from app.core.models import AuditLeaf
from app.supervision import timeline
from app.supervision.cli import check_consistency
from tests.factories import login
from tests.supervision.conftest import Scene


def _disable_audit_triggers(is_postgres: bool) -> None:
    """Let the test rewrite audit rows (inside its own transaction, rolled back at the end)."""
    if is_postgres:
        db.session.execute(text("ALTER TABLE audit_leaf DISABLE TRIGGER USER"))
        db.session.execute(text("ALTER TABLE audit_node DISABLE TRIGGER USER"))
    else:
        for stmt in audit.SQLITE_DROP_TRIGGERS:
            db.session.execute(text(stmt))


def _section_history(scene: Scene) -> Any:
    section = scene.section("opened")
    audit.record(
        "projects:section:transition",
        actor=scene.staff,
        object_type="section",
        object_id=section.id,
        payload={"from": "opening", "to": "opened"},
    )
    audit.record(
        "bidding:envelope:receive",
        object_type="sealed_envelope",
        object_id=41,
        payload={"section_id": section.id, "sha256": "00" * 32},
    )
    audit.record(
        "bidding:envelope:receive",
        object_type="sealed_envelope",
        object_id=42,
        payload={"section_id": section.id + 1000, "sha256": "11" * 32},
    )  # another section
    audit.record(
        "supervision:alert:raise",
        actor=scene.regulator,
        object_type="supervision_alert",
        object_id=1,
        payload={"rule": "price_close", "section_id": section.id},
    )
    return section


def test_timeline_lists_the_sections_leaves_and_proves_them(scene: Scene) -> None:
    section = _section_history(scene)
    audit.checkpoint(reason="test")
    tl = timeline.build(section.id)
    assert [e.leaf.action for e in tl.entries] == [
        "projects:section:transition",
        "bidding:envelope:receive",
        "supervision:alert:raise",
    ]
    assert tl.ok and {e.status for e in tl.entries} == {"ok"}
    assert all(len(e.proof) <= max(1, (tl.checkpoint.tree_size - 1).bit_length()) for e in tl.entries)

    doc = timeline.export(tl)
    root = base64.b64decode(doc["checkpoint"]["root_hash"])
    assert audit.verify_checkpoint_note(doc["checkpoint"]["note"], doc["verifier_key"])
    for leaf in doc["leaves"]:  # an outsider re-checks the export with nothing but the published key
        leaf_hash = merkle.leaf_hash(leaf["leaf_bytes"].encode())
        proof = [base64.b64decode(p) for p in leaf["inclusion_proof"]]
        assert merkle.verify_inclusion(leaf_hash, leaf["idx"], doc["checkpoint"]["tree_size"], proof, root)


def test_leaves_after_the_checkpoint_are_pending(scene: Scene) -> None:
    section = _section_history(scene)
    audit.checkpoint()
    audit.record("projects:section:transition", object_type="section", object_id=section.id, payload={})
    tl = timeline.build(section.id)
    assert [e.status for e in tl.entries] == ["ok", "ok", "ok", "pending"]
    assert tl.ok and tl.verdict == "partial"  # proven up to the checkpoint; the newest leaf waits


def _verdict(client: Any, section_id: int) -> str:
    page = client.get(f"/supervision/sections/{section_id}/timeline").get_data(as_text=True)
    start = page.index('id="timeline-verdict"')
    return page[start : page.index("</p>", start)]


def test_the_page_says_verified_only_for_what_the_check_proved(scene: Scene, client: Any) -> None:
    section = _section_history(scene)
    entries = timeline.build(section.id).entries
    # no checkpoint yet: hashes recomputed, nothing proven; no leaf: nothing checked
    assert timeline.Timeline(section.id, None, True, entries).verdict == "unsigned"
    assert timeline.Timeline(section.id, None, True, []).verdict == "empty"
    login(client, scene.regulator)
    audit.checkpoint()
    audit.record("projects:section:transition", object_type="section", object_id=section.id, payload={})
    verdict = _verdict(client, section.id)
    assert "已验证 3 条" in verdict and "另有 1 条" in verdict and "验证通过" not in verdict
    audit.checkpoint()
    verdict = _verdict(client, section.id)
    assert "验证通过" in verdict and "全部 4 条" in verdict


def test_tampered_leaf_is_shown_and_verification_fails(scene: Scene, client: Any, is_postgres: bool) -> None:
    section = _section_history(scene)
    audit.checkpoint()
    target = timeline.build(section.id).entries[1].leaf.idx
    _disable_audit_triggers(is_postgres)
    db.session.execute(text("UPDATE audit_leaf SET source_ip = '10.9.9.9' WHERE idx = :i"), {"i": target})
    db.session.expire_all()

    tl = timeline.build(section.id)
    failed = tl.failed
    assert [e.leaf.idx for e in failed] == [target]
    assert "存储的字段与记录哈希不符。" in failed[0].problems  # in the platform's language
    assert not tl.ok
    assert not audit.verify_log().ok

    login(client, scene.regulator)
    page = client.get(f"/supervision/sections/{section.id}/timeline").get_data(as_text=True)
    assert f'id="leaf-{target}" class="leaf-failed"' in page
    assert "Verification failed" in page or "验证失败" in page
    exported = client.get(f"/supervision/sections/{section.id}/timeline.json").get_json()
    assert exported["verified"] is False
    assert [x["idx"] for x in exported["leaves"] if x["status"] == "failed"] == [target]


def test_payload_rewrite_is_caught(scene: Scene, is_postgres: bool) -> None:
    section = _section_history(scene)
    audit.checkpoint()
    target = timeline.build(section.id).entries[0].leaf
    _disable_audit_triggers(is_postgres)
    db.session.execute(
        text("UPDATE audit_leaf SET payload = :p WHERE idx = :i"),
        {"p": json.dumps({"from": "opening", "to": "awarded"}), "i": target.idx},
    )
    db.session.expire_all()
    tl = timeline.build(section.id)
    assert [e.leaf.idx for e in tl.failed] == [target.idx]


def _rewrite_history(is_postgres: bool, index: int) -> None:
    """What a careful forger would do: change a leaf, recompute its hash, every stored subtree and the head,
    so the log is internally consistent again (verify_log alone cannot tell)."""
    _disable_audit_triggers(is_postgres)
    db.session.execute(
        text("UPDATE audit_leaf SET action = 'forged:leaf:rewrite' WHERE idx = :i"), {"i": index}
    )
    db.session.expire_all()
    leaf = db.session.get(AuditLeaf, index)
    assert leaf is not None
    new_hash = merkle.leaf_hash(audit.leaf_bytes_of(leaf))
    db.session.execute(
        text("UPDATE audit_leaf SET leaf_hash = :h WHERE idx = :i"), {"h": new_hash, "i": index}
    )
    db.session.execute(text("DELETE FROM audit_node"))
    frontier: merkle.Frontier = []
    hashes = db.session.execute(text("SELECT leaf_hash FROM audit_leaf ORDER BY idx")).scalars().all()
    for size, h in enumerate(hashes):
        for level, ix, node in merkle.append_leaf(frontier, size, bytes(h)):
            db.session.execute(
                text('INSERT INTO audit_node (level, "index", hash) VALUES (:l, :i, :h)'),
                {"l": level, "i": ix, "h": node},
            )
    db.session.execute(
        text("UPDATE audit_head SET frontier = :f WHERE id = 1"),
        {"f": json.dumps([h.hex() for _, h in frontier])},
    )
    db.session.expire_all()


def test_consistency_check_accepts_a_growing_log_and_refuses_a_rewritten_one(
    scene: Scene, is_postgres: bool
) -> None:
    _section_history(scene)
    yesterday = audit.checkpoint(reason="deadline").note
    for i in range(5):
        audit.record("test:leaf:append", payload={"i": i})
    ok, message = check_consistency(yesterday)
    assert ok, message

    _rewrite_history(is_postgres, audit.tree_size() - 7)
    ok, message = check_consistency(yesterday)
    assert not ok and "history rewritten" in message


def test_consistency_check_refuses_forged_or_truncated_checkpoints(scene: Scene) -> None:
    _section_history(scene)
    note = audit.checkpoint().note
    forged = note.replace(note.split("\n")[1], str(audit.tree_size() + 10), 1)
    ok, message = check_consistency(forged)
    assert not ok and "signature" in message


@pytest.mark.parametrize("path", ["/supervision/checkpoints", "/supervision/checkpoints.json"])
def test_checkpoints_are_public(scene: Scene, client: Any, path: str) -> None:
    audit.checkpoint()
    resp = client.get(path)
    assert resp.status_code == 200
    assert audit.platform_verifier_key() in resp.get_data(as_text=True)


def test_cli_checks_consistency_and_runs_the_rules(scene: Scene, app: Any, tmp_path: Any) -> None:
    section = _section_history(scene)
    note = tmp_path / "yesterday.txt"
    note.write_text(audit.checkpoint().note, encoding="utf-8")
    audit.record("test:leaf:append", payload={})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["supervision", "check-consistency", str(note)])
    assert result.exit_code == 0 and "extends the checkpoint" in result.output
    result = runner.invoke(args=["supervision", "alerts", "--section", str(section.id)])
    assert result.exit_code == 0 and "new alert(s) on 1 section(s)" in result.output


def test_sealed_leaves_stay_verifiable_but_hide_who_acted(scene: Scene, client: Any) -> None:
    from app.core import audit_sealing

    section = scene.section("published")
    secret = audit.record(
        "projects:documents:obtain",
        actor=scene.tenderer,
        object_type="document_obtainment",
        object_id=77,
        payload={"section_id": section.id, "org_id": scene.tenderer.org_id},
    )
    audit.checkpoint()
    assert audit_sealing.is_sealed(secret)  # the projects domain seals who obtained the documents
    data = audit.live_event(secret, {"section_id": section.id})
    assert data["sealed"] and data["actor_role"] is None and data["object_id"] is None
    doc = timeline.export(timeline.build(section.id))
    (leaf,) = doc["leaves"]
    assert leaf["sealed"] and leaf["status"] == "ok"
    assert "actor_id" not in leaf and "leaf_bytes" not in leaf and "payload" not in leaf
    db.session.commit()
    login(client, scene.regulator)
    page = client.get(f"/supervision/sections/{section.id}/timeline").get_data(as_text=True)
    assert f"({scene.tenderer.id}" not in page
