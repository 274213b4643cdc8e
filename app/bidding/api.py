"""JSON API of the bidding domain under /api/v1/bidding: envelopes (streaming and resumable), receipts,
the ceremony, the opening record. Raw envelope bodies are read from ``request.stream``, never buffered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Response, jsonify, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_smorest import Blueprint
from werkzeug.exceptions import ClientDisconnected

from app.accounts.stepup import step_up_required
from app.core import crypto, scoping
from app.core.bodies import STREAMED, body_limit, length_readinto
from app.core.db import db
from app.core.errors import Conflict, DomainError, NotFound
from app.core.idempotency import idempotent
from app.core.permissions import Permission, Role, public, require
from app.extensions import api as api_ext
from app.projects.models import Section

from . import opening, permissions, schemas, services, uploads
from .enums import CeremonyStatus, EnvelopeStatus
from .models import SealedEnvelope

blp = Blueprint("bidding_api", __name__, url_prefix="/api/v1/bidding", description="Sealed bids and openings")


def _section_or_404(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or section.status == "draft":
        raise NotFound(_("No such section."))
    return section


def _json_object() -> dict[str, Any]:
    """The request's JSON object (empty without a JSON body); another JSON value (a list, a number) is
    refused with 422 rather than failing on ``.get``."""
    body = request.get_json(silent=True)
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise DomainError(_("The request body must be a JSON object."))
    return body


def _json_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    return value if value is None or isinstance(value, str) else str(value)


def _json_doc(schema: type[Any]) -> Callable[[Any], Any]:
    """Document the JSON body a handler reads itself (``_json_object``) in the OpenAPI document."""
    return blp.doc(requestBody={"required": False, "content": {"application/json": {"schema": schema}}})


def _upload_request(
    section_id: int, kind: str | None = None, name: str | None = None
) -> uploads.UploadRequest:
    h = request.headers
    return uploads.UploadRequest(
        section_id=section_id,
        kind=kind if kind is not None else (request.args.get("kind") or h.get("X-Envelope-Kind") or ""),
        name=name if name is not None else (request.args.get("name") or h.get("X-Envelope-Name") or ""),
        idempotency_key=h.get("Idempotency-Key") or None,
        declared_sha256=h.get("X-Content-SHA256") or None,
        signature_b64=h.get("X-Bid-Signature") or None,
        key_id=h.get("X-Bid-Key-Id") or None,
        source_ip=request.remote_addr,
        user_agent=h.get("User-Agent"),
        client_fingerprint=h.get("X-Client-Fingerprint"),
    )


def _receipt_response(envelope: SealedEnvelope, created: bool) -> Response:
    return _signed_receipt_response(uploads.receipt(envelope), created)


def _signed_receipt_response(receipt: dict[str, Any], created: bool) -> Response:
    """The receipt as the answer (from its own fields: no database read after the commit)."""
    body = receipt["receipt"]
    resp = jsonify(receipt)
    resp.status_code = 201 if created else 200
    resp.headers["Location"] = url_for(
        "bidding_api.envelope_receipt", section_id=body["section_id"], envelope_id=body["envelope_id"]
    )
    return resp


def body_reader() -> Callable[[int], bytes]:
    """``read(n)`` over the request body. With a Content-Length, straight from ``wsgi.input`` bounded by
    that length (Werkzeug's ``request.stream`` wrapper costs two extra copies per piece, a third of the
    throughput of a large upload); chunked bodies go through ``request.stream``."""
    length = request.content_length
    raw = request.environ.get("wsgi.input")
    if length is None or raw is None:
        return request.stream.read
    left = length

    def read(n: int) -> bytes:
        nonlocal left
        if left <= 0:
            return b""
        try:
            data: bytes = raw.read(min(n, left))
        except OSError as err:  # the client dropped the connection mid-body: a 400, not a server error
            raise ClientDisconnected() from err
        left -= len(data)
        return data

    return read


def body_readinto() -> Callable[[memoryview], int]:
    """``readinto(view)`` over the request body, for :func:`uploads.stage_stream`: with a Content-Length
    straight into the caller's buffers (:func:`app.core.bodies.length_readinto`), a chunked body through
    ``request.stream``."""
    length = request.content_length
    if length is not None and request.environ.get("wsgi.input") is not None:
        return length_readinto(length)
    read = request.stream.read

    def readinto(view: memoryview) -> int:
        data = read(len(view))
        view[: len(data)] = data
        return len(data)

    return readinto


def _end_transaction() -> None:
    """Commit before streaming: the session then holds no transaction and no connection (SQLAlchemy returns
    the connection to the pool at commit) while bytes arrive."""
    db.session.commit()


@blp.route("/platform-key")
@blp.alt_response(200, schema=schemas.PlatformKeyOut, success=True)
@public
def platform_key() -> dict[str, Any]:
    """The platform's Ed25519 public key that signs receipts (base64 of the raw key)."""
    return {"algorithm": "ed25519", "public_key": crypto.public_key_raw_b64()}


@blp.route("/sections/<int:section_id>")
@blp.alt_response(200, schema=schemas.SectionSealingOut, success=True)
@public
def section_info(section_id: int) -> dict[str, Any]:
    """What a bidder needs to seal: the opening recipient, the deadline, the size limit, the items."""
    section = _section_or_404(section_id)
    return {
        "section_id": section.id,
        "code": section.code,
        "name": section.name,
        "status": section.status,
        "opening_recipient": section.opening_recipient,
        "bid_deadline": section.bid_deadline.isoformat() if section.bid_deadline else None,
        "max_envelope_bytes": uploads.max_bytes_of(section),
        "opening_items": ["price", *[i for i in (section.opening_items or []) if i != "price"]],
        "signature_required": True,
    }


@blp.route("/sections/<int:section_id>/envelopes", methods=["PUT", "POST"])
@blp.alt_response(201, schema=schemas.SignedReceiptOut, success=True, description="Received")
@blp.alt_response(200, schema=schemas.SignedReceiptOut, description="Already received (same Idempotency-Key)")
@require(Permission.BIDDING_SUBMIT)
@body_limit(STREAMED)  # the section's limit, enforced while streaming (uploads.stage_stream)
def upload_envelope(section_id: int) -> Response:
    """Upload one sealed envelope as the raw request body (``application/octet-stream``).

    Query or headers: ``kind`` (summary|document), ``name`` (documents); ``Idempotency-Key``;
    ``X-Bid-Key-Id`` + ``X-Bid-Signature`` (base64 Ed25519 over the envelope statement);
    optional ``X-Content-SHA256`` and ``X-Client-Fingerprint``. Answers the signed receipt."""
    actor = current_user.user
    prepared = uploads.prepare(_upload_request(section_id), actor=actor)
    if isinstance(prepared, SealedEnvelope):
        return _receipt_response(prepared, False)
    _end_transaction()
    staged = uploads.stage_stream(body_readinto(), prepared.max_bytes, content_length=request.content_length)
    received = uploads.commit(prepared, staged, actor=actor)
    return _signed_receipt_response(received.receipt, received.created)


@blp.route("/sections/<int:section_id>/envelopes", methods=["GET"])
@blp.alt_response(200, schema=schemas.EnvelopeListOut, success=True)
@require(Permission.BIDDING_SUBMIT)
def my_envelopes(section_id: int) -> dict[str, Any]:
    """The caller's own envelopes for the section (history included; active ones count)."""
    _section_or_404(section_id)
    rows = uploads.own_envelopes(section_id, current_user.org_id)
    return {"envelopes": [_envelope_dict(e) for e in rows]}


def _envelope_dict(e: SealedEnvelope) -> dict[str, Any]:
    return {
        "id": e.id,
        "kind": e.kind,
        "name": e.name,
        "status": e.status,
        "sha256": e.sha256,
        "size": e.size,
        "received_at": e.received_at.isoformat(),
        "ended_at": e.ended_at.isoformat() if e.ended_at else None,
        "decrypt_status": e.decrypt_status,
    }


@blp.route("/sections/<int:section_id>/count")
@blp.alt_response(200, schema=schemas.EnvelopeCountOut, success=True)
@require(Permission.BIDDING_CEREMONY)
def envelope_count(section_id: int) -> dict[str, Any]:
    """Center staff: how many bidders have submitted (no names before the opening)."""
    section = _section_or_404(section_id)
    if not permissions.can_see_count(current_user.user, section):
        raise NotFound(_("No such section."))
    return {"section_id": section.id, "bidders": uploads.bidder_count(section.id)}


@blp.route("/sections/<int:section_id>/envelopes/<int:envelope_id>/receipt")
@blp.alt_response(200, schema=schemas.SignedReceiptOut, success=True)
@require(Permission.BIDDING_SUBMIT)
def envelope_receipt(section_id: int, envelope_id: int) -> dict[str, Any]:
    env = uploads.own_envelope(envelope_id, actor=current_user.user, section_id=section_id)
    return uploads.receipt(env)


@blp.route("/sections/<int:section_id>/envelopes/<int:envelope_id>", methods=["DELETE"])
@blp.alt_response(200, schema=schemas.WithdrawnOut, success=True)
@require(Permission.BIDDING_SUBMIT)
def withdraw_envelope(section_id: int, envelope_id: int) -> dict[str, Any]:
    env = uploads.own_envelope(envelope_id, actor=current_user.user, section_id=section_id)
    n = uploads.withdraw([env], actor=current_user.user, section_id=section_id)
    db.session.commit()
    return {"withdrawn": n}


@blp.route("/sections/<int:section_id>/withdraw", methods=["POST"])
@blp.alt_response(200, schema=schemas.WithdrawnOut, success=True)
@require(Permission.BIDDING_SUBMIT)
def withdraw_bid(section_id: int) -> dict[str, Any]:
    """撤回: withdraw every active envelope of the caller's organization."""
    _section_or_404(section_id)
    envs = uploads.own_envelopes(section_id, current_user.org_id, history=False)
    n = uploads.withdraw(envs, actor=current_user.user, section_id=section_id)
    db.session.commit()
    return {"withdrawn": n}


# -- resumable uploads ------------------------------------------------------------------------------------


@blp.route("/sections/<int:section_id>/uploads", methods=["POST"])
@_json_doc(schemas.UploadIn)
@blp.alt_response(201, schema=schemas.UploadOut, success=True)
@require(Permission.BIDDING_SUBMIT)
def create_upload(section_id: int) -> Response:
    """Start a resumable upload: JSON ``{"kind", "name", "length"}``; answers its id and ``Location``."""
    body = _json_object()
    try:
        length = int(body.get("length") or 0)
    except (TypeError, ValueError, OverflowError):  # OverflowError: JSON "Infinity"
        raise DomainError(_("The upload length must be positive.")) from None
    req = _upload_request(section_id, str(body.get("kind") or ""), str(body.get("name") or ""))
    upload = uploads.create_upload(req, length, actor=current_user.user)
    db.session.commit()
    resp = jsonify({"id": upload.id, "offset": 0, "length": upload.length})
    resp.status_code = 201
    resp.headers["Location"] = url_for("bidding_api.upload_status", upload_id=upload.id)
    resp.headers["Upload-Offset"] = "0"
    return resp


@blp.route("/uploads/<upload_id>", methods=["GET"])
@blp.alt_response(200, schema=schemas.UploadOut, success=True)
@require(Permission.BIDDING_SUBMIT)
def upload_status(upload_id: str) -> Response:
    upload = uploads.own_upload(upload_id, actor=current_user.user)
    offset = uploads.upload_offset(upload)
    resp = jsonify({"id": upload.id, "offset": offset, "length": upload.length})
    resp.headers["Upload-Offset"] = str(offset)
    resp.headers["Upload-Length"] = str(upload.length)
    return resp


@blp.route("/uploads/<upload_id>", methods=["PATCH"])
@blp.alt_response(204, success=True, description="Chunk stored")
@require(Permission.BIDDING_SUBMIT)
@body_limit(STREAMED)  # at most what the upload still lacks, enforced while streaming (uploads.append_chunk)
def upload_chunk(upload_id: str) -> Response:
    """Append a chunk: headers ``Upload-Offset`` (must equal the stored size) and optionally
    ``Upload-Checksum: sha256 <base64>``; answers 204 with the new ``Upload-Offset``."""
    upload = uploads.own_upload(upload_id, actor=current_user.user)
    try:
        offset = int(request.headers.get("Upload-Offset", ""))
    except ValueError:
        raise DomainError(_("The Upload-Offset header is required.")) from None
    _end_transaction()
    new = uploads.append_chunk(upload, offset, body_reader(), request.headers.get("Upload-Checksum"))
    resp = Response(status=204)
    resp.headers["Upload-Offset"] = str(new)
    return resp


@blp.route("/uploads/<upload_id>/finalize", methods=["POST"])
@blp.alt_response(201, schema=schemas.SignedReceiptOut, success=True, description="Received")
@blp.alt_response(200, schema=schemas.SignedReceiptOut, description="Already received")
@require(Permission.BIDDING_SUBMIT)
def finalize_upload(upload_id: str) -> Response:
    """Complete a resumable upload: the same checks and receipt as a direct upload."""
    actor = current_user.user
    upload = uploads.own_upload(upload_id, actor=actor)
    if upload.envelope_id is not None:
        env = db.session.get(SealedEnvelope, upload.envelope_id)
        assert env is not None
        return _receipt_response(env, False)
    if uploads.upload_offset(upload) != upload.length:
        raise DomainError(_("The upload is not complete yet."), code="incomplete")
    prepared = uploads.prepare(_upload_request(upload.section_id, upload.kind, upload.name), actor=actor)
    if isinstance(prepared, SealedEnvelope):
        return _receipt_response(prepared, False)
    path = uploads.part_path(upload)
    _end_transaction()
    staged = uploads.stage_file(path, prepared.max_bytes)
    received = uploads.commit(prepared, staged, actor=actor)
    row = db.session.get(type(upload), upload_id)
    if row is not None:
        row.envelope_id = received.envelope.id
        db.session.commit()
    return _signed_receipt_response(received.receipt, received.created)


@blp.route("/uploads/<upload_id>", methods=["DELETE"])
@blp.alt_response(204, success=True, description="Upload discarded")
@require(Permission.BIDDING_SUBMIT)
def abort_upload(upload_id: str) -> Response:
    upload = uploads.own_upload(upload_id, actor=current_user.user)
    uploads.discard_upload(upload)
    db.session.commit()
    return Response(status=204)


# -- the ceremony -----------------------------------------------------------------------------------------


@blp.route("/sections/<int:section_id>/ceremony", methods=["POST"])
@blp.alt_response(201, schema=schemas.CeremonyOut, success=True)
@require(Permission.BIDDING_CEREMONY)
def start_ceremony(section_id: int) -> Response:
    """Start the opening (step-up: ``X-TOTP-Code`` with a token). 404 first, then the step-up."""
    section = _section_or_404(section_id)
    if not permissions.can_run_ceremony(current_user.user, section):
        raise NotFound(_("No such section."))
    return step_up_required(_start_ceremony)(section_id)


def _start_ceremony(section_id: int) -> Response:
    ceremony = opening.start_ceremony(section_id, actor=current_user.user)
    db.session.commit()
    body: dict[str, Any] = {"ceremony_id": ceremony.id, "status": ceremony.status}
    if ceremony.status == CeremonyStatus.NOT_OPENED:
        body["bidders"] = ceremony.bidder_count
        body["message"] = opening.not_opened_reason(ceremony.bidder_count or 0)
    resp = jsonify(body)
    resp.status_code = 201
    return resp


@blp.route("/sections/<int:section_id>/ceremony/postpone", methods=["POST"])
@_json_doc(schemas.PostponeIn)
@blp.alt_response(200, schema=schemas.CeremonyOut, success=True)
@require(Permission.BIDDING_CEREMONY)
def postpone_ceremony(section_id: int) -> dict[str, Any]:
    section = _section_or_404(section_id)
    if not permissions.can_run_ceremony(current_user.user, section):
        raise NotFound(_("No such section."))
    body = _json_object()
    ceremony = opening.postpone(section_id, actor=current_user.user, reason=str(body.get("reason") or ""))
    db.session.commit()
    return {"ceremony_id": ceremony.id, "status": ceremony.status}


@blp.route("/sections/<int:section_id>/shares", methods=["POST"])
@_json_doc(schemas.ShareIn)
@blp.alt_response(200, schema=schemas.ShareAcceptedOut, success=True)
@require(Permission.BIDDING_CUSTODIAN)
def submit_share(section_id: int) -> Any:
    """A custodian's decrypted share: JSON ``{"mnemonic": "…"}`` (step-up). At k shares the opening runs."""
    section = _section_or_404(section_id)
    if not permissions.is_custodian(current_user.user, section):
        raise NotFound(_("You hold no key share for this section."))
    return step_up_required(_submit_share)(section_id)


def _submit_share(section_id: int) -> dict[str, Any]:
    body = _json_object()
    ceremony, quorum = opening.submit_share(
        section_id, str(body.get("mnemonic") or ""), actor=current_user.user
    )
    db.session.commit()
    ceremony_id = ceremony.id
    if quorum:
        opening.run_opening(ceremony_id, actor=current_user.user)
    latest = opening.latest_ceremony(section_id)
    return {"ceremony_id": ceremony_id, "status": latest.status if latest else None, "quorum": quorum}


@blp.route("/custodian/shares")
@blp.alt_response(200, schema=schemas.KeyShareListOut, success=True)
@require(Permission.BIDDING_CUSTODIAN)
@scoping.filters_lists
def my_shares() -> dict[str, Any]:
    """The caller's encrypted shares (age files, base64): decrypt locally with ``age -d -i``. A token
    limited to some sections lists their shares only."""
    import base64

    return {
        "shares": [
            {
                "id": s.id,
                "section_id": s.section_id,
                "member_index": s.member_index,
                "custodian_recipient": s.custodian_recipient,
                "ciphertext_b64": base64.b64encode(s.ciphertext).decode(),
            }
            for s in services.key_shares_of(current_user.user)
            if scoping.reaches(s.section_id)
        ]
    }


# -- the record -------------------------------------------------------------------------------------------


@blp.route("/sections/<int:section_id>/record")
@blp.alt_response(200, schema=schemas.OpeningRecordOut, success=True)
@public
def opening_record(section_id: int) -> dict[str, Any]:
    """The opening record, public once the ceremony has completed: per bidder every envelope with the
    SHA-256 of its receipt, opened or not and why. ``audit`` names the log leaf that published it and
    where to get its inclusion proof. Before the opening completes: 409 ``not_opened``. A section with
    fewer than 3 bidders was never opened: its record carries the count only (``not_opened``), no entry."""
    section = _section_or_404(section_id)
    ceremony = opening.completed_ceremony(section)
    if ceremony is None:
        unopened = opening.not_opened_ceremony(section)
        if unopened is None:
            raise Conflict(
                _("This section has not been opened yet; its record is published when the opening ends."),
                code="not_opened",
            )
        return {
            "record": opening.not_opened_document(section, unopened),
            "record_sha256": None,
            "valid_bids": 0,
            "section_status": section.status,
            "objections": [],
            "audit": None,
        }
    doc = opening.record_document(section, ceremony)
    leaf = opening.record_leaf(section)
    return {
        "record": doc,
        "record_sha256": ceremony.record_sha256,
        "valid_bids": ceremony.valid_bids,
        "section_status": section.status,
        "objections": opening.objection_record(ceremony),
        "audit": None
        if leaf is None
        else {
            "leaf_index": leaf.idx,
            "proof_url": url_for("bidding_api.opening_record_proof", section_id=section.id),
        },
    }


@blp.route("/sections/<int:section_id>/record/proof")
@blp.arguments(schemas.RecordProofArgs, location="query")
@blp.alt_response(200, schema=schemas.RecordProofOut, success=True)
@public
def opening_record_proof(args: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Inclusion proof of the leaf that published the opening record, in the tree of the latest signed
    checkpoint (or of ``size``): the leaf text and payload to rehash, hex hashes (``ggzy-audit --proof``)."""
    section = _section_or_404(section_id)
    leaf = opening.record_leaf(section) if opening.completed_ceremony(section) is not None else None
    if leaf is None:
        raise Conflict(
            _("This section has not been opened yet; there is no record to prove."), code="not_opened"
        )
    return opening.record_proof(leaf, args.get("size"))


@blp.route("/sections/<int:section_id>/confirm", methods=["POST"])
@_json_doc(schemas.RecordConfirmationIn)
@blp.alt_response(200, schema=schemas.RecordConfirmationOut, success=True)
@require(Permission.BIDDING_ATTEND)
def confirm_record(section_id: int) -> dict[str, Any]:
    """JSON ``{"accepted": true, "key_id": "…", "signature": "…"}`` (signature over the record statement)."""
    _section_or_404(section_id)
    body = _json_object()
    row = opening.confirm_record(
        section_id,
        actor=current_user.user,
        accepted=bool(body.get("accepted", True)),
        key_id=_json_text(body, "key_id"),
        signature_b64=_json_text(body, "signature"),
    )
    db.session.commit()
    return {"record_sha256": row.record_sha256, "signed": row.signature is not None}


@blp.route("/sections/<int:section_id>/objections", methods=["POST"])
@idempotent
@_json_doc(schemas.ObjectionIn)
@blp.alt_response(200, schema=schemas.ObjectionOut, success=True)
@require(Permission.BIDDING_ATTEND)
def raise_objection(section_id: int) -> dict[str, Any]:
    _section_or_404(section_id)
    body = _json_object()
    row = opening.raise_objection(section_id, str(body.get("body") or ""), actor=current_user.user)
    db.session.commit()
    return {"id": row.id}


@blp.route("/sections/<int:section_id>/opened-envelopes")
@blp.alt_response(200, schema=schemas.OpenedEnvelopeListOut, success=True)
@require(Permission.BIDDING_OPENED_READ)
def opened_envelopes(section_id: int) -> dict[str, Any]:
    """After the opening: every envelope with its capture data (for collusion checks by staff/regulators)."""
    from sqlalchemy import select

    section = _section_or_404(section_id)
    if not permissions.can_read_opened(current_user.user, section):
        raise NotFound(_("No such section."))
    rows = db.session.scalars(
        select(SealedEnvelope).where(SealedEnvelope.section_id == section_id).order_by(SealedEnvelope.id)
    )
    return {
        "envelopes": [
            _envelope_dict(e)
            | {
                "bidder": e.organization.name,
                "source_ip": e.source_ip,
                "user_agent": e.user_agent,
                "client_fingerprint": e.client_fingerprint,
                "signing_key_id": e.signing_key.key_id if e.signing_key else None,
            }
            for e in rows
            if e.status != EnvelopeStatus.SUPERSEDED or current_user.role == Role.REGULATOR
        ]
    }


def init_app(app: Flask) -> None:
    api_ext.register_blueprint(blp)
    from app.core import scoping

    from .models import EnvelopeUpload, SealedEnvelope

    scoping.register("envelope_id", scoping.by_column(SealedEnvelope.section_id))
    scoping.register("upload_id", scoping.by_column(EnvelopeUpload.section_id))
