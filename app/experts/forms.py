"""Forms of the experts domain (Flask-WTF: every form carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    EmailField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional


class ExpertForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
    id_number = StringField(_l("ID number"), validators=[DataRequired(), Length(max=20)])
    title = StringField(_l("Professional title"), validators=[DataRequired(), Length(max=100)])
    title_level = SelectField(_l("Title level"), validators=[DataRequired()])
    years_of_practice = IntegerField(_l("Years of practice"), validators=[DataRequired(), NumberRange(0, 70)])
    employer_org_id = SelectField(_l("Employer"), coerce=int, validators=[DataRequired()])
    region = StringField(_l("Region"), validators=[DataRequired(), Length(max=64)])
    specialties = StringField(
        _l("Specialty codes (first is primary)"), validators=[DataRequired(), Length(max=200)]
    )
    phone = StringField(_l("Mobile phone"), validators=[Optional(), Length(max=32)])
    email = EmailField(_l("Email"), validators=[Optional(), Length(max=200)])
    entry_exception = BooleanField(_l("Admit as an exception"))
    exception_reason = StringField(_l("Reason for the exception"), validators=[Optional(), Length(max=500)])


class StatusForm(FlaskForm):
    to = SelectField(_l("New status"), validators=[DataRequired()])
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=500)])


class DisciplineForm(FlaskForm):
    deduction = IntegerField(_l("Points to deduct"), validators=[DataRequired(), NumberRange(1, 100)])
    note = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class ImportForm(FlaskForm):
    file = FileField(_l("CSV or XLSX file"))
    commit = BooleanField(_l("Import now (otherwise only check)"))


class DrawRequestForm(FlaskForm):
    section_id = IntegerField(_l("Section number"), validators=[DataRequired()])
    panel_size = IntegerField(_l("Panel size"), validators=[DataRequired(), NumberRange(5, 99)])
    evaluation_starts_at = DateTimeLocalField(
        _l("Evaluation starts (China Standard Time)"), format="%Y-%m-%dT%H:%M", validators=[DataRequired()]
    )
    region_scope = SelectField(_l("Region"), validators=[DataRequired()])
    composition = TextAreaField(
        _l("Composition: one line per specialty — code, seats, backups"),
        validators=[DataRequired(), Length(max=2000)],
    )


class WitnessForm(FlaskForm):
    entropy = StringField(_l("Witness entropy"), validators=[DataRequired(), Length(min=6, max=200)])


class ReasonForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


class AnswerForm(FlaskForm):
    answer = SelectField(_l("Answer"), validators=[DataRequired()])
    reason = StringField(_l("Reason (required to decline)"), validators=[Optional(), Length(max=500)])


class RatingForm(FlaskForm):
    seat_id = IntegerField(validators=[DataRequired()])
    attendance = IntegerField(_l("Attendance (1–5)"), validators=[DataRequired(), NumberRange(1, 5)])
    conduct = IntegerField(_l("Conduct (1–5)"), validators=[DataRequired(), NumberRange(1, 5)])
    quality = IntegerField(_l("Quality (1–5)"), validators=[DataRequired(), NumberRange(1, 5)])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class ContactForm(FlaskForm):
    phone = StringField(_l("Mobile phone"), validators=[Optional(), Length(max=32)])
    email = EmailField(_l("Email"), validators=[Optional(), Length(max=200)])


class LeaveForm(FlaskForm):
    starts_on = DateField(_l("From"), validators=[DataRequired()])
    ends_on = DateField(_l("Until (inclusive)"), validators=[DataRequired()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=200)])


class ConflictForm(FlaskForm):
    organization = StringField(
        _l("Organization (name or unified social credit code)"), validators=[DataRequired(), Length(max=200)]
    )
    relation = SelectField(_l("Relation"), validators=[DataRequired()])
    note = StringField(_l("Note"), validators=[Optional(), Length(max=300)])


class EmploymentForm(FlaskForm):
    organization = StringField(
        _l("Former employer (name or unified social credit code)"),
        validators=[DataRequired(), Length(max=200)],
    )
    starts_on = DateField(_l("From (if known)"), validators=[Optional()])
    ends_on = DateField(_l("Until (last day)"), validators=[DataRequired()])
    note = StringField(_l("Position or note"), validators=[Optional(), Length(max=300)])
