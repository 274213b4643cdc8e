"""The pure checks behind ``ggzy-bid receipt verify`` (app.bidding.receipts): what the record says of a
receipted hash, and a record that is not the one the log published."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from app.bidding import receipts, signing
from app.core import merkle

RECEIPT = {"sha256": "ab" * 32, "bidder": "甲公司", "section_id": 7}


def _record(*lines: dict[str, Any], withdrawn: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "type": "ggzy-opening-record-v1",
        "section_id": 7,
        "entries": [{"position": 1, "bidder": "甲公司", "envelopes": list(lines), "status": "valid"}],
        "withdrawn": withdrawn or [],
    }


def test_what_the_record_says_of_the_receipted_hash() -> None:
    opened = {"kind": "summary", "name": "summary", "sha256": "ab" * 32, "opened": True}
    outcome = receipts.find_envelope(_record(opened), RECEIPT, "en")
    assert outcome.verdict == receipts.OPENED
    assert receipts.say(outcome.message, "en", **outcome.params).startswith("OPENED: summary “summary”")

    later = {
        "kind": "summary",
        "name": "summary",
        "sha256": "cd" * 32,
        "opened": False,
        "reason": "decrypt_failed",
    }
    replaced = {"sha256": "ab" * 32, "opened": False, "reason": "superseded", "superseded_by": "cd" * 32}
    outcome = receipts.find_envelope(_record(replaced, later), RECEIPT, "zh")
    text = receipts.say(outcome.message, "zh", **outcome.params)
    assert outcome.verdict == receipts.NOT_OPENED and "cdcdcdcd" in text and "后者也未开启" in text

    outcome = receipts.find_envelope(_record(later), RECEIPT, "en")
    assert outcome.verdict == receipts.MISMATCH and outcome.message == "missing"
    outcome = receipts.find_envelope(
        _record(withdrawn=[{"sha256": "ab" * 32, "reason": "withdrawn"}]), RECEIPT, "en"
    )
    assert outcome.verdict == receipts.NOT_OPENED and outcome.message == "withdrawn"
    outcome = receipts.find_envelope(_record(opened), RECEIPT | {"bidder": "乙公司"}, "en")
    assert outcome.verdict == receipts.MISMATCH and outcome.message == "other_bidder"


def _published(record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], bytes]:
    """A one-leaf log publishing ``record``: (API body, proof, root)."""
    digest = hashlib.sha256(signing.canonical(record)).hexdigest()
    payload = json.dumps({"record_sha256": digest, "section_id": 7}, sort_keys=True, separators=(",", ":"))
    leaf = json.dumps(
        {
            "action": receipts.RECORD_LEAF_ACTION,
            "object_id": "7",
            "payload_sha256": hashlib.sha256(payload.encode()).hexdigest(),
        }
    )
    leaf_hash = merkle.leaf_hash(leaf.encode())
    proof = {"kind": "inclusion", "index": 0, "tree_size": 1, "leaf": leaf, "leaf_hash": leaf_hash.hex()}
    proof |= {"payload": payload, "proof": []}
    return {"record": record, "record_sha256": digest}, proof, leaf_hash


def test_a_record_other_than_the_published_one_is_refused() -> None:
    record = _record({"sha256": "ab" * 32, "opened": True})
    body, proof, root = _published(record)
    assert receipts.record_problem(body, 7, proof, 1, root) is None
    altered = json.loads(json.dumps(record))
    altered["entries"][0]["envelopes"][0]["opened"] = False
    # the server answers an altered record with its own digest: the log does not hold that digest
    problem = receipts.record_problem(
        body | {"record": altered, "record_sha256": _published(altered)[0]["record_sha256"]},
        7,
        proof,
        1,
        root,
    )
    assert problem == "the leaf names another record"
    assert receipts.record_problem(body | {"record": altered}, 7, proof, 1, root) is not None
    assert receipts.record_problem(body, 8, proof, 1, root) is not None  # another section's record
    assert receipts.record_problem(body, 7, proof, 1, b"\0" * 32) is not None  # another tree
