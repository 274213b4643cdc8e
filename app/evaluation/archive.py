"""The signed archive bundle of a section (电子招标投标办法 Art. 51: electronic archiving).

One zip per section::

    manifest.json            section, created_at, platform public key, {path: SHA-256} of every other file
    manifest.sig             base64 Ed25519 signature of the platform over manifest.json
    section.json             the section's terms and its status timeline
    documents/…              the published tender documents, with their hashes in documents.json
    envelopes.json           every sealed envelope's SHA-256, size, receipt time and decrypt status
    opening_record.json      the opening record as published (and its SHA-256 as confirmed by bidders), with
                             the on-the-spot objections and the tenderer's answers
    draw_record.json         the expert draw: rounds, commitments, witness entropy, seeds and results
    evaluation/report.html   the evaluation report, report_signatures.json, scores.json
    notices/…                candidate publicity, award notice, award and result letters
    audit/leaves.json        the audit leaves of the section, its evaluation and its draw, each with an
                             RFC 6962 inclusion proof in audit/checkpoint.txt (a signed tree head)

Verify offline with :mod:`app.evaluation.verify`.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import zipfile
from typing import Any

from sqlalchemy import or_, select

from app.accounts.models import User
from app.core import audit, storage
from app.core.clock import now
from app.core.crypto import public_key_raw_b64, signing_key
from app.core.db import db
from app.core.errors import Conflict, NotFound
from app.core.models import AuditLeaf
from app.projects.enums import SectionStatus

from .enums import EvaluationStatus, FileKind
from .models import Evaluation

_FIXED_TIME = (2020, 1, 1, 0, 0, 0)


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=1, default=str).encode()


def _draw_record(draw_id: int) -> dict[str, Any]:
    from app.experts.models import ExpertDraw

    draw = db.session.get(ExpertDraw, draw_id)
    assert draw is not None
    return {
        "draw_id": draw.id,
        "section_id": draw.section_id,
        "evaluation_starts_at": draw.evaluation_starts_at,
        "panel_size": draw.panel_size,
        "composition": draw.composition,
        "rounds": [
            {
                "number": r.number,
                "pool_digest": r.pool_digest,
                "exclusions_digest": r.exclusions_digest,
                "commitment": r.commitment,
                "server_random": r.server_random,
                "witness_entropy": r.witness_entropy,
                "seed": r.seed,
                "algorithm": r.algorithm,
                "result": r.result,
            }
            for r in draw.rounds
        ],
        "seats": [
            {
                "seat_id": s.id,
                "expert_id": s.expert_id,
                "specialty": s.specialty_code,
                "kind": s.kind,
                "status": s.status,
                "recusal_reason": s.recusal_reason,
            }
            for s in draw.seats
        ],
    }


def _audit_leaves(ev: Evaluation, size: int) -> list[dict[str, Any]]:
    rows = db.session.scalars(
        select(AuditLeaf)
        .where(
            AuditLeaf.idx < size,
            or_(
                (AuditLeaf.object_type == "section") & (AuditLeaf.object_id == str(ev.section_id)),
                (AuditLeaf.object_type == "evaluation") & (AuditLeaf.object_id == str(ev.id)),
                (AuditLeaf.object_type == "expert_draw") & (AuditLeaf.object_id == str(ev.draw_id)),
            ),
        )
        .order_by(AuditLeaf.idx)
    ).all()
    return [
        {
            "idx": leaf.idx,
            "action": leaf.action,
            "leaf": audit.leaf_bytes_of(leaf).decode(),
            "payload": leaf.payload,
            "proof": [h.hex() for h in audit.inclusion_proof(leaf.idx, size)],
        }
        for leaf in rows
    ]


def build_bundle(ev: Evaluation) -> bytes:
    """The zip bytes (deterministic file order and times); needs an app context."""
    from app.bidding.models import SealedEnvelope
    from app.bidding.opening import completed_ceremony, objection_record, record_document

    from . import services

    section = services.section_of(ev)
    files: dict[str, bytes] = {}
    files["section.json"] = _json(
        {
            "id": section.id,
            "code": section.code,
            "name": section.name,
            "project": section.project.code,
            "method": section.evaluation_method,
            "ceiling_price": section.ceiling_price,
            "bid_deadline": section.bid_deadline,
            "timeline": [
                {"from": h.from_status, "to": h.to_status, "at": h.at, "reason": h.reason}
                for h in section.history
            ],
        }
    )
    docs = []
    for doc in section.current_documents:
        name = f"documents/{doc.id}-{doc.filename}"
        files[name] = b"".join(storage.iter_blob(doc.blob_path))
        docs.append({"file": name, "name": doc.name, "version": doc.version, "sha256": doc.sha256})
    files["documents.json"] = _json(docs)
    envelopes = db.session.scalars(
        select(SealedEnvelope).where(SealedEnvelope.section_id == section.id).order_by(SealedEnvelope.id)
    ).all()
    files["envelopes.json"] = _json(
        [
            {
                "org_id": e.org_id,
                "kind": e.kind,
                "name": e.name,
                "status": e.status,
                "sha256": e.sha256,
                "size": e.size,
                "received_at": e.received_at,
                "receipt_leaf": e.audit_leaf_idx,
                "decrypt_status": e.decrypt_status,
            }
            for e in envelopes
        ]
    )
    ceremony = completed_ceremony(section)
    if ceremony is not None:
        files["opening_record.json"] = _json(
            {
                "record": record_document(section, ceremony),
                "sha256": ceremony.record_sha256,
                "objections": objection_record(ceremony),
            }
        )
    files["draw_record.json"] = _json(_draw_record(ev.draw_id))
    for f in ev.files:
        if f.voided_at is not None:  # a voided round's report and publicity, a voided award's letters
            files[f"void/{f.id}-{f.filename}"] = b"".join(storage.iter_blob(f.blob_path))
        elif f.kind == FileKind.REPORT:
            files["evaluation/report.html"] = b"".join(storage.iter_blob(f.blob_path))
        elif f.kind != FileKind.ARCHIVE:
            files[f"notices/{f.filename}"] = b"".join(storage.iter_blob(f.blob_path))
    if ev.restarts or ev.voided_awards:
        files["evaluation/remedies.json"] = _json(
            {
                "voided_files": [
                    {"file": f"void/{f.id}-{f.filename}", "voided_at": f.voided_at, "reason": f.void_reason}
                    for f in ev.files
                    if f.voided_at is not None
                ],
                "restarts": [
                    {
                        "round": r.round,
                        "from_status": r.from_status,
                        "reason": r.reason,
                        "restarted_at": r.restarted_at,
                        "report_sha256": r.report_sha256,
                        "publicity": [r.publicity_starts_at, r.publicity_ends_at],
                        "decisions": r.decisions,
                    }
                    for r in ev.restarts
                ],
                "voided_awards": [
                    {
                        "org_id": v.org_id,
                        "rank": v.rank,
                        "round": v.round,
                        "awarded_at": v.awarded_at,
                        "award_reason": v.award_reason,
                        "contract_signed_at": v.contract_signed_at,
                        "voided_at": v.voided_at,
                        "reason": v.reason,
                    }
                    for v in ev.voided_awards
                ],
                "candidates": [
                    {
                        "round": c.round,
                        "rank": c.rank,
                        "org_id": c.org_id,
                        "voided_at": c.voided_at,
                        "void_reason": c.void_reason,
                    }
                    for c in ev.all_candidates
                ],
            }
        )
    files["evaluation/report_signatures.json"] = _json(services.signatures_document(ev))
    files["evaluation/scores.json"] = _json(
        [
            {
                "member_id": m.id,
                "representative": m.is_representative,
                "counted": m.counts,
                "void_reason": m.void_reason,
                "scores": [
                    {
                        "org_id": s.org_id,
                        "criterion": s.criterion,
                        "points": s.points,
                        "qualified": s.qualified,
                        "reason": s.reason,
                        "round": s.round,
                        "void_reason": s.void_reason,
                    }
                    for s in m.all_scores
                ],
            }
            for m in ev.members
        ]
    )
    cp = audit.checkpoint(reason="archive")
    files["audit/checkpoint.txt"] = cp.note.encode()
    files["audit/leaves.json"] = _json(_audit_leaves(ev, cp.tree_size))
    manifest = {
        "type": "ggzy-section-archive-v1",
        "section_id": section.id,
        "evaluation_id": ev.id,
        "created_at": now(),
        "platform_public_key": public_key_raw_b64(),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    manifest_bytes = _json(manifest)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(files.items()):
            zf.writestr(zipfile.ZipInfo(name, _FIXED_TIME), data)
        zf.writestr(zipfile.ZipInfo("manifest.json", _FIXED_TIME), manifest_bytes)
        zf.writestr(
            zipfile.ZipInfo("manifest.sig", _FIXED_TIME), base64.b64encode(signing_key().sign(manifest_bytes))
        )
    return out.getvalue()


def archive(ev: Evaluation, *, actor: User) -> Evaluation:
    """Build, store and seal the archive; the section moves to ``archived``."""
    from app.projects import services as projects

    from . import services

    if ev.status != EvaluationStatus.AWARDED:
        raise Conflict(_no_award())
    section = services.section_of(ev)
    if section.status != SectionStatus.AWARDED:
        raise NotFound(_no_award())
    data = build_bundle(ev)
    blob = storage.write_bytes(data, folder=f"evaluation/{ev.id}", suffix=".zip")
    services._add_file(ev, FileKind.ARCHIVE, f"archive-{section.code}.zip", blob)
    services.transition(
        ev,
        EvaluationStatus.ARCHIVED,
        actor=actor,
        changes={"archive_sha256": blob.sha256, "archive_path": blob.path, "archived_at": now()},
    )
    projects.transition(section, SectionStatus.ARCHIVED, actor=actor, reason="archive bundle")
    services._audit("evaluation:archive:create", actor, ev, {"sha256": blob.sha256, "size": blob.size})
    return ev


def _no_award() -> str:
    from flask_babel import gettext as _

    return _("Only an awarded section is archived.")
