"""API schemas of the projects domain; unknown fields are rejected (marshmallow's default RAISE).

Output schemas whitelist what the tenderer side may see: nothing about who obtained the documents."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.core.web import MAX_ROW_ID
from app.extensions import DECIMAL_STRING


class TendererCustodianOut(Schema):
    user_id = fields.Int()
    position = fields.Int()


class TendererDocumentOut(Schema):
    id = fields.Int()
    name = fields.Str()
    version = fields.Int()
    filename = fields.Str()
    size = fields.Int()
    sha256 = fields.Str()
    published_at = fields.DateTime(allow_none=True)


class TendererAmendmentOut(Schema):
    number = fields.Int()
    title = fields.Str()
    body = fields.Str()
    affects_bids = fields.Bool()
    diff = fields.Str()
    old_deadline = fields.DateTime(allow_none=True)
    new_deadline = fields.DateTime(allow_none=True)
    published_at = fields.DateTime()


class TendererSectionOut(Schema):
    id = fields.Int()
    project_id = fields.Int()
    code = fields.Str()
    name = fields.Str()
    status = fields.Str()
    suspended = fields.Bool()
    estimated_value = fields.Decimal(as_string=True, metadata=DECIMAL_STRING)
    ceiling_price = fields.Decimal(as_string=True, allow_none=True, metadata=DECIMAL_STRING)
    bid_security = fields.Decimal(as_string=True, metadata=DECIMAL_STRING)
    bid_validity_days = fields.Int()
    sme_deduction_rate = fields.Decimal(as_string=True, allow_none=True, metadata=DECIMAL_STRING)
    sme_works = fields.Bool()
    performance_security_pct = fields.Decimal(as_string=True, allow_none=True, metadata=DECIMAL_STRING)
    evaluation_method = fields.Str()
    procedure = fields.Str()
    procedure_approval_ref = fields.Str()
    prequalification = fields.Bool()
    scoring_criteria = fields.List(fields.Dict())
    panel_size = fields.Int()
    panel_pool_count = fields.Int()
    panel_specialties = fields.Dict(keys=fields.Str(), values=fields.Int())
    opening_items = fields.List(fields.Str())
    max_envelope_mb = fields.Int()
    custodian_k = fields.Int()
    custodians = fields.List(fields.Nested(TendererCustodianOut))
    docs_available_from = fields.DateTime(allow_none=True)
    docs_available_until = fields.DateTime(allow_none=True)
    bid_deadline = fields.DateTime(allow_none=True)
    online_only = fields.Bool()
    room_id = fields.Int(allow_none=True)
    opening_recipient = fields.Str(allow_none=True)
    published_at = fields.DateTime(allow_none=True)
    cancel_reason = fields.Str(allow_none=True)
    documents = fields.List(fields.Nested(TendererDocumentOut), attribute="current_documents")
    amendments = fields.List(fields.Nested(TendererAmendmentOut))


class TendererSectionBriefOut(Schema):
    id = fields.Int()
    code = fields.Str()
    name = fields.Str()
    status = fields.Str()


class TendererProjectOut(Schema):
    id = fields.Int()
    code = fields.Str()
    name = fields.Str()
    status = fields.Str()
    return_reason = fields.Str(allow_none=True)
    catalogue_item_id = fields.Int()
    owner_org_id = fields.Int()
    agency_org_id = fields.Int(allow_none=True)
    regulator_org_id = fields.Int()
    funding_source = fields.Str()
    approval_ref = fields.Str()
    budget = fields.Decimal(as_string=True, metadata=DECIMAL_STRING)
    region = fields.Str()
    submitted_at = fields.DateTime()
    sections = fields.List(fields.Nested(TendererSectionBriefOut))


class RuleCheckOut(Schema):
    code = fields.Str()
    ok = fields.Bool()
    message = fields.Str()


class PublishSectionOut(Schema):
    created = fields.Bool(metadata={"description": "false when the section was already published (a retry)"})
    section = fields.Nested(TendererSectionOut)


class PublishSectionIn(Schema):
    """Empty body: publishing takes no arguments (unknown fields are refused)."""


class PublicationChecksOut(Schema):
    ready = fields.Bool()
    checks = fields.List(fields.Nested(RuleCheckOut))


class QuestionOut(Schema):
    """A question on the tender documents as the tenderer side (or the asking bidder) sees it; never who
    asked."""

    id = fields.Int()
    number = fields.Int()
    body = fields.Str()
    asked_at = fields.DateTime()
    status = fields.Str(metadata={"description": "asked or answered"})
    answer_due_at = fields.DateTime(
        allow_none=True, metadata={"description": "government procurement: 3 working days after asking"}
    )
    overdue = fields.Bool()
    clarification_number = fields.Int(allow_none=True)


class QuestionIn(Schema):
    body = fields.Str(required=True, validate=validate.Length(min=5, max=2000))


class AnswerIn(Schema):
    question_ids = fields.List(
        fields.Int(validate=validate.Range(min=1, max=MAX_ROW_ID)),
        required=True,
        validate=validate.Length(min=1, max=200),
    )
    answer = fields.Str(required=True, validate=validate.Length(min=1, max=20000))
    affects_bids = fields.Bool(load_default=False)


class ClarificationOut(Schema):
    number = fields.Int()
    title = fields.Str()
    body = fields.Str()
    published_at = fields.DateTime()
    old_deadline = fields.DateTime(allow_none=True)
    new_deadline = fields.DateTime(allow_none=True, metadata={"description": "set when the deadline moved"})
