"""Organizations and accounts.

One account = one role in one organization; the role must fit the organization's kind. Both rules are
enforced by ``services.create_user`` and by the database: a CHECK on (role, org_kind) and a composite
foreign key (org_id, org_kind) → organization(id, kind).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.clock import now
from app.core.db import UTCDateTime, db
from app.core.permissions import ROLE_ORG_KINDS, OrgKind, Role

from .enums import Industry


def _enum_check(column: str, values: list[str]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def _role_fit_check() -> str:
    pairs = [
        f"(role = '{role}' AND org_kind = '{kind}')"
        for role, kinds in ROLE_ORG_KINDS.items()
        for kind in sorted(kinds)
    ]
    return " OR ".join(pairs)


class Organization(db.Model):  # type: ignore[name-defined]
    """An organization on the platform: tenderer, agency (代理), bidder, trading center (交易中心),
    management office (公管办), regulator (行业监督部门), expert employer or the platform operator."""

    __tablename__ = "organization"
    __table_args__ = (
        UniqueConstraint("id", "kind", name="id_kind"),
        CheckConstraint(_enum_check("kind", [k.value for k in OrgKind]), name="kind_valid"),
        CheckConstraint("(kind = 'regulator') = (industry IS NOT NULL)", name="industry_iff_regulator"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    industry: Mapped[str | None] = mapped_column(String(32), comment="regulators only: supervised industry")
    credit_code: Mapped[str | None] = mapped_column(
        String(18), unique=True, comment="统一社会信用代码 (unified social credit code)"
    )
    region: Mapped[str] = mapped_column(String(64), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)

    users: Mapped[list[User]] = relationship(
        back_populates="organization", foreign_keys="User.org_id", overlaps="organization"
    )

    @property
    def kind_enum(self) -> OrgKind:
        return OrgKind(self.kind)

    @property
    def industry_enum(self) -> Industry | None:
        return Industry(self.industry) if self.industry else None


class User(db.Model):  # type: ignore[name-defined]
    """A person's account: exactly one role in exactly one organization."""

    __tablename__ = "user_account"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "org_kind"],
            ["organization.id", "organization.kind"],
            name="fk_user_account_org_kind",
            onupdate="CASCADE",
        ),
        CheckConstraint(_enum_check("role", [r.value for r in Role]), name="role_valid"),
        CheckConstraint(_role_fit_check(), name="role_fits_org_kind"),
        Index("ix_user_account_org", "org_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str | None] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(32))
    org_id: Mapped[int] = mapped_column(Integer)
    org_kind: Mapped[str] = mapped_column(String(32), comment="copy of organization.kind for the role check")
    role: Mapped[str] = mapped_column(String(32))
    password_hash: Mapped[str] = mapped_column(String(255))
    password_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    totp_secret_enc: Mapped[bytes | None] = mapped_column(
        LargeBinary, comment="TOTP secret encrypted under the platform data key"
    )
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    totp_last_step: Mapped[int | None] = mapped_column(
        Integer, comment="last accepted TOTP time step; codes at or before it are refused (single use)"
    )
    totp_reset_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime,
        comment="an administrator reset two-factor: the holder enrols again through the link sent",
    )
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    approval_requested_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime,
        comment="an administrator created this business account: inactive until a second party approves it",
    )
    approved_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="when the second party approved the account (app/accounts/approvals.py)"
    )
    approved_by: Mapped[int | None] = mapped_column(Integer, comment="the account that approved it")

    organization: Mapped[Organization] = relationship(
        back_populates="users", foreign_keys=[org_id], primaryjoin="User.org_id == Organization.id"
    )
    sessions: Mapped[list[UserSession]] = relationship(back_populates="user")
    api_tokens: Mapped[list[ApiToken]] = relationship(back_populates="user")

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def awaiting_approval(self) -> bool:
        return self.approval_requested_at is not None and self.approved_at is None

    @property
    def totp_enabled(self) -> bool:
        return self.totp_enabled_at is not None


class UserSession(db.Model):  # type: ignore[name-defined]
    """A server-side login session. The cookie carries a 256-bit random token; only its hash is stored,
    so sessions can be listed, expired (idle and absolute) and revoked everywhere at once."""

    __tablename__ = "user_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    mfa_passed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    stepped_up_at: Mapped[dt.datetime | None] = mapped_column(
        UTCDateTime, comment="last step-up re-authentication (TOTP) inside this session"
    )
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))

    user: Mapped[User] = relationship(back_populates="sessions")


class ApiToken(db.Model):  # type: ignore[name-defined]
    """A bearer token for API clients, scoped to its owner's role; stored as a SHA-256 hash."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), comment="first characters, shown to identify the token")
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=now)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    section_ids: Mapped[list[int] | None] = mapped_column(
        JSON, comment="the only sections the token reaches (app.core.scoping); NULL: no restriction"
    )

    user: Mapped[User] = relationship(back_populates="api_tokens")


class AccountLink(db.Model):  # type: ignore[name-defined]
    """A one-time link sent to the account holder only (e-mail or SMS through the outbox; the administrator
    never sees it): activate a new account and choose its password, choose a new password after a reset, or
    open the enrolment of a new authenticator after a two-factor reset. Only its SHA-256 is stored."""

    __tablename__ = "account_link"
    __table_args__ = (CheckConstraint("purpose IN ('activate', 'password', 'enrol')", name="purpose_valid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, comment="replaced by a newer link")
    created_by: Mapped[int | None] = mapped_column(Integer, comment="the administrator who asked for it")

    user: Mapped[User] = relationship()


class AccountNotice(db.Model):  # type: ignore[name-defined]
    """What an administrator did to an account, shown to its holder at the next sign-in (and kept: the
    audit leaf ``audit_idx`` is the record)."""

    __tablename__ = "account_notice"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"), index=True)
    action: Mapped[str] = mapped_column(
        String(100), comment="the audit action, e.g. admin:user:password_reset"
    )
    actor_id: Mapped[int | None] = mapped_column(Integer)
    audit_idx: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
