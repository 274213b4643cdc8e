"""The evaluation API's actions around the panel's work (routes on :data:`app.evaluation.api.blp`), with the
pages' rules and services: the tenderer names and withdraws its representatives on the panel; center staff
replace an absent member and seal the archive; a member downloads the bid and tender documents it may read
(audited like the page); the tenderer records the contract signing and the bid security refunds, publishes
a government procurement result announcement and files its written report (书面报告); the archive bundle
and the written report are downloaded by whoever may read them on the pages."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, stream_with_context
from flask_babel import gettext as _
from marshmallow import RAISE, Schema, fields, validate
from sqlalchemy import select

from app.accounts.models import User
from app.core import scoping, storage
from app.core.clock import CST, now, to_local
from app.core.db import db
from app.core.errors import DomainError, NotFound
from app.core.idempotency import idempotent
from app.core.permissions import Permission, require
from app.core.web import MAX_ROW_ID
from app.extensions import DECIMAL_STRING
from app.projects.models import Section, SectionDocument

from . import archive, documents, endings, panel, permissions, procurement, services
from .api import (
    EvaluationOut,
    PanelMemberOut,
    ReportOut,
    _evaluation_out,
    _me,
    _report_out,
    _section_and_evaluation,
    _tenderer_evaluation,
    blp,
)
from .models import Evaluation, PanelMember, PanelRepresentative, SecurityRefund

BINARY = {"type": "string", "format": "binary"}


# --- schemas -----------------------------------------------------------------------------------------------


class RepresentativeOut(Schema):
    id = fields.Int()
    user_id = fields.Int()
    name = fields.Str()
    named_at = fields.DateTime()
    member_id = fields.Int(allow_none=True, metadata={"description": "the panel seat, once evaluation began"})
    signed_in_at = fields.DateTime(allow_none=True)


class AccountOut(Schema):
    user_id = fields.Int()
    name = fields.Str()


class RepresentativesOut(Schema):
    section_id = fields.Int()
    size = fields.Int(metadata={"description": "the lawful panel size"})
    pool = fields.Int(metadata={"description": "seats filled from the expert pool"})
    seats = fields.Int(metadata={"description": "seats for the tenderer's representatives"})
    representatives = fields.List(fields.Nested(RepresentativeOut))
    candidates = fields.List(
        fields.Nested(AccountOut), metadata={"description": "the tenderer's accounts that may be named"}
    )


class RepresentativeIn(Schema):
    class Meta:
        unknown = RAISE

    user_id = fields.Int(
        required=True,
        validate=validate.Range(min=1, max=MAX_ROW_ID),
        metadata={"description": "an active account of the tenderer itself (招标投标法第37条)"},
    )


class ReasonIn(Schema):
    class Meta:
        unknown = RAISE

    reason = fields.Str(required=True, validate=validate.Length(min=1, max=2000))


class SealedArchiveOut(Schema):
    section_id = fields.Int()
    archive_sha256 = fields.Str()
    archived_at = fields.DateTime()
    retain_until = fields.DateTime(allow_none=True)
    retention_basis = fields.Str(allow_none=True)


class BidDocumentOut(Schema):
    envelope_id = fields.Int()
    org_id = fields.Int()
    bidder_name = fields.Str()
    name = fields.Str(allow_none=True)
    sha256 = fields.Str()


class TenderDocumentOut(Schema):
    document_id = fields.Int()
    name = fields.Str()
    version = fields.Int()
    filename = fields.Str()
    content_type = fields.Str()
    size = fields.Int()
    sha256 = fields.Str()


class DocumentsOut(Schema):
    section_id = fields.Int()
    bids = fields.List(
        fields.Nested(BidDocumentOut), metadata={"description": "for a member whose work counts"}
    )
    tender_documents = fields.List(fields.Nested(TenderDocumentOut))


class ContractSigningIn(Schema):
    class Meta:
        unknown = RAISE

    signed_on = fields.Date(
        load_default=None,
        metadata={"description": "the signing day (Beijing); today when left out; between the award and now"},
    )


class RefundOut(Schema):
    id = fields.Int()
    org_id = fields.Int()
    bidder_name = fields.Str()
    amount = fields.Decimal(as_string=True, metadata=DECIMAL_STRING)
    due_at = fields.DateTime(allow_none=True)
    refunded_at = fields.DateTime(allow_none=True)
    late = fields.Bool()


class ContractSigningOut(Schema):
    section_id = fields.Int()
    awarded_at = fields.DateTime(allow_none=True)
    contract_due_at = fields.DateTime(allow_none=True)
    contract_signed_at = fields.DateTime(allow_none=True)
    refunds = fields.List(fields.Nested(RefundOut))


class ResultAnnouncementIn(Schema):
    class Meta:
        unknown = RAISE

    rank = fields.Int(load_default=1, validate=validate.Range(min=1, max=99))
    reason = fields.Str(
        load_default="",
        validate=validate.Length(max=2000),
        metadata={"description": "why a better-ranked supplier is passed over (财政部令第87号第68条)"},
    )


class WrittenReportIn(Schema):
    class Meta:
        unknown = RAISE

    scope = fields.Str(required=True, validate=validate.Length(min=1, max=5000))
    method_and_media = fields.Str(required=True, validate=validate.Length(min=1, max=5000))
    documents_summary = fields.Str(required=True, validate=validate.Length(min=1, max=20000))
    remarks = fields.Str(load_default="", validate=validate.Length(max=5000))


# --- helpers -----------------------------------------------------------------------------------------------


def _tenderer_section(section_id: int) -> Section:
    section = db.session.get(Section, section_id)
    if section is None or not permissions.is_section_tenderer(_me(), section):
        raise NotFound(_("No such section."))
    return section


def _representatives_out(section: Section) -> dict[str, Any]:
    size, pool = panel.composition(section)
    ev = services.evaluation_for(section)
    members = {m.representative_id: m for m in ev.members} if ev is not None else {}
    reps = panel.active_representatives(section)
    named = {r.user_id for r in reps}
    return {
        "section_id": section.id,
        "size": size,
        "pool": pool,
        "seats": panel.representative_seats(section),
        "representatives": [_representative_out(r, members.get(r.id)) for r in reps],
        "candidates": [
            {"user_id": u.id, "name": u.display_name}
            for u in panel.candidates_for_representative(section)
            if u.id not in named
        ],
    }


def _representative_out(rep: PanelRepresentative, member: PanelMember | None) -> dict[str, Any]:
    user = db.session.get(User, rep.user_id)
    return {
        "id": rep.id,
        "user_id": rep.user_id,
        "name": user.display_name if user is not None else "",
        "named_at": rep.named_at,
        "member_id": member.id if member is not None else None,
        "signed_in_at": member.signed_in_at if member is not None else None,
    }


def _refund_out(row: SecurityRefund) -> dict[str, Any]:
    return {
        "id": row.id,
        "org_id": row.org_id,
        "bidder_name": row.bidder_name,
        "amount": row.amount,
        "due_at": row.due_at,
        "refunded_at": row.refunded_at,
        "late": bool(row.due_at and row.refunded_at and row.refunded_at > row.due_at),
    }


def _contract_out(section: Section, ev: Evaluation) -> dict[str, Any]:
    return {
        "section_id": section.id,
        "awarded_at": ev.awarded_at,
        "contract_due_at": ev.contract_due_at,
        "contract_signed_at": ev.contract_signed_at,
        "refunds": [_refund_out(r) for r in sorted(ev.refunds, key=lambda r: r.id)],
    }


def _download(chunks: Any, mimetype: str, filename: str) -> Response:
    resp = Response(stream_with_context(chunks), mimetype=mimetype)
    resp.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


# --- the tenderer's representatives on the panel (法 Art. 37) -------------------------------------------


@blp.route("/sections/<int:section_id>/representatives")
@blp.response(200, RepresentativesOut)
@require(Permission.EVALUATION_REPRESENTATIVES)
def representatives(section_id: int) -> dict[str, Any]:
    """The panel's composition, the tenderer's named representatives and the accounts it may name."""
    return _representatives_out(_tenderer_section(section_id))


@blp.route("/sections/<int:section_id>/representatives", methods=["POST"])
@idempotent
@blp.arguments(RepresentativeIn)
@blp.response(201, RepresentativeOut)
@require(Permission.EVALUATION_REPRESENTATIVES)
def name_representative(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Name one of the tenderer's own accounts to a representative seat: 422 naming ``user_id`` for an
    account that is not the tenderer's or a panel with no such seat, 409 when the seats are taken or the
    panel can no longer change."""
    section = _tenderer_section(section_id)
    user = db.session.get(User, body["user_id"])
    if user is None:
        raise DomainError(
            _("Choose an account of the tenderer."),
            errors={"user_id": [_("Choose an account of the tenderer.")]},
        )
    rep = panel.name_representative(section, user, actor=_me())
    db.session.commit()
    ev = services.evaluation_for(section)
    member = next((m for m in ev.members if m.representative_id == rep.id), None) if ev is not None else None
    return _representative_out(rep, member)


@blp.route("/sections/<int:section_id>/representatives/<int:representative_id>/withdraw", methods=["POST"])
@blp.arguments(ReasonIn)
@blp.response(200, RepresentativesOut)
@require(Permission.EVALUATION_REPRESENTATIVES)
def withdraw_representative(body: dict[str, Any], section_id: int, representative_id: int) -> dict[str, Any]:
    """Withdraw a representative who has not signed in, with a ``reason`` (409 once signed in: a member is
    replaced, not withdrawn)."""
    section = _tenderer_section(section_id)
    rep = db.session.get(PanelRepresentative, representative_id)
    if rep is None or rep.section_id != section.id:
        raise NotFound(_("No such representative."))
    panel.withdraw_representative(rep, actor=_me(), reason=body["reason"])
    db.session.commit()
    return _representatives_out(section)


# --- center staff: absence and the archive ---------------------------------------------------------------


@blp.route("/sections/<int:section_id>/members/<int:member_id>/absent", methods=["POST"])
@blp.response(200, PanelMemberOut)
@require(Permission.EVALUATION_REPLACE)
def mark_absent(section_id: int, member_id: int) -> dict[str, Any]:
    """Replace a member who did not sign in by the grace period's end (409 ``too_early`` before): an
    expert's seat from the backups (then a new witnessed round), a representative's by the tenderer."""
    section, ev = _section_and_evaluation(section_id)
    if not permissions.can_monitor(_me(), section):
        raise NotFound(_("No evaluation of this section."))
    member = db.session.get(PanelMember, member_id)
    if member is None or member.evaluation_id != ev.id:
        raise NotFound(_("No such member."))
    panel.mark_absent(member, actor=_me())
    db.session.commit()
    return {
        "id": member.id,
        "name": panel.member_names(ev).get(member.id, ""),
        "representative": member.is_representative,
        "signed_in_at": member.signed_in_at,
        "counts": member.counts,
        "submitted_at": member.submitted_at,
        "decision": member.decision,
    }


@blp.route("/sections/<int:section_id>/archive", methods=["POST"])
@idempotent
@blp.response(201, SealedArchiveOut)
@require(Permission.EVALUATION_ARCHIVE)
def make_archive(section_id: int) -> dict[str, Any]:
    """Build, store and seal the section's archive bundle: 409 before the award, and 409
    ``contract_missing`` before the contract signing is recorded."""
    section, ev = _section_and_evaluation(section_id)
    if not permissions.can_monitor(_me(), section):
        raise NotFound(_("No evaluation of this section."))
    archive.archive(ev, actor=_me())
    db.session.commit()
    return {
        "section_id": section.id,
        "archive_sha256": ev.archive_sha256,
        "archived_at": ev.archived_at,
        "retain_until": ev.retain_until,
        "retention_basis": ev.retention_basis,
    }


@blp.route("/sections/<int:section_id>/archive.zip")
@blp.response(200, BINARY, content_type="application/zip")
@require(Permission.EVALUATION_REPORT_READ)
def archive_download(section_id: int) -> Response:
    """The sealed archive bundle (center staff, the supervising regulator, the tenderer), streamed."""
    section, ev = _section_and_evaluation(section_id)
    if not permissions.can_download_archive(_me(), section, ev) or ev.archive_path is None:
        raise NotFound(_("No archive of this section."))
    resp = _download(storage.iter_blob(ev.archive_path), "application/zip", f"archive-{section.code}.zip")
    resp.headers["X-Archive-SHA256"] = ev.archive_sha256 or ""
    return resp


# --- the panel member's documents ------------------------------------------------------------------------


def _member_in_section(section_id: int) -> tuple[Section, Evaluation, PanelMember]:
    section = db.session.get(Section, section_id)
    if section is None or not permissions.is_panel_member(_me(), section):
        raise NotFound(_("You do not sit on this panel."))
    ev = services.evaluation_for(section)
    member = services.member_of(ev, _me()) if ev is not None else None
    if ev is None or member is None:
        raise NotFound(_("You do not sit on this panel."))
    return section, ev, member


@blp.route("/sections/<int:section_id>/documents")
@blp.response(200, DocumentsOut)
@require(Permission.EVALUATION_SCORE)
def member_documents(section_id: int) -> dict[str, Any]:
    """What the caller may read on the panel (the workspace's list): the opened bid documents and the
    published tender documents, once its work counts."""
    section, _ev, member = _member_in_section(section_id)
    bids = services.bids_of(section) if member.counts else []
    return {
        "section_id": section.id,
        "bids": [
            {
                "envelope_id": env.id,
                "org_id": env.org_id,
                "bidder_name": services.org_name(env.org_id),
                "name": env.name,
                "sha256": env.sha256,
            }
            for bid in bids
            for env in services.documents_of(section, bid.org_id)
        ],
        "tender_documents": [
            {
                "document_id": d.id,
                "name": d.name,
                "version": d.version,
                "filename": d.filename,
                "content_type": d.content_type,
                "size": d.size,
                "sha256": d.sha256,
            }
            for d in (section.current_documents if bids else [])
        ],
    }


@blp.route("/sections/<int:section_id>/bids/<int:envelope_id>")
@blp.response(200, BINARY, content_type="application/octet-stream")
@require(Permission.EVALUATION_SCORE)
def bid_document(section_id: int, envelope_id: int) -> Response:
    """A decrypted bid document of the section for a member whose work counts, streamed; every download
    is audited (``evaluation:document:view``)."""
    from app.bidding.opening import read_document

    section, ev, member = _member_in_section(section_id)
    env = documents.open_bid_document(section, ev, member, envelope_id, actor=_me())
    db.session.commit()
    return _download(read_document(env), "application/octet-stream", f"bid-{env.id}.bin")


@blp.route("/sections/<int:section_id>/tender-documents/<int:document_id>")
@blp.response(200, BINARY, content_type="application/octet-stream")
@require(Permission.EVALUATION_SCORE)
def tender_document(section_id: int, document_id: int) -> Response:
    """A published tender document of the section for a member of its panel, streamed (its own content
    type is in the documents list); every download is audited (``evaluation:tender_document:view``)."""
    section, ev, _member = _member_in_section(section_id)
    doc = documents.open_tender_document(section, ev, document_id, actor=_me())
    db.session.commit()
    return _download(storage.iter_blob(doc.blob_path), "application/octet-stream", f"document-{doc.id}")


# --- the tenderer: contract, refunds, result announcement, written report --------------------------------


@blp.route("/sections/<int:section_id>/contract")
@blp.response(200, ContractSigningOut)
@require(Permission.EVALUATION_PUBLISH)
def contract_signing(section_id: int) -> dict[str, Any]:
    """The award, the contract's due and signing dates, and the bid security refunds owed (the manage
    page)."""
    section, ev = _tenderer_evaluation(section_id)
    return _contract_out(section, ev)


@blp.route("/sections/<int:section_id>/contract", methods=["POST"])
@idempotent
@blp.arguments(ContractSigningIn)
@blp.response(201, ContractSigningOut)
@require(Permission.EVALUATION_AWARD)
def record_contract(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Record the contract signing (after the award; 409 once recorded or while a procurement challenge is
    pending); the refunds then fall due."""
    section, ev = _tenderer_evaluation(section_id)
    signed_at = None
    if body["signed_on"] is not None:
        day: dt.date = body["signed_on"]
        signed_at = dt.datetime.combine(day, dt.time(12), tzinfo=CST).astimezone(dt.UTC)
        if day == to_local(now()).date():  # signed this morning counts: noon is not yet, now is
            signed_at = min(signed_at, now())
    services.record_contract(ev, actor=_me(), signed_at=signed_at)
    db.session.commit()
    return _contract_out(section, ev)


@blp.route("/sections/<int:section_id>/refunds/<int:refund_id>/record", methods=["POST"])
@blp.response(200, RefundOut)
@require(Permission.EVALUATION_AWARD)
def record_refund(section_id: int, refund_id: int) -> dict[str, Any]:
    """Record that a bidder's bid security was refunded (409 before the contract signing or when already
    recorded)."""
    _section, ev = _tenderer_evaluation(section_id)
    row = db.session.get(SecurityRefund, refund_id)
    if row is None or row.evaluation_id != ev.id:
        raise NotFound(_("No such refund."))
    services.record_refund(row, actor=_me())
    db.session.commit()
    return _refund_out(row)


@blp.route("/sections/<int:section_id>/result-announcement", methods=["POST"])
@idempotent
@blp.arguments(ResultAnnouncementIn)
@blp.response(201, EvaluationOut)
@require(Permission.EVALUATION_AWARD)
def announce_result(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """Government procurement: confirm the supplier and publish the result announcement (the award) in one
    step; 409 ``works_candidate_publicity`` for a works tender, which publishes its candidates instead."""
    section, ev = _tenderer_evaluation(section_id)
    procurement.announce_result(ev, actor=_me(), rank=body["rank"], reason=body["reason"])
    db.session.commit()
    return _evaluation_out(section, ev)


@blp.route("/sections/<int:section_id>/written-report", methods=["POST"])
@idempotent
@blp.arguments(WrittenReportIn)
@blp.response(201, ReportOut)
@require(Permission.EVALUATION_AWARD)
def file_written_report(body: dict[str, Any], section_id: int) -> dict[str, Any]:
    """File the written report to the supervising regulator once, after the award (招标投标法第47条)."""
    section, ev = _tenderer_evaluation(section_id)
    data = endings.ReportInput(
        scope=body["scope"],
        method_and_media=body["method_and_media"],
        documents_summary=body["documents_summary"],
        remarks=body["remarks"],
    )
    endings.file_written_report(ev, data, actor=_me())
    db.session.commit()
    return _report_out(section, ev)


@blp.route("/sections/<int:section_id>/written-report")
@blp.response(200, BINARY, content_type="text/html")
@require(Permission.EVALUATION_REPORT_READ)
def written_report_document(section_id: int) -> Response:
    """The filed written report (the tenderer side, center staff and the supervising regulator), with its
    SHA-256 in ``X-Report-SHA256``."""
    section, ev = _section_and_evaluation(section_id)
    user = _me()
    report = ev.written_report
    allowed = permissions.is_section_tenderer(user, section) or permissions.can_monitor(user, section)
    if report is None or report.blob_path is None or not allowed:
        raise NotFound(_("No written report to read."))
    resp = _download(storage.iter_blob(report.blob_path), "text/html", "written-report.html")
    resp.headers["X-Report-SHA256"] = report.sha256 or ""
    return resp


def _printed(section_id: int, document: str) -> Response:
    """The signed PDF of ``document`` for whoever may read the page it prints (the page's rule)."""
    from app.core import printing as core_printing

    from . import printing

    section, ev = _section_and_evaluation(section_id)
    user = _me()
    if document == "report":
        allowed = permissions.can_read_report(user, section, ev)
    else:
        allowed = permissions.is_section_tenderer(user, section) or permissions.can_monitor(user, section)
    record = printing.printed_record(printing.DOCUMENTS[document], section, ev) if allowed else None
    if record is None:
        raise NotFound(_("No such document."))
    data, status, headers = core_printing.response(record)
    return Response(data, status=status, headers=headers)


@blp.route("/sections/<int:section_id>/report.pdf")
@blp.response(200, BINARY, content_type="application/pdf")
@require(Permission.EVALUATION_REPORT_READ)
def report_pdf(section_id: int) -> Response:
    """The evaluation report as a signed PDF (``X-Record-SHA256``), for whoever may read the report."""
    return _printed(section_id, "report")


@blp.route("/sections/<int:section_id>/written-report.pdf")
@blp.response(200, BINARY, content_type="application/pdf")
@require(Permission.EVALUATION_REPORT_READ)
def written_report_pdf(section_id: int) -> Response:
    """The filed written report as a signed PDF (the tenderer side and the supervisors)."""
    return _printed(section_id, "written_report")


@blp.route("/sections/<int:section_id>/award-notice.pdf")
@blp.response(200, BINARY, content_type="application/pdf")
@require(Permission.EVALUATION_REPORT_READ)
def award_notice_pdf(section_id: int) -> Response:
    """The award notice (中标通知书) as a signed PDF (the tenderer side and the supervisors)."""
    return _printed(section_id, "award_notice")


def _sections_of_member(member_id: Any) -> list[int | None]:
    rows = db.session.execute(
        select(Evaluation.section_id)
        .join(PanelMember, PanelMember.evaluation_id == Evaluation.id)
        .where(PanelMember.id == member_id)
    ).all()
    return [row[0] for row in rows]


def _sections_of_refund(refund_id: Any) -> list[int | None]:
    rows = db.session.execute(
        select(Evaluation.section_id)
        .join(SecurityRefund, SecurityRefund.evaluation_id == Evaluation.id)
        .where(SecurityRefund.id == refund_id)
    ).all()
    return [row[0] for row in rows]


def register_scopes() -> None:
    """How a section-limited token finds the section of the objects these routes name."""
    scoping.register("representative_id", scoping.by_column(PanelRepresentative.section_id))
    scoping.register("member_id", _sections_of_member)
    scoping.register("refund_id", _sections_of_refund)
    scoping.register("document_id", scoping.by_column(SectionDocument.section_id))
