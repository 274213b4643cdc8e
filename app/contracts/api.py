"""JSON API of the contracts domain: published contracts and procurement intentions for everyone; a
section's contract, its signed PDF and its amendments' PDFs, and the archive listing for the parties who
may read them; the tenderer's side uploads the signed contract and its amendments (the PDF as the raw
request body) and publishes the contract (合同公告)."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from flask import Response, abort, request, send_file
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import RAISE, Schema, fields, validate

from app.accounts.models import User
from app.core import storage
from app.core.bodies import body_limit
from app.core.clock import CST, now, to_local
from app.core.db import db
from app.core.idempotency import idempotent
from app.core.labels import label
from app.core.permissions import Permission, public, require
from app.projects.models import Section

from . import archive, intentions, permissions, services
from .models import Contract

blp = Blueprint(
    "contracts_api", __name__, url_prefix="/api/v1", description="Contracts and procurement intentions"
)


class ContractAmendmentOut(Schema):
    number = fields.Int()
    summary = fields.Str()
    amount_after = fields.Decimal(as_string=True)
    signed_at = fields.DateTime()
    sha256 = fields.Str()


class PublicContractOut(Schema):
    id = fields.Int()
    section_id = fields.Int()
    title = fields.Str()
    supplier_name = fields.Str()
    amount = fields.Decimal(as_string=True)
    signed_at = fields.DateTime()
    published_at = fields.DateTime()
    publish_due_at = fields.DateTime(allow_none=True)
    published_late = fields.Bool()
    sha256 = fields.Str()
    amendments = fields.List(fields.Nested(ContractAmendmentOut))


class ContractOut(PublicContractOut):
    status = fields.Str()
    status_label = fields.Method("_status_label")
    publication = fields.Method("_publication")
    publication_label = fields.Method("_publication_label")
    published_at = fields.DateTime(allow_none=True)

    def _status_label(self, obj: Contract) -> str:
        return label("contract_status", obj.status)

    def _publication(self, obj: Contract) -> str:
        return services.publication_state(obj)

    def _publication_label(self, obj: Contract) -> str:
        return label("contract_publication", services.publication_state(obj))


class IntentionOut(Schema):
    id = fields.Int()
    project_name = fields.Str()
    budget = fields.Decimal(as_string=True)
    needs_summary = fields.Str()
    expected_month = fields.Method("_month")
    published_at = fields.DateTime()

    def _month(self, obj: Any) -> str:
        return f"{obj.expected_month.year:04d}-{obj.expected_month.month:02d}"


class ArchivePartOut(Schema):
    part = fields.Str()
    part_label = fields.Str()
    present = fields.Bool()


class ArchiveFileOut(Schema):
    name = fields.Str()
    sha256 = fields.Str()


class ArchiveOut(Schema):
    archived = fields.Bool()
    complete = fields.Bool()
    archive_sha256 = fields.Str(allow_none=True)
    archived_at = fields.DateTime(allow_none=True)
    retain_until = fields.DateTime(allow_none=True)
    retention_basis = fields.Str(allow_none=True)
    disposed_at = fields.DateTime(allow_none=True)
    parts = fields.List(fields.Nested(ArchivePartOut))
    files = fields.List(fields.Nested(ArchiveFileOut))


def _me() -> User:
    user: User = current_user.user
    return user


def _readable(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or not permissions.can_read(_me(), section):
        abort(404)
    return section


@blp.route("/public/contracts")
@blp.response(200, PublicContractOut(many=True))
@public
def public_contracts() -> list[Contract]:
    """Published contracts, newest first, with their amendments."""
    return services.published_contracts()


@blp.route("/public/intentions")
@blp.response(200, IntentionOut(many=True))
@public
def public_intentions() -> list[Any]:
    """Published government procurement intentions (财库〔2020〕10号), newest first."""
    return intentions.public_intentions()


@blp.route("/contracts/sections/<int:section_id>")
@blp.response(200, ContractOut)
@require(Permission.CONTRACT_READ)
def section_contract(section_id: int) -> Contract:
    """The contract of a section (404 before it is uploaded, or for a party who may not read it)."""
    contract = services.contract_for(_readable(section_id))
    if contract is None:
        abort(404)
    return contract


@blp.route("/contracts/sections/<int:section_id>/archive")
@blp.response(200, ArchiveOut)
@require(Permission.CONTRACT_READ)
def section_archive(section_id: int) -> dict[str, Any]:
    """Every part of the section's archive with its SHA-256, the retention-until date, and completeness."""
    from .labels import archive_part_label

    found = archive.listing(_readable(section_id))
    return {
        "archived": found.archived,
        "complete": found.complete,
        "archive_sha256": found.archive_sha256,
        "archived_at": found.archived_at,
        "retain_until": found.retain_until,
        "retention_basis": found.basis,
        "disposed_at": found.disposed_at,
        "parts": [{"part": c, "part_label": archive_part_label(c), "present": ok} for c, ok in found.parts],
        "files": [{"name": n, "sha256": d} for n, d in found.files],
    }


@blp.route("/contracts/sections/<int:section_id>/publish", methods=["POST"])
@blp.response(200, ContractOut)
@require(Permission.CONTRACT_MANAGE)
def publish_contract(section_id: int) -> Contract:
    """Publish the uploaded contract (合同公告); for government procurement a publication after the 2
    working days of 政府采购法实施条例第50条 is recorded as late. 409 once published; 404 before the upload
    or for a party who does not manage the section."""
    section = db.session.get(Section, section_id)
    if section is None or not permissions.can_manage(_me(), section):
        abort(404)
    contract = services.contract_for(section)
    if contract is None:
        abort(404)
    services.publish_contract(contract, actor=_me())
    db.session.commit()
    return contract


def _pdf(blob_path: str, sha256: str, filename: str) -> Response:
    try:
        path = storage.absolute(blob_path)
    except (OSError, ValueError):
        abort(404)
    if not path.exists():
        abort(404)
    resp = send_file(path, mimetype="application/pdf", as_attachment=True, download_name=filename)
    resp.headers["X-Content-SHA256"] = sha256
    return resp


@blp.route("/contracts/sections/<int:section_id>/document")
@blp.response(200, {"type": "string", "format": "binary"}, content_type="application/pdf")
@require(Permission.CONTRACT_READ)
def contract_document(section_id: int) -> Response:
    """The signed contract (PDF) with its SHA-256 in ``X-Content-SHA256``, for the parties of the page."""
    contract = services.contract_for(_readable(section_id))
    if contract is None:
        abort(404)
    return _pdf(contract.blob_path, contract.sha256, contract.filename)


@blp.route("/contracts/sections/<int:section_id>/amendments/<int:amendment_number>/document")
@blp.response(200, {"type": "string", "format": "binary"}, content_type="application/pdf")
@require(Permission.CONTRACT_READ)
def amendment_document(section_id: int, amendment_number: int) -> Response:
    """A signed amendment (补充合同, PDF) by its number, for the parties of the page."""
    contract = services.contract_for(_readable(section_id))
    amendments = contract.amendments if contract else []
    row = next((a for a in amendments if a.number == amendment_number), None)
    if row is None:
        abort(404)
    return _pdf(row.blob_path, row.sha256, row.filename)


# the signed PDF as the raw body; sent as application/octet-stream (the content type is not checked: the
# service checks the file is a PDF)
PDF_BODY = {
    "required": True,
    "description": "the signed PDF",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


class SignedPdfQuery(Schema):
    class Meta:
        unknown = RAISE

    filename = fields.Str(load_default="contract.pdf", validate=validate.Length(min=1, max=150))
    signed_on = fields.Date(
        load_default=None,
        metadata={"description": "the signing day (Beijing); today when left out; between the award and now"},
    )


class ContractUploadQuery(SignedPdfQuery):
    title = fields.Str(required=True, validate=validate.Length(min=1, max=200))
    amount = fields.Str(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "the contract amount in yuan, e.g. 1120000 or 1,120,000.00"},
    )


class AmendmentQuery(SignedPdfQuery):
    summary = fields.Str(required=True, validate=validate.Length(min=1, max=2000))
    amount_after = fields.Str(
        required=True,
        validate=validate.Length(min=1, max=40),
        metadata={"description": "the contract amount after the amendment, in yuan"},
    )


def _managed(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or not permissions.can_manage(_me(), section):
        abort(404)
    return section


def _signed_at(day: dt.date | None) -> dt.datetime | None:
    """Noon Beijing time of the signing day; now for a contract signed this morning."""
    if day is None:
        return None
    at = dt.datetime.combine(day, dt.time(12), tzinfo=CST).astimezone(dt.UTC)
    return min(at, now()) if day == to_local(now()).date() else at


def _pdf_body() -> io.BytesIO | None:
    """The raw request body, read only now: after the route's permission and object checks."""
    data = request.get_data(cache=False)
    return io.BytesIO(data) if data else None


@blp.route("/contracts/sections/<int:section_id>", methods=["POST"])
@idempotent
@blp.arguments(ContractUploadQuery, location="query")
@blp.doc(requestBody=PDF_BODY)
@blp.response(201, ContractOut)
@require(Permission.CONTRACT_MANAGE)
@body_limit(services.MAX_PDF_BYTES)
def upload_contract(query: dict[str, Any], section_id: int) -> Contract:
    """Upload the signed contract of an awarded section: the PDF is the raw body (at most 20 MB); it
    records the signing if not recorded yet. 409 before the award or once uploaded
    (changes are amendments); 422 naming ``document``, ``title`` or ``amount``."""
    section = _managed(section_id)
    contract = services.upload_contract(
        section,
        actor=_me(),
        stream=_pdf_body(),
        filename=query["filename"],
        amount=query["amount"],
        title=query["title"],
        signed_at=_signed_at(query["signed_on"]),
    )
    db.session.commit()
    return contract


@blp.route("/contracts/sections/<int:section_id>/amendments", methods=["POST"])
@idempotent
@blp.arguments(AmendmentQuery, location="query")
@blp.doc(requestBody=PDF_BODY)
@blp.response(201, ContractOut)
@require(Permission.CONTRACT_MANAGE)
@body_limit(services.MAX_PDF_BYTES)
def record_amendment(query: dict[str, Any], section_id: int) -> Contract:
    """Record a signed amendment (补充合同; the PDF as the raw body): for government procurement at most
    +10 % of the contract amount (政府采购法第49条)."""
    section = _managed(section_id)
    contract = services.contract_for(section)
    if contract is None:
        abort(404)
    services.record_amendment(
        contract,
        actor=_me(),
        summary=query["summary"],
        amount_after=query["amount_after"],
        stream=_pdf_body(),
        filename=query["filename"],
        signed_at=_signed_at(query["signed_on"]),
    )
    db.session.commit()
    return contract
