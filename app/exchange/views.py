"""Staff page of the data exchange: what was pushed, what waits, the dead letters and their retry."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select

from app.core.db import db
from app.core.errors import DomainError
from app.core.permissions import Permission, require

from . import services
from .models import ExchangeMessage

bp = Blueprint("exchange", __name__, url_prefix="/exchange")


@bp.route("/")
@require(Permission.EXCHANGE_VIEW)
def index() -> str:
    recent = db.session.scalars(select(ExchangeMessage).order_by(ExchangeMessage.id.desc()).limit(100)).all()
    dead = db.session.scalars(
        select(ExchangeMessage).where(ExchangeMessage.status == "dead").order_by(ExchangeMessage.id)
    ).all()
    return render_template(
        "exchange/index.html", counts=services.counts(), recent=recent, dead=dead, form=FlaskForm()
    )


@bp.route("/messages/<int:message_id>/retry", methods=["POST"])
@require(Permission.EXCHANGE_RETRY)
def retry(message_id: int) -> ResponseReturnValue:
    message = db.session.get(ExchangeMessage, message_id)
    if message is None:
        abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        services.retry_dead(message, actor=current_user.user)
    except DomainError as err:
        db.session.rollback()
        flash(err.message, "error")
    else:
        db.session.commit()
        flash(_("The message is queued again."), "success")
    return redirect(url_for("exchange.index"))
