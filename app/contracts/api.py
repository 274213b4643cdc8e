"""JSON API of the contracts domain: published contracts and procurement intentions for everyone; a
section's contract, its signed PDF and its amendments' PDFs, and the archive listing for the parties who
may read them; the tenderer's side publishes the contract (合同公告)."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, send_file
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from app.accounts.models import User
from app.core import storage
from app.core.db import db
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
