"""Forms (Flask-WTF: every form carries a CSRF token)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, NumberRange, Optional


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=256)])


class CodeForm(FlaskForm):
    code = StringField(
        _l("6-digit code"),
        validators=[DataRequired(), Length(min=6, max=8)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class StepUpForm(FlaskForm):
    code = StringField(_l("6-digit code"), validators=[DataRequired(), Length(max=8)])


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired()])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])


class NewPasswordForm(FlaskForm):
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=256)])
    repeat = PasswordField(_l("New password again"), validators=[DataRequired(), Length(max=256)])


class TokenForm(FlaskForm):
    name = StringField(_l("Token name"), validators=[DataRequired(), Length(max=100)])
    sections = StringField(
        _l("Only these tender sections (optional)"),
        validators=[Optional(), Length(max=2000)],
        description=_l(
            "Project code/section code, separated by commas; empty: every section your role reaches"
        ),
    )


class OrganizationForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Kind"), validators=[DataRequired()])
    industry = SelectField(_l("Industry (regulators only)"), validators=[Optional()])
    credit_code = StringField(
        _l("Unified social credit code"), validators=[Optional(), Length(min=18, max=18)]
    )
    region = StringField(_l("Region"), validators=[Optional(), Length(max=64)])


class UserForm(FlaskForm):
    username = StringField(_l("User name"), validators=[DataRequired(), Length(max=64)])
    display_name = StringField(_l("Full name"), validators=[DataRequired(), Length(max=100)])
    organization = SelectField(_l("Organization"), coerce=int, validators=[DataRequired()])
    role = SelectField(_l("Role"), validators=[DataRequired()])
    email = EmailField(
        _l("Email"),
        validators=[
            Optional(),
            # WTForms' own Chinese says "无效的 Email 地址": English on the page.
            Email(
                check_deliverability=False,
                message=_l("Enter a valid email address, such as name@example.com."),
            ),
        ],
    )
    phone = StringField(_l("Phone"), validators=[Optional(), Length(max=32)])


class ConfirmForm(FlaskForm):
    confirm = BooleanField(_l("Confirm"))


class DemoClockForm(FlaskForm):
    days = IntegerField(_l("Days"), default=0, validators=[Optional(), NumberRange(min=0, max=60)])
    hours = IntegerField(_l("Hours"), default=0, validators=[Optional(), NumberRange(min=0, max=23)])
    minutes = IntegerField(_l("Minutes"), default=0, validators=[Optional(), NumberRange(min=0, max=59)])
