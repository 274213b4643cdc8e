"""The published opening record against the bidders' receipts: every envelope with the SHA-256 of its receipt
and its fate (opened, withdrawn, superseded, failed to decrypt), the record as a leaf of the log with a
public inclusion proof, and 409 ``not_opened`` before the opening."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from app.bidding import opening, signing
from app.core import merkle
from tests.bidding.conftest import Tender, after_deadline, publish_tender, upload
from tests.projects.conftest import World


def _open(app: Flask, tender: Tender) -> None:
    after_deadline()
    with app.test_request_context():
        ceremony = opening.start_ceremony(tender.section.id, actor=tender.world.staff)
        for custodian in tender.custodians[:2]:
            _, quorum = opening.submit_share(tender.section.id, tender.mnemonic(custodian), actor=custodian)
            if quorum:
                opening.run_opening(ceremony.id, actor=custodian)
                break


def _sha(resp: Any) -> str:
    return str(resp.get_json()["receipt"]["sha256"])


def test_the_record_lists_every_receipted_envelope_with_its_fate_and_is_proven_in_the_log(
    app: Flask, client: FlaskClient, world: World, db_session: Any
) -> None:
    with app.test_request_context():
        tender = publish_tender(world, bidders=4)
    sid = tender.section.id
    first, second, third, quitter = tender.bidders
    replaced = _sha(upload(client, tender, first, tender.summary("100.00")))
    kept = _sha(upload(client, tender, first, tender.summary("90.00")))
    broken = _sha(upload(client, tender, second, tender.summary("80.00")))
    corrupt = tender.seal(b"x" * 1000)[:-7] + b"garbage"  # sealed, then damaged: fails to decrypt
    doc_sha = _sha(upload(client, tender, second, corrupt, kind="document", name="tech.pdf"))
    plain = _sha(upload(client, tender, third, tender.summary("70.00")))
    gone = _sha(upload(client, tender, quitter, tender.summary("60.00")))
    resp = client.post(f"/api/v1/bidding/sections/{sid}/withdraw", headers=quitter.headers())
    assert resp.get_json() == {"withdrawn": 1}

    before = app.test_client().get(f"/api/v1/bidding/sections/{sid}/record")
    assert before.status_code == 409 and before.get_json()["code"] == "not_opened"
    assert app.test_client().get(f"/api/v1/bidding/sections/{sid}/record/proof").status_code == 409

    _open(app, tender)
    anon = app.test_client()
    body = anon.get(f"/api/v1/bidding/sections/{sid}/record").get_json()
    record = body["record"]
    lines = {e["bidder"]: {v["sha256"]: v for v in e["envelopes"]} for e in record["entries"]}
    assert set(lines) == {first.org.name, second.org.name, third.org.name}
    assert lines[first.org.name][kept]["opened"] is True
    assert lines[first.org.name][replaced] | {"size": 0} == {
        "kind": "summary",
        "name": "summary",
        "sha256": replaced,
        "size": 0,
        "opened": False,
        "reason": "superseded",
        "superseded_by": kept,
    }
    assert lines[second.org.name][broken]["opened"] is True
    assert lines[second.org.name][doc_sha]["opened"] is False
    assert lines[second.org.name][doc_sha]["reason"] == "decrypt_failed"
    assert lines[third.org.name][plain]["opened"] is True
    # the organization that withdrew entirely is listed by hash only, never by name
    assert [w["sha256"] for w in record["withdrawn"]] == [gone]
    assert record["withdrawn"][0]["reason"] == "withdrawn"
    assert quitter.org.name not in json.dumps(record, ensure_ascii=False)

    # the record is a leaf of the log, proven against the latest signed checkpoint
    assert hashlib.sha256(signing.canonical(record)).hexdigest() == body["record_sha256"]
    proof = anon.get(body["audit"]["proof_url"]).get_json()
    assert proof["index"] == body["audit"]["leaf_index"]
    leaf = json.loads(proof["leaf"])
    assert (
        leaf["action"] == "bidding:opening:publish" and leaf["actor_id"] is None and leaf["source_ip"] is None
    )
    assert merkle.leaf_hash(proof["leaf"].encode()).hex() == proof["leaf_hash"]
    assert hashlib.sha256(proof["payload"].encode()).hexdigest() == leaf["payload_sha256"]
    assert json.loads(proof["payload"])["record_sha256"] == body["record_sha256"]
    checkpoint = anon.get("/api/v1/audit/checkpoints/latest").get_json()
    assert proof["tree_size"] == checkpoint["tree_size"]
    root = base64.b64decode(checkpoint["root_hash"])
    assert root.hex() == proof["root"]
    nodes = [bytes.fromhex(h) for h in proof["proof"]]
    assert merkle.verify_inclusion(
        bytes.fromhex(proof["leaf_hash"]), proof["index"], proof["tree_size"], nodes, root
    )
    # the same answer is what ggzy-audit checks offline against the checkpoint note
    from app.core.audit_cli import verify_offline

    summary = verify_offline(proof, checkpoint["note"], checkpoint["public_key"])
    assert f"leaf {proof['index']} is in the signed tree of size {proof['tree_size']}" in summary
    # a size the leaf is not in has no proof
    small = anon.get(f"/api/v1/bidding/sections/{sid}/record/proof?size={proof['index']}")
    assert small.status_code == 404
