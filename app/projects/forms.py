"""Forms of the projects pages (Flask-WTF: every form carries a CSRF token)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    DecimalField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.core.clock import CST

from .enums import OpeningItem


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def utc_to_local_naive(value: dt.datetime | None) -> dt.datetime | None:
    return None if value is None else value.astimezone(CST).replace(tzinfo=None)


def parse_pairs(text: str, *, integer: bool) -> list[tuple[str, Any]]:
    """Lines of ``name: number`` (full-width colon accepted)."""
    out: list[tuple[str, Any]] = []
    for raw in (text or "").splitlines():
        line = raw.strip().replace("：", ":")
        if not line:
            continue
        if ":" not in line:
            raise ValueError(line)
        name, _sep, number = line.rpartition(":")
        value: Any = int(number.strip()) if integer else Decimal(number.strip())
        out.append((name.strip(), value))
    return out


class ProjectForm(FlaskForm):
    name = StringField(_l("Project name"), validators=[DataRequired(), Length(max=200)])
    catalogue_item = SelectField(_l("Catalogue item"), coerce=int, validators=[DataRequired()])
    owner_org = SelectField(_l("Tenderer (owner)"), coerce=int, validators=[Optional()])
    agency_org = SelectField(_l("Tendering agency"), coerce=int, validators=[Optional()])
    funding_source = StringField(_l("Funding source"), validators=[DataRequired(), Length(max=200)])
    approval_ref = StringField(_l("Approval reference"), validators=[DataRequired(), Length(max=200)])
    budget = DecimalField(_l("Budget (yuan)"), places=2, validators=[DataRequired(), NumberRange(min=0)])
    region = StringField(_l("Region"), validators=[Optional(), Length(max=64)])


class ReviewForm(FlaskForm):
    decision = SelectField(
        _l("Decision"),
        choices=[SelectChoice("accept", _l("Accept")), SelectChoice("return", _l("Return"))],
        validators=[DataRequired()],
    )
    reason = TextAreaField(_l("Reason (when returning)"), validators=[Optional(), Length(max=2000)])


class SectionForm(FlaskForm):
    name = StringField(_l("Section name"), validators=[DataRequired(), Length(max=200)])
    estimated_value = DecimalField(_l("Estimated value (yuan)"), places=2, validators=[DataRequired()])
    ceiling_price = DecimalField(_l("Ceiling price (yuan)"), places=2, validators=[Optional()])
    bid_security = DecimalField(_l("Bid security (yuan)"), places=2, validators=[Optional()])
    bid_validity_days = IntegerField(
        _l("Bid validity (days from the bid deadline)"),
        default=90,
        validators=[DataRequired(), NumberRange(min=1, max=1000)],
    )
    sme_deduction_rate = DecimalField(_l("SME price deduction (%)"), places=2, validators=[Optional()])
    sme_works = BooleanField(_l("Government procurement of works (deduction 3-5%)"))
    performance_security_pct = DecimalField(
        _l("Performance security (percent of the contract amount)"), places=2, validators=[Optional()]
    )
    qualification = TextAreaField(
        _l("Qualification requirements"), validators=[Optional(), Length(max=10000)]
    )
    evaluation_method = SelectField(
        _l("Evaluation method"),
        choices=[
            SelectChoice("lowest_price", _l("Lowest evaluated price")),
            SelectChoice("comprehensive", _l("Comprehensive scoring")),
        ],
    )
    scoring_criteria = TextAreaField(
        _l("Scoring criteria (one per line: name: weight)"), validators=[Optional(), Length(max=4000)]
    )
    procedure = SelectField(_l("Procedure"), default="open")
    procedure_approval_ref = StringField(
        _l("Approval of the procedure (reference)"), validators=[Optional(), Length(max=200)]
    )
    invited_org_ids = SelectMultipleField(_l("Invited bidders (invitation tendering)"), coerce=int)
    prequalification = BooleanField(_l("With prequalification (资格预审)"))
    panel_size = IntegerField(_l("Panel size"), default=5, validators=[DataRequired()])
    panel_pool_count = IntegerField(_l("Experts from the pool"), default=5, validators=[DataRequired()])
    panel_specialties = TextAreaField(
        _l("Specialties (one per line: specialty: count)"), validators=[Optional(), Length(max=4000)]
    )
    opening_items = MultiCheckboxField(_l("Opening items declared by bidders"))
    max_envelope_mb = IntegerField(_l("Maximum envelope size (MB)"), default=50, validators=[DataRequired()])
    custodian_k = IntegerField(_l("Key shares needed to open (k)"), default=2, validators=[DataRequired()])
    custodians = SelectMultipleField(_l("Key custodians"), coerce=int)
    docs_available_from = DateTimeLocalField(
        _l("Documents available from"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    docs_available_until = DateTimeLocalField(
        _l("Documents available until"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    bid_deadline = DateTimeLocalField(
        _l("Bid deadline and opening time"), format="%Y-%m-%dT%H:%M", validators=[Optional()]
    )
    online_only = BooleanField(_l("Online-only opening (no room)"))
    room = SelectField(_l("Opening room"), coerce=int, validators=[Optional()])
    notice_text = TextAreaField(_l("Announcement text"), validators=[Optional(), Length(max=50000)])

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opening_items.choices = [
            SelectChoice(OpeningItem.DURATION.value, _l("Duration")),
            SelectChoice(OpeningItem.QUALITY.value, _l("Quality")),
            SelectChoice(OpeningItem.PROJECT_MANAGER.value, _l("Project manager")),
            SelectChoice(OpeningItem.DELIVERY.value, _l("Delivery time")),
            SelectChoice(OpeningItem.WARRANTY.value, _l("Warranty")),
        ]

    def validate_scoring_criteria(self, field: TextAreaField) -> None:
        try:
            parse_pairs(field.data or "", integer=False)
        except (ValueError, ArithmeticError):
            raise ValidationError(_l("Write one criterion per line as name: weight.")) from None

    def validate_panel_specialties(self, field: TextAreaField) -> None:
        try:
            parse_pairs(field.data or "", integer=True)
        except ValueError:
            raise ValidationError(_l("Write one specialty per line as specialty: count.")) from None


class DocumentForm(FlaskForm):
    name = StringField(_l("Document name"), validators=[Optional(), Length(max=200)])
    file = FileField(_l("File"), validators=[FileRequired()])


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=4000)])


class ConfirmForm(FlaskForm):
    pass


class AmendmentForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    body = TextAreaField(_l("Clarification or amendment"), validators=[DataRequired(), Length(max=50000)])
    affects_bids = BooleanField(_l("Affects the preparation of bids"))
    notice_text = TextAreaField(_l("Revised announcement text"), validators=[Optional(), Length(max=50000)])


class QuestionForm(FlaskForm):
    body = TextAreaField(
        _l("Your question on the tender documents"), validators=[DataRequired(), Length(min=5, max=2000)]
    )


class AnswerForm(FlaskForm):
    questions = SelectMultipleField(_l("Questions answered"), coerce=int, validate_choice=False)
    answer = TextAreaField(
        _l("Answer (published to every bidder that obtained the documents)"),
        validators=[DataRequired(), Length(max=20000)],
    )
    affects_bids = BooleanField(_l("The answer affects the preparation of bids"))


class RoomForm(FlaskForm):
    name = StringField(_l("Room name"), validators=[DataRequired(), Length(max=100)])
    location = StringField(_l("Location"), validators=[Optional(), Length(max=200)])
    capacity = IntegerField(_l("Capacity"), default=30, validators=[Optional(), NumberRange(min=1, max=1000)])


class CatalogueVersionForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=200)])
    notes = TextAreaField(_l("Notes"), validators=[Optional(), Length(max=10000)])


class CatalogueItemForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)])
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    category = SelectField(_l("Category"))
    industry = SelectField(_l("Supervising industry"), validators=[Optional()])
    min_sale_days = IntegerField(_l("Minimum sale period"), default=5, validators=[DataRequired()])
    sale_day_unit = SelectField(_l("Unit"))
    min_bid_days = IntegerField(
        _l("Minimum days to the bid deadline"), default=20, validators=[DataRequired()]
    )
    bid_day_unit = SelectField(_l("Unit"))
    amendment_lead_days = IntegerField(_l("Amendment lead time"), default=15, validators=[DataRequired()])
    amendment_day_unit = SelectField(_l("Unit"))
    objection_lead_days = IntegerField(_l("Objection lead time"), validators=[Optional()])
    objection_day_unit = SelectField(_l("Unit"))
    legal_basis = TextAreaField(_l("Legal basis"), validators=[Optional(), Length(max=2000)])


class CommentPeriodForm(FlaskForm):
    days = IntegerField(
        _l("Comment period (days)"), default=10, validators=[DataRequired(), NumberRange(1, 90)]
    )


class CommentForm(FlaskForm):
    body = TextAreaField(_l("Comment"), validators=[DataRequired(), Length(max=5000)])
