"""System administrator pages: organizations and accounts. No business action lives here."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from app.core.db import db
from app.core.errors import DomainError
from app.core.permissions import ROLE_ORG_KINDS, OrgKind, Permission, Role, require

from . import services
from .enums import Industry
from .forms import ConfirmForm, DemoClockForm, OrganizationForm, UserForm
from .models import Organization, User

admin = Blueprint("admin", __name__, url_prefix="/admin")


def _org_form() -> OrganizationForm:
    form = OrganizationForm()
    form.kind.choices = [SelectChoice(k.value, services.org_kind_label(k)) for k in OrgKind]
    form.industry.choices = [SelectChoice("", "—")] + [
        SelectChoice(i.value, services.industry_label(i)) for i in Industry
    ]
    return form


def _user_form() -> UserForm:
    form = UserForm()
    orgs = db.session.scalars(select(Organization).order_by(Organization.name)).all()
    form.organization.choices = [
        SelectChoice(str(o.id), f"{o.name}（{services.org_kind_label(o.kind)}）") for o in orgs
    ]
    form.role.choices = [SelectChoice(r.value, services.role_label(r)) for r in Role]
    return form


def _flash_errors(err: DomainError) -> None:
    details = "; ".join(f"{m}" for msgs in err.errors.values() for m in msgs)
    flash(f"{err.message} {details}".strip(), "error")


@admin.route("/organizations", methods=["GET", "POST"])
@require(Permission.ADMIN_ORGS)
def organizations() -> str | Response:
    form = _org_form()
    if form.validate_on_submit():
        try:
            services.create_organization(
                form.name.data or "",
                form.kind.data or "",
                actor=current_user.user,
                industry=form.industry.data or None,
                credit_code=form.credit_code.data or None,
                region=form.region.data or "",
            )
        except DomainError as err:
            db.session.rollback()
            _flash_errors(err)
        else:
            db.session.commit()
            flash(_("Organization created."), "success")
            return redirect(url_for("admin.organizations"))
    orgs = db.session.scalars(select(Organization).order_by(Organization.kind, Organization.name)).all()
    return render_template("admin/organizations.html", form=form, orgs=orgs)


@admin.route("/users", methods=["GET", "POST"])
@require(Permission.ADMIN_USERS)
def users() -> str | Response:
    form = _user_form()
    if form.validate_on_submit():
        org = db.session.get(Organization, form.organization.data)
        if org is None:
            abort(404)
        try:
            created = services.create_user(
                username=form.username.data or "",
                display_name=form.display_name.data or "",
                organization=org,
                role=form.role.data or "",
                password=None,
                actor=current_user.user,
                email=form.email.data,
                phone=form.phone.data,
            )
        except DomainError as err:
            db.session.rollback()
            _flash_errors(err)
        else:
            db.session.commit()
            if created.awaiting_approval:
                flash(
                    _(
                        "Account created. It stays inactive until a second party approves it; the "
                        "activation link then goes to its holder."
                    ),
                    "success",
                )
            else:
                flash(_("Account created; the activation link went to its holder."), "success")
            return redirect(url_for("admin.users"))
    rows = db.session.execute(
        select(User, Organization).join(Organization, Organization.id == User.org_id).order_by(User.username)
    ).all()
    return render_template(
        "admin/users.html",
        form=form,
        rows=rows,
        role_fits={r.value: sorted(ROLE_ORG_KINDS[r]) for r in Role},
        action_form=ConfirmForm(),
    )


def _user_or_404(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user


@admin.route("/users/<int:user_id>/disable", methods=["POST"])
@require(Permission.ADMIN_USERS)
def disable_user(user_id: int) -> Response:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.set_user_active(_user_or_404(user_id), False, actor=current_user.user)
    except DomainError as err:
        db.session.rollback()
        _flash_errors(err)
        return redirect(url_for("admin.users"))
    db.session.commit()
    flash(_("Account disabled; all its sessions and tokens are ended."), "success")
    return redirect(url_for("admin.users"))


@admin.route("/users/<int:user_id>/enable", methods=["POST"])
@require(Permission.ADMIN_USERS)
def enable_user(user_id: int) -> Response:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.set_user_active(_user_or_404(user_id), True, actor=current_user.user)
    except DomainError as err:
        db.session.rollback()
        _flash_errors(err)
        return redirect(url_for("admin.users"))
    db.session.commit()
    flash(_("Account enabled."), "success")
    return redirect(url_for("admin.users"))


@admin.route("/users/<int:user_id>/reset-password", methods=["POST"])
@require(Permission.ADMIN_USERS)
def reset_password(user_id: int) -> Response:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        sent_to = services.admin_reset_password(_user_or_404(user_id), actor=current_user.user)
    except DomainError as err:
        db.session.rollback()
        _flash_errors(err)
        return redirect(url_for("admin.users"))
    db.session.commit()
    flash(
        _("Password reset: the old one no longer works; a one-time link went to %(to)s.", to=sent_to),
        "success",
    )
    return redirect(url_for("admin.users"))


@admin.route("/users/<int:user_id>/reset-mfa", methods=["POST"])
@require(Permission.ADMIN_USERS)
def reset_mfa(user_id: int) -> Response:
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        sent_to = services.admin_reset_mfa(_user_or_404(user_id), actor=current_user.user)
    except DomainError as err:
        db.session.rollback()
        _flash_errors(err)
        return redirect(url_for("admin.users"))
    db.session.commit()
    flash(
        _(
            "Two-factor sign-in reset: the holder enrols again through the one-time link sent to %(to)s.",
            to=sent_to,
        ),
        "success",
    )
    return redirect(url_for("admin.users"))


@admin.route("/demo-clock", methods=["GET", "POST"])
@require(Permission.ADMIN_DEMO_CLOCK)
def demo_clock() -> ResponseReturnValue:
    """Demo installs only: move platform time forward to run a tender in minutes."""
    import datetime as dt

    from app.core import democlock

    if not democlock.enabled():
        abort(404)
    form = DemoClockForm()
    if form.validate_on_submit():
        step = dt.timedelta(
            days=form.days.data or 0, hours=form.hours.data or 0, minutes=form.minutes.data or 0
        )
        try:
            democlock.advance(step, actor=current_user.user)
        except DomainError as err:
            db.session.rollback()
            _flash_errors(err)
        else:
            db.session.commit()
            flash(_("Platform time moved forward."), "success")
            return redirect(url_for("admin.demo_clock"))
    return render_template("admin/demo_clock.html", form=form, offset=democlock.current_offset())
