"""A section's timeline from the audit log, each leaf checked against the latest signed checkpoint.

Which leaves belong to a section: those recorded on the section itself (``object_type = 'section'`` and its
id), plus every leaf whose payload names it at the top level (``"section_id": <id>``) — envelopes, openings,
draws, alerts, notices. Payloads are canonical JSON (sorted keys, no spaces), so a LIKE on the exact key
narrows the scan and the parsed payload decides.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import and_, or_, select

from app.core import audit, audit_sealing, merkle
from app.core.db import db
from app.core.models import AuditCheckpoint, AuditLeaf

#: Stop scanning after this many leaves of one section (a page, not an archive export).
MAX_LEAVES = 5000


@dataclass
class LeafCheck:
    leaf: AuditLeaf
    payload: dict[str, Any]
    status: str  # "ok" | "failed" | "pending" (after the latest checkpoint)
    problems: list[str] = field(default_factory=list)
    proof: list[bytes] = field(default_factory=list)
    view: audit_sealing.LeafView | None = None  # what may be shown (a sealed leaf hides who and what)


@dataclass
class Timeline:
    section_id: int
    checkpoint: AuditCheckpoint | None
    checkpoint_valid: bool
    entries: list[LeafCheck]

    @property
    def ok(self) -> bool:
        return self.checkpoint_valid and all(e.status != "failed" for e in self.entries)

    @property
    def failed(self) -> list[LeafCheck]:
        return [e for e in self.entries if e.status == "failed"]

    @property
    def proven(self) -> list[LeafCheck]:
        return [e for e in self.entries if e.status == "ok"]

    @property
    def pending(self) -> list[LeafCheck]:
        return [e for e in self.entries if e.status == "pending"]

    @property
    def verdict(self) -> str:
        """What the check that just ran established, never more: ``failed``; ``empty`` (nothing to check);
        ``unsigned`` (no checkpoint yet: hashes recomputed, nothing proven); ``partial`` (the leaves up to the
        checkpoint proven, the newer ones wait for the next); ``ok`` (every leaf proven)."""
        if self.failed or not self.checkpoint_valid:
            return "failed"
        if not self.entries:
            return "empty"
        if self.checkpoint is None:
            return "unsigned"
        return "partial" if self.pending else "ok"


def latest_checkpoint() -> AuditCheckpoint | None:
    return db.session.scalar(
        select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc(), AuditCheckpoint.id.desc()).limit(1)
    )


def _names_section(payload: dict[str, Any], section_id: int) -> bool:
    value = payload.get("section_id")
    return value is not None and str(value) == str(section_id)


def section_leaves(section_id: int, *, limit: int = MAX_LEAVES) -> list[tuple[AuditLeaf, dict[str, Any]]]:
    """The section's leaves in log order, with their parsed payloads."""
    sid = str(int(section_id))
    own = and_(AuditLeaf.object_type == "section", AuditLeaf.object_id == sid)
    named = or_(
        AuditLeaf.payload.like(f'%"section_id":{sid},%'),
        AuditLeaf.payload.like(f'%"section_id":{sid}}}%'),
        AuditLeaf.payload.like(f'%"section_id":"{sid}"%'),
    )
    rows = db.session.scalars(select(AuditLeaf).where(or_(own, named)).order_by(AuditLeaf.idx).limit(limit))
    out = []
    for leaf in rows:
        try:
            payload = json.loads(leaf.payload)
        except ValueError:
            payload = {}
        if not isinstance(payload, dict):
            payload = {}
        if (leaf.object_type == "section" and leaf.object_id == sid) or _names_section(payload, section_id):
            out.append((leaf, payload))
    return out


def check_leaf(leaf: AuditLeaf, checkpoint: AuditCheckpoint | None, *, checkpoint_valid: bool) -> LeafCheck:
    """Recompute the leaf hash from the stored columns and prove it into the signed checkpoint's root."""
    problems: list[str] = []
    if hashlib.sha256(leaf.payload.encode()).hexdigest() != leaf.payload_sha256:
        problems.append(_("The content does not match its recorded digest."))
    recomputed = merkle.leaf_hash(audit.leaf_bytes_of(leaf))
    if recomputed != bytes(leaf.leaf_hash):
        problems.append(_("The stored fields do not match the leaf hash."))
    if checkpoint is None or leaf.idx >= checkpoint.tree_size:
        return LeafCheck(leaf, {}, "failed" if problems else "pending", problems)
    proof: list[bytes] = []
    try:
        proof = audit.inclusion_proof(leaf.idx, checkpoint.tree_size)
        included = merkle.verify_inclusion(
            recomputed, leaf.idx, checkpoint.tree_size, proof, bytes(checkpoint.root_hash)
        )
    except (LookupError, merkle.InvalidProofError):
        included = False
    if not included:
        problems.append(_("Not included in the signed checkpoint."))
    if not checkpoint_valid:
        problems.append(_("The checkpoint signature does not verify."))
    return LeafCheck(leaf, {}, "failed" if problems else "ok", problems, proof)


def build(section_id: int) -> Timeline:
    checkpoint = latest_checkpoint()
    valid = checkpoint is not None and audit.verify_checkpoint_note(
        checkpoint.note, audit.platform_public_keys()
    )
    entries = []
    for leaf, payload in section_leaves(section_id):
        check = check_leaf(leaf, checkpoint, checkpoint_valid=valid)
        check.view = audit_sealing.view_of(leaf)
        check.payload = {} if check.view.sealed else payload
        entries.append(check)
    return Timeline(section_id, checkpoint, valid or checkpoint is None, entries)


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat()


def export(timeline: Timeline) -> dict[str, Any]:
    """The timeline as a self-contained JSON document: each leaf's columns, payload and inclusion proof
    into the signed checkpoint note, so an outsider can re-check it with the platform public key only."""
    cp = timeline.checkpoint
    return {
        "section_id": timeline.section_id,
        "verified": timeline.ok,
        "verdict": timeline.verdict,
        "checkpoint": None
        if cp is None
        else {
            "tree_size": cp.tree_size,
            "root_hash": _b64(cp.root_hash),
            "note": cp.note,
            "cosignatures": cp.cosignatures or [],
        },
        "verifier_key": audit.platform_verifier_key(),
        "leaves": [_export_leaf(e) for e in timeline.entries],
    }


def _export_leaf(e: LeafCheck) -> dict[str, Any]:
    """One leaf of the export. A sealed leaf keeps its hash and proof (still verifiable) but not the columns
    that would say who acted: its leaf bytes name the actor, so they are left out too."""
    out: dict[str, Any] = {
        "idx": e.leaf.idx,
        "time": _iso(e.leaf.created_at),
        "action": e.leaf.action,
        "object_type": e.leaf.object_type,
        "payload_sha256": e.leaf.payload_sha256,
        "leaf_hash": _b64(e.leaf.leaf_hash),
        "status": e.status,
        "problems": e.problems,
        "inclusion_proof": [_b64(p) for p in e.proof],
        "sealed": bool(e.view and e.view.sealed),
    }
    if not out["sealed"]:
        out.update(
            {
                "actor_id": e.leaf.actor_id,
                "actor_role": e.leaf.actor_role,
                "org_id": e.leaf.org_id,
                "object_id": e.leaf.object_id,
                "source_ip": e.leaf.source_ip,
                "payload": e.payload,
                "leaf_bytes": audit.leaf_bytes_of(e.leaf).decode(),
            }
        )
    return out
