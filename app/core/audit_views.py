"""Audit log pages and proof endpoints.

Checkpoints and consistency proofs are public (anyone may pin a tree head and check that the log only
grows); leaf contents and inclusion proofs are for regulators and the management office."""

from __future__ import annotations

import base64
from typing import Any

from flask import Blueprint, Flask, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint as ApiBlueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.core import audit, audit_sealing
from app.core.db import db
from app.core.errors import DomainError
from app.core.models import AuditCheckpoint, AuditLeaf, SigningKey
from app.core.permissions import Permission, public, require
from app.extensions import api as api_ext

bp = Blueprint("audit", __name__, url_prefix="/audit")
blp = ApiBlueprint("audit_api", __name__, url_prefix="/api/v1/audit", description="Audit log proofs")

PAGE_SIZE = 50
CHECKPOINT_PAGE = 1000


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode()


@bp.route("/")
@require(Permission.AUDIT_READ)
def log_page() -> str:
    size = audit.tree_size()
    try:
        before = int(request.args.get("before", size))
    except ValueError:
        before = size
    leaves = [
        audit_sealing.view_of(leaf)
        for leaf in db.session.scalars(
            select(AuditLeaf).where(AuditLeaf.idx < before).order_by(AuditLeaf.idx.desc()).limit(PAGE_SIZE)
        )
    ]
    latest = db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1))
    return render_template("audit/log.html", leaves=leaves, size=size, latest=latest, page_size=PAGE_SIZE)


@bp.route("/verify", methods=["POST"])
@require(Permission.AUDIT_READ)
def verify() -> str:
    result = audit.verify_log()
    return render_template("audit/verify.html", result=result)


@bp.route("/checkpoint", methods=["POST"])
@require(Permission.AUDIT_CHECKPOINT)
def make_checkpoint() -> Response:
    cp = audit.checkpoint(reason="regulator_request")
    audit.record(
        "audit:checkpoint:create", actor=current_user.user, object_type="audit_checkpoint", object_id=cp.id
    )
    db.session.commit()
    flash(_("Checkpoint signed at tree size %(n)d.", n=cp.tree_size), "success")
    return redirect(url_for("audit.log_page"))


class CheckpointOut(Schema):
    tree_size = fields.Int()
    root_hash = fields.Str(metadata={"description": "base64"})
    created_at = fields.DateTime()
    note = fields.Str(
        metadata={
            "description": "C2SP tlog-checkpoint signed note: the platform's signature line, then one C2SP "
            "tlog-cosignature/v1 line per witness cosignature"
        }
    )
    public_key = fields.Str(metadata={"description": "platform Ed25519 public key, base64 raw"})
    cosignatures = fields.List(
        fields.Dict(),
        metadata={
            "description": "who cosigned and when; C2SP ones carry their line and witness verifier_key, "
            "earlier ones a bare Ed25519 signature over the note text"
        },
    )


class ProofOut(Schema):
    index = fields.Int(allow_none=True)
    old_size = fields.Int(allow_none=True)
    tree_size = fields.Int()
    leaf_hash = fields.Str(allow_none=True)
    root_hash = fields.Str()
    proof = fields.List(fields.Str())


# marshmallow 4 ignores a validator's return value (a lambda answering False refuses nothing): validators
# must raise, as Range does; it also puts ``minimum: 1`` in the OpenAPI document.
class ConsistencyArgs(Schema):
    old = fields.Int(required=True, validate=validate.Range(min=1))
    new = fields.Int(required=True, validate=validate.Range(min=1))


class InclusionArgs(Schema):
    size = fields.Int(load_default=None, validate=validate.Range(min=1))


def _checkpoint_dict(cp: AuditCheckpoint) -> dict[str, Any]:
    from app.core.crypto import public_key_raw_b64

    return {
        "tree_size": cp.tree_size,
        "root_hash": _b64(cp.root_hash),
        "created_at": cp.created_at,
        "note": cp.note,
        "public_key": public_key_raw_b64(),
        "cosignatures": cp.cosignatures or [],
    }


class CheckpointListArgs(Schema):
    after = fields.Int(load_default=-1, validate=validate.Range(min=-1))
    limit = fields.Int(load_default=100, validate=validate.Range(min=1, max=CHECKPOINT_PAGE))


@blp.route("/checkpoints")
@blp.arguments(CheckpointListArgs, location="query")
@blp.response(200, CheckpointOut(many=True))
@public
def checkpoints(args: dict[str, int]) -> list[dict[str, Any]]:
    """Every signed checkpoint with a tree size above ``after``, oldest first, at most ``limit``: page on
    with ``after`` = the last size returned. Witnesses and monitors keep them."""
    rows = db.session.scalars(
        select(AuditCheckpoint)
        .where(AuditCheckpoint.tree_size > args["after"])
        .order_by(AuditCheckpoint.tree_size, AuditCheckpoint.id)
        .limit(args["limit"])
    )
    return [_checkpoint_dict(cp) for cp in rows]


@blp.route("/checkpoints/latest")
@blp.response(200, CheckpointOut)
@public
def latest_checkpoint() -> dict[str, Any]:
    """The newest signed checkpoint (tree head). If the log has grown since the newest one and the cadence
    interval has passed, a new one is signed first, so a witness polling here always sees a recent head."""
    cp = audit.checkpoint_if_due(reason="fetched")
    if cp is not None:
        db.session.commit()
    else:
        cp = db.session.scalar(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1))
    if cp is None:
        abort(404, description=_("No checkpoint has been signed yet."))
    return _checkpoint_dict(cp)


class SigningKeyOut(Schema):
    public_key = fields.String(required=True, metadata={"description": "raw Ed25519 key, base64"})
    verifier_key = fields.String(
        required=True, metadata={"description": "C2SP note verifier key <origin>+<id>+<base64(01 ‖ key)>"}
    )
    current = fields.Boolean(required=True, metadata={"description": "the key that signs now"})
    retired_at = fields.DateTime(allow_none=True)


@blp.route("/keys")
@blp.response(200, SigningKeyOut(many=True))
@public
def signing_keys() -> list[dict[str, Any]]:
    """The key the platform signs with now and every retired one, newest first (checkpoints, receipts,
    reports, archives): after a rotation, what an older key signed verifies against its entry here."""
    origin = current_app.config["AUDIT_ORIGIN"]
    current = audit.platform_public_key()
    entries: list[tuple[bytes, Any]] = [(audit.raw_public_key(current), None)]
    entries += [
        (bytes(r.public_key), r.retired_at)
        for r in db.session.scalars(select(SigningKey).order_by(SigningKey.id.desc()))
    ]
    return [
        {
            "public_key": _b64(raw),
            "verifier_key": audit.verifier_key(origin, audit.to_public_key(raw)),
            "current": retired_at is None,
            "retired_at": retired_at,
        }
        for raw, retired_at in entries
    ]


@blp.route("/proofs/consistency")
@blp.arguments(ConsistencyArgs, location="query")
@blp.response(200, ProofOut)
@public
def consistency(args: dict[str, int]) -> dict[str, Any]:
    """Proof that the tree of size ``new`` extends the tree of size ``old``."""
    old, new = args["old"], args["new"]
    size = audit.tree_size()
    if not old <= new <= size:
        raise DomainError(_("Sizes must satisfy 1 ≤ old ≤ new ≤ %(n)d.", n=size), errors={"new": [str(size)]})
    proof = audit.consistency_proof(old, new)
    return {
        "old_size": old,
        "tree_size": new,
        "root_hash": _b64(audit.root_hash(new)),
        "proof": [_b64(p) for p in proof],
    }


@blp.route("/proofs/inclusion/<int:index>")
@blp.arguments(InclusionArgs, location="query")
@blp.response(200, ProofOut)
@require(Permission.AUDIT_READ)
def inclusion(args: dict[str, int | None], index: int) -> dict[str, Any]:
    """Proof that leaf ``index`` is in the tree of the given size (default: current)."""
    size = args.get("size") or audit.tree_size()
    leaf = db.session.get(AuditLeaf, index)
    if leaf is None or index >= size or size > audit.tree_size():
        abort(404)
    proof = audit.inclusion_proof(index, size)
    return {
        "index": index,
        "tree_size": size,
        "leaf_hash": _b64(leaf.leaf_hash),
        "root_hash": _b64(audit.root_hash(size)),
        "proof": [_b64(p) for p in proof],
    }


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    api_ext.register_blueprint(blp)
