"""The workbench: what this role can do today, as cards."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from app.core import calendar
from app.core.clock import now, to_local
from app.core.permissions import Permission, has_permission, public, require

from .cards import cards_for
from .tasks import tasks_for

bp = Blueprint("workbench", __name__)


@bp.route("/")
@public
def index() -> Response:
    if current_user.is_authenticated:
        return redirect(url_for("workbench.home"))
    return redirect(url_for("auth.login"))


@bp.route("/workbench")
@require(Permission.WORKBENCH_VIEW)
def home() -> str:
    principal = current_user
    missing_years = []
    if has_permission(principal.role, Permission.CALENDAR_MANAGE):
        missing_years = calendar.years_without_holidays(to_local(now()).date())
    return render_template(
        "workbench/home.html",
        user=principal.user,
        org=principal.user.organization,
        cards=cards_for(principal),
        tasks=tasks_for(principal.user),
        missing_years=missing_years,
    )
