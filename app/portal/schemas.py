"""Input and output schemas of the portal and the open-data API (unknown fields rejected on the API)."""

from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, fields, validate

from app.extensions import DECIMAL_STRING
from app.projects.enums import Category, SectionStatus

_PUBLIC_STATUSES = [s.value for s in SectionStatus if s is not SectionStatus.DRAFT]


class AnnouncementArgs(Schema):
    """Query string of the announcements page (a browser may add fields; they are ignored)."""

    class Meta:
        unknown = EXCLUDE

    q = fields.String(load_default="", validate=validate.Length(max=100))
    category = fields.String(load_default=None, validate=validate.OneOf([c.value for c in Category]))
    status = fields.String(load_default=None, validate=validate.OneOf(_PUBLIC_STATUSES))
    region = fields.String(load_default=None, validate=validate.Length(max=64))
    date_from = fields.Date(load_default=None, data_key="from")
    date_to = fields.Date(load_default=None, data_key="to")
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))


class CrawlArgs(Schema):
    class Meta:
        unknown = RAISE

    cursor = fields.String(load_default=None, validate=validate.Length(max=64))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=100))


class PartyOut(Schema):
    name = fields.String()
    role = fields.String()


class DocumentOut(Schema):
    id = fields.Integer()
    name = fields.String()
    version = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String()
    published_at = fields.DateTime()
    url = fields.String()


class AmendmentOut(Schema):
    number = fields.Integer()
    title = fields.String()
    body = fields.String()
    affects_bids = fields.Boolean()
    diff = fields.String()
    old_deadline = fields.DateTime(allow_none=True)
    new_deadline = fields.DateTime(allow_none=True)
    published_at = fields.DateTime()


class StatusChangeOut(Schema):
    from_status = fields.String(allow_none=True)
    to_status = fields.String()
    reason = fields.String()
    at = fields.DateTime()


class SectionSummaryOut(Schema):
    seq = fields.Integer(metadata={"description": "publication sequence (audit leaf index); crawl order"})
    id = fields.Integer()
    ocid = fields.String()
    code = fields.String()
    name = fields.String()
    project_code = fields.String()
    project_name = fields.String()
    category = fields.String()
    region = fields.String()
    status = fields.String()
    suspended = fields.Boolean()
    published_at = fields.DateTime()
    docs_available_from = fields.DateTime(allow_none=True)
    docs_available_until = fields.DateTime(allow_none=True)
    bid_deadline = fields.DateTime(allow_none=True)
    estimated_value = fields.Decimal(as_string=True, metadata=DECIMAL_STRING)
    ceiling_price = fields.Decimal(as_string=True, allow_none=True, metadata=DECIMAL_STRING)
    url = fields.String()
    ocds_release_url = fields.String()


class SectionPageOut(Schema):
    data = fields.List(fields.Nested(SectionSummaryOut))
    next_cursor = fields.String(
        metadata={"description": "pass as ?cursor= for the next page; also valid to poll for new sections"}
    )
    has_more = fields.Boolean()


class SectionDetailOut(SectionSummaryOut):
    notice_text = fields.String()
    bid_security = fields.Decimal(as_string=True, metadata=DECIMAL_STRING)
    qualification = fields.String()
    evaluation_method = fields.String()
    online_only = fields.Boolean()
    cancel_reason = fields.String(allow_none=True)
    failed_reason = fields.String(allow_none=True)
    parties = fields.List(fields.Nested(PartyOut))
    documents = fields.List(fields.Nested(DocumentOut))
    amendments = fields.List(fields.Nested(AmendmentOut))
    timeline = fields.List(fields.Nested(StatusChangeOut))


class CatalogueItemOut(Schema):
    code = fields.String()
    name = fields.String()
    category = fields.String()
    min_sale_days = fields.Integer()
    sale_day_unit = fields.String()
    min_bid_days = fields.Integer()
    bid_day_unit = fields.String()
    amendment_lead_days = fields.Integer()
    amendment_day_unit = fields.String()
    objection_lead_days = fields.Integer(allow_none=True)
    objection_day_unit = fields.String()
    legal_basis = fields.String()


class CatalogueVersionOut(Schema):
    number = fields.Integer()
    title = fields.String()
    notes = fields.String()
    status = fields.String()
    comment_opens_at = fields.DateTime(allow_none=True)
    comment_closes_at = fields.DateTime(allow_none=True)
    published_at = fields.DateTime(allow_none=True)
    superseded_at = fields.DateTime(allow_none=True)
    items = fields.List(fields.Nested(CatalogueItemOut))


class CatalogueVersionSummaryOut(Schema):
    number = fields.Integer()
    title = fields.String()
    status = fields.String()
    comment_opens_at = fields.DateTime(allow_none=True)
    comment_closes_at = fields.DateTime(allow_none=True)
    published_at = fields.DateTime(allow_none=True)
    superseded_at = fields.DateTime(allow_none=True)


class CatalogueHistoryOut(Schema):
    data = fields.List(fields.Nested(CatalogueVersionSummaryOut))


class OcdsPageArgs(Schema):
    """Query string of the bulk OCDS endpoints (cursor paging in publication order)."""

    class Meta:
        unknown = RAISE

    cursor = fields.String(load_default=None, validate=validate.Length(max=64))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    since = fields.AwareDateTime(
        load_default=None,
        metadata={"description": "only sections whose announcement changed at or after this instant"},
    )
