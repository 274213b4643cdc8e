"""Input and output schemas of the portal and the open-data API (unknown fields rejected on the API)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from flask_babel import lazy_gettext as _l
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, pre_load, validate, validates_schema

from app.extensions import DECIMAL_STRING
from app.projects.enums import Category, SectionStatus

_PUBLIC_STATUSES = [s.value for s in SectionStatus if s is not SectionStatus.DRAFT]


_FIRST_DAY = dt.date(1, 1, 2)
_LAST_DAY = dt.date(9999, 12, 30)


class AnnouncementArgs(Schema):
    """Query string of the announcements page (a browser may add fields; they are ignored)."""

    class Meta:
        unknown = EXCLUDE

    q = fields.String(load_default="", validate=validate.Length(max=100))
    category = fields.String(load_default=None, validate=validate.OneOf([c.value for c in Category]))
    status = fields.String(load_default=None, validate=validate.OneOf(_PUBLIC_STATUSES))
    region = fields.String(load_default=None, validate=validate.Length(max=64))
    # Within the calendar Python can shift by eight hours and a day: 0001-01-01 or 9999-12-31 is a typo,
    # shown in red like any unusable filter, never a 500.
    date_from = fields.Date(
        load_default=None, data_key="from", validate=validate.Range(min=_FIRST_DAY, max=_LAST_DAY)
    )
    date_to = fields.Date(
        load_default=None, data_key="to", validate=validate.Range(min=_FIRST_DAY, max=_LAST_DAY)
    )
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))

    @pre_load
    def _blank_is_absent(self, data: Mapping[str, Any], **_kw: Any) -> dict[str, Any]:
        """An empty field of the search form ("All", no date) is no filter, not an invalid value."""
        return {k: v.strip() if isinstance(v, str) else v for k, v in data.items() if not _blank(v)}

    @validates_schema
    def _range(self, data: dict[str, Any], **_kw: Any) -> None:
        if data.get("date_from") and data.get("date_to") and data["date_to"] < data["date_from"]:
            raise ValidationError("before from", "to")


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


#: What the visitor reads next to a field the search could not use (keyed by the query-string name).
ANNOUNCEMENT_ARG_ERRORS = {
    "q": _l("Keywords can be at most 100 characters."),
    "category": _l("Choose a category from the list."),
    "status": _l("Choose a status from the list."),
    "region": _l("Choose a region from the list."),
    "from": _l("Enter a date such as 2026-12-07."),
    "to": _l("Enter a date such as 2026-12-07, not before the start date."),
    "page": _l("No such page."),
}


def load_announcement_args(raw: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """The search and filters of the announcements page: every usable field applies, a field that cannot be
    used is dropped and explained (message per query-string name) instead of discarding the whole search."""
    schema = AnnouncementArgs()
    data = {k: v for k, v in raw.items() if k in ANNOUNCEMENT_ARG_ERRORS}
    try:
        return schema.load(data), {}
    except ValidationError as err:
        bad = {str(name) for name in err.messages_dict} & set(ANNOUNCEMENT_ARG_ERRORS)
        errors = {name: str(ANNOUNCEMENT_ARG_ERRORS[name]) for name in bad}
        usable = {k: v for k, v in data.items() if k not in bad}
        try:
            return schema.load(usable), errors
        except ValidationError:  # cannot happen once every reported field is dropped; stay safe
            return schema.load({}), errors


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
    procedure = fields.String()
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
