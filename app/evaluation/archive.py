"""The signed archive bundle of a section (电子招标投标办法 Art. 51: electronic archiving).

One zip per section::

    manifest.json            section, created_at, platform public key, {path: SHA-256} of every other file
    manifest.sig             base64 Ed25519 signature of the platform over manifest.json
    section.json             the section's terms and its status timeline
    documents/…              the published tender documents, with their hashes in documents.json
    envelopes.json           every sealed envelope's SHA-256, size, receipt time and decrypt status
    opening_record.json      the opening record as published (and its SHA-256 as confirmed by bidders), with
                             the on-the-spot objections and the tenderer's answers
    draw_record.json         the expert draw: rounds, commitments, witness entropy, seeds and results, and
                             under "public_record" the draw's public record with the frozen pool and the
                             exclusions (pseudonymized), which ``ggzy-audit draw`` recomputes
                             (docs/verify-a-draw.md)
    bids/<org>/<id>-<name>   every opened bid document, decrypted (the sealed ciphertext's key is gone)
    bids.json                bidder, envelope SHA-256 (as receipted) and document SHA-256 of each bid file
    contract/…               the signed contract (PDF), its amendments and contract.json (app/contracts)
    cases.json               the objections, complaints and reports filed on the section
    retention.json           how long the archive is kept and why (and the same in the manifest)
    evaluation/report.html   the evaluation report, report_signatures.json, scores.json
    notices/…                candidate publicity, award notice, award and result letters, written report
    audit/leaves.json        the audit leaves of the section, its evaluation and its draw, each with an
                             RFC 6962 inclusion proof in audit/checkpoint.txt (a signed tree head)

Verify offline with :mod:`app.evaluation.verify`. The zip is written to a temporary file member by member
(each hashed as it is written), so bids of any size pass in constant memory.

Retention (docs/rules.md): government procurement files are kept at least 15 years from the end of the
procurement (政府采购法 Art. 42); the platform keeps works and every other category as long — there is no
national figure for works bidding records (the 20号令 "15 years" is unsupported, reference §2.7); 15 years
covers the 10 years of 招标公告和公示信息发布管理办法 Art. 11 and matches 重庆市招标投标条例 Art. 38, the one
statutory figure found for works bidding records. ``EVALUATION_ARCHIVE_YEARS`` may lengthen it, never
shorten it. ``flask bidding cleanup`` keeps everything of an archive under retention; with
``--dispose-expired`` it removes, once the period has ended, the bundle and the decrypted bid documents
(:func:`dispose_expired`); the sealed envelopes stay as ciphertext whose key no longer exists.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable
from typing import Any

from sqlalchemy import or_, select

from app.accounts.models import User
from app.core import audit, storage
from app.core.clock import now
from app.core.crypto import public_key_raw_b64, signing_key
from app.core.db import db
from app.core.errors import Conflict, NotFound
from app.core.models import AuditLeaf
from app.projects.enums import Category, SectionStatus
from app.projects.rules import ARCHIVE_RETENTION_YEARS

from .enums import EvaluationStatus, FileKind
from .models import Evaluation

_FIXED_TIME = (2020, 1, 1, 0, 0, 0)

#: Statutory minimum: 政府采购法 Art. 42 (15 years from the end of the procurement); the platform's choice
#: for every other category (module docstring).
RETENTION_YEARS = ARCHIVE_RETENTION_YEARS


def retention_years() -> int:
    """``EVALUATION_ARCHIVE_YEARS`` may lengthen the retention, never shorten it (a warning says so)."""
    import logging

    from flask import current_app

    configured = int(current_app.config.get("EVALUATION_ARCHIVE_YEARS", RETENTION_YEARS))
    if configured < RETENTION_YEARS:
        logging.getLogger(__name__).warning(
            "EVALUATION_ARCHIVE_YEARS = %s is shorter than the statute (政府采购法第42条): %s is used",
            configured,
            RETENTION_YEARS,
        )
    return max(configured, RETENTION_YEARS)


def retention_basis(category: str) -> str:
    if category == Category.GOVERNMENT_PROCUREMENT:
        return "政府采购法第42条：采购文件自采购结束之日起至少保存十五年"
    return (
        "平台规则：与政府采购同为十五年（无全国性工程招投标档案期限；覆盖《招标公告和公示信息发布管理办法》"
        "第11条的十年，参照《重庆市招标投标条例》第38条）"
    )


def add_years(at: dt.datetime, years: int) -> dt.datetime:
    try:
        return at.replace(year=at.year + years)
    except ValueError:  # 29 February
        return at.replace(year=at.year + years, day=28)


def _json(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, indent=1, default=str).encode()


def _draw_record(draw_id: int) -> dict[str, Any]:
    from app.experts.draw_record import public_record
    from app.experts.models import ExpertDraw

    draw = db.session.get(ExpertDraw, draw_id)
    assert draw is not None
    return {
        # archived once the result is determined: the published record, pool and exclusions included
        "public_record": public_record(draw, published=True),
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


def _bid_files(section_id: int) -> tuple[list[dict[str, Any]], dict[str, Iterable[bytes]]]:
    """The opened bid documents of the section: their listing and, per archive path, their plaintext."""
    from app.bidding.models import SealedEnvelope
    from app.bidding.opening import read_document

    envelopes = db.session.scalars(
        select(SealedEnvelope)
        .where(SealedEnvelope.section_id == section_id, SealedEnvelope.plaintext_path.is_not(None))
        .order_by(SealedEnvelope.org_id, SealedEnvelope.id)
    ).all()
    listing, streams = [], {}
    for env in envelopes:
        safe = "".join(ch if ch.isalnum() or ch in "._-()" else "_" for ch in env.name)[:100] or "document"
        path = f"bids/{env.org_id}/{env.id}-{safe}"
        streams[path] = read_document(env)
        listing.append(
            {
                "file": path,
                "org_id": env.org_id,
                "bidder": env.organization.name,
                "envelope_sha256": env.sha256,
                "received_at": env.received_at,
                "plaintext_size": env.plaintext_size,
            }
        )
    return listing, streams


def build_bundle(ev: Evaluation, *, retain_until: dt.datetime, basis: str) -> str:
    """Write the zip (deterministic file order and times) to a temporary file under the blob directory and
    return its path; needs an app context. Members are hashed as they are written."""
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
    from app.contracts.archive import bundle_files  # the signed contract, its amendments, the cases

    files.update(bundle_files(section))
    listing, streams = _bid_files(section.id)
    files["bids.json"] = _json(listing)
    retention = {"retain_until": retain_until, "basis": basis, "years": retention_years()}
    files["retention.json"] = _json(retention)
    cp = audit.checkpoint(reason="archive")
    files["audit/checkpoint.txt"] = cp.note.encode()
    files["audit/leaves.json"] = _json(_audit_leaves(ev, cp.tree_size))
    digests = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    folder = storage.blob_root() / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=folder, prefix="archive-", suffix=".zip.part")
    os.close(fd)
    try:
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
            members = sorted([*files, *streams])
            for name in members:
                info = zipfile.ZipInfo(name, _FIXED_TIME)
                info.compress_type = zipfile.ZIP_DEFLATED
                digest = hashlib.sha256()
                with zf.open(info, "w", force_zip64=name in streams) as out:
                    for chunk in streams[name] if name in streams else [files[name]]:
                        digest.update(chunk)
                        out.write(chunk)
                digests[name] = digest.hexdigest()
            manifest = {
                "type": "ggzy-section-archive-v1",
                "section_id": section.id,
                "evaluation_id": ev.id,
                "created_at": now(),
                "platform_public_key": public_key_raw_b64(),
                "retention": retention,
                "files": dict(sorted(digests.items())),
            }
            manifest_bytes = _json(manifest)
            zf.writestr(zipfile.ZipInfo("manifest.json", _FIXED_TIME), manifest_bytes)
            zf.writestr(
                zipfile.ZipInfo("manifest.sig", _FIXED_TIME),
                base64.b64encode(signing_key().sign(manifest_bytes)),
            )
    except BaseException:
        os.unlink(path)
        raise
    return path


def archive(ev: Evaluation, *, actor: User) -> Evaluation:
    """Build, store and seal the archive; the section moves to ``archived``."""
    from app.projects import services as projects

    from . import services

    if ev.status != EvaluationStatus.AWARDED:
        raise Conflict(_no_award())
    section = services.section_of(ev)
    if section.status != SectionStatus.AWARDED:
        raise NotFound(_no_award())
    if ev.contract_signed_at is None:
        # The archive of an awarded section is complete only with its contract (招标投标法第46条; 政府采购法
        # 第42条 lists the contract among the procurement file): archiving first would seal a file without it.
        raise Conflict(_no_contract(), code="contract_missing")
    at = now()
    retain_until = add_years(at, retention_years())
    basis = retention_basis(section.project.catalogue_item.category)
    path = build_bundle(ev, retain_until=retain_until, basis=basis)
    try:
        with open(path, "rb") as fh:
            blob = storage.write_stream(fh, folder=f"evaluation/{ev.id}", suffix=".zip")
    finally:
        os.unlink(path)
    services._add_file(ev, FileKind.ARCHIVE, f"archive-{section.code}.zip", blob)
    services.transition(
        ev,
        EvaluationStatus.ARCHIVED,
        actor=actor,
        changes={
            "archive_sha256": blob.sha256,
            "archive_path": blob.path,
            "archived_at": at,
            "retain_until": retain_until,
            "retention_basis": basis,
        },
    )
    projects.transition(section, SectionStatus.ARCHIVED, actor=actor, reason="archive bundle")
    services._audit(
        "evaluation:archive:create",
        actor,
        ev,
        {"sha256": blob.sha256, "size": blob.size, "retain_until": retain_until, "basis": basis},
    )
    return ev


def dispose_expired(*, at: dt.datetime | None = None, actor: User | None = None) -> list[Evaluation]:
    """After the retention period, and never before it: remove the archive bundle and the decrypted bid
    documents of the section (the sealed envelopes stay as ciphertext whose key no longer exists; every
    row, receipt and audit leaf stays). Returns the archives disposed of."""
    from app.bidding.models import SealedEnvelope

    at = at or now()
    due = db.session.scalars(
        select(Evaluation)
        .where(
            Evaluation.archive_sha256.is_not(None),
            Evaluation.disposed_at.is_(None),
            Evaluation.retain_until <= at,
        )
        .order_by(Evaluation.id)
    ).all()
    for ev in due:
        removed = []
        if ev.archive_path:
            storage.absolute(ev.archive_path).unlink(missing_ok=True)
            removed.append(ev.archive_path)
        for env in db.session.scalars(
            select(SealedEnvelope).where(
                SealedEnvelope.section_id == ev.section_id, SealedEnvelope.plaintext_path.is_not(None)
            )
        ):
            storage.absolute(str(env.plaintext_path)).unlink(missing_ok=True)
            removed.append(str(env.plaintext_path))
            env.plaintext_path = None
        ev.archive_path = None
        ev.disposed_at = at
        db.session.flush()
        from . import services

        services._audit(
            "evaluation:archive:dispose",
            actor,
            ev,
            {"retain_until": ev.retain_until, "basis": ev.retention_basis, "files": len(removed)},
        )
    return list(due)


def under_retention(*, at: dt.datetime | None = None) -> list[Evaluation]:
    """Archives whose retention has not ended: cleanup keeps every file of them."""
    at = at or now()
    return list(
        db.session.scalars(
            select(Evaluation)
            .where(Evaluation.archive_sha256.is_not(None), Evaluation.retain_until > at)
            .order_by(Evaluation.retain_until)
        )
    )


def _no_contract() -> str:
    from flask_babel import gettext as _

    return _(
        "The signed contract is not recorded yet: the archive of an awarded section includes its contract "
        "(Tendering and Bidding Law Art. 46)."
    )


def _no_award() -> str:
    from flask_babel import gettext as _

    return _("Only an awarded section is archived.")
