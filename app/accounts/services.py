"""Account rules: organizations, users with one fitting role, authentication, lockout, MFA, sessions,
step-up and API tokens. Services take the acting user explicitly and never read the request."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import or_, select, update

from app.core import audit, throttle
from app.core.clock import security_now
from app.core.crypto import decrypt_at_rest, encrypt_at_rest, reencrypt_column
from app.core.db import db
from app.core.errors import Conflict, DomainError, Forbidden
from app.core.labels import label
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
    password: str | None,
    actor: User | None,
    email: str | None = None,
    phone: str | None = None,
) -> User:
    """Create an account with exactly one role fitting its organization.

    Seeding and the command line give a ``password``. An administrator (``actor``) never does: the account
    gets no usable password and its holder receives a one-time activation link (on the configured
    ``PUBLIC_BASE_URL``) at the e-mail or mobile given, which must not be an administrator's own."""
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
    if password is not None:
        problems = passwords.password_problems(password, username=username)
        if problems:
            errors["password"] = problems
    elif not (email or phone):
        errors["email"] = [_("Give the holder's e-mail or mobile: the activation link goes there.")]
    elif _is_an_administrators_contact(email, phone):
        errors["email"] = [
            _("This is an administrator's own contact: the link must reach the account holder.")
        ]
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
        password_hash=passwords.hash_password(password) if password is not None else "",
        email=email or None,
        phone=phone or None,
    )
    if password is None:
        from . import links

        user.password_hash = links.unusable_password()
    from . import approvals

    # 监管办分离: a business account an administrator creates waits, inactive and without a link, for a
    # second party outside the administrator role (app/accounts/approvals.py).
    waits = actor is not None and password is None and approvals.needs_approval(role)
    if waits:
        user.is_active = False
        user.approval_requested_at = security_now()
    db.session.add(user)
    db.session.flush()  # the id goes into the audit leaf
    payload: dict[str, object] = {"username": user.username, "role": user.role, "org_id": user.org_id}
    if waits:
        payload["awaiting_approval"] = True
    _admin_act(user, "admin:user:create", actor=actor, payload=payload)
    if password is None and not waits:
        from . import links

        links.send_link(user, "activate", actor=actor)
    return user


def _is_an_administrators_contact(email: str | None, phone: str | None) -> bool:
    clauses = []
    if email:
        clauses.append(User.email == email.strip())
    if phone:
        clauses.append(User.phone == phone.strip())
    found = db.session.scalar(select(User.id).where(User.role == Role.SYSADMIN.value, or_(*clauses)).limit(1))
    return found is not None


def set_user_active(user: User, active: bool, *, actor: User) -> None:
    if user.id == actor.id and not active:
        raise DomainError(_("You cannot disable your own account."))
    if active and user.awaiting_approval:
        raise DomainError(
            _("This account awaits approval by a second party; an administrator cannot enable it.")
        )
    user.is_active = active
    if not active:
        revoke_all_sessions(user, reason="account_disabled")
        revoke_all_tokens(user)
    _admin_act(user, "admin:user:enable" if active else "admin:user:disable", actor=actor)


def _admin_act(
    user: User, action: str, *, actor: User | None, payload: dict[str, object] | None = None
) -> None:
    """Audit an administrator's act on an account and tell the holder at the next sign-in."""
    from . import links

    leaf = audit.record(action, actor=actor, object_type="user", object_id=user.id, payload=payload)
    links.notify_holder(user, action, actor=actor, leaf=leaf)


def revoke_all_tokens(user: User) -> int:
    moment = security_now()
    count = 0
    for token in user.api_tokens:
        if token.revoked_at is None:
            token.revoked_at = moment
            count += 1
    return count


def _refuse_before_approval(user: User) -> None:
    """No link of any kind leaves for an account that awaits its second party (app/accounts/approvals.py):
    a reset link sent before the approval would make the approved account the sender's."""
    if user.awaiting_approval:
        raise DomainError(
            _("This account awaits approval by a second party; no link goes out before it is approved.")
        )


def admin_reset_password(user: User, *, actor: User) -> str:
    """ASVS 6.4.6, and 监管办分离: the administrator starts a reset but never sees or chooses a password. The
    password stops working at once, every session and token of the account ends, and a one-time link goes to
    the holder's own e-mail or mobile. Returns where it went (masked)."""
    from . import links

    _refuse_before_approval(user)
    user.password_hash = links.unusable_password()
    user.password_changed_at = security_now()
    revoke_all_sessions(user, reason="password_reset")
    revoke_all_tokens(user)
    links.send_link(user, "password", actor=actor)
    _admin_act(user, "admin:user:password_reset", actor=actor)
    return links.contact_of(user)


def admin_reset_mfa(user: User, *, actor: User) -> str:
    """Clear the account's authenticator: every session and token ends, and a new one can be enrolled only
    after the holder opens the one-time link sent to them (the administrator cannot enrol one). Returns
    where the link went (masked)."""
    from . import links

    _refuse_before_approval(user)
    user.totp_secret_enc = None
    user.totp_enabled_at = None
    user.totp_last_step = None
    user.totp_reset_at = security_now()
    revoke_all_sessions(user, reason="mfa_reset")
    revoke_all_tokens(user)
    links.send_link(user, "enrol", actor=actor)
    _admin_act(user, "admin:user:mfa_reset", actor=actor)
    return links.contact_of(user)


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
    revoke_all_tokens(user)
    audit.record("auth:password:change", actor=user, object_type="user", object_id=user.id)


# --- authentication ----------------------------------------------------------------------------


# Sign-in throttling (ASVS 6.3.x): failures are counted per account name *and* source address, so an
# outsider elsewhere cannot lock the real user out (no account-wide lock-out), with a doubling delay; and per
# source address across all names (password spraying). Unknown names are counted and answered exactly like
# known ones. The counters are shared by every worker and machine (app.core.throttle).
LOGIN_PER_ACCOUNT_AND_SOURCE = throttle.Policy(
    free=5, base=dt.timedelta(seconds=2), cap=dt.timedelta(minutes=15)
)
LOGIN_PER_SOURCE = throttle.Policy(free=50, base=dt.timedelta(seconds=2), cap=dt.timedelta(minutes=15))
# Two-factor codes (sign-in, step-up, enrolment): per account, five free, then from 30 s doubling to an hour.
TOTP_ATTEMPTS = throttle.Policy(free=5, base=dt.timedelta(seconds=30), cap=dt.timedelta(hours=1))


def _login_subjects(username: str, source: str | None) -> tuple[str, str]:
    where = source or "-"
    return throttle.key("login", username, where), throttle.key("login-source", where)


def authenticate(username: str, password: str, *, source: str | None = None) -> User:
    """Check a password sign-in from ``source`` (the client address).

    While this name from this source, or this source, is throttled the attempt is refused before the
    password is looked at (:class:`app.core.throttle.Throttled`, 429) — the same for every name, known or
    not. A failure says only that the name or the password is wrong."""
    username = (username or "").strip().lower()[:64]
    by_account, by_source = _login_subjects(username, source)
    throttle.check(by_account, by_source)
    user = db.session.scalar(select(User).where(User.username == username))
    generic = _("User name or password is wrong.")
    if user is None:
        passwords.burn_time()
        reason = "unknown_user"
    elif not passwords.verify_password(password or "", user.password_hash):
        reason = "bad_password"
    elif not user.is_active or not user.organization.is_active:
        reason = "disabled"
    else:
        throttle.success(by_account)
        return user
    throttle.failure(by_account, LOGIN_PER_ACCOUNT_AND_SOURCE)
    throttle.failure(by_source, LOGIN_PER_SOURCE)
    if user is None:
        audit.record("auth:login:failure", payload={"reason": reason})
    else:
        audit.record(
            "auth:login:failure",
            actor=user,
            object_type="user",
            object_id=user.id,
            payload={"reason": reason},
        )
    raise AuthError(generic)


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
    _enrolment_allowed(user)
    secret = totp_secret(user)
    if secret is None:
        secret = totp.new_secret()
        user.totp_secret_enc = encrypt_at_rest(secret, purpose=TOTP_PURPOSE)
    return secret


def requires_second_factor(user: User) -> bool:
    """Who must complete two-factor sign-in: the roles that must (staff, management office, regulators,
    administrators, tenderers and agencies — they hold opening-key shares) and every account that enrolled an
    authenticator."""
    return Role(user.role) in MFA_REQUIRED_ROLES or user.totp_enabled


def _check_code(user: User, code: str) -> bool:
    """Whether ``code`` is a fresh TOTP code of ``user``; each code works once, also under concurrency.

    Throttled per account (shared by all workers): while blocked the code is not even looked at, so a right
    guess after many wrong ones confirms nothing. Single use is one conditional UPDATE (the step must be
    newer than the last one used), atomic on both engines: of several requests with one code, one wins."""
    subject = throttle.key("totp", user.id)
    throttle.check(subject)
    secret = totp_secret(user)
    step = None if secret is None else totp.matching_step(secret, code, security_now(), last_step=None)
    if step is not None:
        claimed = db.session.execute(  # type: ignore[attr-defined]
            update(User)
            .where(User.id == user.id, or_(User.totp_last_step.is_(None), User.totp_last_step < step))
            .values(totp_last_step=step)
            .execution_options(synchronize_session=False)
        ).rowcount
        if claimed == 1:
            user.totp_last_step = step
            throttle.success(subject)
            return True
    throttle.failure(subject, TOTP_ATTEMPTS)
    return False


def _enrolment_allowed(user: User) -> None:
    from . import links

    if user.totp_enabled:
        raise DomainError(_("Two-factor authentication is already set up."))
    if not links.may_enrol(user):
        raise Forbidden(
            _("Your two-factor sign-in was reset: open the one-time link sent to you, then sign in to enrol.")
        )


def confirm_totp_enrolment(user: User, code: str, session_row: UserSession | None) -> None:
    _enrolment_allowed(user)
    if not _check_code(user, code):
        audit.record("auth:mfa:enrol_failure", actor=user, object_type="user", object_id=user.id)
        raise DomainError(_("The code is not valid. Check the time on your phone and try the next code."))
    user.totp_enabled_at = security_now()
    user.totp_reset_at = None
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


MAX_TOKEN_SECTIONS = 50


def create_api_token(
    user: User, name: str, *, days: int | None = 90, sections: list[str] | None = None
) -> IssuedToken:
    """Issue a token acting with ``user``'s role; with ``sections`` (ids, or ``project code/section code``)
    it reaches only those tender sections' objects (``app.core.scoping``)."""
    name = (name or "").strip()[:100]
    if not name:
        raise DomainError(_("Give the token a name."), errors={"name": [_("Required.")]})
    section_ids = resolve_token_sections(sections) if sections else None
    raw = "ggzy_" + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name,
        prefix=raw[:12],
        token_hash=_hash_token(raw),
        expires_at=security_now() + dt.timedelta(days=days) if days else None,
        section_ids=section_ids,
    )
    db.session.add(token)
    db.session.flush()  # the id goes into the audit leaf
    payload: dict[str, Any] = {"name": name}
    if section_ids is not None:
        payload["section_ids"] = section_ids
    audit.record(
        "auth:token:create", actor=user, object_type="api_token", object_id=token.id, payload=payload
    )
    return IssuedToken(token, raw)


def resolve_token_sections(references: list[str]) -> list[int]:
    """Section ids from what a person types: a section's number, or ``project code/section code``."""
    from app.projects.models import Project, Section

    found: set[int] = set()
    unknown: list[str] = []
    for reference in (r.strip() for r in references):
        if not reference:
            continue
        section_id: int | None = None
        if reference.isdigit() and len(reference) <= 10:
            section_id = db.session.scalar(select(Section.id).where(Section.id == int(reference)))
        elif "/" in reference:
            project_code, section_code = (part.strip() for part in reference.split("/", 1))
            section_id = db.session.scalar(
                select(Section.id)
                .join(Project)
                .where(Project.code == project_code, Section.code == section_code)
            )
        if section_id is None:
            unknown.append(reference[:40])
        else:
            found.add(section_id)
    if unknown:
        raise DomainError(
            _("No tender section %(refs)s.", refs=", ".join(unknown)), errors={"sections": [_("Not found.")]}
        )
    if not found or len(found) > MAX_TOKEN_SECTIONS:
        raise DomainError(
            _("Name 1 to %(n)d tender sections.", n=MAX_TOKEN_SECTIONS), errors={"sections": [_("Invalid.")]}
        )
    return sorted(found)


def token_section_names(token: ApiToken) -> list[str]:
    """``project code/section code`` of a restricted token's sections, for its owner's page."""
    from app.projects.models import Project, Section

    if not token.section_ids:
        return []
    rows = db.session.execute(
        select(Project.code, Section.code)
        .join(Project)
        .where(Section.id.in_(token.section_ids))
        .order_by(Section.id)
    ).all()
    return [f"{project}/{section}" for project, section in rows]


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
    # The owner sees when a token was last used (at most every five minutes). Its use writes no audit leaf:
    # the action it authenticates has its own, and a "bidder X used a token" entry just before an anonymous
    # envelope receipt would tell who bid (SPEC §3.3).
    if token.last_used_at is None or moment - token.last_used_at > dt.timedelta(minutes=5):
        token.last_used_at = moment
    return token


def bidder_activity_sealed(leaf: Any) -> bool:
    """Audit sealer: the audit pages, exports and live stream never show which bidder acted (signing in, keys,
    tokens, …): next to the anonymous envelope receipts such entries would tell who bid before the opening.
    The leaves stay in the log and verify; what a bidder submitted is public in the opening record."""
    return bool(leaf.actor_role == Role.BIDDER.value)


# --- labels ------------------------------------------------------------------------------------


def role_label(role: Role | str) -> str:
    return label("role", role)


def org_kind_label(kind: OrgKind | str) -> str:
    return label("org_kind", kind)


def industry_label(industry: Industry | str | None) -> str:
    return label("industry", industry)


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
