"""Account rules: organizations, users with one fitting role, authentication, lockout, MFA, sessions,
step-up and API tokens. Services take the acting user explicitly and never read the request."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update

from app.core import audit
from app.core.clock import security_now
from app.core.crypto import decrypt_at_rest, encrypt_at_rest, reencrypt_column
from app.core.db import db
from app.core.errors import Conflict, DomainError
from app.core.permissions import MFA_REQUIRED_ROLES, ROLE_ORG_KINDS, OrgKind, Role

from . import passwords, totp
from .enums import Industry
from .models import ApiToken, Organization, User, UserSession

TOTP_PURPOSE = "user.totp_secret"


class AuthError(DomainError):
    status = 401
    code = "authentication_failed"


def _hash_token(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


# --- organizations and users -------------------------------------------------------------------


def create_organization(
    name: str,
    kind: OrgKind | str,
    *,
    actor: User | None,
    industry: Industry | str | None = None,
    credit_code: str | None = None,
    region: str = "",
) -> Organization:
    kind = OrgKind(kind)
    name = name.strip()
    if not name:
        raise DomainError(_("The organization needs a name."), errors={"name": [_("Required.")]})
    if kind is OrgKind.REGULATOR and not industry:
        raise DomainError(
            _("A regulator must name the industry it supervises."), errors={"industry": [_("Required.")]}
        )
    if kind is not OrgKind.REGULATOR and industry:
        raise DomainError(_("Only regulators have an industry."), errors={"industry": [_("Not allowed.")]})
    if db.session.scalar(select(Organization.id).where(Organization.name == name)) is not None:
        raise Conflict(_("An organization with this name already exists."), errors={"name": [_("Taken.")]})
    org = Organization(
        name=name,
        kind=kind.value,
        industry=Industry(industry).value if industry else None,
        credit_code=credit_code or None,
        region=region,
    )
    db.session.add(org)
    db.session.flush()  # the id goes into the audit leaf
    audit.record(
        "admin:organization:create",
        actor=actor,
        object_type="organization",
        object_id=org.id,
        payload={"name": org.name, "kind": org.kind, "industry": org.industry},
    )
    return org


def create_user(
    *,
    username: str,
    display_name: str,
    organization: Organization,
    role: Role | str,
    password: str,
    actor: User | None,
    email: str | None = None,
    phone: str | None = None,
) -> User:
    role = Role(role)
    username = username.strip().lower()
    errors: dict[str, list[str]] = {}
    if not username or len(username) > 64 or not all(c.isalnum() or c in "._-" for c in username):
        errors["username"] = [_("Use letters, digits, dots, dashes or underscores (at most 64).")]
    allowed = ROLE_ORG_KINDS[role]
    if OrgKind(organization.kind) not in allowed:
        errors["role"] = [
            _(
                "The role %(role)s cannot belong to an organization of kind %(kind)s.",
                role=role_label(role),
                kind=org_kind_label(organization.kind),
            )
        ]
    problems = passwords.password_problems(password, username=username)
    if problems:
        errors["password"] = problems
    if errors:
        raise DomainError(_("The account was not created; see the fields marked."), errors=errors)
    if db.session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(_("This user name is taken."), errors={"username": [_("Taken.")]})
    user = User(
        username=username,
        display_name=display_name.strip() or username,
        org_id=organization.id,
        org_kind=organization.kind,
        role=role.value,
        password_hash=passwords.hash_password(password),
        email=email or None,
        phone=phone or None,
    )
    db.session.add(user)
    db.session.flush()  # the id goes into the audit leaf
    audit.record(
        "admin:user:create",
        actor=actor,
        object_type="user",
        object_id=user.id,
        payload={"username": user.username, "role": user.role, "org_id": user.org_id},
    )
    return user


def set_user_active(user: User, active: bool, *, actor: User) -> None:
    if user.id == actor.id and not active:
        raise DomainError(_("You cannot disable your own account."))
    user.is_active = active
    if not active:
        revoke_all_sessions(user, reason="account_disabled")
        for token in user.api_tokens:
            if token.revoked_at is None:
                token.revoked_at = security_now()
    audit.record(
        "admin:user:enable" if active else "admin:user:disable",
        actor=actor,
        object_type="user",
        object_id=user.id,
    )


def admin_reset_password(user: User, *, actor: User) -> str:
    """ASVS 6.4.6: the administrator starts a reset but does not choose the password. A random
    one-time password is generated, shown once, and every session of the user is ended."""
    temporary = secrets.token_urlsafe(12)
    user.password_hash = passwords.hash_password(temporary)
    user.password_changed_at = security_now()
    user.failed_logins = 0
    user.locked_until = None
    revoke_all_sessions(user, reason="password_reset")
    audit.record("admin:user:password_reset", actor=actor, object_type="user", object_id=user.id)
    return temporary


def admin_reset_mfa(user: User, *, actor: User) -> None:
    user.totp_secret_enc = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    revoke_all_sessions(user, reason="mfa_reset")
    audit.record("admin:user:mfa_reset", actor=actor, object_type="user", object_id=user.id)


def change_password(user: User, current: str, new: str, *, keep_session: UserSession | None = None) -> None:
    """Change the password and end every other session (logout everywhere)."""
    if not passwords.verify_password(current, user.password_hash):
        raise DomainError(_("The current password is wrong."), errors={"current": [_("Wrong password.")]})
    problems = passwords.password_problems(new, username=user.username)
    if problems:
        raise DomainError(_("The new password was refused."), errors={"new": problems})
    user.password_hash = passwords.hash_password(new)
    user.password_changed_at = security_now()
    revoke_all_sessions(user, reason="password_changed", keep=keep_session)
    audit.record("auth:password:change", actor=user, object_type="user", object_id=user.id)


# --- authentication ----------------------------------------------------------------------------


def authenticate(username: str, password: str) -> User:
    """Check a password login, counting failures and locking the account after the threshold.

    The message never says whether the name exists; a locked account says so only after a correct
    password would have been needed anyway (it does not reveal which guess was right)."""
    username = (username or "").strip().lower()
    user = db.session.scalar(select(User).where(User.username == username))
    generic = _("User name or password is wrong.")
    if user is None:
        passwords.burn_time()
        audit.record("auth:login:failure", payload={"username": username[:64], "reason": "unknown_user"})
        raise AuthError(generic)
    moment = security_now()
    if user.locked_until is not None and user.locked_until > moment:
        audit.record("auth:login:locked", actor=user, object_type="user", object_id=user.id)
        raise AuthError(
            _(
                "This account is locked after repeated failures until %(time)s.",
                time=_local(user.locked_until),
            )
        )
    if not user.is_active or not user.organization.is_active:
        passwords.burn_time()
        audit.record(
            "auth:login:failure",
            actor=user,
            object_type="user",
            object_id=user.id,
            payload={"reason": "disabled"},
        )
        raise AuthError(generic)
    if not passwords.verify_password(password or "", user.password_hash):
        user.failed_logins += 1
        payload = {"reason": "bad_password", "failures": user.failed_logins}
        audit.record("auth:login:failure", actor=user, object_type="user", object_id=user.id, payload=payload)
        threshold = current_app.config["LOGIN_LOCKOUT_THRESHOLD"]
        if user.failed_logins >= threshold:
            user.locked_until = moment + dt.timedelta(minutes=current_app.config["LOGIN_LOCKOUT_MINUTES"])
            user.failed_logins = 0
            audit.record(
                "auth:login:lockout",
                actor=user,
                object_type="user",
                object_id=user.id,
                payload={"until": user.locked_until.isoformat()},
            )
        raise AuthError(generic)
    user.failed_logins = 0
    user.locked_until = None
    return user


def _local(value: dt.datetime) -> str:
    from app.core.templating import fmt_dt

    return fmt_dt(value)


def start_session(user: User, *, ip: str | None, user_agent: str | None) -> tuple[str, UserSession]:
    """Create a new server-side session (a fresh 256-bit token on every login: session rotation)."""
    raw = secrets.token_urlsafe(32)
    moment = security_now()
    session_row = UserSession(
        user_id=user.id,
        token_hash=_hash_token(raw),
        created_at=moment,
        last_seen_at=moment,
        expires_at=moment + dt.timedelta(hours=current_app.config["SESSION_ABSOLUTE_HOURS"]),
        ip=(ip or "")[:64] or None,
        user_agent=(user_agent or "")[:300] or None,
    )
    db.session.add(session_row)
    db.session.flush()  # the id goes into the audit leaf
    audit.record(
        "auth:login:success",
        actor=user,
        object_type="user_session",
        object_id=session_row.id,
        payload={"mfa_required": user.role in MFA_REQUIRED_ROLES},
    )
    return raw, session_row


def load_session(raw: str) -> UserSession | None:
    """The live session for a cookie token, or None when unknown, revoked, idle or past its lifetime."""
    if not raw:
        return None
    row = db.session.scalar(select(UserSession).where(UserSession.token_hash == _hash_token(raw)))
    if row is None or row.revoked_at is not None:
        return None
    moment = security_now()
    idle = dt.timedelta(minutes=current_app.config["SESSION_IDLE_MINUTES"])
    if row.expires_at <= moment or row.last_seen_at + idle <= moment:
        return None
    user = row.user
    if not user.is_active or not user.organization.is_active:
        return None
    # Touch at most once a minute so reads do not write on every request.
    if moment - row.last_seen_at > dt.timedelta(minutes=1):
        row.last_seen_at = moment
    return row


def end_session(session_row: UserSession) -> None:
    session_row.revoked_at = security_now()
    audit.record("auth:logout", actor=session_row.user, object_type="user_session", object_id=session_row.id)


def revoke_all_sessions(user: User, *, reason: str, keep: UserSession | None = None) -> int:
    stmt = (
        update(UserSession)
        .where(UserSession.user_id == user.id, UserSession.revoked_at.is_(None))
        .values(revoked_at=security_now())
    )
    if keep is not None:
        stmt = stmt.where(UserSession.id != keep.id)
    count = db.session.execute(stmt).rowcount or 0  # type: ignore[attr-defined]
    audit.record(
        "auth:session:revoke_all",
        actor=user,
        object_type="user",
        object_id=user.id,
        payload={"reason": reason, "count": count},
    )
    return count


# --- TOTP --------------------------------------------------------------------------------------


def totp_secret(user: User) -> bytes | None:
    if user.totp_secret_enc is None:
        return None
    return decrypt_at_rest(user.totp_secret_enc, purpose=TOTP_PURPOSE)


def reencrypt_totp_secrets(*, batch: int) -> int:
    """Data key rotation: every TOTP secret under the current key; returns how many changed."""
    return reencrypt_column(User.totp_secret_enc, TOTP_PURPOSE, batch=batch)


def begin_totp_enrolment(user: User) -> bytes:
    """Create (or reuse) a pending secret; it is active only after a code confirms it."""
    if user.totp_enabled:
        raise DomainError(_("Two-factor authentication is already set up."))
    secret = totp_secret(user)
    if secret is None:
        secret = totp.new_secret()
        user.totp_secret_enc = encrypt_at_rest(secret, purpose=TOTP_PURPOSE)
    return secret


def _check_code(user: User, code: str) -> bool:
    secret = totp_secret(user)
    if secret is None:
        return False
    step = totp.matching_step(secret, code, security_now(), last_step=user.totp_last_step)
    if step is None:
        return False
    user.totp_last_step = step
    return True


def confirm_totp_enrolment(user: User, code: str, session_row: UserSession | None) -> None:
    if user.totp_enabled:
        raise DomainError(_("Two-factor authentication is already set up."))
    if not _check_code(user, code):
        audit.record("auth:mfa:enrol_failure", actor=user, object_type="user", object_id=user.id)
        raise DomainError(_("The code is not valid. Check the time on your phone and try the next code."))
    user.totp_enabled_at = security_now()
    if session_row is not None:
        session_row.mfa_passed_at = security_now()
        session_row.stepped_up_at = security_now()
    audit.record("auth:mfa:enrolled", actor=user, object_type="user", object_id=user.id)


def verify_mfa(user: User, session_row: UserSession, code: str) -> None:
    if not _check_code(user, code):
        audit.record("auth:mfa:failure", actor=user, object_type="user_session", object_id=session_row.id)
        raise AuthError(_("The code is not valid or was already used."))
    session_row.mfa_passed_at = security_now()
    session_row.stepped_up_at = security_now()
    audit.record("auth:mfa:success", actor=user, object_type="user_session", object_id=session_row.id)


def needs_totp_message() -> str:
    """Why a user without an authenticator cannot step up (translated when shown)."""
    return _("Sensitive actions are confirmed with a 6-digit code: set up two-factor authentication first.")


def step_up(user: User, session_row: UserSession, *, code: str | None = None) -> None:
    """Re-authenticate inside a session before a sensitive action (a key share, an opening, a draw, a
    decision): with a fresh TOTP code, never the password alone (SPEC §1). A user without an authenticator
    enrols first (the step-up page sends them there)."""
    if not (user.totp_enabled and code is not None and _check_code(user, code)):
        audit.record(
            "auth:stepup:failure",
            actor=user,
            object_type="user_session",
            object_id=session_row.id,
            payload={} if user.totp_enabled else {"reason": "no_totp"},
        )
        raise AuthError(_("Re-authentication failed.") if user.totp_enabled else needs_totp_message())
    session_row.stepped_up_at = security_now()
    audit.record("auth:stepup:success", actor=user, object_type="user_session", object_id=session_row.id)


def recently_stepped_up(session_row: UserSession | None) -> bool:
    if session_row is None or session_row.stepped_up_at is None:
        return False
    return security_now() - session_row.stepped_up_at <= dt.timedelta(
        seconds=current_app.config["STEP_UP_SECONDS"]
    )


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    raw: str


def create_api_token(user: User, name: str, *, days: int | None = 90) -> IssuedToken:
    name = (name or "").strip()[:100]
    if not name:
        raise DomainError(_("Give the token a name."), errors={"name": [_("Required.")]})
    raw = "ggzy_" + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=raw[:12],
        token_hash=_hash_token(raw),
        expires_at=security_now() + dt.timedelta(days=days) if days else None,
    )
    db.session.add(token)
    db.session.flush()  # the id goes into the audit leaf
    audit.record(
        "auth:token:create", actor=user, object_type="api_token", object_id=token.id, payload={"name": name}
    )
    return IssuedToken(token, raw)


def revoke_api_token(token: ApiToken, *, actor: User) -> None:
    if token.revoked_at is None:
        token.revoked_at = security_now()
        audit.record("auth:token:revoke", actor=actor, object_type="api_token", object_id=token.id)


def authenticate_token(raw: str) -> ApiToken | None:
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(raw)))
    moment = security_now()
    if token is None or token.revoked_at is not None:
        return None
    if token.expires_at is not None and token.expires_at <= moment:
        return None
    user = token.user
    if not user.is_active or not user.organization.is_active:
        return None
    # Token use is audited at most every five minutes per token to keep the log meaningful.
    if token.last_used_at is None or moment - token.last_used_at > dt.timedelta(minutes=5):
        token.last_used_at = moment
        audit.record("auth:token:use", actor=user, object_type="api_token", object_id=token.id)
    return token


# --- labels ------------------------------------------------------------------------------------


def role_label(role: Role | str) -> str:
    labels = {
        Role.BIDDER: _("Bidder"),
        Role.TENDERER: _("Tenderer / agency"),
        Role.CENTER_STAFF: _("Trading center staff"),
        Role.MANAGER: _("Management office"),
        Role.REGULATOR: _("Regulator"),
        Role.EXPERT: _("Evaluation expert"),
        Role.SYSADMIN: _("System administrator"),
    }
    return labels[Role(role)]


def org_kind_label(kind: OrgKind | str) -> str:
    labels = {
        OrgKind.TENDERER: _("Tenderer"),
        OrgKind.AGENCY: _("Tendering agency"),
        OrgKind.BIDDER: _("Bidder company"),
        OrgKind.TRADING_CENTER: _("Trading center"),
        OrgKind.MANAGEMENT_OFFICE: _("Management office"),
        OrgKind.REGULATOR: _("Regulator"),
        OrgKind.EXPERT_EMPLOYER: _("Expert employer"),
        OrgKind.PLATFORM_OPERATOR: _("Platform operator"),
    }
    return labels[OrgKind(kind)]


def industry_label(industry: Industry | str | None) -> str:
    if not industry:
        return ""
    labels = {
        Industry.HOUSING_CONSTRUCTION: _("Housing and construction"),
        Industry.TRANSPORT: _("Transport"),
        Industry.WATER: _("Water resources"),
        Industry.FINANCE_PROCUREMENT: _("Finance (government procurement)"),
        Industry.LAND_RESOURCES: _("Natural resources"),
        Industry.STATE_ASSETS: _("State-owned assets"),
        Industry.OTHER: _("Other"),
    }
    return labels[Industry(industry)]


def step_up_token(user: User, code: str) -> None:
    """API clients confirm sensitive calls with a fresh TOTP code in the ``X-TOTP-Code`` header."""
    if not user.totp_enabled or not _check_code(user, code):
        audit.record(
            "auth:stepup:failure", actor=user, object_type="user", object_id=user.id, payload={"via": "token"}
        )
        raise AuthError(_("A valid X-TOTP-Code header is required for this action."))
    audit.record(
        "auth:stepup:success", actor=user, object_type="user", object_id=user.id, payload={"via": "token"}
    )
