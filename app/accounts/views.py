"""Sign-in, two-factor, step-up, sign-out and the user's own account pages."""

from __future__ import annotations

import io

import segno
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from werkzeug.wrappers import Response

from app.core import throttle
from app.core.db import db
from app.core.errors import DomainError, NotFound
from app.core.permissions import Permission, authenticated, public, require
from app.core.templating import fmt_dt
from app.extensions import limiter

from . import approvals, links, services, totp
from .forms import (
    CodeForm,
    ConfirmForm,
    LoginForm,
    NewPasswordForm,
    PasswordChangeForm,
    StepUpForm,
    TokenForm,
)
from .labels import admin_act_label
from .models import ApiToken, User, UserSession
from .principal import SESSION_KEY
from .stepup import safe_next

auth = Blueprint("auth", __name__, url_prefix="/auth")
accounts = Blueprint("accounts", __name__, url_prefix="/account")


def _login_limit() -> str:
    return str(current_app.config["LOGIN_RATE_LIMIT"])


@auth.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(_login_limit, methods=["POST"])
def login() -> ResponseReturnValue:
    if current_user.is_authenticated and current_user.mfa_passed:
        return redirect(url_for("workbench.home"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                form.username.data or "", form.password.data or "", source=request.remote_addr
            )
        except DomainError as err:  # a wrong name or password, or too many attempts (throttle.Throttled)
            db.session.commit()  # failure counters and the audit leaf must survive the refusal
            flash(err.message, "error")
            return _refused(render_template("auth/login.html", form=form), err)
        raw, _row = services.start_session(user, ip=request.remote_addr, user_agent=request.user_agent.string)
        db.session.commit()
        locale = session.get("locale")
        session.clear()  # session rotation: nothing from before login survives but the language
        if locale:
            session["locale"] = locale
        session[SESSION_KEY] = raw
        session.permanent = False
        nxt = safe_next(request.args.get("next"), url_for("workbench.home"))
        if services.requires_second_factor(user):
            return redirect(url_for("auth.mfa", next=nxt))
        _show_admin_notices(user)
        return redirect(nxt)
    return render_template("auth/login.html", form=form)


def _refused(body: str, err: DomainError) -> ResponseReturnValue:
    """A refused sign-in step: 401, or 429 with Retry-After while throttled."""
    headers = {"Retry-After": str(err.retry_after)} if isinstance(err, throttle.Throttled) else {}
    return body, err.status, headers


def _show_admin_notices(user: User) -> None:
    """At sign-in, tell the holder what an administrator did to the account since the last time."""
    notices = links.unseen_notices(user)
    for notice in notices:
        actor = db.session.get(User, notice.actor_id) if notice.actor_id else None
        flash(
            _(
                "On %(time)s the system administrator %(admin)s: %(what)s. If you did not ask for it, "
                "tell your trading centre and the regulator.",
                time=fmt_dt(notice.created_at),
                admin=actor.display_name if actor else _("(the platform)"),
                what=admin_act_label(notice.action),
            ),
            "warning",
        )
    links.mark_seen(notices)
    db.session.commit()


@auth.route("/mfa", methods=["GET", "POST"])
@authenticated
@limiter.limit(_login_limit, methods=["POST"])
def mfa() -> ResponseReturnValue:
    principal = current_user
    user, row = principal.user, principal.session_row
    if row is None:
        return redirect(url_for("workbench.home"))
    if not user.totp_enabled:
        return redirect(url_for("auth.enrol", next=request.args.get("next")))
    if row.mfa_passed_at is not None:
        return redirect(url_for("workbench.home"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            services.verify_mfa(user, row, form.code.data or "")
        except DomainError as err:
            db.session.commit()
            flash(err.message, "error")
            return _refused(render_template("auth/mfa.html", form=form), err)
        db.session.commit()
        _show_admin_notices(user)
        return redirect(safe_next(request.args.get("next"), url_for("workbench.home")))
    return render_template("auth/mfa.html", form=form)


@auth.route("/mfa/enrol", methods=["GET", "POST"])
@authenticated
def enrol() -> ResponseReturnValue:
    principal = current_user
    user = principal.user
    if user.totp_enabled:
        return redirect(url_for("auth.mfa"))
    if not links.may_enrol(user):
        return render_template("auth/enrol_by_link.html"), 403
    secret = services.begin_totp_enrolment(user)
    db.session.commit()  # the pending secret must be the same on the next request
    form = CodeForm()
    if form.validate_on_submit():
        try:
            services.confirm_totp_enrolment(user, form.code.data or "", principal.session_row)
        except DomainError as err:
            db.session.commit()
            flash(err.message, "error")
        else:
            db.session.commit()
            flash(_("Two-factor authentication is on."), "success")
            _show_admin_notices(user)
            return redirect(safe_next(request.args.get("next"), url_for("workbench.home")))
    uri = totp.provisioning_uri(secret, user.username)
    buf = io.BytesIO()
    segno.make(uri, error="m").save(buf, kind="svg", scale=5, xmldecl=False, svgns=True)
    return render_template(
        "auth/enrol.html",
        form=form,
        qr_svg=Markup(buf.getvalue().decode()),  # noqa: S704 - SVG generated by segno from our own URI
        secret=totp.secret_b32(secret),
    )


@auth.route("/step-up", methods=["GET", "POST"])
@authenticated
def step_up() -> ResponseReturnValue:
    principal = current_user
    row = principal.session_row
    if row is None:
        return redirect(url_for("workbench.home"))
    back = safe_next(request.args.get("next"), url_for("workbench.home"))
    if services.recently_stepped_up(row):  # e.g. just enrolled with a fresh code
        return redirect(back)
    if not principal.user.totp_enabled:  # step-up is by code only: enrol, then come back here
        flash(services.needs_totp_message())
        return redirect(url_for("auth.enrol", next=url_for("auth.step_up", next=request.args.get("next"))))
    form = StepUpForm()
    if form.validate_on_submit():
        try:
            services.step_up(principal.user, row, code=form.code.data)
        except DomainError as err:
            db.session.commit()
            flash(err.message, "error")
            return _refused(render_template("auth/step_up.html", form=form, user=principal.user), err)
        db.session.commit()
        return redirect(back)
    return render_template("auth/step_up.html", form=form, user=principal.user)


@auth.route("/link/<token>", methods=["GET", "POST"])
@public
def link(token: str) -> ResponseReturnValue:
    """A one-time link sent to the account holder. Opening it (GET) changes nothing — mail scanners open
    links too; the holder acts on the form (POST)."""
    try:
        opened = links.open_link(token)
    except DomainError as err:
        return render_template("errors/error.html", status=err.status, message=err.message), err.status
    form = NewPasswordForm() if opened.link.purpose in ("activate", "password") else ConfirmForm()
    if form.validate_on_submit():
        new = getattr(form, "new", None)
        if new is not None and new.data != form.repeat.data:
            flash(_("The two passwords differ."), "error")
        else:
            try:
                links.use_link(token, new_password=new.data if new is not None else None)
            except DomainError as err:
                db.session.rollback()
                flash(err.message + " " + " ".join(m for msgs in err.errors.values() for m in msgs), "error")
            else:
                db.session.commit()
                if opened.link.purpose == "enrol":
                    flash(_("Now sign in: you will set up your authenticator right after."), "success")
                else:
                    flash(_("Your password is set. Sign in with it."), "success")
                return redirect(url_for("auth.login"))
    return render_template("auth/link.html", form=form, purpose=opened.link.purpose, user=opened.user)


@auth.route("/logout", methods=["POST"])
@authenticated
def logout() -> Response:
    row = current_user.session_row
    if row is not None:
        services.end_session(row)
        db.session.commit()
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale
    flash(_("You have signed out."), "success")
    return redirect(url_for("auth.login"))


@auth.route("/locale", methods=["GET", "POST"])
@public
def set_locale() -> Response:
    """Switch the display language. GET (the link in every page's header) needs no CSRF token: a forged
    link can only change how the next page reads, and the redirect target is same-site only."""
    values = request.values
    chosen = values.get("locale", "")
    if chosen in current_app.config["LANGUAGES"]:
        session["locale"] = chosen
    return redirect(safe_next(values.get("next"), url_for("auth.login")))


# --- own account -------------------------------------------------------------------------------


@accounts.route("/")
@require(Permission.ACCOUNT_SELF)
def profile() -> str:
    principal = current_user
    sessions = db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == principal.id, UserSession.revoked_at.is_(None))
        .order_by(UserSession.created_at.desc())
        .limit(20)
    ).all()
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == principal.id).order_by(ApiToken.created_at.desc())
    ).all()
    return render_template(
        "accounts/profile.html",
        user=principal.user,
        sessions=sessions,
        tokens=tokens,
        password_form=PasswordChangeForm(),
        token_form=TokenForm(),
        token_sections={t.id: services.token_section_names(t) for t in tokens if t.section_ids},
        current_session=principal.session_row,
    )


@accounts.route("/approvals")
@require(Permission.ACCOUNT_APPROVE)
def approvals_page() -> str:
    """Accounts an administrator created that this person may approve (app/accounts/approvals.py)."""
    return render_template(
        "accounts/approvals.html", pending=approvals.pending_for(current_user.user), form=ConfirmForm()
    )


@accounts.route("/approvals/<int:user_id>/approve", methods=["POST"])
@require(Permission.ACCOUNT_APPROVE)
def approve_account(user_id: int) -> Response:
    if not ConfirmForm().validate_on_submit():
        return redirect(url_for("accounts.approvals_page"))
    user = db.session.get(User, user_id)
    try:
        if user is None:
            raise NotFound(_("No such account awaits your approval."))
        approvals.approve(user, actor=current_user.user)
    except DomainError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("accounts.approvals_page"))
    db.session.commit()
    flash(_("Account approved; the activation link went to its holder."), "success")
    return redirect(url_for("accounts.approvals_page"))


@accounts.route("/password", methods=["POST"])
@require(Permission.ACCOUNT_SELF)
def change_password() -> ResponseReturnValue:
    form = PasswordChangeForm()
    if not form.validate_on_submit():
        flash(_("Fill in both passwords."), "error")
        return redirect(url_for("accounts.profile"))
    principal = current_user
    try:
        services.change_password(
            principal.user, form.current.data or "", form.new.data or "", keep_session=principal.session_row
        )
    except DomainError as err:
        db.session.rollback()
        flash(err.message + " " + " ".join(m for msgs in err.errors.values() for m in msgs), "error")
        return redirect(url_for("accounts.profile"))
    db.session.commit()
    flash(_("Password changed. All your other sessions have been signed out."), "success")
    return redirect(url_for("accounts.profile"))


@accounts.route("/sessions/revoke-others", methods=["POST"])
@require(Permission.ACCOUNT_SELF)
def revoke_other_sessions() -> Response:
    principal = current_user
    services.revoke_all_sessions(principal.user, reason="user_request", keep=principal.session_row)
    db.session.commit()
    flash(_("All other sessions have been signed out."), "success")
    return redirect(url_for("accounts.profile"))


@accounts.route("/tokens", methods=["POST"])
@require(Permission.ACCOUNT_TOKENS)
def create_token() -> ResponseReturnValue:
    form = TokenForm()
    if not form.validate_on_submit():
        flash(_("Give the token a name."), "error")
        return redirect(url_for("accounts.profile"))
    references = [r for r in (form.sections.data or "").replace("，", ",").split(",") if r.strip()]
    try:
        issued = services.create_api_token(
            current_user.user, form.name.data or "", sections=references or None
        )
    except DomainError as err:
        db.session.rollback()
        flash(err.message, "error")
        return redirect(url_for("accounts.profile"))
    db.session.commit()
    return render_template(
        "accounts/token_created.html", issued=issued, sections=services.token_section_names(issued.token)
    )


@accounts.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@require(Permission.ACCOUNT_TOKENS)
def revoke_token(token_id: int) -> Response:
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:
        from flask import abort

        abort(404)
    services.revoke_api_token(token, actor=current_user.user)
    db.session.commit()
    flash(_("Token revoked."), "success")
    return redirect(url_for("accounts.profile"))
