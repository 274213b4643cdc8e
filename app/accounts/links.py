"""One-time links to the account holder, and notices of administrative acts.

Under 监管办分离 the system administrator keeps the platform running but must never be able to act as a
business user. So credentials and enrolment go to the account holder only: a new account, a password reset and
a two-factor reset each send a one-time link to the holder's e-mail or mobile through the outbox (marked
sensitive: never logged, scrubbed once sent); the administrator sees that a link went out, never the link, and
never chooses or sees a password or a secret. Every administrative act on an account is audited, shown to the
holder at the next sign-in and listed for the regulators (supervision)."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select, update

from app.core import audit, outbox
from app.core.clock import security_now
from app.core.db import db
from app.core.errors import DomainError, NotFound
from app.core.models import AuditLeaf

from . import passwords
from .models import AccountLink, AccountNotice, User

LIFETIME = {"activate": dt.timedelta(days=3), "password": dt.timedelta(days=1), "enrol": dt.timedelta(days=1)}
# After the holder opens an enrolment link, the next sign-in within this time may enrol a new authenticator.
ENROL_WINDOW = dt.timedelta(minutes=30)


def _hash(raw: str) -> bytes:
    return hashlib.sha256(raw.encode()).digest()


def unusable_password() -> str:
    """A password hash nobody knows the password of (a new account before activation, after a reset)."""
    return passwords.hash_password(secrets.token_urlsafe(32))


def contact_of(user: User) -> str:
    """Where the links go, masked for the administrator's screen (“a***@example.cn”, “138****0001”)."""
    if user.email:
        name, _sep, domain = user.email.partition("@")
        return f"{name[:1]}***@{domain}"
    if user.phone:
        return f"{user.phone[:3]}****{user.phone[-4:]}" if len(user.phone) >= 7 else "****"
    return ""


def send_link(user: User, purpose: str, *, actor: User | None) -> AccountLink:
    """Replace any open link of this purpose with a new one and send it to the holder (not to ``actor``).
    The link is on the platform's configured address (``PUBLIC_BASE_URL``), never the request's Host."""
    if purpose not in LIFETIME:
        raise ValueError(f"unknown link purpose {purpose!r}")
    if not (user.email or user.phone):
        raise DomainError(
            _(
                "The account has neither an e-mail address nor a mobile number: "
                "the link cannot reach its holder."
            ),
            errors={"email": [_("Required.")]},
        )
    moment = security_now()
    db.session.execute(
        update(AccountLink)
        .where(
            AccountLink.user_id == user.id,
            AccountLink.purpose == purpose,
            AccountLink.used_at.is_(None),
            AccountLink.revoked_at.is_(None),
        )
        .values(revoked_at=moment)
        .execution_options(synchronize_session=False)
    )
    raw = secrets.token_urlsafe(32)
    link = AccountLink(
        user_id=user.id,
        purpose=purpose,
        token_hash=_hash(raw),
        created_at=moment,
        expires_at=moment + LIFETIME[purpose],
        created_by=getattr(actor, "id", None),
    )
    db.session.add(link)
    from app.core.web import public_base_url

    url = f"{public_base_url()}/auth/link/{raw}"
    subject = {
        "activate": _("Activate your account on the public resource trading platform"),
        "password": _("Choose a new password for the public resource trading platform"),
        "enrol": _("Set up your authenticator again on the public resource trading platform"),
    }[purpose]
    body = _(
        "%(name)s, open this link within %(hours)d hours (it works once): %(url)s\n"
        "If you did not expect it, tell your trading centre; nobody from the platform will ask you for it.",
        name=user.display_name,
        hours=int(LIFETIME[purpose].total_seconds() // 3600),
        url=url,
    )
    if user.email:
        outbox.enqueue(
            channel="email", recipient=user.email, subject=subject, body=body, user_id=user.id, sensitive=True
        )
    else:
        outbox.enqueue(
            channel="sms",
            recipient=str(user.phone),
            subject=subject,
            body=body,
            user_id=user.id,
            sensitive=True,
        )
    db.session.flush()  # the id goes into the audit leaf
    audit.record(
        "auth:link:send",
        actor=actor,
        object_type="user",
        object_id=user.id,
        payload={"purpose": purpose, "link_id": link.id, "expires_at": link.expires_at},
    )
    return link


@dataclass(frozen=True)
class OpenLink:
    link: AccountLink
    user: User


def open_link(raw: str) -> OpenLink:
    """The live link for ``raw`` (not used, not replaced, not expired), or :class:`NotFound`."""
    link = db.session.scalar(select(AccountLink).where(AccountLink.token_hash == _hash(raw or "")))
    if (
        link is None
        or link.used_at is not None
        or link.revoked_at is not None
        or link.expires_at <= security_now()
        or not link.user.is_active
    ):
        raise NotFound(_("This link is not valid any more. Ask your trading centre for a new one."))
    return OpenLink(link, link.user)


def use_link(raw: str, *, new_password: str | None = None) -> User:
    """Use a link once: ``activate`` and ``password`` set the holder's chosen password (every session and
    token ends); ``enrol`` opens the enrolment of a new authenticator for the next sign-in."""
    from . import services

    opened = open_link(raw)
    link, user = opened.link, opened.user
    moment = security_now()
    if link.purpose in ("activate", "password"):
        problems = passwords.password_problems(new_password or "", username=user.username)
        if problems:
            raise DomainError(_("The new password was refused."), errors={"new": problems})
        user.password_hash = passwords.hash_password(new_password or "")
        user.password_changed_at = moment
        services.revoke_all_sessions(user, reason="password_set_by_link")
        services.revoke_all_tokens(user)
    link.used_at = moment
    audit.record(
        "auth:link:use", actor=user, object_type="user", object_id=user.id, payload={"purpose": link.purpose}
    )
    return user


def may_enrol(user: User) -> bool:
    """Whether this account may enrol an authenticator now: always, unless an administrator reset its two
    factors — then only within :data:`ENROL_WINDOW` after the holder opened the enrolment link."""
    if user.totp_reset_at is None:
        return True
    opened = db.session.scalar(
        select(AccountLink.used_at)
        .where(
            AccountLink.user_id == user.id,
            AccountLink.purpose == "enrol",
            AccountLink.used_at.is_not(None),
            AccountLink.used_at >= user.totp_reset_at,
        )
        .order_by(AccountLink.used_at.desc())
        .limit(1)
    )
    return opened is not None and security_now() - opened <= ENROL_WINDOW


# -- notices of administrative acts -------------------------------------------------------------------


def notify_holder(user: User, action: str, *, actor: User | None, leaf: AuditLeaf | None) -> None:
    db.session.add(
        AccountNotice(
            user_id=user.id,
            action=action,
            actor_id=getattr(actor, "id", None),
            audit_idx=leaf.idx if leaf is not None else None,
            created_at=security_now(),
        )
    )


def unseen_notices(user: User) -> list[AccountNotice]:
    return list(
        db.session.scalars(
            select(AccountNotice)
            .where(AccountNotice.user_id == user.id, AccountNotice.seen_at.is_(None))
            .order_by(AccountNotice.id)
        )
    )


def mark_seen(notices: list[AccountNotice]) -> None:
    moment = security_now()
    for notice in notices:
        notice.seen_at = moment
