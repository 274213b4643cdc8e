"""Was the envelope I hold a receipt for the one that was opened? The checks of ``ggzy-bid receipt verify``.

Pure functions over what the platform publishes (no Flask, no database), so any machine with Python and
``cryptography`` can run them:

1. the receipt: the platform's Ed25519 signature and its RFC 6962 inclusion proof (:func:`receipt_problems`);
2. the log still holds the receipt's leaf: a consistency proof from the receipt's tree to the latest signed
   checkpoint (:func:`consistency_problem`);
3. the published opening record is a leaf of that checkpoint's tree, by the SHA-256 of its canonical JSON
   (:func:`record_problem`);
4. what the record says of the receipted envelope (:func:`find_envelope`): opened, or not and why.

The words are in :data:`MESSAGES` (Chinese and English), chosen like the rest of the CLI by ``--lang``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.core import merkle

from . import signing

RECORD_LEAF_ACTION = "bidding:opening:publish"

OPENED = "opened"
NOT_OPENED = "not_opened"
MISMATCH = "mismatch"

MESSAGES: dict[str, dict[str, str]] = {
    "opened": {
        "zh": "已开启：{kind}「{name}」（SHA-256 {sha256}）在开标记录中由 {bidder}（第 {position} 位）开启，"
        "与回执一致。",
        "en": "OPENED: {kind} “{name}” (SHA-256 {sha256}) was opened for {bidder} (position {position}) "
        "in the opening record, as receipted.",
    },
    "withdrawn": {
        "zh": "未开启：该信封（SHA-256 {sha256}）已在投标截止前撤回。",
        "en": "NOT OPENED: the envelope (SHA-256 {sha256}) was withdrawn before the bid deadline.",
    },
    "superseded": {
        "zh": "未开启：该信封（SHA-256 {sha256}）已在截止前被后来提交的信封 {by} 替换{then}。",
        "en": "NOT OPENED: the envelope (SHA-256 {sha256}) was superseded before the deadline by envelope "
        "{by}{then}.",
    },
    "superseded_opened": {"zh": "（后者已开启）", "en": " (which was opened)"},
    "superseded_not_opened": {"zh": "（后者也未开启）", "en": " (which was not opened either)"},
    "decrypt_failed": {
        "zh": "未开启：该信封（SHA-256 {sha256}）开标时无法解密：{note}",
        "en": "NOT OPENED: the envelope (SHA-256 {sha256}) could not be decrypted at the opening: {note}",
    },
    "pending": {
        "zh": "未开启：该信封（SHA-256 {sha256}）尚在解密中，请稍后再查。",
        "en": "NOT OPENED: the envelope (SHA-256 {sha256}) is still being decrypted; check again later.",
    },
    "section_not_opened_yet": {
        "zh": "未开启：标段 {section} 尚未开标，开标结束后才公布开标记录。",
        "en": "NOT OPENED: section {section} has not been opened yet; the record is published when the "
        "opening ends.",
    },
    "too_few_bidders": {
        "zh": "未开启：标段 {section} 投标人不足 3 家，所有投标均未开启、未解密。",
        "en": "NOT OPENED: section {section} had fewer than 3 bidders; no bid was opened or decrypted.",
    },
    "missing": {
        "zh": "不一致：开标记录中没有回执所载的信封哈希 {sha256}。",
        "en": "MISMATCH: the opening record does not list the receipted envelope hash {sha256}.",
    },
    "other_bidder": {
        "zh": "不一致：哈希 {sha256} 在开标记录中属于 {bidder}，而回执属于 {receipt_bidder}。",
        "en": "MISMATCH: the hash {sha256} belongs to {bidder} in the opening record, the receipt to "
        "{receipt_bidder}.",
    },
    "invalid_receipt": {
        "zh": "回执无效：{problem}",
        "en": "INVALID RECEIPT: {problem}",
    },
    "unproven_record": {
        "zh": "不一致：公布的开标记录未能在审计日志中得到证明：{problem}",
        "en": "MISMATCH: the published opening record is not proven by the audit log: {problem}",
    },
    "proven": {
        "zh": "开标记录（SHA-256 {record_sha256}）是审计日志第 {index} 号叶，"
        "已由签名检查点（大小 {size}）证明；回执所在的日志前缀与该检查点一致。",
        "en": "The opening record (SHA-256 {record_sha256}) is leaf {index} of the audit log, proven by the "
        "signed checkpoint of size {size}; the receipt's log prefix is consistent with it.",
    },
    "key_from_server": {
        "zh": "注意：平台公钥取自服务器（/api/v1/audit/keys）；"
        "请与交易中心公布的公钥核对，或用 --platform-key 指定。",
        "en": "Note: the platform key was taken from the server (/api/v1/audit/keys); compare it with the "
        "one the centre publishes, or pin it with --platform-key.",
    },
    "kind_summary": {"zh": "开标一览表", "en": "summary"},
    "kind_document": {"zh": "投标文件", "en": "document"},
}


def say(key: str, lang: str, **params: Any) -> str:
    text = MESSAGES[key]
    return (text.get(lang) or text["en"]).format(**params)


@dataclass(frozen=True)
class Outcome:
    """What the record says of the receipted envelope: ``OPENED``, ``NOT_OPENED`` or ``MISMATCH``, with the
    message key and its parameters."""

    verdict: str
    message: str
    params: dict[str, Any] = field(default_factory=dict)


def receipt_problems(signed: Any, keys: list[Ed25519PublicKey]) -> list[str]:
    """Problems with the receipt under every candidate platform key (empty when one verifies it)."""
    if not isinstance(signed, dict):
        return ["not an envelope receipt"]
    problems: list[str] = ["no platform key"]
    for key in keys:
        problems = signing.verify_receipt(signed, key)
        if not problems:
            return []
    return problems


def consistency_problem(receipt_body: dict[str, Any], size: int, root: bytes, proof: list[str]) -> str | None:
    """Does the signed tree of ``size`` extend the tree the receipt was proven in? (base64 proof nodes)"""
    audit = receipt_body.get("audit") or {}
    try:
        old, old_root = int(audit["tree_size"]), bytes.fromhex(audit["root"])
        nodes = [base64.b64decode(p, validate=True) for p in proof]
    except (KeyError, TypeError, ValueError, binascii.Error):
        return "the receipt or the consistency proof is malformed"
    if old > size:
        return f"the signed checkpoint (size {size}) is older than the receipt (size {old})"
    if old == size:
        return None if old_root == root else "the receipt's root differs from the checkpoint's"
    if not merkle.verify_consistency(old, size, old_root, root, nodes):
        return "the log no longer extends the tree of the receipt (consistency proof fails)"
    return None


def record_problem(
    body: dict[str, Any], section_id: int, proof: dict[str, Any], size: int, root: bytes
) -> str | None:
    """Is ``body['record']`` the record the log published for the section, in the signed tree of ``size``
    with ``root``? ``proof`` is the answer of ``/sections/<id>/record/proof?size=<size>``."""
    record = body.get("record")
    digest = hashlib.sha256(signing.canonical(record)).hexdigest()
    if body.get("record_sha256") != digest:
        return "the record does not hash to its published SHA-256"
    try:
        leaf_text = str(proof["leaf"])
        leaf = json.loads(leaf_text)
        payload = json.loads(proof["payload"])
        leaf_hash = bytes.fromhex(proof["leaf_hash"])
        nodes = [bytes.fromhex(h) for h in proof["proof"]]
        index = int(proof["index"])
    except (KeyError, TypeError, ValueError):
        return "the proof is malformed"
    if int(proof.get("tree_size", -1)) != size:
        return f"the proof is for tree size {proof.get('tree_size')}, the checkpoint is {size}"
    if merkle.leaf_hash(leaf_text.encode()) != leaf_hash:
        return "the leaf text does not hash to the leaf hash"
    if hashlib.sha256(str(proof["payload"]).encode()).hexdigest() != leaf.get("payload_sha256"):
        return "the payload does not match the leaf's payload digest"
    if leaf.get("action") != RECORD_LEAF_ACTION or leaf.get("object_id") != str(section_id):
        return "the leaf is not the publication of this section's opening record"
    if payload.get("record_sha256") != digest:
        return "the leaf names another record"
    if not merkle.verify_inclusion(leaf_hash, index, size, nodes, root):
        return "the inclusion proof does not verify against the signed checkpoint"
    return None


def find_envelope(record: dict[str, Any], receipt_body: dict[str, Any], lang: str) -> Outcome:
    """What the opening record says of the envelope the receipt is for."""
    sha = str(receipt_body.get("sha256") or "").lower()
    short = sha[:16] + "…"
    for entry in record.get("entries") or []:
        for line in entry.get("envelopes") or []:
            if line.get("sha256") != sha:
                continue
            if entry.get("bidder") != receipt_body.get("bidder"):
                return Outcome(
                    MISMATCH,
                    "other_bidder",
                    {
                        "sha256": short,
                        "bidder": entry.get("bidder"),
                        "receipt_bidder": receipt_body.get("bidder"),
                    },
                )
            return _line_outcome(line, entry, record, lang)
    for line in record.get("withdrawn") or []:
        if line.get("sha256") == sha:
            return Outcome(NOT_OPENED, "withdrawn", {"sha256": short})
    return Outcome(MISMATCH, "missing", {"sha256": sha})


def _line_outcome(line: dict[str, Any], entry: dict[str, Any], record: dict[str, Any], lang: str) -> Outcome:
    short = str(line["sha256"])[:16] + "…"
    if line.get("opened") is True:
        kind = say(f"kind_{line.get('kind')}", lang) if line.get("kind") in ("summary", "document") else ""
        return Outcome(
            OPENED,
            "opened",
            {
                "kind": kind,
                "name": line.get("name"),
                "sha256": short,
                "bidder": entry.get("bidder"),
                "position": entry.get("position"),
            },
        )
    reason = line.get("reason")
    if reason == "withdrawn":
        return Outcome(NOT_OPENED, "withdrawn", {"sha256": short})
    if reason == "superseded":
        by = str(line.get("superseded_by") or "")
        later = next(
            (
                v
                for e in record.get("entries") or []
                for v in e.get("envelopes") or []
                if v.get("sha256") == by
            ),
            None,
        )
        then = ""
        if later is not None:
            then = say("superseded_opened" if later.get("opened") is True else "superseded_not_opened", lang)
        return Outcome(NOT_OPENED, "superseded", {"sha256": short, "by": by[:16] + "…", "then": then})
    if reason == "decrypt_failed":
        return Outcome(NOT_OPENED, "decrypt_failed", {"sha256": short, "note": line.get("note") or ""})
    return Outcome(NOT_OPENED, "pending", {"sha256": short})
