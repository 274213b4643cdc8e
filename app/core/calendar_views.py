"""Holiday calendar overrides (节假日调整): the management office corrects the national calendar.

Every business role may read the calendar (deadlines are computed from it); only the management office
changes it. Changes go through :func:`app.core.calendar.set_override` / :func:`remove_override`, which
write the audit log in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import chinese_calendar
from flask import Blueprint, Flask, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms import DateField, HiddenField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from app.accounts.models import User
from app.core import calendar
from app.core.clock import now, to_local
from app.core.db import db
from app.core.models import CalendarOverride
from app.core.permissions import Permission, require

bp = Blueprint("calendar", __name__, url_prefix="/calendar")

# Years the page can show; outside this range the request is a typo, not a calendar question.
YEARS = range(2000, 2101)

# chinese_calendar names its holidays in English; these are the labels the page shows.
HOLIDAY_LABELS: dict[str, Any] = {
    "New Year's Day": _l("New Year's Day"),
    "Spring Festival": _l("Spring Festival"),
    "Tomb-sweeping Day": _l("Tomb-sweeping Day"),
    "Labour Day": _l("Labour Day"),
    "Dragon Boat Festival": _l("Dragon Boat Festival"),
    "National Day": _l("National Day"),
    "Mid-autumn Festival": _l("Mid-autumn Festival"),
    "Anti-Fascist 70th Day": _l("Victory Day (70th anniversary)"),
}


class OverrideForm(FlaskForm):
    day = DateField(_l("Date"), validators=[DataRequired()])
    is_workday = SelectField(
        _l("The day is"),
        choices=[SelectChoice("0", _l("a rest day")), SelectChoice("1", _l("a working day"))],
        validators=[DataRequired()],
    )
    note = StringField(_l("Reason"), validators=[Optional(), Length(max=200)])


class RemoveOverrideForm(FlaskForm):
    day = HiddenField(validators=[DataRequired()])


@dataclass(frozen=True)
class NationalHoliday:
    label: str
    first: dt.date
    last: dt.date
    days: int
    adjusted_workdays: list[dt.date]


def _national_holidays(year: int) -> list[NationalHoliday]:
    """The State Council's arrangement for ``year`` as published: each holiday's rest days and the weekend
    days worked in exchange (调休上班), in calendar order. Empty for years the package does not know."""
    rest: dict[str, list[dt.date]] = {}
    worked: dict[str, list[dt.date]] = {}
    for source, target in (
        (chinese_calendar.constants.holidays, rest),
        (chinese_calendar.constants.workdays, worked),
    ):
        for day, name in source.items():
            if day.year == year:
                target.setdefault(str(name), []).append(day)
    result = []
    for name, days in rest.items():
        days.sort()
        label = HOLIDAY_LABELS.get(name, name)
        result.append(NationalHoliday(str(label), days[0], days[-1], len(days), sorted(worked.get(name, []))))
    return sorted(result, key=lambda h: h.first)


def _year_arg() -> int:
    raw = request.args.get("year")
    if raw is None:
        return to_local(now()).year
    try:
        year = int(raw)
    except ValueError:
        abort(404)
    if year not in YEARS:
        abort(404)
    return year


def _render(year: int, form: OverrideForm, status: int = 200) -> tuple[str, int]:
    overrides = db.session.execute(
        select(CalendarOverride, User)
        .outerjoin(User, User.id == CalendarOverride.created_by)
        .where(CalendarOverride.day.between(dt.date(year, 1, 1), dt.date(year, 12, 31)))
        .order_by(CalendarOverride.day)
    ).all()
    work_calendar = calendar.WorkCalendar()
    html = render_template(
        "calendar/overrides.html",
        year=year,
        years=(year - 1 if year - 1 in YEARS else None, year + 1 if year + 1 in YEARS else None),
        overrides=overrides,
        national=_national_holidays(year),
        covered=work_calendar.covers(dt.date(year, 1, 1)),
        coverage=work_calendar.coverage,
        national_is_workday=work_calendar.national_is_workday,
        form=form,
    )
    return html, status


@bp.route("/")
@require(Permission.CALENDAR_READ)
def overrides() -> tuple[str, int]:
    return _render(_year_arg(), OverrideForm())


@bp.route("/overrides", methods=["POST"])
@require(Permission.CALENDAR_MANAGE)
def add_override() -> Response | tuple[str, int]:
    form = OverrideForm()
    if not form.validate_on_submit() or form.day.data is None:
        year = form.day.data.year if form.day.data and form.day.data.year in YEARS else to_local(now()).year
        return _render(year, form, 422)
    day: dt.date = form.day.data
    if day.year not in YEARS:
        flash(_("Choose a date between %(first)d and %(last)d.", first=YEARS[0], last=YEARS[-1]), "error")
        return redirect(url_for("calendar.overrides"))
    is_workday = form.is_workday.data == "1"
    try:
        calendar.set_override(day, is_workday, form.note.data or "", actor=current_user.user)
    except ValueError as err:
        db.session.rollback()
        flash(str(err), "error")
        return redirect(url_for("calendar.overrides", year=day.year))
    db.session.commit()
    if is_workday:
        flash(_("%(day)s is now a working day.", day=day.isoformat()), "success")
    else:
        flash(_("%(day)s is now a rest day.", day=day.isoformat()), "success")
    return redirect(url_for("calendar.overrides", year=day.year))


@bp.route("/overrides/remove", methods=["POST"])
@require(Permission.CALENDAR_MANAGE)
def remove_override() -> Response:
    form = RemoveOverrideForm()
    try:
        day = dt.date.fromisoformat(form.day.data or "") if form.validate_on_submit() else None
    except ValueError:
        day = None
    if day is None:
        flash(_("No date was given."), "error")
        return redirect(url_for("calendar.overrides"))
    if calendar.remove_override(day, actor=current_user.user):
        db.session.commit()
        flash(
            _("The override for %(day)s was removed; the national calendar applies.", day=day.isoformat()),
            "success",
        )
    else:
        flash(_("There was no override for %(day)s.", day=day.isoformat()), "info")
    return redirect(url_for("calendar.overrides", year=day.year))


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
